//! The embed widget's endpoints. Public (no API key; the secret key never reaches a browser):
//!
//! - `GET  /api/v1/widget/{org_id}/config` — agent name, avatar, accent, greeting, language.
//! - `POST /api/v1/widget/{org_id}/sessions` — a short-lived visitor session token.
//! - `POST /api/v1/widget/{org_id}/chat` — one message, with `Authorization: Bearer <token>`;
//!   a JSON reply, or server-sent events with `Accept: text/event-stream` (the REST chat's
//!   streaming path, [`super::chat_stream`]).
//! - `GET  /api/v1/widget/{org_id}/messages?session_id=&after=` — the thread (polling for a
//!   human agent's replies) and the conversation's status.
//! - `POST /api/v1/widget/{org_id}/csat` — the visitor's 1–5 rating of their conversation.
//! - `GET /static/widget.js`, `GET /static/widget.v1.js`, `GET /demo` — see [`assets`].
//!
//! Authenticated (dashboard): `POST /api/v1/dashboard/widget/secret` creates or rotates the
//! secret a site signs its customer ids with (shown once).
//!
//! Every widget API request is checked against the organization's `allowed_origins`
//! ([`engine::widget::session`]); CORS headers are sent only to allowed origins
//! ([`cors`]). Limits: per client IP ([`settings::WidgetSettings::ip_per_min`]), per visitor
//! ([`settings::WidgetSettings::visitor_per_min`]) and the organization's own plan limit.

pub mod assets;
pub mod limits;
pub mod settings;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::widget::session::{
    self, PageOrigin, PublicConfig, SessionRequest, Visitor, VisitorSession, WidgetMessage,
};
use engine::Error;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthOrg};
use crate::state::AppState;

/// The public routes (no API key).
pub fn public_router(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route(
            "/api/v1/widget/{org_id}/config",
            get(get_config).options(preflight),
        )
        .route(
            "/api/v1/widget/{org_id}/sessions",
            post(create_session).options(preflight),
        )
        .route(
            "/api/v1/widget/{org_id}/chat",
            post(send_message).options(preflight),
        )
        .route(
            "/api/v1/widget/{org_id}/messages",
            get(list_messages).options(preflight),
        )
        .route(
            "/api/v1/widget/{org_id}/csat",
            post(submit_csat).options(preflight),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, cors));
    Router::new()
        .merge(api)
        .route("/static/widget.js", get(assets::widget_js))
        .route(
            &format!("/static/widget.v{}.js", assets::WIDGET_VERSION),
            get(assets::widget_js_versioned),
        )
        .route("/demo", get(assets::demo_page))
}

/// The dashboard routes (behind the API key).
pub fn dashboard_router() -> Router<AppState> {
    Router::new().route("/api/v1/dashboard/widget/secret", post(rotate_secret))
}

/// The page origin of a request: its `Origin` header and, in demo mode, the server's own
/// origin (from `Host`), so the demo page served by this server may use the widget.
fn page_origin(state: &AppState, headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let own = state
        .config
        .widget
        .demo
        .then(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .flatten()
        .map(|host| format!("http://{host}"));
    (origin, own)
}

fn as_page<'a>(pair: &'a (Option<String>, Option<String>)) -> PageOrigin<'a> {
    PageOrigin {
        origin: pair.0.as_deref(),
        own_origin: pair.1.as_deref(),
    }
}

/// Answers CORS preflights and adds CORS headers to responses, for allowed origins only: a
/// refused origin gets no `Access-Control-Allow-Origin`, so its page cannot read anything.
async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let pair = page_origin(&state, request.headers());
    let org = request
        .uri()
        .path()
        .strip_prefix("/api/v1/widget/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let allowed = match &pair.0 {
        Some(_) => allowed_origin(&state, &org, as_page(&pair)).await,
        None => None,
    };
    let mut response = if request.method() == Method::OPTIONS {
        match allowed {
            Some(_) => StatusCode::NO_CONTENT.into_response(),
            None => ApiError(Error::forbidden(
                "this origin may not embed this organization's widget",
            ))
            .into_response(),
        }
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, x-request-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    response
}

/// The normalised origin when it may use this organization's widget.
async fn allowed_origin(state: &AppState, org: &str, page: PageOrigin<'_>) -> Option<String> {
    let id = engine::ids::OrganizationId::parse(org).ok()?;
    let config = state
        .store
        .agent_config(&id)
        .await
        .ok()?
        .unwrap_or_default();
    session::check_origin(&config, page).ok()
}

async fn preflight() -> StatusCode {
    // The `cors` layer answers preflights before this runs; this only makes OPTIONS a known
    // method of the routes.
    StatusCode::NO_CONTENT
}

/// Returns the public widget configuration.
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn get_config(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<PublicConfig>> {
    let pair = page_origin(&state, &headers);
    let config = session::public_config(&state.store, &org_id, as_page(&pair)).await?;
    Ok(Json(config))
}

/// Body of `POST .../sessions`; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub visitor_id: Option<String>,
    pub customer_id: Option<String>,
    pub customer_signature: Option<String>,
}

/// Starts a visitor session.
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn create_session(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    parts: Parts,
    body: axum::body::Bytes,
) -> ApiResult<Json<VisitorSession>> {
    let settings = &state.config.widget;
    let ip = limits::client_ip(&parts, settings.trust_proxy);
    state
        .limiter
        .take(&format!("widget-ip:{ip}"), settings.ip_per_min, "per-IP")
        .await?;
    let body: SessionBody = crate::extract::json_or_default(&body)?;
    let pair = page_origin(&state, &parts.headers);
    let request = SessionRequest {
        visitor_id: body.visitor_id,
        customer_id: body.customer_id,
        customer_signature: body.customer_signature,
    };
    let started = session::start_session(
        &state.store,
        &org_id,
        as_page(&pair),
        request,
        settings.token_ttl_secs,
    )
    .await?;
    Ok(Json(started))
}

/// Authenticates the visitor token of `Authorization: Bearer`.
async fn visitor(state: &AppState, org_id: &str, headers: &HeaderMap) -> Result<Visitor, Error> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Error::unauthorized("send the visitor session token as Authorization: Bearer <token>")
        })?;
    let pair = page_origin(state, headers);
    session::authenticate(&state.store, org_id, as_page(&pair), token).await
}

/// Body of `POST .../chat`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetChatRequest {
    pub message: String,
    /// The conversation to continue (`conv_...`).
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    /// Stream the reply as server-sent events (also asked for by `Accept: text/event-stream`).
    #[serde(default)]
    pub stream: Option<bool>,
}

/// A citation as the widget shows it.
#[derive(Debug, Serialize)]
pub struct WidgetCitation {
    pub title: String,
    pub url: Option<String>,
    pub snippet: String,
}

/// The agent's reply, as the widget needs it.
#[derive(Debug, Serialize)]
pub struct WidgetChatResponse {
    pub response: String,
    pub session_id: String,
    pub message_id: String,
    pub customer_message_id: String,
    pub citations: Vec<WidgetCitation>,
    pub handoff: bool,
}

/// Sends a visitor's message to the agent.
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn send_message(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    parts: Parts,
    ApiJson(body): ApiJson<WidgetChatRequest>,
) -> ApiResult<Response> {
    let settings = &state.config.widget;
    let ip = limits::client_ip(&parts, settings.trust_proxy);
    state
        .limiter
        .take(&format!("widget-ip:{ip}"), settings.ip_per_min, "per-IP")
        .await?;
    let visitor = visitor(&state, &org_id, &parts.headers).await?;
    state
        .limiter
        .take(
            &format!(
                "widget-visitor:{}:{}",
                visitor.organization.id, visitor.customer_id
            ),
            settings.visitor_per_min,
            "per-visitor",
        )
        .await?;
    let org = &visitor.organization;
    let org_limit = org
        .rate_limit_per_min
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| state.config.rate_limits.for_plan(org.plan));
    let decision = state.limiter.check(&org.id, org_limit).await;
    if !decision.allowed {
        return Err(ApiError(Error::rate_limited(
            decision.retry_after_secs,
            "this organization's rate limit is reached; retry shortly",
        )));
    }
    let message = WidgetMessage {
        message: body.message,
        session_id: body.session_id,
        language: body.language,
    };
    if super::chat_stream::wants_stream(&parts.headers, body.stream) {
        // The same streaming path as the REST chat: `sentence`/`delta` events, then `final`
        // with the REST response object.
        let (caller, input) = session::chat_request(&visitor, message);
        return super::chat_stream::stream_message(state.clone(), caller, input).await;
    }
    let outcome = session::chat(&state.store, state.turns.as_ref(), &visitor, message).await?;
    let reply = outcome.reply;
    Ok(Json(WidgetChatResponse {
        response: reply.response,
        session_id: outcome.conversation_id.into_string(),
        message_id: outcome.message_id.into_string(),
        customer_message_id: outcome.customer_message_id.into_string(),
        citations: reply
            .citations
            .into_iter()
            .map(|c| WidgetCitation {
                title: c.title,
                url: c.url,
                snippet: c.snippet,
            })
            .collect(),
        handoff: reply.handoff,
    })
    .into_response())
}

/// Query of `GET .../messages`.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    pub session_id: String,
    /// Only messages created after this time (unix milliseconds).
    pub after: Option<i64>,
}

/// One message of the thread, as the widget shows it.
#[derive(Debug, Serialize)]
pub struct WidgetMessageBody {
    pub id: String,
    /// `customer`, `agent` or `human`.
    pub role: String,
    pub text: String,
    pub citations: Vec<WidgetCitation>,
    pub created_at: i64,
}

/// The thread and the conversation's status.
#[derive(Debug, Serialize)]
pub struct WidgetThreadResponse {
    /// `open`, `pending_human`, `human`, `resolved` or `closed`.
    pub status: String,
    pub messages: Vec<WidgetMessageBody>,
}

/// Returns the visitor's thread (or its new messages) and status.
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn list_messages(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
    parts: Parts,
) -> ApiResult<Json<WidgetThreadResponse>> {
    let settings = &state.config.widget;
    let ip = limits::client_ip(&parts, settings.trust_proxy);
    state
        .limiter
        .take(
            &format!("widget-poll:{ip}"),
            settings.poll_per_min,
            "polling",
        )
        .await?;
    let visitor = visitor(&state, &org_id, &parts.headers).await?;
    let thread = session::thread(&state.store, &visitor, &query.session_id, query.after).await?;
    Ok(Json(WidgetThreadResponse {
        status: thread.status.as_str().to_owned(),
        messages: thread
            .messages
            .into_iter()
            .map(|m| WidgetMessageBody {
                id: m.id.into_string(),
                role: m.role.as_str().to_owned(),
                text: m.text,
                citations: citations_of(&m.citations),
                created_at: m.created_at,
            })
            .collect(),
    }))
}

/// Reads the stored citations JSON (`[{title, url, snippet, ...}]`), skipping odd entries.
fn citations_of(raw: &serde_json::Value) -> Vec<WidgetCitation> {
    raw.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| {
                    Some(WidgetCitation {
                        title: c.get("title")?.as_str()?.to_owned(),
                        url: c.get("url").and_then(|u| u.as_str()).map(str::to_owned),
                        snippet: c
                            .get("snippet")
                            .and_then(|s| s.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Body of `POST .../csat`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetCsatRequest {
    pub session_id: String,
    /// 1 (very unhappy) to 5 (very happy).
    pub rating: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The stored rating.
#[derive(Debug, Serialize)]
pub struct WidgetCsatResponse {
    pub rating: i64,
    /// True when it replaced an earlier rating.
    pub replaced: bool,
}

/// Records the visitor's rating of their conversation.
#[tracing::instrument(skip_all, fields(org = %org_id))]
pub async fn submit_csat(
    State(state): State<AppState>,
    ApiPath(org_id): ApiPath<String>,
    parts: Parts,
    ApiJson(body): ApiJson<WidgetCsatRequest>,
) -> ApiResult<Json<WidgetCsatResponse>> {
    let settings = &state.config.widget;
    let ip = limits::client_ip(&parts, settings.trust_proxy);
    state
        .limiter
        .take(&format!("widget-ip:{ip}"), settings.ip_per_min, "per-IP")
        .await?;
    let visitor = visitor(&state, &org_id, &parts.headers).await?;
    let outcome = session::submit_csat(
        &state.store,
        &visitor,
        &body.session_id,
        body.rating,
        body.comment,
    )
    .await?;
    Ok(Json(WidgetCsatResponse {
        rating: outcome.rating,
        replaced: outcome.replaced,
    }))
}

/// The new widget secret, shown once.
#[derive(Debug, Serialize)]
pub struct WidgetSecretResponse {
    /// Sign customer ids with it on your server: hex HMAC-SHA256(secret, customer_id).
    pub secret: String,
    pub note: &'static str,
}

/// Creates or rotates the organization's widget secret.
#[tracing::instrument(skip_all, fields(org = %auth.organization_id))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<(StatusCode, Json<WidgetSecretResponse>)> {
    let secret = session::rotate_secret(&state.store, &auth.organization_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(WidgetSecretResponse {
            secret,
            note: "shown only once; signatures made with the previous secret no longer verify",
        }),
    ))
}
