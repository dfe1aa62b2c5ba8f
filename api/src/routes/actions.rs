//! Action hooks: `/api/v1/dashboard/actions` (create, list, get, update, delete), the test
//! mode `POST /api/v1/dashboard/actions/{name}/test`, and the audit log
//! `GET /api/v1/platform/actions/executions`.
//!
//! Secrets (bearer token, signing secret) are write-only: responses only say whether one is
//! set. Action URLs pass the same SSRF guard as webhook URLs (its allowlist is
//! `BLAIGENT_WEBHOOK_ALLOW_NETWORKS`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::actions::executor::Executor;
use engine::actions::manage::{self, ActionPatch, NewAction};
use engine::actions::{Action, ActionKind, ActionSecrets, Limit};
use engine::store::actions::{Execution, ExecutionFilter};
use engine::Error;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthOrg};
use crate::state::AppState;
use crate::wire::timestamp;

/// Default and largest page of the audit log.
const DEFAULT_EXECUTIONS: i64 = 50;
const MAX_EXECUTIONS: i64 = 200;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard/actions",
            get(list_actions).post(create_action),
        )
        .route(
            "/api/v1/dashboard/actions/{name}",
            get(get_action).patch(update_action).delete(delete_action),
        )
        .route("/api/v1/dashboard/actions/{name}/test", post(test_action))
        .route("/api/v1/platform/actions/executions", get(list_executions))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        create_action,
        list_actions,
        get_action,
        update_action,
        delete_action,
        test_action,
        list_executions
    ),
    components(schemas(
        CreateActionRequest,
        UpdateActionRequest,
        AuthRequest,
        LimitBody,
        ActionDefinitionBody,
        AuthBody,
        BuiltinAction,
        ActionListResponse,
        TestActionRequest,
        ExecutionBody,
        ExecutionListResponse
    ))
)]
pub struct ApiDoc;

/// Write-only secrets for calling the backend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthRequest {
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Signs every request (`Blaigent-Signature`, HMAC-SHA256; see docs/actions.md).
    pub signing_secret: Option<String>,
}

impl From<AuthRequest> for ActionSecrets {
    fn from(a: AuthRequest) -> Self {
        ActionSecrets {
            bearer_token: a.bearer_token,
            signing_secret: a.signing_secret,
        }
    }
}

/// A policy limit on a numeric parameter (outside it the agent hands off).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    pub parameter: String,
    pub max: Option<f64>,
    pub min: Option<f64>,
}

impl From<LimitBody> for Limit {
    fn from(l: LimitBody) -> Self {
        Limit {
            parameter: l.parameter,
            max: l.max,
            min: l.min,
        }
    }
}

impl From<Limit> for LimitBody {
    fn from(l: Limit) -> Self {
        LimitBody {
            parameter: l.parameter,
            max: l.max,
            min: l.min,
        }
    }
}

/// A new action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateActionRequest {
    /// `snake_case`, 1-64 characters; unique in the organization.
    pub name: String,
    /// What the action does, as a verb phrase ("Look up the status of an order").
    pub description: String,
    /// JSON Schema (an object schema) of the parameters.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// The backend endpoint (http or https; private addresses are refused).
    pub url: String,
    /// `POST` (default), `PUT` or `PATCH`.
    pub method: Option<String>,
    pub auth: Option<AuthRequest>,
    /// 100-30000, default 10000.
    pub timeout_ms: Option<i64>,
    /// `read` or `write`.
    pub kind: String,
    /// Default: true for writes.
    pub requires_confirmation: Option<bool>,
    /// Whether the backend honours `Idempotency-Key` (writes are retried only then); default true.
    pub idempotent: Option<bool>,
    #[serde(default)]
    pub limits: Vec<LimitBody>,
    /// Example utterances that trigger the action.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Intent labels that trigger the action.
    #[serde(default)]
    pub intents: Vec<String>,
    /// e.g. `Order {{order_id}} is {{result.status}}.`
    pub response_template: Option<String>,
    /// Parameters redacted in the audit log and events.
    #[serde(default)]
    pub sensitive_fields: Vec<String>,
    pub enabled: Option<bool>,
}

/// Changes to an action; omitted fields stay. `auth` replaces both secrets.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActionRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub auth: Option<AuthRequest>,
    pub timeout_ms: Option<i64>,
    pub kind: Option<String>,
    pub requires_confirmation: Option<bool>,
    pub idempotent: Option<bool>,
    pub limits: Option<Vec<LimitBody>>,
    pub examples: Option<Vec<String>>,
    pub intents: Option<Vec<String>>,
    /// `null` removes the template.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub response_template: Option<Option<String>>,
    pub sensitive_fields: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn parse_kind(raw: &str) -> Result<ActionKind, Error> {
    ActionKind::parse(raw).ok_or_else(|| Error::unprocessable("kind: must be 'read' or 'write'"))
}

/// Which secrets are set (their values are never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthBody {
    pub bearer_token_set: bool,
    pub signing_secret_set: bool,
}

/// An action as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDefinitionBody {
    pub id: String,
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub url: String,
    pub method: String,
    pub auth: AuthBody,
    pub timeout_ms: i64,
    pub kind: String,
    pub requires_confirmation: bool,
    pub idempotent: bool,
    pub limits: Vec<LimitBody>,
    pub examples: Vec<String>,
    pub intents: Vec<String>,
    pub response_template: Option<String>,
    pub sensitive_fields: Vec<String>,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Action> for ActionDefinitionBody {
    fn from(a: Action) -> Self {
        ActionDefinitionBody {
            id: a.id.into_string(),
            name: a.name,
            description: a.description,
            parameters: a.parameters,
            url: a.url,
            method: a.method,
            auth: AuthBody {
                bearer_token_set: a.has_bearer_token,
                signing_secret_set: a.has_signing_secret,
            },
            timeout_ms: a.timeout_ms,
            kind: a.kind.as_str().to_string(),
            requires_confirmation: a.requires_confirmation,
            idempotent: a.idempotent,
            limits: a.limits.into_iter().map(LimitBody::from).collect(),
            examples: a.examples,
            intents: a.intents,
            response_template: a.response_template,
            sensitive_fields: a.sensitive_fields,
            enabled: a.enabled,
            created_at: timestamp(a.created_at),
            updated_at: timestamp(a.updated_at),
        }
    }
}

/// A built-in action (always available, not editable).
#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinAction {
    pub name: String,
    pub description: String,
}

/// The organization's actions and the built-in ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionListResponse {
    pub actions: Vec<ActionDefinitionBody>,
    pub builtin: Vec<BuiltinAction>,
}

/// Sample input for the test mode.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestActionRequest {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// One line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionBody {
    pub id: String,
    pub action: String,
    pub action_id: Option<String>,
    pub conversation_id: Option<String>,
    pub customer_id: Option<String>,
    /// Sensitive fields shown as `[redacted]`.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// `succeeded`, `failed`, `timeout` or `refused` (a policy limit; no call made).
    pub status: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub attempts: i64,
    pub error: Option<String>,
    pub idempotency_key: String,
    pub test: bool,
    pub created_at: String,
}

impl From<Execution> for ExecutionBody {
    fn from(e: Execution) -> Self {
        ExecutionBody {
            id: e.id,
            action: e.action,
            action_id: e.action_id,
            conversation_id: e.conversation_id,
            customer_id: e.customer_id,
            parameters: e.parameters,
            status: e.status,
            http_status: e.http_status,
            latency_ms: e.latency_ms,
            attempts: e.attempts,
            error: e.error,
            idempotency_key: e.idempotency_key,
            test: e.test,
            created_at: timestamp(e.created_at),
        }
    }
}

/// The audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionListResponse {
    pub executions: Vec<ExecutionBody>,
}

/// Filters of the audit log.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExecutionQuery {
    /// Only this action.
    pub action: Option<String>,
    /// Only this conversation (`conv_...`).
    pub conversation_id: Option<String>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

/// Registers an action.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/actions",
    tag = "dashboard",
    request_body = CreateActionRequest,
    responses(
        (status = 201, description = "The action (secrets not shown)", body = ActionDefinitionBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 409, description = "An action of that name exists", body = ErrorBody),
        (status = 422, description = "Invalid field, schema or URL (the reason is named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn create_action(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(request): ApiJson<CreateActionRequest>,
) -> ApiResult<(StatusCode, Json<ActionDefinitionBody>)> {
    let new = NewAction {
        kind: parse_kind(&request.kind)?,
        name: request.name,
        description: request.description,
        parameters: request.parameters,
        url: request.url,
        method: request.method,
        auth: request.auth.map(ActionSecrets::from),
        timeout_ms: request.timeout_ms,
        requires_confirmation: request.requires_confirmation,
        idempotent: request.idempotent,
        limits: request.limits.into_iter().map(Limit::from).collect(),
        examples: request.examples,
        intents: request.intents,
        response_template: request.response_template,
        sensitive_fields: request.sensitive_fields,
        enabled: request.enabled,
    };
    let guard = state.config.webhooks.guard();
    let action = manage::create(&state.store, &guard, &auth.organization_id, new).await?;
    Ok((StatusCode::CREATED, Json(action.into())))
}

/// Lists the organization's actions and the built-in ones.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/actions",
    tag = "dashboard",
    responses(
        (status = 200, description = "The actions", body = ActionListResponse),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_actions(
    State(state): State<AppState>,
    auth: AuthOrg,
) -> ApiResult<Json<ActionListResponse>> {
    let actions = manage::list(&state.store, &auth.organization_id).await?;
    Ok(Json(ActionListResponse {
        actions: actions
            .into_iter()
            .map(ActionDefinitionBody::from)
            .collect(),
        builtin: vec![BuiltinAction {
            name: engine::agent::HUMAN_HANDOFF.into(),
            description: "Hands the conversation to a human (escalation rules, explicit \
                requests, policy limits)."
                .into(),
        }],
    }))
}

/// One action.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/actions/{name}",
    tag = "dashboard",
    params(("name" = String, Path, description = "Action name")),
    responses(
        (status = 200, description = "The action", body = ActionDefinitionBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such action in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_action(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<ActionDefinitionBody>> {
    let action = manage::get(&state.store, &auth.organization_id, &name).await?;
    Ok(Json(action.into()))
}

/// Changes an action (checked again as a whole).
#[utoipa::path(
    patch,
    path = "/api/v1/dashboard/actions/{name}",
    tag = "dashboard",
    params(("name" = String, Path, description = "Action name")),
    request_body = UpdateActionRequest,
    responses(
        (status = 200, description = "The updated action", body = ActionDefinitionBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such action in this organization", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody),
        (status = 422, description = "Invalid field (named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn update_action(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateActionRequest>,
) -> ApiResult<Json<ActionDefinitionBody>> {
    let patch = ActionPatch {
        kind: request.kind.as_deref().map(parse_kind).transpose()?,
        name: request.name,
        description: request.description,
        parameters: request.parameters,
        url: request.url,
        method: request.method,
        auth: request.auth.map(ActionSecrets::from),
        timeout_ms: request.timeout_ms,
        requires_confirmation: request.requires_confirmation,
        idempotent: request.idempotent,
        limits: request
            .limits
            .map(|l| l.into_iter().map(Limit::from).collect()),
        examples: request.examples,
        intents: request.intents,
        response_template: request.response_template,
        sensitive_fields: request.sensitive_fields,
        enabled: request.enabled,
    };
    let guard = state.config.webhooks.guard();
    let action = manage::update(&state.store, &guard, &auth.organization_id, &name, patch).await?;
    Ok(Json(action.into()))
}

/// Deletes an action.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/actions/{name}",
    tag = "dashboard",
    params(("name" = String, Path, description = "Action name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such action in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_action(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    manage::delete(&state.store, &auth.organization_id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Calls the backend with sample parameters and shows the exchange (recorded in the audit
/// log as a test).
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/actions/{name}/test",
    tag = "dashboard",
    params(("name" = String, Path, description = "Action name")),
    request_body = TestActionRequest,
    responses(
        (status = 200, description = "The request sent and the response received \
            (status, request, response, error, latency_ms, attempts)", body = Object),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such action in this organization", body = ErrorBody),
        (status = 422, description = "The parameters break the schema (named)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn test_action(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<TestActionRequest>,
) -> ApiResult<Json<Value>> {
    let executor = Executor::new(state.config.webhooks.guard())?;
    let exchange = manage::test(
        &state.store,
        &executor,
        &auth.organization_id,
        &name,
        request.parameters,
        request.metadata,
    )
    .await?;
    let body = serde_json::to_value(exchange)
        .map_err(|e| Error::internal("encoding the test exchange").with_source(e))?;
    Ok(Json(body))
}

/// The audit log of action executions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/platform/actions/executions",
    tag = "platform",
    params(ExecutionQuery),
    responses(
        (status = 200, description = "The executions", body = ExecutionListResponse),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_executions(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(query): ApiQuery<ExecutionQuery>,
) -> ApiResult<Json<ExecutionListResponse>> {
    let limit = query.limit.unwrap_or(DEFAULT_EXECUTIONS);
    if !(1..=MAX_EXECUTIONS).contains(&limit) {
        return Err(
            Error::invalid(format!("limit: must be between 1 and {MAX_EXECUTIONS}")).into(),
        );
    }
    let filter = ExecutionFilter {
        action: query.action,
        conversation_id: query.conversation_id,
        limit,
    };
    let executions = state
        .store
        .list_executions(&auth.organization_id, &filter)
        .await?;
    Ok(Json(ExecutionListResponse {
        executions: executions.into_iter().map(ExecutionBody::from).collect(),
    }))
}
