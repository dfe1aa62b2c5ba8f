//! `GET /api/v1/platform/conversations` (newest first, cursor pagination, filters),
//! `GET /api/v1/platform/conversations/{id}` and `GET .../{id}/messages`.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::channel::Channel;
use engine::service::conversations as service;
use engine::store::conversations::{Conversation, ConversationFilter, ConversationStatus};
use engine::store::messages::Message;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, AuthOrg};
use crate::state::AppState;
use crate::wire::{opt_timestamp, timestamp};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/platform/conversations", get(list_conversations))
        .route("/api/v1/platform/conversations/{id}", get(get_conversation))
        .route(
            "/api/v1/platform/conversations/{id}/messages",
            get(list_messages),
        )
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_conversations, get_conversation, list_messages),
    components(schemas(
        ConversationBody,
        ConversationListResponse,
        MessageBody,
        MessageListResponse
    ))
)]
pub struct ApiDoc;

/// Query of the conversation listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `open`, `pending_human`, `human`, `resolved` or `closed`.
    pub status: Option<String>,
    /// `web`, `whatsapp`, `sms`, `email`, `voice` or `instagram`.
    pub channel: Option<String>,
    /// Your own customer id.
    pub customer_id: Option<String>,
}

/// A conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    pub id: String,
    /// The same value as `id`: the chat API's `session_id`.
    pub session_id: String,
    pub customer_id: String,
    pub channel: String,
    pub status: String,
    pub intent: Option<String>,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    pub message_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub last_message_at: Option<String>,
    pub resolved_at: Option<String>,
}

impl From<Conversation> for ConversationBody {
    fn from(c: Conversation) -> Self {
        ConversationBody {
            session_id: c.id.to_string(),
            id: c.id.into_string(),
            customer_id: c.customer_id,
            channel: c.channel.to_string(),
            status: c.status.as_str().to_owned(),
            intent: c.intent,
            handoff_reason: c.handoff_reason,
            assignee: c.assignee,
            message_count: c.message_count,
            created_at: timestamp(c.created_at),
            updated_at: timestamp(c.updated_at),
            last_message_at: opt_timestamp(c.last_message_at),
            resolved_at: opt_timestamp(c.resolved_at),
        }
    }
}

/// One page of conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationListResponse {
    pub conversations: Vec<ConversationBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One message of a thread.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: String,
    /// `customer`, `agent` or `human`.
    pub role: String,
    pub text: String,
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    pub language: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub citations: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: serde_json::Value,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_at: String,
}

impl From<Message> for MessageBody {
    fn from(m: Message) -> Self {
        MessageBody {
            id: m.id.into_string(),
            role: m.role.as_str().to_owned(),
            text: m.text,
            intent: m.intent,
            confidence: m.confidence,
            language: m.language,
            citations: m.citations,
            actions: m.actions,
            metadata: m.metadata,
            created_at: timestamp(m.created_at),
        }
    }
}

/// A conversation's full thread, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageListResponse {
    pub conversation_id: String,
    pub messages: Vec<MessageBody>,
}

/// Lists the organization's conversations, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/platform/conversations",
    tag = "conversations",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = ConversationListResponse),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_conversations(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<ConversationListResponse>> {
    let filter = ConversationFilter {
        status: query
            .status
            .as_deref()
            .map(ConversationStatus::parse)
            .transpose()?,
        channel: query.channel.as_deref().map(Channel::parse).transpose()?,
        customer_id: query.customer_id,
    };
    let page = service::list_conversations(
        &state.store,
        &auth.organization_id,
        &filter,
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(Json(ConversationListResponse {
        conversations: page.conversations.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Returns one conversation.
#[utoipa::path(
    get,
    path = "/api/v1/platform/conversations/{id}",
    tag = "conversations",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    responses(
        (status = 200, description = "The conversation", body = ConversationBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_conversation(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConversationBody>> {
    let conversation = service::get_conversation(&state.store, &auth.organization_id, &id).await?;
    Ok(Json(conversation.into()))
}

/// Returns a conversation's full message thread.
#[utoipa::path(
    get,
    path = "/api/v1/platform/conversations/{id}/messages",
    tag = "conversations",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    responses(
        (status = 200, description = "The thread, oldest first", body = MessageListResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_messages(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MessageListResponse>> {
    let (conversation, messages) =
        service::conversation_messages(&state.store, &auth.organization_id, &id).await?;
    Ok(Json(MessageListResponse {
        conversation_id: conversation.id.into_string(),
        messages: messages.into_iter().map(Into::into).collect(),
    }))
}
