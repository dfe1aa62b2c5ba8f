//! `/api/v1/dashboard/intents`: the organization's intent set. List it, create or replace an
//! intent with its example utterances, delete one, or reset to the shipped defaults. The
//! organization's classifier is retrained on its next message, without a restart. The list
//! also says where the set's background encoder tuning stands (`tuning`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use engine::error::ErrorKind;
use engine::intent::manage;
use engine::intent::tuner::TuningStatus;
use engine::intent::{IntentDefinition, IntentSource};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, AuthOrg};
use crate::state::AppState;
use crate::wire::timestamp;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/intents",
            get(list_intents).post(create_intent),
        )
        .route("/api/v1/dashboard/intents/reset", post(reset_intents))
        .route(
            "/api/v1/dashboard/intents/{label}",
            put(replace_intent).delete(delete_intent),
        )
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_intents,
        create_intent,
        replace_intent,
        delete_intent,
        reset_intents
    ),
    components(schemas(
        IntentBody,
        IntentListResponse,
        TuningBody,
        CreateIntentRequest,
        ReplaceIntentRequest,
        ResetResponse
    ))
)]
pub struct ApiDoc;

/// One intent of the organization's set.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentBody {
    pub label: String,
    pub description: String,
    /// `default` (shipped, unchanged), `replaced` (a default intent with the organization's
    /// examples) or `custom` (added by the organization).
    pub source: String,
    pub example_count: usize,
    pub examples: Vec<String>,
}

impl From<IntentDefinition> for IntentBody {
    fn from(d: IntentDefinition) -> Self {
        let source = match d.source {
            IntentSource::Default => "default",
            IntentSource::Replaced => "replaced",
            IntentSource::Custom => "custom",
        };
        Self {
            label: d.label,
            description: d.description,
            source: source.to_string(),
            example_count: d.examples.len(),
            examples: d.examples,
        }
    }
}

/// The organization's intents.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentListResponse {
    pub intents: Vec<IntentBody>,
    /// Where the set's fine-tuned encoder stands.
    pub tuning: TuningBody,
}

/// Background fine-tuning of the encoder on the organization's intent set. Until it is
/// `ready`, messages are classified on the frozen embedding model.
#[derive(Debug, Serialize, ToSchema)]
pub struct TuningBody {
    /// `off` (`BLAIGENT_INTENT_TUNING=off`), `queued`, `tuning`, `ready`, `failed` or
    /// `too_large`.
    pub state: &'static str,
    /// When tuning (or loading the saved model) started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the tuned model became ready (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Seconds spent tuning or loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// `tuned` in this run, or `loaded` from the model a previous run saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<&'static str>,
    /// Why tuning failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<TuningStatus> for TuningBody {
    fn from(status: TuningStatus) -> Self {
        let mut body = TuningBody {
            state: "off",
            started_at: None,
            finished_at: None,
            seconds: None,
            origin: None,
            detail: None,
        };
        match status {
            TuningStatus::Off => {}
            TuningStatus::Queued => body.state = "queued",
            TuningStatus::Tuning { started_at_ms } => {
                body.state = "tuning";
                body.started_at = Some(timestamp(started_at_ms));
            }
            TuningStatus::Ready {
                finished_at_ms,
                seconds,
                origin,
            } => {
                body.state = "ready";
                body.finished_at = Some(timestamp(finished_at_ms));
                body.seconds = Some((seconds * 10.0).round() / 10.0);
                body.origin = Some(origin);
            }
            TuningStatus::Failed { detail } => {
                body.state = "failed";
                body.detail = Some(detail);
            }
            TuningStatus::TooLarge { examples, limit } => {
                body.state = "too_large";
                body.detail = Some(format!(
                    "{examples} examples; sets of more than {limit} keep the frozen model"
                ));
            }
        }
        body
    }
}

/// A new intent, or new examples for an existing one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntentRequest {
    /// `snake_case`, at most 64 characters.
    pub label: String,
    #[serde(default)]
    pub description: String,
    /// 1 to 500 example utterances (15-30 work well).
    pub examples: Vec<String>,
}

/// The examples that replace an intent's current ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceIntentRequest {
    #[serde(default)]
    pub description: String,
    pub examples: Vec<String>,
}

/// The outcome of a reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResponse {
    pub reset: bool,
    /// How many of the organization's changes were discarded.
    pub discarded_changes: u64,
    pub intents: Vec<IntentBody>,
}

/// Lists the organization's effective intents with their examples.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/intents",
    tag = "dashboard",
    responses(
        (status = 200, description = "The intents", body = IntentListResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_intents(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<IntentListResponse>> {
    let intents = manage::list_intents(&state.store, &auth.organization_id).await?;
    let tuning = match state.agent.intent_tuning(&auth.organization_id).await {
        Ok(status) => status,
        // An emptied set has nothing to tune; the list itself still answers.
        Err(err) if err.kind() == ErrorKind::Unprocessable => TuningStatus::Failed {
            detail: err.message().to_owned(),
        },
        Err(err) => return Err(err.into()),
    };
    Ok(Json(IntentListResponse {
        intents: intents.into_iter().map(IntentBody::from).collect(),
        tuning: tuning.into(),
    }))
}

/// Creates an intent, or replaces the examples of one with the same label.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/intents",
    tag = "dashboard",
    request_body = CreateIntentRequest,
    responses(
        (status = 201, description = "The intent as it now stands", body = IntentBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid label or examples (named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_intent(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(request): ApiJson<CreateIntentRequest>,
) -> ApiResult<(StatusCode, Json<IntentBody>)> {
    let intent = manage::put_intent(
        &state.store,
        &auth.organization_id,
        &request.label,
        &request.description,
        &request.examples,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(intent.into())))
}

/// Replaces the examples of an intent (creating it when missing).
#[utoipa::path(
    put,
    path = "/api/v1/dashboard/intents/{label}",
    tag = "dashboard",
    params(("label" = String, Path, description = "Intent label (snake_case)")),
    request_body = ReplaceIntentRequest,
    responses(
        (status = 200, description = "The intent as it now stands", body = IntentBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Invalid label or examples (named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn replace_intent(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(label): ApiPath<String>,
    ApiJson(request): ApiJson<ReplaceIntentRequest>,
) -> ApiResult<Json<IntentBody>> {
    let intent = manage::put_intent(
        &state.store,
        &auth.organization_id,
        &label,
        &request.description,
        &request.examples,
    )
    .await?;
    Ok(Json(intent.into()))
}

/// Removes an intent from the organization's set.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/intents/{label}",
    tag = "dashboard",
    params(("label" = String, Path, description = "Intent label")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such intent in the organization's set", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_intent(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(label): ApiPath<String>,
) -> ApiResult<StatusCode> {
    manage::delete_intent(&state.store, &auth.organization_id, &label).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Discards every change: back to the shipped default intents.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/intents/reset",
    tag = "dashboard",
    responses(
        (status = 200, description = "The default intents", body = ResetResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn reset_intents(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<ResetResponse>> {
    let discarded_changes = manage::reset_intents(&state.store, &auth.organization_id).await?;
    let intents = manage::list_intents(&state.store, &auth.organization_id).await?;
    Ok(Json(ResetResponse {
        reset: true,
        discarded_changes,
        intents: intents.into_iter().map(IntentBody::from).collect(),
    }))
}
