//! `POST /api/v1/agents/customer-service/chat`: one customer message in, the agent's reply out.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use engine::channel::Channel;
use engine::service::chat::{self, ChatCaller, ChatInput};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthOrg};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/agents/customer-service/chat", post(send_message))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(send_message),
    components(schemas(ChatRequest, ChatResponse, CitationBody, ActionBody))
)]
pub struct ApiDoc;

/// A customer message.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// The customer's message (1 to 4000 characters).
    #[schema(example = "Where is my order?")]
    pub message: String,
    /// Your own id for the customer (at most 128 characters).
    #[schema(example = "cust_12345")]
    pub customer_id: String,
    /// Your organization id; must be the API key's organization.
    #[schema(example = "org_01jd9...")]
    pub organization_id: String,
    /// `web` (default), `whatsapp`, `sms`, `email`, `voice` or `instagram`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "web")]
    pub channel: Option<Channel>,
    /// Continue this conversation (the `session_id` of an earlier reply); omit to start one.
    #[serde(default)]
    pub session_id: Option<String>,
    /// ISO 639-1 code of the message, when you know it.
    #[serde(default)]
    #[schema(example = "en")]
    pub language: Option<String>,
    /// Free-form JSON object stored with the message (at most 16 KiB).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Answer with server-sent events (like `Accept: text/event-stream`); see `chat_stream`.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// A source the reply drew on.
#[derive(Debug, Serialize, ToSchema)]
pub struct CitationBody {
    pub document_id: String,
    pub title: String,
    pub url: Option<String>,
    pub snippet: String,
}

/// An action the turn ran or tried to run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionBody {
    pub name: String,
    /// `succeeded`, `failed`, `awaiting_confirmation`, `needs_input`, `cancelled`, `refused`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The agent's reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    #[schema(example = "Hi! Let me look that up for you...")]
    pub response: String,
    #[schema(example = "order_tracking")]
    pub intent: String,
    #[schema(example = 0.97)]
    pub confidence: f32,
    /// Pass back as `session_id` to continue; equal to `conversation_id`.
    pub session_id: String,
    pub conversation_id: String,
    /// The id of the agent's message.
    pub message_id: String,
    pub language: String,
    pub citations: Vec<CitationBody>,
    /// True when the conversation was handed to a human.
    pub handoff: bool,
    pub handoff_reason: Option<String>,
    pub actions: Vec<ActionBody>,
    /// What the policy noticed: `pii_redacted`, `prompt_injection`, `blocked_topic`,
    /// `model_fallback`, `ungrounded_dropped`.
    pub flags: Vec<String>,
}

/// Sends a message and receives the agent's response.
#[utoipa::path(
    post,
    path = "/api/v1/agents/customer-service/chat",
    tag = "chat",
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The agent's reply (server-sent events with `\"stream\": true` or `Accept: text/event-stream`)",
            content((ChatResponse = "application/json"), (Object = "text/event-stream"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "organization_id is not the key's organization", body = ErrorBody),
        (status = 404, description = "Unknown session_id", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 429, description = "Rate limit or monthly conversation quota reached", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn send_message(
    State(state): State<AppState>,
    auth: AuthOrg,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<ChatRequest>,
) -> ApiResult<axum::response::Response> {
    let stream = super::chat_stream::wants_stream(&headers, body.stream);
    let caller = ChatCaller {
        organization_id: auth.organization_id,
        plan: auth.plan,
        monthly_conversation_quota: auth.monthly_conversation_quota,
    };
    let input = ChatInput {
        organization_id: body.organization_id,
        customer_id: body.customer_id,
        message: body.message,
        channel: body.channel.unwrap_or_default(),
        session_id: body.session_id,
        language: body.language,
        metadata: body.metadata.unwrap_or_default(),
    };
    if stream {
        return super::chat_stream::stream_message(state, caller, input).await;
    }
    let outcome = chat::chat(&state.store, state.turns.as_ref(), &caller, input).await?;
    Ok(Json(super::chat_stream::response_body(outcome)).into_response())
}
