//! The Inbox page: conversations waiting for a person (`pending_human`) or held by one
//! (`human`), oldest wait first. The list is server-rendered and refreshes itself every few
//! seconds from [`feed`] (an HTML fragment), so new handoffs appear without a reload; opening
//! one leads to its conversation page, where the agent takes, answers, returns or resolves it.

use axum::extract::State;
use axum::response::IntoResponse;
use engine::service::inbox;
use engine::store::lifecycle::InboxFilter;
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::state::AppState;

/// How often the list refreshes itself, in milliseconds.
const POLL_MS: u32 = 3000;
/// Longest excerpt of the last message shown in the list.
const EXCERPT_CHARS: usize = 140;

async fn rows(state: &AppState, viewer: &Viewer) -> Result<String, super::session::PageError> {
    let page = inbox::list_inbox(
        &state.store,
        &viewer.user.organization_id,
        &InboxFilter::default(),
        None,
        Some(100),
    )
    .await?;
    if page.items.is_empty() {
        return Ok(
            "<p class=\"empty\">Nobody is waiting. New handoffs appear here on their own.</p>"
                .to_owned(),
        );
    }
    let mut out = String::from(
        "<div class=\"table\"><table><thead><tr><th>Customer</th><th>Status</th><th>Waiting</th>\
<th>Intent / reason</th><th>Last message</th><th>Assignee</th></tr></thead><tbody>",
    );
    for item in &page.items {
        let waiting_min = (page.now - item.waiting_since).max(0) / 60_000;
        let last = item.last_message.as_ref().map_or_else(String::new, |m| {
            let excerpt: String = m.text.chars().take(EXCERPT_CHARS).collect();
            format!("<small>{}:</small> {}", esc(&m.role), esc(&excerpt))
        });
        out.push_str(&format!(
            "<tr><td><a href=\"/dashboard/conversations/{id}\">{customer}</a><br><small>{channel}</small></td>\
<td><span class=\"badge {status}\">{status}</span></td><td>{waiting_min} min</td>\
<td>{intent}<br><small>{reason}</small></td><td>{last}</td><td>{assignee}</td></tr>",
            id = esc(item.id.as_str()),
            customer = esc(&item.customer_id),
            channel = item.channel.as_str(),
            status = item.status.as_str(),
            intent = esc(item.intent.as_deref().unwrap_or("—")),
            reason = esc(item.handoff_reason.as_deref().unwrap_or("")),
            assignee = esc(item.assignee.as_deref().unwrap_or("—")),
        ));
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// `GET /dashboard/inbox`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Agent)?;
    let list = rows(&state, &viewer).await?;
    let body = format!(
        "<h1>Inbox</h1><p>Conversations handed off to your team, oldest wait first.</p>\
<div id=\"inbox-feed\" data-poll=\"/dashboard/inbox/feed\" data-every=\"{POLL_MS}\" aria-live=\"polite\">{list}</div>"
    );
    Ok(html::layout(&viewer, "inbox", "Inbox", &body).into_response())
}

/// `GET /dashboard/inbox/feed`: the list alone, for the page's polling.
pub async fn feed(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Agent)?;
    Ok(axum::response::Html(rows(&state, &viewer).await?).into_response())
}
