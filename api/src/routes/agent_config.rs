//! `GET` and `PATCH /api/v1/dashboard/agent-config`: the organization's agent name, tone, goal,
//! greeting, guardrails and brand. A PATCH is a JSON merge patch: name only what changes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::service::agent_config as service;
use serde_json::Value;
use utoipa::OpenApi;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthOrg};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/dashboard/agent-config",
        get(get_agent_config).patch(update_agent_config),
    )
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(paths(get_agent_config, update_agent_config))]
pub struct ApiDoc;

/// Returns the organization's agent configuration (defaults until first saved).
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/agent-config",
    tag = "dashboard",
    responses(
        (status = 200, description = "The configuration: name, tone (friendly, professional, \
            casual, concise, empathetic), goal, greeting, guardrails {instructions, \
            blocked_topics, escalation_keywords, redact_pii, max_failed_turns, \
            escalate_on_negative_sentiment}, brand {accent_color, avatar_url}, \
            default_language, allowed_origins", body = Object),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_agent_config(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<Value>> {
    let config = service::get_agent_config(&state.store, &auth.organization_id).await?;
    Ok(Json(to_json(&config)?))
}

/// Updates the configuration with a JSON merge patch; unknown fields are refused.
#[utoipa::path(
    patch,
    path = "/api/v1/dashboard/agent-config",
    tag = "dashboard",
    request_body(content = Object, description = "The fields to change, e.g. \
        {\"name\": \"Ava\", \"tone\": \"professional\", \"brand\": {\"accent_color\": \"#0ea5e9\"}}"),
    responses(
        (status = 200, description = "The whole updated configuration", body = Object),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Unknown field or invalid value (named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_agent_config(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let config = service::patch_agent_config(&state.store, &auth.organization_id, patch).await?;
    Ok(Json(to_json(&config)?))
}

fn to_json(config: &engine::config::AgentConfig) -> ApiResult<Value> {
    use engine::error::ResultExt;
    Ok(serde_json::to_value(config).or_internal("encoding the agent configuration")?)
}
