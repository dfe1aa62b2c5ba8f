//! The API keys page (owners): the organization's keys with their status and last use (never
//! a secret), and create, rotate and revoke through the JSON API; a new secret is shown once,
//! right after it is issued.

use axum::extract::State;
use axum::response::IntoResponse;
use engine::service::keys;
use engine::store::users::Role;

use super::html::{self, esc};
use super::session::{PageResult, Viewer};
use crate::routes::api_keys::ApiKeyBody;
use crate::state::AppState;

/// `GET /dashboard/api-keys`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Owner)?;
    let list = keys::list_keys(&state.store, &viewer.user.organization_id).await?;
    let mut rows = String::new();
    for key in list {
        let created = html::time(key.created_at);
        let last = html::opt_time(key.last_used_at);
        let body = ApiKeyBody::from(key);
        let live = body.status == "active" || body.status == "expiring";
        let actions = if live {
            format!(
                "<button data-api=\"POST /api/v1/dashboard/api-keys/{id}/rotate\" data-result=\"#new-secret\" \
data-show=\"api_key\" data-then=\"none\" data-done=\"Key rotated: copy the new secret now.\">Rotate</button> \
<button class=\"danger\" data-api=\"DELETE /api/v1/dashboard/api-keys/{id}\" data-confirm=\"Revoke {name}? It stops working at once.\" \
data-done=\"Key revoked.\">Revoke</button>",
                id = esc(&body.id),
                name = esc(&body.name),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr data-key=\"{id}\"><td>{name}</td><td><code>{prefix}…</code></td>\
<td><span class=\"badge {status}\">{status}</span></td><td>{created}</td><td>{last}</td><td>{actions}</td></tr>",
            id = esc(&body.id),
            name = esc(&body.name),
            prefix = esc(&body.prefix),
            status = esc(&body.status),
        ));
    }
    let body = format!(
        "<h1>API keys</h1>\
<p>A key acts with full rights on this organization: keep it on your servers. Secrets are \
shown once, when a key is created or rotated; Blaigent stores only a hash.</p>\
<form class=\"row card\" data-api=\"POST /api/v1/dashboard/api-keys\" data-result=\"#new-secret\" \
data-show=\"api_key\" data-then=\"none\" data-done=\"Key created: copy the secret now.\">\
<label>Name <input name=\"name\" maxlength=\"100\" placeholder=\"production\"></label>\
<button type=\"submit\" class=\"primary\">Create key</button></form>\
<div class=\"card notice\" hidden><p>Your new secret (shown only now):</p>\
<p><code id=\"new-secret\" class=\"secret\" tabindex=\"-1\"></code></p>\
<p><a href=\"/dashboard/api-keys\">Done, I copied it</a></p></div>\
<div class=\"table\"><table><thead><tr><th>Name</th><th>Prefix</th><th>Status</th><th>Created</th>\
<th>Last used</th><th>Actions</th></tr></thead><tbody>{rows}</tbody></table></div>"
    );
    Ok(html::layout(&viewer, "api-keys", "API keys", &body).into_response())
}
