//! `GET /api/v1/platform/analytics/summary`: the organization's conversation outcomes over a
//! period (definitions of every figure in `docs/lifecycle.md`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use engine::channel::Channel;
use engine::service::analytics::{self as service, Summary, SummaryQuery};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, AuthOrg};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/platform/analytics/summary", get(analytics_summary))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(paths(analytics_summary))]
pub struct ApiDoc;

/// Query of the summary.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// Start: `YYYY-MM-DD` (UTC) or an RFC 3339 instant; default 30 days before `to`.
    pub from: Option<String>,
    /// End: `YYYY-MM-DD` (that day included) or an RFC 3339 instant (excluded); default now.
    pub to: Option<String>,
    /// Only conversations of this channel.
    pub channel: Option<String>,
    /// Series granularity: `day` (the default and only one).
    pub granularity: Option<String>,
}

/// Returns the analytics summary of conversations started in the period.
#[utoipa::path(
    get,
    path = "/api/v1/platform/analytics/summary",
    tag = "analytics",
    params(SummaryParams),
    responses(
        (status = 200, description = "The summary (see docs/lifecycle.md for definitions)", body = Object),
        (status = 400, description = "Unreadable date", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Bad period, channel or granularity", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn analytics_summary(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> ApiResult<Json<Summary>> {
    let query = SummaryQuery {
        from: params.from,
        to: params.to,
        channel: params.channel.as_deref().map(Channel::parse).transpose()?,
        granularity: params.granularity,
    };
    let summary = service::summary(&state.store, &auth.organization_id, &query).await?;
    Ok(Json(summary))
}
