//! The conversation lifecycle: `POST /api/v1/platform/conversations/{id}/handoff`, `assign`,
//! `messages` (a human reply), `return-to-agent`, `resolve`, `close`, `csat`, and
//! `GET .../{id}/transitions` (the status log).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::ids::MessageId;
use engine::service::csat;
use engine::service::lifecycle::{self as service, Action, ResolvedBy};
use engine::store::lifecycle::{LifecycleState, Transition};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{json_or_default, ApiJson, ApiPath, AuthOrg};
use crate::state::AppState;
use crate::wire::{opt_timestamp, timestamp};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    const BASE: &str = "/api/v1/platform/conversations/{id}";
    Router::new()
        .route(&format!("{BASE}/handoff"), post(handoff_conversation))
        .route(&format!("{BASE}/assign"), post(assign_conversation))
        .route(&format!("{BASE}/messages"), post(send_human_message))
        .route(&format!("{BASE}/return-to-agent"), post(return_to_agent))
        .route(&format!("{BASE}/resolve"), post(resolve_conversation))
        .route(&format!("{BASE}/close"), post(close_conversation))
        .route(&format!("{BASE}/csat"), post(submit_csat))
        .route(&format!("{BASE}/transitions"), get(list_transitions))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        handoff_conversation,
        assign_conversation,
        send_human_message,
        return_to_agent,
        resolve_conversation,
        close_conversation,
        submit_csat,
        list_transitions
    ),
    components(schemas(
        HandoffRequest,
        AssignRequest,
        HumanMessageRequest,
        ResolveRequest,
        CsatRequest,
        LifecycleResponse,
        HumanMessageResponse,
        CsatResponse,
        TransitionBody,
        TransitionListResponse
    ))
)]
pub struct ApiDoc;

/// Body of `handoff`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// Why a human should take over (default "requested through the API").
    pub reason: Option<String>,
}

/// Body of `assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The human agent, e.g. `alice@shop.example`.
    pub assignee: String,
}

/// Body of a human reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HumanMessageRequest {
    pub text: String,
    /// Who wrote it, e.g. `alice@shop.example`; becomes the assignee when there is none.
    pub author: String,
}

/// Optional body of `resolve` and `close`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `agent` or `human`; by default `human` when a human replied or was assigned, else `agent`.
    pub resolved_by: Option<String>,
    pub reason: Option<String>,
}

/// Body of `csat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatRequest {
    /// 1 (very unhappy) to 5 (very happy).
    pub rating: i64,
    pub comment: Option<String>,
}

/// A conversation's lifecycle state after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct LifecycleResponse {
    pub id: String,
    /// `open`, `pending_human`, `human`, `resolved` or `closed`.
    pub status: String,
    pub customer_id: String,
    pub channel: String,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    /// `agent` or `human` once resolved or closed.
    pub resolved_by: Option<String>,
    pub handoff_at: Option<String>,
    pub assigned_at: Option<String>,
    pub resolved_at: Option<String>,
    pub closed_at: Option<String>,
    pub handoff_count: i64,
    pub reopen_count: i64,
}

impl From<LifecycleState> for LifecycleResponse {
    fn from(s: LifecycleState) -> Self {
        LifecycleResponse {
            id: s.id.into_string(),
            status: s.status.as_str().to_owned(),
            customer_id: s.customer_id,
            channel: s.channel.to_string(),
            handoff_reason: s.handoff_reason,
            assignee: s.assignee,
            resolved_by: s.resolved_by,
            handoff_at: opt_timestamp(s.handoff_at),
            assigned_at: opt_timestamp(s.assigned_at),
            resolved_at: opt_timestamp(s.resolved_at),
            closed_at: opt_timestamp(s.closed_at),
            handoff_count: s.handoff_count,
            reopen_count: s.reopen_count,
        }
    }
}

/// A stored human reply and the conversation after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HumanMessageResponse {
    pub message_id: String,
    /// Always `human`.
    pub role: String,
    pub text: String,
    pub author: String,
    /// The conversation's channel: where the reply is delivered.
    pub channel: String,
    pub conversation: LifecycleResponse,
}

/// The stored rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsatResponse {
    pub conversation_id: String,
    pub rating: i64,
    pub comment: Option<String>,
    /// True when this rating replaced an earlier one.
    pub replaced: bool,
    pub submitted_at: String,
}

/// One status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionBody {
    pub from: String,
    pub to: String,
    /// `agent`, `system`, `customer`, `api` or a human's name.
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
}

impl From<Transition> for TransitionBody {
    fn from(t: Transition) -> Self {
        TransitionBody {
            from: t.from_status,
            to: t.to_status,
            actor: t.actor,
            reason: t.reason,
            at: timestamp(t.created_at),
        }
    }
}

/// A conversation's status log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionListResponse {
    pub conversation_id: String,
    pub transitions: Vec<TransitionBody>,
}

/// Hands a conversation to the human team (`open` -> `pending_human`); emits `handoff.requested`.
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/handoff",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = HandoffRequest,
    responses(
        (status = 200, description = "Handed off", body = LifecycleResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "Not possible in the conversation's status", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn handoff_conversation(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<LifecycleResponse>> {
    let request: HandoffRequest = json_or_default(&body)?;
    let action = Action::Handoff {
        reason: request
            .reason
            .unwrap_or_else(|| "requested through the API".to_owned()),
        actor: "api".to_owned(),
    };
    let next = service::apply(&state.store, &auth.organization_id, &id, action).await?;
    Ok(Json(next.into()))
}

/// Assigns a conversation to a named human (-> `human`).
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/assign",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "Assigned", body = LifecycleResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "Not possible in the conversation's status", body = ErrorBody),
        (status = 422, description = "Missing or invalid assignee", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn assign_conversation(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AssignRequest>,
) -> ApiResult<Json<LifecycleResponse>> {
    let action = Action::Assign {
        assignee: request.assignee.trim().to_owned(),
    };
    let next = service::apply(&state.store, &auth.organization_id, &id, action).await?;
    Ok(Json(next.into()))
}

/// Stores a human's reply (role `human`) for delivery on the conversation's channel; emits
/// `message.sent` with `sender: human`.
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/messages",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = HumanMessageRequest,
    responses(
        (status = 201, description = "Stored", body = HumanMessageResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "The conversation is not with the human team", body = ErrorBody),
        (status = 422, description = "Missing or invalid text or author", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn send_human_message(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<HumanMessageRequest>,
) -> ApiResult<(StatusCode, Json<HumanMessageResponse>)> {
    let message_id = MessageId::new();
    let author = request.author.trim().to_owned();
    let action = Action::HumanReply {
        message_id: message_id.clone(),
        text: request.text.clone(),
        author: author.clone(),
    };
    let next = service::apply(&state.store, &auth.organization_id, &id, action).await?;
    Ok((
        StatusCode::CREATED,
        Json(HumanMessageResponse {
            message_id: message_id.into_string(),
            role: "human".to_owned(),
            text: request.text,
            author,
            channel: next.channel.to_string(),
            conversation: next.into(),
        }),
    ))
}

/// Hands a conversation back to the AI agent (-> `open`).
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/return-to-agent",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    responses(
        (status = 200, description = "Back with the agent", body = LifecycleResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "Not possible in the conversation's status", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn return_to_agent(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<LifecycleResponse>> {
    let next = service::apply(
        &state.store,
        &auth.organization_id,
        &id,
        Action::ReturnToAgent,
    )
    .await?;
    Ok(Json(next.into()))
}

/// Resolves a conversation; emits `conversation.resolved` with who resolved it.
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/resolve",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Resolved", body = LifecycleResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "Already resolved or closed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn resolve_conversation(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<LifecycleResponse>> {
    let request: ResolveRequest = json_or_default(&body)?;
    let action = Action::Resolve {
        resolved_by: request
            .resolved_by
            .as_deref()
            .map(ResolvedBy::parse)
            .transpose()?,
        actor: "api".to_owned(),
        reason: request.reason,
    };
    let next = service::apply(&state.store, &auth.organization_id, &id, action).await?;
    Ok(Json(next.into()))
}

/// Closes a conversation; emits `conversation.closed` with who resolved it.
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/close",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Closed", body = LifecycleResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 409, description = "Already closed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn close_conversation(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<LifecycleResponse>> {
    let request: ResolveRequest = json_or_default(&body)?;
    let action = Action::Close {
        resolved_by: request
            .resolved_by
            .as_deref()
            .map(ResolvedBy::parse)
            .transpose()?,
        actor: "api".to_owned(),
        reason: request.reason,
    };
    let next = service::apply(&state.store, &auth.organization_id, &id, action).await?;
    Ok(Json(next.into()))
}

/// Records the customer's satisfaction rating; a second one replaces the first.
#[utoipa::path(
    post,
    path = "/api/v1/platform/conversations/{id}/csat",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    request_body = CsatRequest,
    responses(
        (status = 200, description = "Stored (replaced: true when it replaced a rating)", body = CsatResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
        (status = 422, description = "Rating outside 1..5", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn submit_csat(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<CsatRequest>,
) -> ApiResult<Json<CsatResponse>> {
    let outcome = csat::submit_csat(
        &state.store,
        &auth.organization_id,
        &id,
        request.rating,
        request.comment,
    )
    .await?;
    Ok(Json(CsatResponse {
        conversation_id: id,
        rating: outcome.rating,
        comment: outcome.comment,
        replaced: outcome.replaced,
        submitted_at: timestamp(outcome.created_at),
    }))
}

/// Lists a conversation's status changes, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/platform/conversations/{id}/transitions",
    tag = "lifecycle",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    responses(
        (status = 200, description = "The log", body = TransitionListResponse),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_transitions(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TransitionListResponse>> {
    let transitions = service::transitions(&state.store, &auth.organization_id, &id).await?;
    Ok(Json(TransitionListResponse {
        conversation_id: id,
        transitions: transitions.into_iter().map(Into::into).collect(),
    }))
}
