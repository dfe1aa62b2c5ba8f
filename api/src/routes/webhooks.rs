//! `/api/v1/dashboard/webhooks`: subscriptions (create, list, get, update, delete), secret
//! rotation, test pings, the delivery log, the event list and replays. Also
//! [`start_dispatcher`], which [`crate::serve`] calls so every server delivers webhooks.
//!
//! Secrets appear only in the responses that create them (create, rotate-secret).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::ids::{EventId, WebhookId};
use engine::store::events::StoredEvent;
use engine::store::now_ms;
use engine::store::webhooks::{Attempt, Webhook, WebhookPatch};
use engine::webhooks::manage::{self, CreateWebhook};
use engine::webhooks::Dispatcher;
use engine::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthOrg};
use crate::state::AppState;
use crate::wire::{opt_timestamp, timestamp};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route("/api/v1/dashboard/webhooks/events", get(list_events))
        .route(
            "/api/v1/dashboard/webhooks/events/{event_id}/replay",
            post(replay_event),
        )
        .route(
            "/api/v1/dashboard/webhooks/{id}",
            get(get_webhook)
                .patch(update_webhook)
                .delete(delete_webhook),
        )
        .route(
            "/api/v1/dashboard/webhooks/{id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/api/v1/dashboard/webhooks/{id}/test", post(test_webhook))
        .route(
            "/api/v1/dashboard/webhooks/{id}/deliveries",
            get(list_deliveries),
        )
        .route("/api/v1/dashboard/webhooks/{id}/replay", post(replay_range))
}

/// Stops the dispatcher when dropped (at the end of [`crate::serve`]).
#[derive(Debug)]
pub struct DispatcherGuard(tokio::task::JoinHandle<()>);

impl Drop for DispatcherGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the webhook dispatcher of this server, unless the configuration turns it off
/// (`BLAIGENT_WEBHOOK_DISPATCHER=off`). Deliveries in flight when it stops are taken over
/// once their lease runs out, by this server after a restart or by another replica.
pub fn start_dispatcher(state: &AppState) -> Option<DispatcherGuard> {
    let settings = state.config.webhooks.clone();
    if !settings.dispatch {
        tracing::info!("webhook dispatcher off by configuration");
        return None;
    }
    match Dispatcher::new(state.store.clone(), settings) {
        Ok(dispatcher) => Some(DispatcherGuard(dispatcher.spawn())),
        Err(err) => {
            tracing::error!(error = %err.chain(), "the webhook dispatcher could not start");
            None
        }
    }
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_webhook,
        list_webhooks,
        get_webhook,
        update_webhook,
        delete_webhook,
        rotate_secret,
        test_webhook,
        list_deliveries,
        list_events,
        replay_event,
        replay_range
    ),
    components(schemas(
        CreateWebhookRequest,
        UpdateWebhookRequest,
        WebhookBody,
        WebhookWithSecretBody,
        WebhookListResponse,
        QueuedResponse,
        AttemptBody,
        AttemptListResponse,
        EventBody,
        EventListResponse,
        ReplayRangeRequest
    ))
)]
pub struct ApiDoc;

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where to POST events: `https://...` (or `http://`); private addresses are refused.
    pub url: String,
    /// Event types to receive, or `["*"]` (the default) for all.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Defaults to `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A note for humans (at most 500 characters).
    #[serde(default)]
    pub description: Option<String>,
}

/// Changes to an endpoint; omitted fields stay as they are. Enabling an endpoint the platform
/// disabled clears its `disabled_reason`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An endpoint as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why the platform disabled it (`410 Gone`, failing too long); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` when the last one succeeded.
    pub failing_since: Option<String>,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Webhook> for WebhookBody {
    fn from(w: Webhook) -> Self {
        WebhookBody {
            id: w.id.into_string(),
            url: w.url,
            description: w.description,
            events: w.events,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            failing_since: opt_timestamp(w.failing_since),
            previous_secret_expires_at: opt_timestamp(
                w.previous_secret_expires_at.filter(|at| *at > now_ms()),
            ),
            created_at: timestamp(w.created_at),
            updated_at: timestamp(w.updated_at),
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretBody {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// `whsec_...`: the HMAC-SHA256 key for `Blaigent-Signature`. It cannot be shown again.
    pub secret: String,
}

/// The organization's endpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookListResponse {
    pub webhooks: Vec<WebhookBody>,
}

/// Deliveries were queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedResponse {
    /// How many deliveries were queued.
    pub queued: u64,
    /// The event sent (test pings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

/// One attempt in the delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event: String,
    /// 1 for the first try of this delivery.
    pub attempt: i64,
    pub succeeded: bool,
    /// The endpoint's HTTP status; `null` when there was no response (see `error`).
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first 512 bytes of the response body.
    pub response_excerpt: Option<String>,
    /// When the next retry is due; `null` when none follows.
    pub next_retry_at: Option<String>,
    pub created_at: String,
}

impl From<Attempt> for AttemptBody {
    fn from(a: Attempt) -> Self {
        AttemptBody {
            id: a.id,
            delivery_id: a.delivery_id,
            event_id: a.event_id,
            event: a.event,
            attempt: a.attempt,
            succeeded: a.succeeded,
            status_code: a.status_code,
            error: a.error,
            latency_ms: a.latency_ms,
            response_excerpt: a.response_excerpt,
            next_retry_at: opt_timestamp(a.next_attempt_at),
            created_at: timestamp(a.created_at),
        }
    }
}

/// A page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptListResponse {
    pub deliveries: Vec<AttemptBody>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A recorded event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventBody {
    pub id: String,
    pub event: String,
    pub conversation_id: Option<String>,
    pub created_at: String,
    /// The exact body sent to endpoints.
    #[schema(value_type = Object)]
    pub payload: Value,
}

impl From<StoredEvent> for EventBody {
    fn from(e: StoredEvent) -> Self {
        EventBody {
            id: e.id.into_string(),
            event: e.event,
            conversation_id: e.conversation_id.map(|c| c.into_string()),
            created_at: timestamp(e.created_at),
            payload: e.payload,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventListResponse {
    pub events: Vec<EventBody>,
    pub next_cursor: Option<String>,
}

/// A time range to replay (`to` excluded), RFC 3339.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRangeRequest {
    /// e.g. `2026-03-11T00:00:00Z`
    pub from: String,
    pub to: String,
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// Paging and filter of the event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// Only events of this type, e.g. `message.received`.
    pub event: Option<String>,
}

/// Which endpoint a replay goes to.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReplayQuery {
    /// Only this endpoint (subscribed or not); all the event's endpoints when omitted.
    pub webhook_id: Option<String>,
}

/// Creates an endpoint; the response carries its signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/webhooks",
    tag = "webhooks",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "The endpoint with its secret", body = WebhookWithSecretBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid URL (or a private address), events or description", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(request): ApiJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecretBody>)> {
    let input = CreateWebhook {
        url: request.url,
        events: request.events,
        enabled: request.enabled,
        description: request.description,
    };
    let (webhook, secret) = manage::create_webhook(
        &state.store,
        &state.config.webhooks,
        &auth.organization_id,
        input,
    )
    .await?;
    let body = WebhookWithSecretBody {
        webhook: webhook.into(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Lists the organization's endpoints.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "The endpoints", body = WebhookListResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<WebhookListResponse>> {
    let webhooks = state.store.webhooks(&auth.organization_id).await?;
    Ok(Json(WebhookListResponse {
        webhooks: webhooks.into_iter().map(Into::into).collect(),
    }))
}

/// Returns one endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookBody>> {
    let id = parse_webhook_id(&id)?;
    let webhook = manage::get_webhook(&state.store, &auth.organization_id, &id).await?;
    Ok(Json(webhook.into()))
}

/// Changes an endpoint's URL, events, description or enabled flag.
#[utoipa::path(
    patch,
    path = "/api/v1/dashboard/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The updated endpoint", body = WebhookBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
        (status = 422, description = "Invalid URL, events or description", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookBody>> {
    let id = parse_webhook_id(&id)?;
    let patch = WebhookPatch {
        url: request.url,
        description: request.description,
        events: request.events,
        enabled: request.enabled,
    };
    let webhook = manage::update_webhook(
        &state.store,
        &state.config.webhooks,
        &auth.organization_id,
        &id,
        patch,
    )
    .await?;
    Ok(Json(webhook.into()))
}

/// Deletes an endpoint with its pending deliveries and log.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_webhook_id(&id)?;
    manage::delete_webhook(&state.store, &auth.organization_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new signing secret (shown once). The previous one keeps signing for the grace
/// period (24 h by default): both signatures are sent meanwhile.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    responses(
        (status = 201, description = "The endpoint with its new secret", body = WebhookWithSecretBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecretBody>)> {
    let id = parse_webhook_id(&id)?;
    let (webhook, secret) = manage::rotate_secret(
        &state.store,
        &state.config.webhooks,
        &auth.organization_id,
        &id,
    )
    .await?;
    let body = WebhookWithSecretBody {
        webhook: webhook.into(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Queues a `ping` event for this endpoint only (a disabled endpoint gets it once re-enabled).
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    responses(
        (status = 202, description = "The ping is queued", body = QueuedResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn test_webhook(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<QueuedResponse>)> {
    let id = parse_webhook_id(&id)?;
    let event = manage::send_test(&state.store, &auth.organization_id, &id).await?;
    let body = QueuedResponse {
        queued: 1,
        event_id: Some(event.into_string()),
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// The delivery log: every attempt with its time, status, latency, the first bytes of the
/// response and the next retry, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)"), PageQuery),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptListResponse),
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<AttemptListResponse>> {
    let id = parse_webhook_id(&id)?;
    let page = manage::attempts(
        &state.store,
        &auth.organization_id,
        &id,
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(Json(AttemptListResponse {
        deliveries: page.data.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Lists the organization's events, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/webhooks/events",
    tag = "webhooks",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventListResponse),
        (status = 400, description = "Bad cursor or limit", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Unknown event type", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_events(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventListResponse>> {
    let page = manage::events(
        &state.store,
        &auth.organization_id,
        query.event.as_deref(),
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(Json(EventListResponse {
        events: page.data.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Sends one event again (same id and body) to its endpoints, or to `webhook_id` only.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/webhooks/events/{event_id}/replay",
    tag = "webhooks",
    params(("event_id" = String, Path, description = "Event id (evt_...)"), ReplayQuery),
    responses(
        (status = 202, description = "Deliveries queued", body = QueuedResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such event or endpoint in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn replay_event(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(event_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ReplayQuery>,
) -> ApiResult<(StatusCode, Json<QueuedResponse>)> {
    let event = EventId::parse(&event_id).map_err(|_| {
        Error::not_found(format!(
            "no event '{}' in this organization",
            event_id.chars().take(40).collect::<String>()
        ))
    })?;
    let webhook = query
        .webhook_id
        .as_deref()
        .map(parse_webhook_id)
        .transpose()?;
    let queued = manage::replay_event(
        &state.store,
        &auth.organization_id,
        &event,
        webhook.as_ref(),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedResponse {
            queued,
            event_id: None,
        }),
    ))
}

/// Sends every event recorded in `[from, to)` that this endpoint subscribes to again.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/webhooks/{id}/replay",
    tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_...)")),
    request_body = ReplayRangeRequest,
    responses(
        (status = 202, description = "Deliveries queued", body = QueuedResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such endpoint in this organization", body = ErrorBody),
        (status = 422, description = "Bad or too long time range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn replay_range(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReplayRangeRequest>,
) -> ApiResult<(StatusCode, Json<QueuedResponse>)> {
    let id = parse_webhook_id(&id)?;
    let queued = manage::replay_range(
        &state.store,
        &auth.organization_id,
        &id,
        &request.from,
        &request.to,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedResponse {
            queued,
            event_id: None,
        }),
    ))
}

fn parse_webhook_id(raw: &str) -> Result<WebhookId, Error> {
    WebhookId::parse(raw).map_err(|_| {
        Error::not_found(format!(
            "no webhook '{}' in this organization",
            raw.chars().take(40).collect::<String>()
        ))
    })
}
