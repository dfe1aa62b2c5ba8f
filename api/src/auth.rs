//! The authentication and rate-limit middleware in front of every `/api/v1` route: it reads
//! `Authorization: Bearer <key>`, authenticates the key, charges the organization's rate limit,
//! records the organization on the request span, and adds `X-RateLimit-Limit`, `-Remaining`
//! and `-Reset` to the response (429 responses also carry `Retry-After`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::ids::ApiKeyId;
use engine::service::keys::{self, Principal};
use engine::store::now_ms;
use engine::Error;

use crate::error::ApiError;
use crate::extract::AuthOrg;
use crate::rate_limit::Decision;
use crate::state::AppState;

/// Authenticates the request and applies the organization's rate limit.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // A dashboard session cookie stands in for a key when no Authorization header is sent.
    if crate::dashboard::api_auth::wants_session(&req) {
        return crate::dashboard::api_auth::run_with_session(state, req, next).await;
    }
    let principal = match authenticate(&state, req.headers()).await {
        Ok(principal) => principal,
        Err(err) => return ApiError(err).into_response(),
    };
    tracing::Span::current().record("org", principal.organization_id.as_str());
    let limit = principal
        .rate_limit_per_min
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| state.config.rate_limits.for_plan(principal.plan));
    let decision = state.limiter.check(&principal.organization_id, limit).await;
    if !decision.allowed {
        let mut response = ApiError(Error::rate_limited(
            decision.retry_after_secs,
            format!(
                "rate limit of {} requests per minute exceeded; retry in {} s",
                decision.limit, decision.retry_after_secs
            ),
        ))
        .into_response();
        add_rate_limit_headers(response.headers_mut(), &decision);
        return response;
    }
    state.key_usage.touch(&state, &principal.key_id);
    req.extensions_mut().insert(AuthOrg {
        organization_id: principal.organization_id.clone(),
        key_id: principal.key_id.clone(),
        plan: principal.plan,
        monthly_conversation_quota: principal.monthly_conversation_quota,
    });
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let mut response = next.run(req).await;
    add_rate_limit_headers(response.headers_mut(), &decision);
    let (status, actor) = (response.status(), format!("api key {}", principal.key_id));
    let org = &principal.organization_id;
    crate::dashboard::audit::record_api_change(&state, org, &actor, &method, &path, status).await;
    response
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, Error> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::unauthorized("missing 'Authorization: Bearer <API key>' header"))?;
    let raw = raw
        .to_str()
        .map_err(|_| Error::unauthorized("the Authorization header is malformed"))?;
    let (scheme, token) = raw.trim().split_once(' ').ok_or_else(|| {
        Error::unauthorized("the Authorization header must be 'Bearer <API key>'")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::unauthorized(
            "the Authorization header must be 'Bearer <API key>'",
        ));
    }
    keys::authenticate(&state.store, token.trim()).await
}

fn add_rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_secs));
}

/// Throttles `last_used_at` writes: at most one per key per interval, in the background, so a
/// busy key does not turn every request into a database write.
#[derive(Debug, Default)]
pub struct KeyUsage {
    last_written: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl KeyUsage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a use of `key`, writing it to the database when the last write is old enough.
    pub fn touch(&self, state: &AppState, key: &ApiKeyId) {
        let interval = Duration::from_secs(state.config.key_touch_interval_secs);
        let now = Instant::now();
        {
            let mut last = self
                .last_written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match last.get(key) {
                Some(at) if now.saturating_duration_since(*at) < interval => return,
                _ => {
                    last.insert(key.clone(), now);
                }
            }
        }
        let store = state.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            if let Err(err) = store.touch_api_key(&key, now_ms()).await {
                tracing::warn!(key = %key, error = %err.chain(), "recording key use failed");
            }
        });
    }
}
