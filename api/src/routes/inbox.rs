//! `GET /api/v1/platform/inbox`: the conversations waiting for or held by a human, oldest wait
//! first, with cursor pagination and filters by assignee, channel and status.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::channel::Channel;
use engine::service::inbox as service;
use engine::store::conversations::ConversationStatus;
use engine::store::lifecycle::{InboxFilter, InboxItem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, AuthOrg};
use crate::state::AppState;
use crate::wire::timestamp;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/platform/inbox", get(list_inbox))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(list_inbox),
    components(schemas(InboxResponse, InboxItemBody, LastMessageBody))
)]
pub struct ApiDoc;

/// Query of the inbox.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only conversations assigned to this human.
    pub assignee: Option<String>,
    /// `web`, `whatsapp`, `sms`, `email`, `voice` or `instagram`.
    pub channel: Option<String>,
    /// `pending_human` (waiting) or `human` (taken).
    pub status: Option<String>,
}

/// The newest message of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastMessageBody {
    pub text: String,
    /// `customer`, `agent` or `human`.
    pub role: String,
    pub created_at: String,
}

/// One conversation of the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxItemBody {
    pub conversation_id: String,
    pub customer_id: String,
    pub channel: String,
    /// `pending_human` or `human`.
    pub status: String,
    pub intent: Option<String>,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    /// When the conversation was handed to humans.
    pub waiting_since: String,
    /// Seconds since `waiting_since`.
    pub waiting_secs: i64,
    pub last_message: Option<LastMessageBody>,
}

/// One page of the inbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboxResponse {
    pub conversations: Vec<InboxItemBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn item_body(item: InboxItem, now: i64) -> InboxItemBody {
    InboxItemBody {
        conversation_id: item.id.into_string(),
        customer_id: item.customer_id,
        channel: item.channel.to_string(),
        status: item.status.as_str().to_owned(),
        intent: item.intent,
        handoff_reason: item.handoff_reason,
        assignee: item.assignee,
        waiting_since: timestamp(item.waiting_since),
        waiting_secs: (now - item.waiting_since).max(0) / 1000,
        last_message: item.last_message.map(|m| LastMessageBody {
            text: m.text,
            role: m.role,
            created_at: timestamp(m.created_at),
        }),
    }
}

/// Lists conversations waiting for or held by a human, oldest wait first.
#[utoipa::path(
    get,
    path = "/api/v1/platform/inbox",
    tag = "lifecycle",
    params(InboxQuery),
    responses(
        (status = 200, description = "One page", body = InboxResponse),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "limit or status out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_inbox(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(query): ApiQuery<InboxQuery>,
) -> ApiResult<Json<InboxResponse>> {
    let filter = InboxFilter {
        assignee: query.assignee,
        channel: query.channel.as_deref().map(Channel::parse).transpose()?,
        status: query
            .status
            .as_deref()
            .map(ConversationStatus::parse)
            .transpose()?,
    };
    let page = service::list_inbox(
        &state.store,
        &auth.organization_id,
        &filter,
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    let now = page.now;
    Ok(Json(InboxResponse {
        conversations: page.items.into_iter().map(|i| item_body(i, now)).collect(),
        next_cursor: page.next_cursor,
    }))
}
