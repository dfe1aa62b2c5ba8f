//! The session cookie and the gate in front of every dashboard page.
//!
//! - The cookie `blaigent_session` holds a 256-bit random secret (the database keeps only its
//!   SHA-256): `HttpOnly` (no script reads it), `SameSite=Strict` (never sent on cross-site
//!   requests), `Path=/` (the JSON API accepts it too), `Secure` per
//!   [`super::settings::CookieSecure`].
//! - CSRF: a synchronizer token per session. Pages carry it in a `<meta>` tag and in a hidden
//!   `_csrf` field of every form; every POST must echo it (form field or `X-CSRF-Token`
//!   header), compared in constant time. `SameSite=Strict` is the second line of defence.
//! - [`require_session`] resolves the cookie into a [`Viewer`]; without one, a page request is
//!   sent to the sign-in form.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use engine::service::users;
use engine::store::users::{Role, User};
use subtle::ConstantTimeEq;

use super::html;
use super::settings::CookieSecure;
use crate::state::AppState;

/// Name of the session cookie.
pub const COOKIE: &str = "blaigent_session";
/// Largest form body the CSRF check buffers (dashboard forms are small; uploads go to the API).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in team member looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub csrf: String,
}

impl Viewer {
    /// Refuses (403 page) when the viewer's role is below `needed`.
    pub fn require(&self, needed: Role) -> Result<(), PageError> {
        if self.user.role >= needed {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Your role ({}) cannot open this page; it needs {} rights.",
                    self.user.role.as_str(),
                    needed.as_str()
                ),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this page is mounted without its session gate",
            )
        })
    }
}

/// An error shown as an HTML page.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PageError {
            status,
            message: message.into(),
        }
    }
}

impl From<engine::Error> for PageError {
    fn from(err: engine::Error) -> Self {
        let status = crate::error::status_of(err.kind());
        if status.is_server_error() {
            tracing::error!(error = %err.chain(), "dashboard page failed");
            PageError::new(
                status,
                "Something went wrong on our side; try again shortly.",
            )
        } else {
            PageError::new(status, err.message())
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = html::bare_page(
            &format!(
                "{} {}",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            ),
            &format!(
                "<h1>{}</h1><p>{}</p><p><a href=\"/dashboard\">Back to the dashboard</a></p>",
                self.status.as_u16(),
                html::esc(&self.message)
            ),
        );
        (self.status, body).into_response()
    }
}

/// A page handler's result.
pub type PageResult = Result<Response, PageError>;

/// Returns the value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether the request arrived over https (directly, or through a TLS proxy that says so).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Builds a `Set-Cookie` value with the dashboard's attributes.
pub fn set_cookie(
    state: &AppState,
    request: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: i64,
) -> HeaderValue {
    let secure = match state.dashboard.settings.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => over_https(request),
    };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// Compares two tokens in constant time.
pub fn tokens_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Resolves the session cookie into a [`Viewer`]; checks the CSRF token of state-changing
/// requests. Without a valid session a GET is redirected to the sign-in form.
pub async fn require_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = cookie(req.headers(), COOKIE).map(str::to_owned);
    let session = match token {
        Some(token) => {
            match users::resolve_session(
                &state.store,
                &token,
                state.dashboard.settings.session_ttl_ms,
            )
            .await
            {
                Ok(session) => session,
                Err(err) => return PageError::from(err).into_response(),
            }
        }
        None => None,
    };
    let Some(session) = session else {
        if is_safe(req.method()) {
            let next_path = req.uri().path();
            return Redirect::to(&format!(
                "/dashboard/login?next={}",
                html::url_encode(next_path)
            ))
            .into_response();
        }
        return PageError::new(
            StatusCode::UNAUTHORIZED,
            "Your session has ended; sign in again.",
        )
        .into_response();
    };
    tracing::Span::current().record("org", session.user.organization_id.as_str());
    let req = if is_safe(req.method()) {
        req
    } else {
        match check_form_csrf(req, &session.csrf_token).await {
            Ok(req) => req,
            Err(resp) => return resp,
        }
    };
    let mut req = req;
    req.extensions_mut().insert(Viewer {
        user: session.user,
        csrf: session.csrf_token,
    });
    next.run(req).await
}

/// Checks the CSRF token of a state-changing page request: the `X-CSRF-Token` header, or the
/// `_csrf` field of a urlencoded form (the body is buffered and handed on unchanged).
async fn check_form_csrf(req: Request, expected: &str) -> Result<Request, Response> {
    let refused = || {
        PageError::new(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or out of date; reload the page and try again.",
        )
        .into_response()
    };
    if let Some(sent) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return if tokens_match(sent, expected) {
            Ok(req)
        } else {
            Err(refused())
        };
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response()
        })?;
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v)
        });
    match sent {
        Some(sent) if tokens_match(&sent, expected) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused()),
    }
}
