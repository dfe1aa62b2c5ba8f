//! `/api/v1/dashboard/channels`: an organization's provider accounts (Twilio, Meta WhatsApp,
//! Meta Instagram, Mailgun). Credentials are write-only: responses name the ones that are set
//! (`credentials_set`), never their values. Each response lists the inbound URLs to paste into
//! the provider's console.
//!
//! Also `POST/GET /api/v1/platform/customers/{customer_id}/identities`: link a phone number,
//! e-mail address or Instagram id to a customer, so that person is one customer on every
//! channel; and `GET /api/v1/dashboard/channels/{id}/outbox`: the channel's sends with their
//! status and provider error codes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use engine::channels::config::{inbound_urls, ChannelPatch, NewChannel};
use engine::channels::identity::{self, Identity, IdentityKind, LinkedIdentity};
use engine::channels::ChannelConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, AuthOrg};
use crate::state::AppState;
use crate::wire::timestamp;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/api/v1/dashboard/channels/{id}",
            get(get_channel)
                .patch(update_channel)
                .delete(delete_channel),
        )
        .route("/api/v1/dashboard/channels/{id}/outbox", get(list_outbox))
        .route(
            "/api/v1/platform/customers/{customer_id}/identities",
            get(list_identities).post(link_identity),
        )
}

/// A channel as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelResponse {
    pub id: String,
    /// `twilio`, `meta_whatsapp`, `meta_instagram` or `mailgun`.
    pub provider: String,
    pub name: String,
    /// The organization's side: phone number, WhatsApp number, page id, inbound address.
    pub address: String,
    /// Public settings (`account_id`, `handoff_number`, `api_base_url`, `voice`, ...).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Names of the credentials that are set; their values are never returned.
    pub credentials_set: Vec<String>,
    pub enabled: bool,
    /// Where the provider must send its webhooks, by purpose.
    #[schema(value_type = Object)]
    pub inbound_urls: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// The base URL shown in inbound URLs: `BLAIGENT_PUBLIC_URL`, else the request's own host.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.channels.settings().public_url {
        return url.clone();
    }
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|s| matches!(*s, "http" | "https"))
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn respond(config: ChannelConfig, base: &str) -> ChannelResponse {
    let urls = inbound_urls(base, config.provider, &config.id)
        .into_iter()
        .map(|(purpose, url)| (purpose.to_owned(), Value::from(url)))
        .collect();
    ChannelResponse {
        id: config.id.to_string(),
        provider: config.provider.to_string(),
        name: config.name,
        address: config.address,
        settings: serde_json::to_value(&config.settings).unwrap_or_default(),
        credentials_set: config
            .credentials_set
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        enabled: config.enabled,
        inbound_urls: urls,
        created_at: timestamp(config.created_at),
        updated_at: timestamp(config.updated_at),
    }
}

/// The organization's channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    pub items: Vec<ChannelResponse>,
}

/// Creates a channel. Body: `provider`, `address`, optional `name`, `settings`,
/// `credentials` (write-only), `enabled`.
#[utoipa::path(post, path = "/api/v1/dashboard/channels", tag = "channels",
    request_body = Object,
    responses(
        (status = 201, description = "Created", body = ChannelResponse),
        (status = 422, description = "Invalid field (named)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_channel(
    State(state): State<AppState>,
    auth: AuthOrg,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewChannel>,
) -> ApiResult<(StatusCode, Json<ChannelResponse>)> {
    let created = state
        .channels
        .create_channel(&auth.organization_id, new)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(respond(created, &public_base(&state, &headers))),
    ))
}

/// Lists the organization's channels.
#[utoipa::path(get, path = "/api/v1/dashboard/channels", tag = "channels",
    responses((status = 200, description = "The channels", body = ChannelList)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_channels(
    State(state): State<AppState>,
    auth: AuthOrg,
    headers: HeaderMap,
) -> ApiResult<Json<ChannelList>> {
    let base = public_base(&state, &headers);
    let items = state
        .channels
        .list_channels(&auth.organization_id)
        .await?
        .into_iter()
        .map(|c| respond(c, &base))
        .collect();
    Ok(Json(ChannelList { items }))
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/dashboard/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id (chan_...)")),
    responses(
        (status = 200, description = "The channel", body = ChannelResponse),
        (status = 404, description = "No such channel in this organization", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_channel(
    State(state): State<AppState>,
    auth: AuthOrg,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChannelResponse>> {
    let loaded = state
        .channels
        .get_channel(&auth.organization_id, &id)
        .await?;
    Ok(Json(respond(loaded.config, &public_base(&state, &headers))))
}

/// Updates a channel: absent fields are kept; `credentials` sets (or with `""` removes) only
/// the credentials it names.
#[utoipa::path(patch, path = "/api/v1/dashboard/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id (chan_...)")),
    request_body = Object,
    responses(
        (status = 200, description = "Updated", body = ChannelResponse),
        (status = 404, description = "No such channel in this organization", body = ErrorBody),
        (status = 422, description = "Invalid field (named)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn update_channel(
    State(state): State<AppState>,
    auth: AuthOrg,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> ApiResult<Json<ChannelResponse>> {
    let updated = state
        .channels
        .update_channel(&auth.organization_id, &id, patch)
        .await?;
    Ok(Json(respond(updated, &public_base(&state, &headers))))
}

/// Deletes a channel (queued sends of it are dropped).
#[utoipa::path(delete, path = "/api/v1/dashboard/channels/{id}", tag = "channels",
    params(("id" = String, Path, description = "Channel id (chan_...)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such channel in this organization", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn delete_channel(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state
        .channels
        .delete_channel(&auth.organization_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One queued or finished send.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxItem {
    pub id: String,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    /// `pending`, `sending`, `failed` (will retry), `sent`, `dead`, or `unconfirmed` (an
    /// attempt got no answer and may have been delivered; the provider cannot be asked, so
    /// it was not sent again).
    pub status: String,
    /// An attempt may have reached the provider without its answer reaching the server; the
    /// provider is asked before any further attempt.
    pub in_doubt: bool,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub provider_message_id: Option<String>,
    pub last_status_code: Option<i64>,
    /// The provider's own error code (Twilio `21211`, ...).
    pub last_error_code: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The channel's sends, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxItem>,
}

/// Lists the channel's last 100 sends, newest first.
#[utoipa::path(get, path = "/api/v1/dashboard/channels/{id}/outbox", tag = "channels",
    params(("id" = String, Path, description = "Channel id (chan_...)")),
    responses(
        (status = 200, description = "The sends", body = OutboxList),
        (status = 404, description = "No such channel in this organization", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_outbox(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OutboxList>> {
    let channel = state
        .channels
        .get_channel(&auth.organization_id, &id)
        .await?;
    let rows = state
        .store
        .outbox_of(&auth.organization_id, &channel.config.id, 100)
        .await?;
    let items = rows
        .into_iter()
        .map(|r| OutboxItem {
            id: r.id,
            conversation_id: r.conversation_id,
            message_id: r.message_id,
            status: r.status,
            in_doubt: r.in_doubt != 0,
            attempts: r.attempts,
            next_attempt_at: timestamp(r.next_attempt_at),
            provider_message_id: r.provider_message_id,
            last_status_code: r.last_status_code,
            last_error_code: r.last_error_code,
            last_error: r.last_error,
            created_at: timestamp(r.created_at),
            updated_at: timestamp(r.updated_at),
        })
        .collect();
    Ok(Json(OutboxList { items }))
}

/// Body of an identity link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentityRequest {
    /// `phone`, `email` or `instagram`.
    pub kind: String,
    /// `+15551234567`, `dana@example.com`, or an Instagram-scoped id.
    pub value: String,
}

/// A channel identity linked to a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityResponse {
    pub id: String,
    pub customer_id: String,
    pub kind: String,
    /// Normalized (E.164 phone, lowercase e-mail).
    pub value: String,
    pub created_at: String,
}

impl From<LinkedIdentity> for IdentityResponse {
    fn from(i: LinkedIdentity) -> Self {
        IdentityResponse {
            id: i.id,
            customer_id: i.customer_id,
            kind: i.kind,
            value: i.value,
            created_at: timestamp(i.created_at),
        }
    }
}

/// A customer's identities.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    pub items: Vec<IdentityResponse>,
}

/// Links a phone number, e-mail address or Instagram id to the customer (created when new):
/// messages from it on any channel then belong to this customer, with its memory and history.
#[utoipa::path(post, path = "/api/v1/platform/customers/{customer_id}/identities", tag = "channels",
    params(("customer_id" = String, Path, description = "Your id of the customer")),
    request_body = LinkIdentityRequest,
    responses(
        (status = 201, description = "Linked", body = IdentityResponse),
        (status = 422, description = "Invalid kind or value", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn link_identity(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
    ApiJson(request): ApiJson<LinkIdentityRequest>,
) -> ApiResult<(StatusCode, Json<IdentityResponse>)> {
    let kind = IdentityKind::parse(&request.kind)?;
    let parsed = Identity::parse(kind, &request.value)?;
    let linked =
        identity::link_identity(&state.store, &auth.organization_id, &customer_id, &parsed).await?;
    Ok((StatusCode::CREATED, Json(linked.into())))
}

/// Lists the identities linked to the customer.
#[utoipa::path(get, path = "/api/v1/platform/customers/{customer_id}/identities", tag = "channels",
    params(("customer_id" = String, Path, description = "Your id of the customer")),
    responses(
        (status = 200, description = "The identities", body = IdentityList),
        (status = 404, description = "No such customer", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_identities(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
) -> ApiResult<Json<IdentityList>> {
    let items = identity::identities(&state.store, &auth.organization_id, &customer_id)
        .await?
        .into_iter()
        .map(IdentityResponse::from)
        .collect();
    Ok(Json(IdentityList { items }))
}

/// The OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_channel,
        list_channels,
        get_channel,
        update_channel,
        delete_channel,
        list_outbox,
        link_identity,
        list_identities
    ),
    components(schemas(
        ChannelResponse,
        ChannelList,
        OutboxItem,
        OutboxList,
        LinkIdentityRequest,
        IdentityResponse,
        IdentityList
    ))
)]
pub struct ApiDoc;
