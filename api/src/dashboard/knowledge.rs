//! The Knowledge page: the organization's documents with their status (refreshing itself
//! while any is still processing), and forms to upload a file, add a URL or a text, refresh a
//! URL source, delete a document and try a search, all through
//! `/api/v1/dashboard/knowledge`.

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use engine::knowledge::{DocumentStatus, SourceKind};
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageError, PageResult, Viewer};
use crate::state::AppState;

/// Documents shown (newest first).
const SHOWN: i64 = 100;
/// How often the list refreshes while documents are processing, in milliseconds.
const POLL_MS: u32 = 2000;

async fn list(state: &AppState, viewer: &Viewer) -> Result<String, PageError> {
    let docs = state
        .knowledge
        .list(&viewer.user.organization_id, None, SHOWN)
        .await?;
    if docs.is_empty() {
        return Ok(
            "<p class=\"empty\">No documents yet: upload a file or add a URL above.</p>".to_owned(),
        );
    }
    let mut out = String::from(
        "<div class=\"table\"><table><thead><tr><th>Title</th><th>Source</th><th>Status</th><th>Chunks</th>\
<th>Updated</th><th>Actions</th></tr></thead><tbody>",
    );
    for d in &docs {
        let refresh = if d.source_kind == SourceKind::Url {
            format!(
                "<button data-api=\"POST /api/v1/dashboard/knowledge/{}/refresh\" data-done=\"Refreshing.\">Refresh</button> ",
                esc(d.id.as_str())
            )
        } else {
            String::new()
        };
        let reason = d
            .failure_reason
            .as_deref()
            .filter(|_| d.status == DocumentStatus::Failed)
            .map_or_else(String::new, |r| {
                format!("<br><small class=\"error\">{}</small>", esc(r))
            });
        out.push_str(&format!(
            "<tr data-doc=\"{id}\"><td>{title}{url}</td><td>{kind}</td><td><span class=\"badge {status}\">{status}</span>{reason}</td>\
<td>{chunks}</td><td>{updated}</td><td>{refresh}<button class=\"danger\" data-api=\"DELETE /api/v1/dashboard/knowledge/{id}\" \
data-confirm=\"Delete {title}?\" data-done=\"Deleted.\">Delete</button></td></tr>",
            id = esc(d.id.as_str()),
            title = esc(&d.title),
            url = d.url.as_deref().map_or_else(String::new, |u| format!("<br><small>{}</small>", esc(u))),
            kind = d.source_kind.as_str(),
            status = d.status.as_str(),
            chunks = d.chunk_count,
            updated = html::time(d.updated_at),
        ));
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// `GET /dashboard/knowledge`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    let docs = list(&state, &viewer).await?;
    let body = format!(
        "<h1>Knowledge</h1><p>What the agent answers from. Files: PDF, HTML, Markdown, text, CSV, JSON.</p>\
<div class=\"grid\">\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/knowledge\" data-body=\"multipart\" data-done=\"Uploaded: indexing.\">\
<h2>Upload a file</h2><label>File <input type=\"file\" name=\"file\" required></label>\
<label>Title (optional) <input name=\"title\"></label><label>Tags (comma-separated) <input name=\"tags\"></label>\
<button type=\"submit\" class=\"primary\">Upload</button></form>\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/knowledge\" data-done=\"Added: fetching.\">\
<h2>Add a web page</h2><label>URL <input type=\"url\" name=\"url\" required placeholder=\"https://shop.example/help\"></label>\
<label>Crawl up to (pages) <input type=\"number\" name=\"crawl.max_pages\" data-type=\"number\" min=\"1\" max=\"500\"></label>\
<button type=\"submit\" class=\"primary\">Add URL</button></form>\
<form class=\"stack card\" data-api=\"POST /api/v1/dashboard/knowledge\" data-done=\"Added: indexing.\">\
<h2>Add a text</h2><label>Title <input name=\"title\" required></label><label>Text <textarea name=\"text\" required></textarea></label>\
<button type=\"submit\" class=\"primary\">Add text</button></form></div>\
<h2>Documents</h2><div id=\"documents\" data-poll=\"/dashboard/knowledge/list\" data-every=\"{POLL_MS}\" aria-live=\"polite\">{docs}</div>\
<h2>Try a search</h2>\
<form class=\"row card\" data-api=\"POST /api/v1/dashboard/knowledge/search\" data-result=\"#search-result\" data-show=\"passages\" data-then=\"none\" data-done=\"Searched.\">\
<label>Question <input name=\"query\" required size=\"40\"></label>\
<label>Mode <select name=\"mode\"><option>hybrid</option><option>vector</option><option>keyword</option></select></label>\
<button type=\"submit\">Search</button></form><pre id=\"search-result\" hidden tabindex=\"-1\"></pre>"
    );
    Ok(html::layout(&viewer, "knowledge", "Knowledge", &body).into_response())
}

/// `GET /dashboard/knowledge/list`: the document table alone, for polling.
pub async fn list_fragment(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Admin)?;
    Ok(Html(list(&state, &viewer).await?).into_response())
}
