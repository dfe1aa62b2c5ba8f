//! The Webhooks page: endpoints (create, enable/disable, delete), secret rotation (the new
//! secret shown once), a test ping, and each endpoint's delivery log with replay of an event,
//! all through `/api/v1/dashboard/webhooks`.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use engine::ids::WebhookId;
use engine::store::users::Role;
use engine::webhooks::manage;
use serde::Deserialize;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::state::AppState;

/// Delivery attempts shown for the selected endpoint.
const LOG_ROWS: i64 = 50;

#[derive(Debug, Default, Deserialize)]
struct Query {
    #[serde(default)]
    endpoint: String,
}

/// `GET /dashboard/webhooks[?endpoint=whk_...]`.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    viewer.require(Role::Admin)?;
    let org = &viewer.user.organization_id;
    let q: Query = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let hooks = state.store.webhooks(org).await?;
    let mut rows = String::new();
    for h in &hooks {
        let id = esc(h.id.as_str());
        let state_label = if h.enabled {
            "<span class=\"badge active\">enabled</span>".to_owned()
        } else {
            format!(
                "<span class=\"badge failed\">disabled</span><br><small>{}</small>",
                esc(h.disabled_reason.as_deref().unwrap_or(""))
            )
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"/dashboard/webhooks?endpoint={id}\">{url}</a><br><small>{desc}</small></td>\
<td>{events}</td><td>{state_label}</td><td>\
<button data-api=\"POST /api/v1/dashboard/webhooks/{id}/test\" data-done=\"Ping queued.\" data-then=\"none\">Send test</button> \
<button data-api=\"POST /api/v1/dashboard/webhooks/{id}/rotate-secret\" data-result=\"#new-secret\" data-show=\"secret\" \
data-confirm=\"Rotate the signing secret? The old one keeps signing for 24 hours.\">Rotate secret</button> \
<form class=\"inline\" data-api=\"PATCH /api/v1/dashboard/webhooks/{id}\"><input type=\"hidden\" name=\"enabled\" value=\"{toggle}\" data-type=\"json\">\
<button type=\"submit\">{toggle_label}</button></form> \
<button class=\"danger\" data-api=\"DELETE /api/v1/dashboard/webhooks/{id}\" data-confirm=\"Delete this endpoint and its log?\">Delete</button></td></tr>",
            url = esc(&h.url),
            desc = esc(&h.description),
            events = esc(&h.events.join(", ")),
            toggle = if h.enabled { "false" } else { "true" },
            toggle_label = if h.enabled { "Disable" } else { "Enable" },
        ));
    }
    let log = match WebhookId::parse(&q.endpoint) {
        Ok(id) if hooks.iter().any(|h| h.id == id) => delivery_log(&state, &viewer, &id).await?,
        _ => String::new(),
    };
    let body = format!(
        "<h1>Webhooks</h1><p>Signed HTTP callbacks for conversation events (HMAC-SHA256 over the body).</p>\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/webhooks\" data-result=\"#new-secret\" data-show=\"secret\" \
data-then=\"none\" data-done=\"Endpoint created: copy its secret now.\">\
<h2>Add an endpoint</h2><label>URL <input type=\"url\" name=\"url\" required placeholder=\"https://example.com/hooks/blaigent\"></label>\
<label>Events (comma-separated, * for all) <input name=\"events\" data-type=\"list\" value=\"*\"></label>\
<label>Description <input name=\"description\"></label><button type=\"submit\" class=\"primary\">Add endpoint</button></form>\
<div class=\"card notice\" hidden><p>Signing secret (shown only now):</p><p><code id=\"new-secret\" class=\"secret\" tabindex=\"-1\"></code></p>\
<p><a href=\"/dashboard/webhooks\">Done, I copied it</a></p></div>\
{table}{log}",
        table = if rows.is_empty() {
            "<p class=\"empty\">No endpoints yet.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table\"><table><thead><tr><th>Endpoint</th><th>Events</th><th>State</th><th>Actions</th></tr></thead>\
<tbody>{rows}</tbody></table></div>"
            )
        },
    );
    Ok(html::layout(&viewer, "webhooks", "Webhooks", &body).into_response())
}

async fn delivery_log(
    state: &AppState,
    viewer: &Viewer,
    id: &WebhookId,
) -> Result<String, super::session::PageError> {
    let page = manage::attempts(
        &state.store,
        &viewer.user.organization_id,
        id,
        None,
        Some(LOG_ROWS),
    )
    .await?;
    let mut rows = String::new();
    for a in &page.data {
        let outcome = match (a.status_code, &a.error) {
            (Some(code), _) => code.to_string(),
            (None, Some(err)) => esc(err),
            (None, None) => "—".to_owned(),
        };
        rows.push_str(&format!(
            "<tr><td>{at}</td><td><code>{event}</code><br><small>{event_id}</small></td><td>{attempt}</td>\
<td><span class=\"badge {cls}\">{outcome}</span></td><td>{latency} ms</td><td><small>{excerpt}</small></td>\
<td><button data-api=\"POST /api/v1/dashboard/webhooks/events/{event_id}/replay?webhook_id={hook}\" data-then=\"none\" \
data-done=\"Replay queued.\">Replay</button></td></tr>",
            at = html::time(a.created_at),
            event = esc(&a.event),
            event_id = esc(&a.event_id),
            attempt = a.attempt,
            cls = if a.succeeded { "ready" } else { "failed" },
            latency = a.latency_ms,
            excerpt = esc(a.response_excerpt.as_deref().unwrap_or("")),
            hook = esc(id.as_str()),
        ));
    }
    Ok(format!(
        "<h2>Delivery log of {}</h2>{}",
        esc(id.as_str()),
        if rows.is_empty() {
            "<p class=\"empty\">No deliveries yet.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table\"><table><thead><tr><th>When</th><th>Event</th><th>Attempt</th><th>Result</th>\
<th>Latency</th><th>Response</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>"
            )
        }
    ))
}
