//! The Team page (owners): members with their roles, invitations (the link is shown once to
//! the inviting owner, who passes it on), role changes and removal. Plain HTML forms: it
//! works without JavaScript. Every change is written to the audit log.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use engine::ids::UserId;
use engine::service::users;
use engine::store::users::{Role, User};
use serde::Deserialize;

use super::html::{self, esc};
use super::session::{PageError, PageResult, Viewer};
use crate::state::AppState;

const MAX_FORM_BYTES: usize = 16 * 1024;

async fn read_form<T: serde::de::DeserializeOwned>(request: Request) -> Result<T, PageError> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        PageError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The form is not valid: {e}"),
        )
    })
}

fn role_options(current: Role) -> String {
    [Role::Owner, Role::Admin, Role::Agent]
        .iter()
        .map(|r| {
            format!(
                "<option value=\"{0}\"{1}>{0}</option>",
                r.as_str(),
                if *r == current { " selected" } else { "" }
            )
        })
        .collect()
}

fn render(viewer: &Viewer, members: &[User], notice: &str) -> String {
    let mut rows = String::new();
    for m in members {
        let status = if m.disabled_at.is_some() {
            "disabled"
        } else if m.active {
            "active"
        } else {
            "invited"
        };
        rows.push_str(&format!(
            "<tr><td>{name}<br><small>{email}</small></td><td>{status}</td><td>{last}</td><td>\
<form method=\"post\" action=\"/dashboard/team/{id}/role\" class=\"inline\">{csrf}\
<label class=\"sr\" for=\"role-{id}\">Role of {email}</label>\
<select id=\"role-{id}\" name=\"role\">{options}</select> <button type=\"submit\">Change</button></form>\
</td><td><form method=\"post\" action=\"/dashboard/team/{id}/remove\" class=\"inline\" data-confirm=\"Remove {email}?\">{csrf}\
<button type=\"submit\" class=\"danger\">Remove</button></form></td></tr>",
            name = esc(&m.display_name),
            email = esc(&m.email),
            last = html::opt_time(m.last_login_at),
            id = esc(m.id.as_str()),
            csrf = html::csrf_field(viewer),
            options = role_options(m.role),
        ));
    }
    format!(
        "<h1>Team</h1>{notice}\
<p>Owners manage everything, including the plan, API keys and the team; admins the \
configuration, knowledge, actions, webhooks, channels and widget; agents the inbox and \
conversations only.</p>\
<div class=\"table\"><table><thead><tr><th>Member</th><th>Status</th><th>Last sign-in</th>\
<th>Role</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>\
<h2>Invite a member</h2>\
<form method=\"post\" action=\"/dashboard/team\" class=\"stack card\">{csrf}\
<label>E-mail <input type=\"email\" name=\"email\" required></label>\
<label>Name <input type=\"text\" name=\"display_name\" maxlength=\"100\"></label>\
<label>Role <select name=\"role\">{options}</select></label>\
<button type=\"submit\" class=\"primary\">Create invitation</button></form>",
        csrf = html::csrf_field(viewer),
        options = role_options(Role::Agent),
    )
}

/// `GET /dashboard/team`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Role::Owner)?;
    let members = state.store.users(&viewer.user.organization_id).await?;
    Ok(html::layout(&viewer, "team", "Team", &render(&viewer, &members, "")).into_response())
}

#[derive(Debug, Deserialize)]
struct InviteForm {
    email: String,
    #[serde(default)]
    display_name: String,
    role: String,
}

/// `POST /dashboard/team`: creates an invitation and shows its link once.
pub async fn invite(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    request: Request,
) -> PageResult {
    viewer.require(Role::Owner)?;
    let form: InviteForm = read_form(request).await?;
    let org = &viewer.user.organization_id;
    let role = Role::parse(&form.role)?;
    let (user, token) =
        users::invite_user(&state.store, org, &form.email, &form.display_name, role).await?;
    super::audit::record(
        &state,
        org,
        &viewer.user.email,
        &format!("invited {} as {}", user.email, role.as_str()),
        "/dashboard/team",
        &serde_json::json!({"user_id": user.id, "role": role.as_str()}),
    )
    .await;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    {
        "https"
    } else {
        "http"
    };
    let link = format!("{scheme}://{host}/dashboard/invite/{token}");
    let notice = format!(
        "<div class=\"card notice\" role=\"status\"><p>Invitation for <strong>{}</strong> created. \
Send this link; it is shown only now and works for 7 days:</p><p><code class=\"secret\">{}</code></p></div>",
        esc(&user.email),
        esc(&link)
    );
    let members = state.store.users(org).await?;
    Ok(html::layout(&viewer, "team", "Team", &render(&viewer, &members, &notice)).into_response())
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    role: String,
}

fn parse_user_id(raw: &str) -> Result<UserId, PageError> {
    UserId::parse(raw).map_err(|_| PageError::new(StatusCode::NOT_FOUND, "No such team member."))
}

/// `POST /dashboard/team/{id}/role`.
pub async fn change_role(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    request: Request,
) -> PageResult {
    viewer.require(Role::Owner)?;
    let id = parse_user_id(&id)?;
    let form: RoleForm = read_form(request).await?;
    let role = Role::parse(&form.role)?;
    let org = &viewer.user.organization_id;
    let user = users::change_role(&state.store, org, &id, role).await?;
    super::audit::record(
        &state,
        org,
        &viewer.user.email,
        &format!("changed the role of {} to {}", user.email, role.as_str()),
        "/dashboard/team",
        &serde_json::json!({"user_id": user.id, "role": role.as_str()}),
    )
    .await;
    Ok(Redirect::to("/dashboard/team").into_response())
}

/// `POST /dashboard/team/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    viewer.require(Role::Owner)?;
    let id = parse_user_id(&id)?;
    let org = &viewer.user.organization_id;
    let user = state
        .store
        .user(org, &id)
        .await?
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, "No such team member."))?;
    users::remove_user(&state.store, org, &id).await?;
    super::audit::record(
        &state,
        org,
        &viewer.user.email,
        &format!("removed {}", user.email),
        "/dashboard/team",
        &serde_json::json!({"user_id": user.id}),
    )
    .await;
    Ok(Redirect::to("/dashboard/team").into_response())
}
