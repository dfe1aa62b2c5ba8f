//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too). Both
//! are unauthenticated, for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::{detail, ErrorBody};
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz), components(schemas(HealthBody)))]
pub struct ApiDoc;

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    #[schema(example = "ok")]
    pub status: String,
}

/// Tells that the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Up", body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
    })
}

/// Tells whether the server can serve requests (the database answers `select 1`).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthBody),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.store.ping().await {
        Ok(()) => Json(HealthBody {
            status: "ready".into(),
        })
        .into_response(),
        Err(err) => {
            tracing::warn!(error = %err.chain(), "readiness check failed");
            detail(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not reachable",
            )
        }
    }
}
