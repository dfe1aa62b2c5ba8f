//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too, and how
//! the vector index is). Both are unauthenticated, for load balancers and orchestrators.
//!
//! Readiness is decided by the database alone: without it nothing works, so `/readyz` answers
//! 503 and the load balancer takes the replica out. The vector index is reported, not
//! decisive: when it is unreachable every replica is equally affected and each still answers
//! (from keyword retrieval, see `engine::retrieval`), so `/readyz` answers 200 with
//! `"status": "degraded"` and `"checks": {"database": "ok", "vector_index": "unreachable"}`;
//! taking every replica out would turn a degraded service into an outage.

use std::time::Duration;

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
#[openapi(
    paths(healthz, readyz),
    components(schemas(HealthBody, ReadinessChecks))
)]
pub struct ApiDoc;

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok` (healthz); `ready` or `degraded` (readyz).
    #[schema(example = "ok")]
    pub status: String,
    /// What readiness looked at (readyz only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<ReadinessChecks>,
}

/// The state of each dependency, as `/readyz` saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    /// `ok`.
    #[schema(example = "ok")]
    pub database: String,
    /// `ok`, or `unreachable` (answers come from keyword retrieval).
    #[schema(example = "ok")]
    pub vector_index: String,
}

/// The longest `/readyz` waits for the vector index: a health check answers in milliseconds;
/// a load balancer's probe should not wait out an index that hangs.
const VECTOR_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Tells that the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Up", body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody {
        status: "ok".into(),
        checks: None,
    })
}

/// Tells whether the server can serve requests (the database answers `select 1`), and
/// whether the vector index answers a health check.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready (`ready`), or serving with keyword retrieval only because the vector index is unreachable (`degraded`)", body = HealthBody),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Err(err) = state.store.ping().await {
        tracing::warn!(error = %err.chain(), "readiness check failed");
        return detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not reachable",
        );
    }
    let vectors = state.knowledge.retriever().vectors();
    let vector_ok = match tokio::time::timeout(VECTOR_PROBE_TIMEOUT, vectors.health()).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::warn!(error = %err.chain(), "the vector index is unreachable; serving degraded");
            false
        }
        Err(_) => {
            tracing::warn!("the vector index did not answer its health check; serving degraded");
            false
        }
    };
    Json(HealthBody {
        status: if vector_ok { "ready" } else { "degraded" }.into(),
        checks: Some(ReadinessChecks {
            database: "ok".into(),
            vector_index: if vector_ok { "ok" } else { "unreachable" }.into(),
        }),
    })
    .into_response()
}
