//! Registering actions: create, list, get, update, delete, and the dashboard's test mode
//! (call the backend with sample parameters and show the exchange). The dashboard endpoints
//! call these; every check names the bad field.

use serde::Serialize;
use serde_json::{Map, Value};

use super::audit::{self, Origin};
use super::executor::{CallContext, Executor};
use super::schema;
use super::spec::{Action, ActionKind, ActionSecrets, ActionSpec, Limit, DEFAULT_TIMEOUT_MS};
use crate::error::{Error, Result};
use crate::ids::{ActionId, OrganizationId};
use crate::store::actions::Execution;
use crate::store::Store;
use crate::webhooks::UrlGuard;

/// A new action as the client sends it; defaults fill the optional fields.
#[derive(Debug, Clone)]
pub struct NewAction {
    pub name: String,
    pub description: String,
    pub parameters: Value,
    pub url: String,
    pub method: Option<String>,
    pub auth: Option<ActionSecrets>,
    pub timeout_ms: Option<i64>,
    pub kind: ActionKind,
    /// Defaults to true for writes (ignored for reads).
    pub requires_confirmation: Option<bool>,
    /// Whether the backend honours the idempotency key; defaults to true.
    pub idempotent: Option<bool>,
    pub limits: Vec<Limit>,
    pub examples: Vec<String>,
    pub intents: Vec<String>,
    pub response_template: Option<String>,
    pub sensitive_fields: Vec<String>,
    pub enabled: Option<bool>,
}

/// Changes to an action; `None` keeps a field. `auth` replaces both secrets when given.
#[derive(Debug, Clone, Default)]
pub struct ActionPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub url: Option<String>,
    pub method: Option<String>,
    pub auth: Option<ActionSecrets>,
    pub timeout_ms: Option<i64>,
    pub kind: Option<ActionKind>,
    pub requires_confirmation: Option<bool>,
    pub idempotent: Option<bool>,
    pub limits: Option<Vec<Limit>>,
    pub examples: Option<Vec<String>>,
    pub intents: Option<Vec<String>>,
    /// `Some(None)` removes the template.
    pub response_template: Option<Option<String>>,
    pub sensitive_fields: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// Registers an action for `org`.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create(
    store: &Store,
    guard: &UrlGuard,
    org: &OrganizationId,
    new: NewAction,
) -> Result<Action> {
    let mut spec = ActionSpec {
        name: new.name,
        description: new.description,
        parameters: new.parameters,
        url: new.url,
        method: new.method.unwrap_or_else(|| "POST".into()),
        secrets: new.auth.unwrap_or_default(),
        timeout_ms: new.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        kind: new.kind,
        requires_confirmation: new
            .requires_confirmation
            .unwrap_or(new.kind == ActionKind::Write),
        idempotent: new.idempotent.unwrap_or(true),
        limits: new.limits,
        examples: new.examples,
        intents: new.intents,
        response_template: new.response_template,
        sensitive_fields: new.sensitive_fields,
        enabled: new.enabled.unwrap_or(true),
    };
    spec.check(guard).await?;
    store.insert_action(org, &spec).await
}

/// The organization's actions.
pub async fn list(store: &Store, org: &OrganizationId) -> Result<Vec<Action>> {
    store.list_actions(org).await
}

/// One action, or 404.
pub async fn get(store: &Store, org: &OrganizationId, name: &str) -> Result<Action> {
    Ok(load(store, org, name).await?.0)
}

async fn load(store: &Store, org: &OrganizationId, name: &str) -> Result<(Action, ActionSecrets)> {
    store
        .action_by_name(org, name)
        .await?
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!(
        "no action named '{}' in this organization",
        name.chars().take(64).collect::<String>()
    ))
}

/// Applies `patch` to the action named `name` and checks the result as a whole.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn update(
    store: &Store,
    guard: &UrlGuard,
    org: &OrganizationId,
    name: &str,
    patch: ActionPatch,
) -> Result<Action> {
    let (current, secrets) = load(store, org, name).await?;
    let mut spec = current.to_spec();
    spec.secrets = patch.auth.unwrap_or(secrets);
    if let Some(v) = patch.name {
        spec.name = v;
    }
    if let Some(v) = patch.description {
        spec.description = v;
    }
    if let Some(v) = patch.parameters {
        spec.parameters = v;
    }
    if let Some(v) = patch.url {
        spec.url = v;
    }
    if let Some(v) = patch.method {
        spec.method = v;
    }
    if let Some(v) = patch.timeout_ms {
        spec.timeout_ms = v;
    }
    if let Some(v) = patch.kind {
        spec.kind = v;
        if patch.requires_confirmation.is_none() {
            spec.requires_confirmation = v == ActionKind::Write;
        }
    }
    if let Some(v) = patch.requires_confirmation {
        spec.requires_confirmation = v;
    }
    if let Some(v) = patch.idempotent {
        spec.idempotent = v;
    }
    if let Some(v) = patch.limits {
        spec.limits = v;
    }
    if let Some(v) = patch.examples {
        spec.examples = v;
    }
    if let Some(v) = patch.intents {
        spec.intents = v;
    }
    if let Some(v) = patch.response_template {
        spec.response_template = v;
    }
    if let Some(v) = patch.sensitive_fields {
        spec.sensitive_fields = v;
    }
    if let Some(v) = patch.enabled {
        spec.enabled = v;
    }
    spec.check(guard).await?;
    store
        .update_action(org, name, &spec)
        .await?
        .ok_or_else(|| not_found(name))
}

/// Deletes the action named `name`, or 404.
pub async fn delete(store: &Store, org: &OrganizationId, name: &str) -> Result<()> {
    if store.delete_action(org, name).await? {
        Ok(())
    } else {
        Err(not_found(name))
    }
}

/// What the test mode shows: the request sent and the response received.
#[derive(Debug, Clone, Serialize)]
pub struct TestExchange {
    pub execution_id: String,
    pub status: String,
    pub request: TestRequest,
    pub response: Option<TestResponse>,
    pub error: Option<String>,
    pub latency_ms: i64,
    pub attempts: u32,
}

/// The request of a test call.
#[derive(Debug, Clone, Serialize)]
pub struct TestRequest {
    pub method: String,
    pub url: String,
    pub headers: Map<String, Value>,
    pub body: Value,
}

/// The backend's answer to a test call.
#[derive(Debug, Clone, Serialize)]
pub struct TestResponse {
    pub status: u16,
    /// The body as JSON when it is JSON, else as text.
    pub body: Value,
}

/// Calls the backend of the action named `name` with sample `parameters` (validated against
/// the schema first: 422 naming the field), records the execution as a test, and returns
/// the exchange.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn test(
    store: &Store,
    executor: &Executor,
    org: &OrganizationId,
    name: &str,
    parameters: Map<String, Value>,
    metadata: Map<String, Value>,
) -> Result<TestExchange> {
    let (action, secrets) = load(store, org, name).await?;
    let value = Value::Object(parameters.clone());
    if let Some(problem) = schema::validate(&action.parameters, &value)
        .into_iter()
        .next()
    {
        return Err(Error::unprocessable(format!("parameters.{problem}")));
    }
    let key = format!("test_{}", ActionId::new().as_str());
    let context = CallContext {
        organization_id: org.as_str(),
        customer_id: None,
        conversation_id: None,
        metadata: &metadata,
        idempotency_key: &key,
        test: true,
    };
    let outcome = executor
        .call(&action, &secrets, &parameters, &context)
        .await;
    let origin = Origin {
        organization_id: org,
        conversation_id: None,
        customer_id: None,
        idempotency_key: &key,
        test: true,
    };
    let execution: Execution =
        audit::record_call(store, &action, &parameters, &outcome, origin).await?;
    let response = outcome.http_status.map(|status| TestResponse {
        status,
        body: if outcome.response.is_null() {
            Value::from(outcome.response_text.clone().unwrap_or_default())
        } else {
            outcome.response.clone()
        },
    });
    Ok(TestExchange {
        execution_id: execution.id,
        status: outcome.status.as_str().to_string(),
        request: TestRequest {
            method: action.method.clone(),
            url: action.url.clone(),
            headers: outcome
                .request_headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect(),
            body: outcome.request_body.clone(),
        },
        response,
        error: outcome.error.clone(),
        latency_ms: outcome.latency_ms,
        attempts: outcome.attempts,
    })
}
