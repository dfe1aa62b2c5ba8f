//! Sign-in, sign-out and accepting an invitation.
//!
//! The sign-in form has no session yet, so its CSRF protection is a double-submit token: a
//! random value in a `SameSite=Strict`, `HttpOnly` cookie and in a hidden field; the POST must
//! carry both, equal. Failed attempts are limited per e-mail and per IP
//! ([`super::login_limit`]); every failure gets the same message, whether the address exists
//! or not.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use engine::service::users;
use engine::store::users::{Role, User};
use serde::Deserialize;

use super::html::{self, esc};
use super::login_limit;
use super::session::{self, PageError, PageResult};
use crate::routes::widget::limits::client_ip;
use crate::state::AppState;

/// The sign-in form's double-submit cookie.
const LOGIN_CSRF_COOKIE: &str = "blaigent_login_csrf";
/// Largest sign-in form body.
const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    next: String,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: a dashboard path from the form, else the role's home.
fn landing(next: &str, user: &User) -> String {
    let safe = next.starts_with("/dashboard") && !next.starts_with("//") && !next.contains("://");
    if safe && next != "/dashboard/login" {
        next.to_owned()
    } else if user.role == Role::Agent {
        "/dashboard/inbox".to_owned()
    } else {
        "/dashboard".to_owned()
    }
}

fn login_page(csrf: &str, email: &str, next: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    });
    html::bare_page(
        "Sign in",
        &format!(
            "<h1>Sign in to Blaigent</h1>{error}\
<form method=\"post\" action=\"/dashboard/login\" class=\"stack\">\
<input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"next\" value=\"{next}\">\
<label>E-mail <input type=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"username\" required autofocus></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
<button type=\"submit\" class=\"primary\">Sign in</button></form>",
            csrf = esc(csrf),
            next = esc(next),
            email = esc(email),
        ),
    )
    .0
}

fn with_login_cookie(
    state: &AppState,
    request: &HeaderMap,
    status: StatusCode,
    body: String,
    csrf: &str,
) -> Response {
    let mut response = (status, axum::response::Html(body)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, request, LOGIN_CSRF_COOKIE, csrf, "/dashboard", 3600),
    );
    response
}

/// `GET /dashboard/login`: the sign-in form (or the dashboard when already signed in).
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: axum::extract::RawQuery,
) -> PageResult {
    if let Some(token) = session::cookie(&headers, session::COOKIE) {
        if let Some(found) =
            users::resolve_session(&state.store, token, state.dashboard.settings.session_ttl_ms)
                .await?
        {
            return Ok(Redirect::to(&landing("", &found.user)).into_response());
        }
    }
    let next = query
        .0
        .and_then(|q| serde_urlencoded::from_str::<NextQuery>(&q).ok())
        .unwrap_or_default()
        .next;
    let csrf = users::random_token();
    Ok(with_login_cookie(
        &state,
        &headers,
        StatusCode::OK,
        login_page(&csrf, "", &next, None),
        &csrf,
    ))
}

/// `POST /dashboard/login`: checks the form, the limits and the password; opens a session.
pub async fn submit(State(state): State<AppState>, request: Request) -> PageResult {
    let (parts, body) = request.into_parts();
    let ip = client_ip(&parts, state.config.widget.trust_proxy);
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    let form: LoginForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "The sign-in form is malformed."))?;
    let cookie_csrf = session::cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie_csrf.is_empty() || !session::tokens_match(cookie_csrf, &form.csrf) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "The sign-in form's security token is missing or out of date; reload the page and try again.",
        ));
    }
    let email = form.email.trim().to_lowercase();
    if let Some(wait) = login_limit::blocked(&state.store, &email, &ip).await? {
        tracing::warn!(ip = %ip, "sign-in refused: too many failed attempts");
        let mut response = with_login_cookie(
            &state,
            &parts.headers,
            StatusCode::TOO_MANY_REQUESTS,
            login_page(
                &form.csrf,
                &form.email,
                &form.next,
                Some(&format!(
                    "Too many failed sign-in attempts. Try again in {} minute(s).",
                    wait.div_ceil(60)
                )),
            ),
            &form.csrf,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    }
    let user = match users::verify_credentials(&state.store, &email, &form.password).await {
        Ok(user) => user,
        Err(err) if err.kind() == engine::ErrorKind::Unauthorized => {
            login_limit::record_failure(&state.store, &email, &ip).await?;
            return Ok(with_login_cookie(
                &state,
                &parts.headers,
                StatusCode::UNAUTHORIZED,
                login_page(
                    &form.csrf,
                    &form.email,
                    &form.next,
                    Some("Wrong e-mail or password."),
                ),
                &form.csrf,
            ));
        }
        Err(err) => return Err(err.into()),
    };
    login_limit::clear_email(&state.store, &email).await?;
    let ttl = state.dashboard.settings.session_ttl_ms;
    let opened = users::open_session(&state.store, &user, ttl).await?;
    tracing::info!(user = %user.id, "signed in to the dashboard");
    let mut response = Redirect::to(&landing(&form.next, &user)).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(
            &state,
            &parts.headers,
            session::COOKIE,
            &opened.token,
            "/",
            ttl / 1000,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(
            &state,
            &parts.headers,
            LOGIN_CSRF_COOKIE,
            "",
            "/dashboard",
            0,
        ),
    );
    Ok(response)
}

/// `POST /dashboard/logout`: ends the session and clears the cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(token) = session::cookie(&headers, session::COOKIE) {
        users::close_session(&state.store, token).await?;
    }
    let mut response = Redirect::to("/dashboard/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state, &headers, session::COOKIE, "", "/", 0),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
struct InviteForm {
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

fn invite_page(token: &str, user: &User, csrf: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    });
    html::bare_page(
        "Join your team",
        &format!(
            "<h1>Join your team</h1><p>Choose a password for <strong>{email}</strong> ({role}).</p>{error}\
<form method=\"post\" action=\"/dashboard/invite/{token}\" class=\"stack\">\
<input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">\
<label>Password (at least {min} characters) <input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required autofocus></label>\
<button type=\"submit\" class=\"primary\">Set password</button></form>",
            email = esc(&user.email),
            role = user.role.as_str(),
            token = esc(token),
            csrf = esc(csrf),
            min = users::MIN_PASSWORD_CHARS,
        ),
    )
    .0
}

/// `GET /dashboard/invite/{token}`: the form to set a password.
pub async fn invite_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> PageResult {
    let user = users::invited_user(&state.store, &token).await?;
    let csrf = users::random_token();
    Ok(with_login_cookie(
        &state,
        &headers,
        StatusCode::OK,
        invite_page(&token, &user, &csrf, None),
        &csrf,
    ))
}

/// `POST /dashboard/invite/{token}`: sets the password, then sends the member to sign in.
pub async fn accept_invite(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> PageResult {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."))?;
    let form: InviteForm = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, "The form is malformed."))?;
    let cookie_csrf = session::cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie_csrf.is_empty() || !session::tokens_match(cookie_csrf, &form.csrf) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or out of date; reload the page and try again.",
        ));
    }
    let user = users::invited_user(&state.store, &token).await?;
    match users::accept_invite(&state.store, &token, &form.password).await {
        Ok(user) => {
            super::audit::record(
                &state,
                &user.organization_id,
                &user.email,
                "accepted the invitation",
                "/dashboard/team",
                &serde_json::json!({"role": user.role.as_str()}),
            )
            .await;
            Ok(Redirect::to("/dashboard/login").into_response())
        }
        Err(err) if err.kind() == engine::ErrorKind::Unprocessable => Ok(with_login_cookie(
            &state,
            &parts.headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            invite_page(&token, &user, &form.csrf, Some(err.message())),
            &form.csrf,
        )),
        Err(err) => Err(err.into()),
    }
}
