//! The Conversations pages: a filterable list (status, channel, customer id) and one
//! conversation's transcript with, per turn, the intent, confidence, citations and actions.
//! A conversation with a human (`pending_human`, `human`) gets the inbox tools: take it,
//! reply, return it to the AI agent, resolve it. The transcript refreshes itself from
//! [`thread`] every few seconds, so the customer's new messages appear without a reload.

use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse};
use engine::channel::Channel;
use engine::service::conversations;
use engine::store::conversations::{Conversation, ConversationFilter, ConversationStatus};
use engine::store::messages::Message;
use engine::store::users::Role;
use serde::Deserialize;

use super::html::{self, esc};
use super::session::{PageError, PageResult, Viewer};
use crate::state::AppState;

/// Conversations per page of the list.
const PAGE_SIZE: i64 = 50;
/// How often an open transcript refreshes itself, in milliseconds.
const POLL_MS: u32 = 3000;

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    customer_id: String,
    #[serde(default)]
    cursor: String,
}

fn options(values: &[&str], current: &str) -> String {
    let mut out = String::from("<option value=\"\">any</option>");
    for v in values {
        out.push_str(&format!(
            "<option value=\"{v}\"{}>{v}</option>",
            if *v == current { " selected" } else { "" }
        ));
    }
    out
}

/// `GET /dashboard/conversations?status=&channel=&customer_id=&cursor=`.
pub async fn list_page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult {
    viewer.require(Role::Agent)?;
    let q: ListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).map_err(|_| {
        PageError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "The filter is not valid.",
        )
    })?;
    let filter = ConversationFilter {
        status: (!q.status.is_empty())
            .then(|| ConversationStatus::parse(&q.status))
            .transpose()?,
        channel: (!q.channel.is_empty())
            .then(|| Channel::parse(&q.channel))
            .transpose()?,
        customer_id: (!q.customer_id.trim().is_empty()).then(|| q.customer_id.trim().to_owned()),
    };
    let cursor = (!q.cursor.is_empty()).then_some(q.cursor.as_str());
    let page = conversations::list_conversations(
        &state.store,
        &viewer.user.organization_id,
        &filter,
        cursor,
        Some(PAGE_SIZE),
    )
    .await?;
    let mut rows = String::new();
    for c in &page.conversations {
        rows.push_str(&format!(
            "<tr><td><a href=\"/dashboard/conversations/{id}\">{customer}</a></td><td>{channel}</td>\
<td><span class=\"badge {status}\">{status}</span></td><td>{intent}</td><td>{count}</td><td>{started}</td></tr>",
            id = esc(c.id.as_str()),
            customer = esc(&c.customer_id),
            channel = c.channel.as_str(),
            status = c.status.as_str(),
            intent = esc(c.intent.as_deref().unwrap_or("—")),
            count = c.message_count,
            started = html::time(c.created_at),
        ));
    }
    let next = page.next_cursor.as_ref().map_or_else(String::new, |cur| {
        format!(
            "<p><a href=\"/dashboard/conversations?status={}&amp;channel={}&amp;customer_id={}&amp;cursor={}\">Older conversations →</a></p>",
            html::url_encode(&q.status),
            html::url_encode(&q.channel),
            html::url_encode(&q.customer_id),
            html::url_encode(cur)
        )
    });
    let body = format!(
        "<h1>Conversations</h1>\
<form method=\"get\" class=\"row card\" role=\"search\">\
<label>Customer id <input name=\"customer_id\" value=\"{customer}\"></label>\
<label>Status <select name=\"status\">{statuses}</select></label>\
<label>Channel <select name=\"channel\">{channels}</select></label>\
<button type=\"submit\">Filter</button></form>\
{table}{next}",
        customer = esc(&q.customer_id),
        statuses = options(
            &["open", "pending_human", "human", "resolved", "closed"],
            &q.status
        ),
        channels = options(
            &["web", "whatsapp", "sms", "email", "voice", "instagram"],
            &q.channel
        ),
        table = if rows.is_empty() {
            "<p class=\"empty\">No conversations match.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table\"><table><thead><tr><th>Customer</th><th>Channel</th><th>Status</th>\
<th>Intent</th><th>Messages</th><th>Started</th></tr></thead><tbody>{rows}</tbody></table></div>"
            )
        },
    );
    Ok(html::layout(&viewer, "conversations", "Conversations", &body).into_response())
}

/// Renders citations and actions of one turn (their stored JSON, as labelled lists).
fn extras(label: &str, value: &serde_json::Value) -> String {
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        return String::new();
    };
    let mut out = format!("<div class=\"meta\">{label}: ");
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let name = ["title", "name", "action", "document_id", "url"]
                .iter()
                .find_map(|k| item.get(*k).and_then(|v| v.as_str()))
                .unwrap_or("item");
            let extra = ["status", "outcome", "url"]
                .iter()
                .find_map(|k| item.get(*k).and_then(|v| v.as_str()).filter(|v| *v != name))
                .map_or_else(String::new, |v| format!(" ({})", esc(v)));
            format!("{}{extra}", esc(name))
        })
        .collect();
    out.push_str(&parts.join("; "));
    out.push_str("</div>");
    out
}

fn transcript(messages: &[Message]) -> String {
    if messages.is_empty() {
        return "<p class=\"empty\">No messages yet.</p>".to_owned();
    }
    let mut out = String::new();
    for m in messages {
        let who = m.role.as_str();
        let author = m
            .metadata
            .get("author")
            .and_then(|v| v.as_str())
            .map_or_else(String::new, |a| format!(" · {}", esc(a)));
        let signal = match (&m.intent, m.confidence) {
            (Some(intent), Some(conf)) => format!(" · intent {} ({conf:.2})", esc(intent)),
            (Some(intent), None) => format!(" · intent {}", esc(intent)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "<div class=\"turn {who}\"><div class=\"meta\">{who}{author} · {at}{signal}</div><div>{text}</div>{cites}{acts}</div>",
            at = html::time(m.created_at),
            text = esc(&m.text).replace('\n', "<br>"),
            cites = extras("Citations", &m.citations),
            acts = extras("Actions", &m.actions),
        ));
    }
    out
}

fn tools(viewer: &Viewer, c: &Conversation) -> String {
    let base = format!("/api/v1/platform/conversations/{}", c.id);
    let me = esc(&viewer.user.email);
    let with_human = matches!(
        c.status,
        ConversationStatus::PendingHuman | ConversationStatus::Human
    );
    let mut out = String::from("<div class=\"card\"><h2>Actions</h2><div class=\"row\">");
    if c.status != ConversationStatus::Closed {
        if c.assignee.as_deref() != Some(viewer.user.email.as_str()) {
            out.push_str(&format!(
                "<form data-api=\"POST {base}/assign\" data-done=\"Taken.\"><input type=\"hidden\" name=\"assignee\" value=\"{me}\">\
<button type=\"submit\">Take it</button></form>"
            ));
        }
        if with_human {
            out.push_str(&format!(
                "<button data-api=\"POST {base}/return-to-agent\" data-done=\"Returned to the AI agent.\">Return to the AI agent</button>"
            ));
        }
        if c.status != ConversationStatus::Resolved {
            out.push_str(&format!(
                "<button data-api=\"POST {base}/resolve\" data-done=\"Resolved.\">Resolve</button>"
            ));
        }
    }
    out.push_str("</div>");
    if with_human {
        out.push_str(&format!(
            "<form class=\"stack\" id=\"reply\" data-api=\"POST {base}/messages\" data-then=\"none\" data-done=\"Sent.\">\
<input type=\"hidden\" name=\"author\" value=\"{me}\">\
<label>Reply to the customer <textarea name=\"text\" required maxlength=\"4000\"></textarea></label>\
<button type=\"submit\" class=\"primary\">Send reply</button></form>"
        ));
    } else {
        out.push_str("<p class=\"empty\">The AI agent is handling this conversation. Take it to answer yourself.</p>");
    }
    out.push_str("</div>");
    out
}

/// `GET /dashboard/conversations/{id}`.
pub async fn detail_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    viewer.require(Role::Agent)?;
    let (c, messages) =
        conversations::conversation_messages(&state.store, &viewer.user.organization_id, &id)
            .await?;
    let body = format!(
        "<p><a href=\"/dashboard/inbox\">← Inbox</a> · <a href=\"/dashboard/conversations\">All conversations</a></p>\
<h1>Conversation with {customer}</h1>\
<p><span class=\"badge {status}\">{status}</span> · {channel} · started {started} · assignee {assignee}{reason}</p>\
{tools}<h2>Transcript</h2>\
<div id=\"thread\" data-poll=\"/dashboard/conversations/{id}/thread\" data-every=\"{POLL_MS}\" aria-live=\"polite\">{thread}</div>",
        customer = esc(&c.customer_id),
        status = c.status.as_str(),
        channel = c.channel.as_str(),
        started = html::time(c.created_at),
        assignee = esc(c.assignee.as_deref().unwrap_or("—")),
        reason = c
            .handoff_reason
            .as_deref()
            .map_or_else(String::new, |r| format!(" · handoff: {}", esc(r))),
        tools = tools(&viewer, &c),
        id = esc(c.id.as_str()),
        thread = transcript(&messages),
    );
    Ok(html::layout(&viewer, "conversations", "Conversation", &body).into_response())
}

/// `GET /dashboard/conversations/{id}/thread`: the transcript alone, for polling.
pub async fn thread(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    viewer.require(Role::Agent)?;
    let (_, messages) =
        conversations::conversation_messages(&state.store, &viewer.user.organization_id, &id)
            .await?;
    Ok(Html(transcript(&messages)).into_response())
}
