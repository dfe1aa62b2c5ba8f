//! The audit log of configuration changes: who changed what, when. Readable by owners at
//! `/dashboard/audit`.
//!
//! Recorded automatically for every successful state-changing request (POST, PUT, PATCH,
//! DELETE) under `/api/v1/dashboard/` (agent configuration, knowledge, intents, actions,
//! webhooks, channels, widget, API keys), whether it came with an API key or a dashboard
//! session, plus the team changes made on the Team page. The entry names the actor (a team
//! member's e-mail, or `api key key_...`), the method and path, and never a body: bodies may
//! hold secrets.

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use engine::ids::OrganizationId;
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::state::AppState;

/// Entries shown on the page.
const PAGE_ENTRIES: i64 = 200;

/// Whether a request is a configuration change worth recording.
pub fn is_config_change(method: &Method, path: &str, status: StatusCode) -> bool {
    status.is_success()
        && matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
        && path.starts_with("/api/v1/dashboard/")
        && !path.ends_with("/knowledge/search")
}

/// Records a configuration change made through the JSON API; failures are logged, never
/// surfaced (the change itself already happened).
pub async fn record_api_change(
    state: &AppState,
    org: &OrganizationId,
    actor: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
) {
    if !is_config_change(method, path, status) {
        return;
    }
    let action = format!("{method} {path}");
    record(
        state,
        org,
        actor,
        &action,
        path,
        &serde_json::json!({"status": status.as_u16()}),
    )
    .await;
}

/// Appends an entry.
pub async fn record(
    state: &AppState,
    org: &OrganizationId,
    actor: &str,
    action: &str,
    target: &str,
    detail: &serde_json::Value,
) {
    if let Err(err) = state
        .store
        .insert_audit(org, actor, action, target, detail)
        .await
    {
        tracing::warn!(error = %err.chain(), "writing the audit log failed");
    }
}

/// `GET /dashboard/audit` (owners).
pub async fn page(state: axum::extract::State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Owner)?;
    let entries = state
        .store
        .audit_entries(&viewer.user.organization_id, PAGE_ENTRIES)
        .await?;
    let mut rows = String::new();
    for e in &entries {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            html::time(e.created_at),
            esc(&e.actor),
            esc(&e.action),
            esc(&compact(&e.detail)),
        ));
    }
    let body = format!(
        "<h1>Audit log</h1><p>Configuration changes, newest first (last {PAGE_ENTRIES}).</p>{}",
        if entries.is_empty() {
            "<p class=\"empty\">No changes recorded yet.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table\"><table><thead><tr><th>When</th><th>Who</th><th>What</th>\
                 <th>Detail</th></tr></thead><tbody>{rows}</tbody></table></div>"
            )
        }
    );
    Ok(html::layout(&viewer, "audit", "Audit log", &body).into_response())
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}
