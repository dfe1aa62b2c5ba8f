//! Customer memory: `GET/PUT/PATCH/DELETE /api/v1/platform/customers/{customer_id}/memory` and
//! `DELETE /api/v1/platform/customers/{customer_id}/memory/{fact_id}`. `customer_id` is the
//! organization's own id for the customer (the chat API's `customer_id`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use engine::memory::service::{self, FactInput};
use engine::memory::{ConversationSummary, CustomerMemory, Fact};
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
            "/api/v1/platform/customers/{customer_id}/memory",
            get(get_memory)
                .put(replace_memory)
                .patch(patch_memory)
                .delete(forget_customer),
        )
        .route(
            "/api/v1/platform/customers/{customer_id}/memory/{fact_id}",
            delete(delete_fact),
        )
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(get_memory, replace_memory, patch_memory, forget_customer, delete_fact),
    components(schemas(
        MemoryResponse,
        FactBody,
        SummaryBody,
        FactsRequest,
        FactRequest,
        ForgetResponse
    ))
)]
pub struct ApiDoc;

/// A remembered fact.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactBody {
    pub id: String,
    /// `name`, `email`, `phone`, `order_number`, `preference`, `open_issue`, or your own key.
    pub key: String,
    pub value: String,
    /// `rule` (extracted from a message), `api` (written through this API) or `model`.
    pub source: String,
    pub confidence: f32,
    /// The conversation the fact was learned in.
    pub source_conversation_id: Option<String>,
    pub channel: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Fact> for FactBody {
    fn from(f: Fact) -> Self {
        FactBody {
            id: f.id.into_string(),
            key: f.key,
            value: f.value,
            source: f.source.as_str().to_owned(),
            confidence: f.confidence,
            source_conversation_id: f.source_conversation_id.map(|c| c.into_string()),
            channel: f.channel,
            created_at: timestamp(f.created_at),
            updated_at: timestamp(f.updated_at),
        }
    }
}

/// The summary of one past conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryBody {
    pub conversation_id: String,
    pub channel: String,
    pub summary: String,
    pub intents: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ConversationSummary> for SummaryBody {
    fn from(s: ConversationSummary) -> Self {
        SummaryBody {
            conversation_id: s.conversation_id.into_string(),
            channel: s.channel,
            summary: s.summary,
            intents: s.intents,
            created_at: timestamp(s.created_at),
            updated_at: timestamp(s.updated_at),
        }
    }
}

/// Everything remembered about a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemoryResponse {
    pub customer_id: String,
    pub facts: Vec<FactBody>,
    /// Most recent first.
    pub summaries: Vec<SummaryBody>,
}

fn to_response(customer_id: String, memory: CustomerMemory) -> MemoryResponse {
    MemoryResponse {
        customer_id,
        facts: memory.facts.into_iter().map(FactBody::from).collect(),
        summaries: memory
            .summaries
            .into_iter()
            .map(SummaryBody::from)
            .collect(),
    }
}

/// A fact to write.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactRequest {
    /// 1-64 lowercase letters, digits or underscores, starting with a letter.
    #[schema(example = "name")]
    pub key: String,
    /// 1-1000 bytes.
    #[schema(example = "Dana")]
    pub value: String,
    /// In [0, 1]; default 1.
    #[serde(default)]
    pub confidence: Option<f32>,
}

/// Facts to write (at most 100).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactsRequest {
    pub facts: Vec<FactRequest>,
}

fn inputs(body: FactsRequest) -> Vec<FactInput> {
    body.facts
        .into_iter()
        .map(|f| FactInput {
            key: f.key,
            value: f.value,
            confidence: f.confidence,
        })
        .collect()
}

/// What forgetting a customer removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForgetResponse {
    pub customer_id: String,
    pub deleted_facts: u64,
    pub deleted_summaries: u64,
}

/// Returns the customer's facts and conversation summaries.
#[utoipa::path(
    get,
    path = "/api/v1/platform/customers/{customer_id}/memory",
    tag = "memory",
    params(("customer_id" = String, Path, description = "Your own id for the customer")),
    responses(
        (status = 200, description = "The customer's memory", body = MemoryResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such customer in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_memory(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
) -> ApiResult<Json<MemoryResponse>> {
    let memory = service::get_memory(&state.store, &auth.organization_id, &customer_id).await?;
    Ok(Json(to_response(customer_id, memory)))
}

/// Replaces all of the customer's facts (summaries are kept).
#[utoipa::path(
    put,
    path = "/api/v1/platform/customers/{customer_id}/memory",
    tag = "memory",
    params(("customer_id" = String, Path, description = "Your own id for the customer")),
    request_body = FactsRequest,
    responses(
        (status = 200, description = "The memory after the change", body = MemoryResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "A fact is invalid", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn replace_memory(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
    ApiJson(body): ApiJson<FactsRequest>,
) -> ApiResult<Json<MemoryResponse>> {
    let memory = service::replace_memory(
        &state.store,
        &auth.organization_id,
        &customer_id,
        &inputs(body),
    )
    .await?;
    Ok(Json(to_response(customer_id, memory)))
}

/// Upserts facts by key: `name`, `email`, `phone` replace; other keys add a value.
#[utoipa::path(
    patch,
    path = "/api/v1/platform/customers/{customer_id}/memory",
    tag = "memory",
    params(("customer_id" = String, Path, description = "Your own id for the customer")),
    request_body = FactsRequest,
    responses(
        (status = 200, description = "The memory after the change", body = MemoryResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "A fact is invalid", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn patch_memory(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
    ApiJson(body): ApiJson<FactsRequest>,
) -> ApiResult<Json<MemoryResponse>> {
    let memory = service::patch_memory(
        &state.store,
        &auth.organization_id,
        &customer_id,
        &inputs(body),
    )
    .await?;
    Ok(Json(to_response(customer_id, memory)))
}

/// Forgets the customer: deletes every fact and conversation summary.
#[utoipa::path(
    delete,
    path = "/api/v1/platform/customers/{customer_id}/memory",
    tag = "memory",
    params(("customer_id" = String, Path, description = "Your own id for the customer")),
    responses(
        (status = 200, description = "What was deleted", body = ForgetResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such customer in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn forget_customer(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(customer_id): ApiPath<String>,
) -> ApiResult<Json<ForgetResponse>> {
    let outcome = service::forget(&state.store, &auth.organization_id, &customer_id).await?;
    Ok(Json(ForgetResponse {
        customer_id,
        deleted_facts: outcome.deleted_facts,
        deleted_summaries: outcome.deleted_summaries,
    }))
}

/// Deletes one fact.
#[utoipa::path(
    delete,
    path = "/api/v1/platform/customers/{customer_id}/memory/{fact_id}",
    tag = "memory",
    params(
        ("customer_id" = String, Path, description = "Your own id for the customer"),
        ("fact_id" = String, Path, description = "The fact's id (`fact_...`)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such fact for this customer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_fact(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath((customer_id, fact_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    service::delete_fact(&state.store, &auth.organization_id, &customer_id, &fact_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
