//! The Widget page: the snippet to paste into a site, the origins allowed to embed it (saved
//! in the agent configuration), the customer-signing secret (rotated through
//! `POST /api/v1/dashboard/widget/secret`, shown once) and a preview of the launcher and
//! greeting in the organization's colours.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use engine::service::agent_config;
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::state::AppState;

/// `GET /dashboard/widget`.
pub async fn page(State(state): State<AppState>, viewer: Viewer, headers: HeaderMap) -> PageResult {
    viewer.require(Role::Admin)?;
    let org = &viewer.user.organization_id;
    let config = agent_config::get_agent_config(&state.store, org).await?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost:8080");
    let scheme = if headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    {
        "https"
    } else {
        "http"
    };
    let snippet = format!(
        "<script src=\"{scheme}://{host}/static/widget.js\" data-org=\"{}\" defer></script>",
        org.as_str()
    );
    let accent =
        if config.brand.accent_color.starts_with('#') && config.brand.accent_color.len() == 7 {
            config.brand.accent_color.clone()
        } else {
            "#6366f1".to_owned()
        };
    let body = format!(
        "<h1>Widget</h1><h2>Snippet</h2><p>Paste before <code>&lt;/body&gt;</code> on every page of your site:</p>\
<pre id=\"snippet\">{snippet}</pre>\
<form class=\"stack card\" data-api=\"PATCH /api/v1/dashboard/agent-config\" data-done=\"Allowed origins saved.\">\
<h2>Allowed origins</h2><p>Only these sites may open widget sessions (scheme, host and port, e.g. <code>https://shop.example</code>).</p>\
<label>Origins (one per line) <textarea name=\"allowed_origins\" data-type=\"lines\" data-keep-empty>{origins}</textarea></label>\
<button type=\"submit\" class=\"primary\">Save origins</button></form>\
<section class=\"card\"><h2>Signed-in customers</h2><p>Sign your customers' ids with this secret on your server so the widget \
can continue their conversations across devices. Rotating it invalidates the old one.</p>\
<button data-api=\"POST /api/v1/dashboard/widget/secret\" data-result=\"#widget-secret\" data-show=\"secret\" \
data-confirm=\"Create a new signing secret? The previous one stops working.\">Create or rotate the secret</button>\
<p hidden><code id=\"widget-secret\" class=\"secret\" tabindex=\"-1\"></code></p></section>\
<section class=\"card\"><h2>Preview</h2>\
<div class=\"stack\" style=\"max-width:320px\" aria-label=\"Widget preview\">\
<div style=\"background:{accent};color:#fff;padding:10px 12px;border-radius:10px 10px 0 0;font-weight:600\">{name}</div>\
<div style=\"border:1px solid #e2e8f0;border-top:0;padding:12px;border-radius:0 0 10px 10px;background:#fff\">\
<p style=\"background:#f1f5f9;padding:8px;border-radius:8px;margin:0\">{greeting}</p></div>\
<div style=\"align-self:flex-end;width:56px;height:56px;border-radius:50%;background:{accent}\" title=\"Launcher\"></div></div>\
<p>Name, greeting and colour are set on the <a href=\"/dashboard/agent\">Agent</a> page.</p></section>",
        snippet = esc(&snippet),
        origins = esc(&config.allowed_origins.join("\n")),
        accent = esc(&accent),
        name = esc(&config.name),
        greeting = esc(&config.greeting),
    );
    Ok(html::layout(&viewer, "widget", "Widget", &body).into_response())
}
