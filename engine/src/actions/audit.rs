//! The audit log of action executions and the `action.executed` event, written in one
//! transaction so a webhook subscriber sees exactly what the log holds. Sensitive parameters
//! are redacted before either is written.

use serde_json::{json, Map, Value};

use super::executor::CallOutcome;
use super::render::redact;
use super::spec::Action;
use crate::error::Result;
use crate::events::{signal, EventType};
use crate::ids::{ActionId, ConversationId, OrganizationId};
use crate::store::actions::Execution;
use crate::store::{now_ms, Store};

/// Where an execution happened.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub organization_id: &'a OrganizationId,
    pub conversation_id: Option<&'a ConversationId>,
    pub customer_id: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub test: bool,
}

/// Records a backend call.
pub async fn record_call(
    store: &Store,
    action: &Action,
    parameters: &Map<String, Value>,
    outcome: &CallOutcome,
    origin: Origin<'_>,
) -> Result<Execution> {
    let execution = Execution {
        id: ActionId::new().into_string(),
        action_id: Some(action.id.to_string()),
        action: action.name.clone(),
        conversation_id: origin.conversation_id.map(ToString::to_string),
        customer_id: origin.customer_id.map(str::to_string),
        parameters: redact(parameters, &action.sensitive_fields),
        status: outcome.status.as_str().to_string(),
        http_status: outcome.http_status.map(i64::from),
        latency_ms: outcome.latency_ms,
        attempts: i64::from(outcome.attempts),
        error: outcome.error.clone(),
        idempotency_key: origin.idempotency_key.to_string(),
        test: origin.test,
        created_at: now_ms(),
    };
    write(store, origin, &execution).await?;
    Ok(execution)
}

/// Records an execution the policy refused (a limit was breached): no call was made.
pub async fn record_refusal(
    store: &Store,
    action: &Action,
    parameters: &Map<String, Value>,
    reason: &str,
    origin: Origin<'_>,
) -> Result<Execution> {
    let execution = Execution {
        id: ActionId::new().into_string(),
        action_id: Some(action.id.to_string()),
        action: action.name.clone(),
        conversation_id: origin.conversation_id.map(ToString::to_string),
        customer_id: origin.customer_id.map(str::to_string),
        parameters: redact(parameters, &action.sensitive_fields),
        status: "refused".into(),
        http_status: None,
        latency_ms: 0,
        attempts: 0,
        error: Some(reason.to_string()),
        idempotency_key: origin.idempotency_key.to_string(),
        test: origin.test,
        created_at: now_ms(),
    };
    write(store, origin, &execution).await?;
    Ok(execution)
}

async fn write(store: &Store, origin: Origin<'_>, execution: &Execution) -> Result<()> {
    let data = json!({
        "execution_id": execution.id,
        "action": execution.action,
        "status": execution.status,
        "parameters": execution.parameters,
        "http_status": execution.http_status,
        "latency_ms": execution.latency_ms,
        "attempts": execution.attempts,
        "conversation_id": execution.conversation_id,
        "customer_id": execution.customer_id,
        "test": execution.test,
    });
    let mut tx = store.begin().await?;
    Store::insert_execution_tx(&mut tx, origin.organization_id, execution).await?;
    Store::record_event_tx(
        &mut tx,
        origin.organization_id,
        EventType::ActionExecuted,
        &data,
        origin.conversation_id,
    )
    .await?;
    tx.commit().await?;
    signal::notify_committed();
    Ok(())
}
