//! The JSON API called with a dashboard session cookie instead of an API key (the
//! dashboard's own script does this). Checked, in order: a live session (401), the
//! `X-CSRF-Token` header on every state-changing method (403), the role the path needs
//! ([`super::roles`], 403). The request then runs as the session's organization, like an API
//! key of it would, and a successful configuration change is written to the audit log.
//!
//! Session requests are not charged to the organization's API rate limit (the dashboard's
//! polling would eat a small plan's allowance); they are limited per team member instead
//! ([`PER_USER_PER_MIN`]).

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::ids::ApiKeyId;
use engine::service::users;
use engine::Error;

use super::{audit, roles, session};
use crate::error::{detail, ApiError};
use crate::extract::AuthOrg;
use crate::state::AppState;

/// Requests per minute one signed-in team member may make to the JSON API.
pub const PER_USER_PER_MIN: u32 = 600;

/// The placeholder key id of session requests (handlers that read `AuthOrg::key_id` see that
/// no API key was used).
pub const SESSION_KEY_ID: &str = "key_dashboard_session";

/// Whether the request should be authenticated by its session cookie: no `Authorization`
/// header, and the cookie is present.
pub fn wants_session(req: &Request) -> bool {
    !req.headers()
        .contains_key(axum::http::header::AUTHORIZATION)
        && session::cookie(req.headers(), session::COOKIE).is_some()
}

/// Authenticates `req` by its session cookie and runs it.
pub async fn run_with_session(state: AppState, mut req: Request, next: Next) -> Response {
    let Some(token) = session::cookie(req.headers(), session::COOKIE).map(str::to_owned) else {
        return ApiError(Error::unauthorized("missing session")).into_response();
    };
    let found = match users::resolve_session(
        &state.store,
        &token,
        state.dashboard.settings.session_ttl_ms,
    )
    .await
    {
        Ok(found) => found,
        Err(err) => return ApiError(err).into_response(),
    };
    let Some(found) = found else {
        return ApiError(Error::unauthorized(
            "the dashboard session has ended; sign in again",
        ))
        .into_response();
    };
    let user = found.user;
    tracing::Span::current().record("org", user.organization_id.as_str());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !session::tokens_match(sent, &found.csrf_token) {
            return detail(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token header for a request made with a dashboard session",
            );
        }
    }
    let needed = roles::required_for_api(&path);
    if user.role < needed {
        return detail(
            StatusCode::FORBIDDEN,
            format!(
                "your role ({}) cannot use this endpoint; it needs {}",
                user.role.as_str(),
                needed.as_str()
            ),
        );
    }
    if let Err(err) = state
        .limiter
        .take(
            &format!("dashboard-user:{}", user.id),
            PER_USER_PER_MIN,
            "dashboard",
        )
        .await
    {
        return ApiError(err).into_response();
    }
    let org = match state.store.organization(&user.organization_id).await {
        Ok(Some(org)) => org,
        Ok(None) => {
            return ApiError(Error::unauthorized("the organization no longer exists"))
                .into_response()
        }
        Err(err) => return ApiError(err).into_response(),
    };
    req.extensions_mut().insert(AuthOrg {
        organization_id: org.id.clone(),
        key_id: ApiKeyId::from_trusted(SESSION_KEY_ID.to_owned()),
        plan: org.plan,
        monthly_conversation_quota: org.monthly_conversation_quota,
    });
    let response = next.run(req).await;
    audit::record_api_change(
        &state,
        &org.id,
        &user.email,
        &method,
        &path,
        response.status(),
    )
    .await;
    response
}
