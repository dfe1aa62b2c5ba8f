//! Turn recording (issue 9): `GET` and `PUT /api/v1/dashboard/recording` (the organization's
//! switch) and `GET /api/v1/platform/conversations/{id}/recording` (a conversation's recorded
//! turns, every stage's input and output, for `blaigent-eval replay` and for debugging).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::store::recording::{RecordingSettings, TurnRecording};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, AuthOrg};
use crate::state::AppState;
use crate::wire::{opt_timestamp, timestamp};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/recording",
            get(get_recording_settings).put(put_recording_settings),
        )
        .route(
            "/api/v1/platform/conversations/{id}/recording",
            get(get_conversation_recording),
        )
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_recording_settings,
        put_recording_settings,
        get_conversation_recording
    ),
    components(schemas(
        RecordingSettingsRequest,
        RecordingSettingsResponse,
        RecordedTurnBody,
        ConversationRecordingResponse
    ))
)]
pub struct ApiDoc;

/// The recording switch to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettingsRequest {
    /// Record every turn of this organization from now on (`true`) or stop (`false`).
    pub enabled: bool,
}

/// The organization's recording switch.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingSettingsResponse {
    pub enabled: bool,
    /// When it was last changed (RFC 3339); absent when it never was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl From<RecordingSettings> for RecordingSettingsResponse {
    fn from(s: RecordingSettings) -> Self {
        Self {
            enabled: s.enabled,
            updated_at: opt_timestamp(s.updated_at),
        }
    }
}

/// One recorded turn.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedTurnBody {
    /// `rec_...`
    pub id: String,
    /// The customer's message (`msg_...`).
    pub customer_message_id: String,
    /// The agent's reply (`msg_...`).
    pub message_id: String,
    pub created_at: String,
    /// Every stage's input and output: `message` (redacted as stored), `channel`,
    /// `requested_language`, `metadata`, `language`, `intent`, `confidence`, `policy_flags`,
    /// `handoff`, `retrieved` (every passage: `document_id`, `chunk_index`, `score`),
    /// `cited_documents`, `actions`, `action_calls` (`name`, `parameters`, `status`,
    /// `http_status`, `response`), `model_calls` (`kind`, `system`, `user`, `tools`,
    /// `response`, `tool_call`, `error`) and `response`.
    #[schema(value_type = Object)]
    pub trace: Value,
}

/// A conversation's recorded turns, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationRecordingResponse {
    pub conversation_id: String,
    pub turns: Vec<RecordedTurnBody>,
}

impl TryFrom<TurnRecording> for RecordedTurnBody {
    type Error = engine::Error;
    fn try_from(r: TurnRecording) -> Result<Self, Self::Error> {
        use engine::error::ResultExt;
        Ok(Self {
            trace: serde_json::to_value(&r.trace).or_internal("encoding a turn trace")?,
            id: r.id,
            customer_message_id: r.customer_message_id,
            message_id: r.message_id,
            created_at: timestamp(r.created_at),
        })
    }
}

/// Returns whether the organization records its turns.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/recording",
    tag = "dashboard",
    responses(
        (status = 200, description = "The recording switch (off until set)", body = RecordingSettingsResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_recording_settings(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<RecordingSettingsResponse>> {
    let settings = state
        .store
        .recording_settings(&auth.organization_id)
        .await?;
    Ok(Json(settings.into()))
}

/// Turns recording on or off. While on, every turn stores its stage trace (personal data
/// redacted as in stored messages).
#[utoipa::path(
    put,
    path = "/api/v1/dashboard/recording",
    tag = "dashboard",
    request_body = RecordingSettingsRequest,
    responses(
        (status = 200, description = "The switch as saved", body = RecordingSettingsResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Missing or unknown field", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn put_recording_settings(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(body): ApiJson<RecordingSettingsRequest>,
) -> ApiResult<Json<RecordingSettingsResponse>> {
    let settings = state
        .store
        .set_recording(&auth.organization_id, body.enabled)
        .await?;
    Ok(Json(settings.into()))
}

/// Returns a conversation's recorded turns (empty when recording was off).
#[utoipa::path(
    get,
    path = "/api/v1/platform/conversations/{id}/recording",
    tag = "conversations",
    params(("id" = String, Path, description = "Conversation id (conv_...)")),
    responses(
        (status = 200, description = "The recorded turns, oldest first", body = ConversationRecordingResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such conversation in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_conversation_recording(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConversationRecordingResponse>> {
    let turns = state
        .store
        .conversation_recording(&auth.organization_id, &id)
        .await?;
    Ok(Json(ConversationRecordingResponse {
        conversation_id: id,
        turns: turns
            .into_iter()
            .map(RecordedTurnBody::try_from)
            .collect::<Result<_, _>>()?,
    }))
}
