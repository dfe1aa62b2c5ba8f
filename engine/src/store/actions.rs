//! Action hooks: definitions (with their write-only secrets), the audit log of executions,
//! and the per-conversation pending action (slot filling, confirmation) that survives between
//! turns.

use serde_json::Value;
use sqlx::{Any, Transaction};

use super::{now_ms, Store};
use crate::actions::spec::{Action, ActionKind, ActionSecrets, ActionSpec, Limit};
use crate::error::{Error, Result, ResultExt};
use crate::ids::{ActionId, ConversationId, OrganizationId};

#[derive(sqlx::FromRow)]
struct ActionRow {
    id: String,
    name: String,
    description: String,
    parameters: String,
    url: String,
    method: String,
    bearer_token: Option<String>,
    signing_secret: Option<String>,
    timeout_ms: i64,
    kind: String,
    requires_confirmation: i64,
    idempotent: i64,
    limits: String,
    examples: String,
    intents: String,
    response_template: Option<String>,
    sensitive_fields: String,
    enabled: i64,
    created_at: i64,
    updated_at: i64,
}

const SELECT: &str = "select id, name, description, parameters, url, method, bearer_token, \
    signing_secret, timeout_ms, kind, requires_confirmation, idempotent, limits, examples, \
    intents, response_template, sensitive_fields, enabled, created_at, updated_at from actions";

fn json<T: serde::de::DeserializeOwned>(raw: &str, what: &str) -> Result<T> {
    serde_json::from_str(raw).or_internal(&format!("a stored action has unreadable {what}"))
}

impl ActionRow {
    fn into_parts(self) -> Result<(Action, ActionSecrets)> {
        let action = Action {
            id: ActionId::from_trusted(self.id),
            name: self.name,
            description: self.description,
            parameters: json::<Value>(&self.parameters, "parameters")?,
            url: self.url,
            method: self.method,
            timeout_ms: self.timeout_ms,
            kind: ActionKind::parse(&self.kind)
                .ok_or_else(|| Error::internal("a stored action has an unknown kind"))?,
            requires_confirmation: self.requires_confirmation != 0,
            idempotent: self.idempotent != 0,
            limits: json::<Vec<Limit>>(&self.limits, "limits")?,
            examples: json(&self.examples, "examples")?,
            intents: json(&self.intents, "intents")?,
            response_template: self.response_template,
            sensitive_fields: json(&self.sensitive_fields, "sensitive fields")?,
            enabled: self.enabled != 0,
            has_bearer_token: self.bearer_token.is_some(),
            has_signing_secret: self.signing_secret.is_some(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        };
        let secrets = ActionSecrets {
            bearer_token: self.bearer_token,
            signing_secret: self.signing_secret,
        };
        Ok((action, secrets))
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).or_internal("encoding an action field")
}

/// The action a conversation is preparing.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAction {
    pub conversation_id: ConversationId,
    pub action_name: String,
    pub stage: PendingStage,
    /// What the customer gave so far.
    pub parameters: serde_json::Map<String, Value>,
    /// The parameter the last follow-up question asked for.
    pub asking: Option<String>,
    /// Sent with the backend call; minted when the action was chosen and kept until the call
    /// returned, so every retry of the call (and a confirmation repeated after a crash)
    /// carries the same key.
    pub idempotency_key: String,
}

/// Where a pending action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingStage {
    /// Asking for missing or invalid parameters.
    Collecting,
    /// Waiting for the customer's yes.
    Confirming,
}

impl PendingStage {
    fn as_str(self) -> &'static str {
        match self {
            PendingStage::Collecting => "collecting",
            PendingStage::Confirming => "confirming",
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Execution {
    pub id: String,
    pub action_id: Option<String>,
    pub action: String,
    pub conversation_id: Option<String>,
    pub customer_id: Option<String>,
    /// Sensitive fields redacted.
    pub parameters: Value,
    /// `succeeded`, `failed`, `timeout` or `refused`.
    pub status: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub attempts: i64,
    pub error: Option<String>,
    pub idempotency_key: String,
    pub test: bool,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ExecutionRow {
    id: String,
    action_id: Option<String>,
    action_name: String,
    conversation_id: Option<String>,
    customer_id: Option<String>,
    parameters: String,
    status: String,
    http_status: Option<i64>,
    latency_ms: i64,
    attempts: i64,
    error: Option<String>,
    idempotency_key: String,
    test: i64,
    created_at: i64,
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub action: Option<String>,
    pub conversation_id: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Stores a new, already checked action. A name already used by the organization is a
    /// conflict.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn insert_action(&self, org: &OrganizationId, spec: &ActionSpec) -> Result<Action> {
        if self.action_by_name(org, &spec.name).await?.is_some() {
            return Err(Error::conflict(format!(
                "name: an action named '{}' already exists",
                spec.name
            )));
        }
        let id = ActionId::new();
        let now = now_ms();
        sqlx::query(
            "insert into actions (id, organization_id, name, description, parameters, url, \
             method, bearer_token, signing_secret, timeout_ms, kind, requires_confirmation, \
             idempotent, limits, examples, intents, response_template, sensitive_fields, \
             enabled, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(encode(&spec.parameters)?)
        .bind(&spec.url)
        .bind(&spec.method)
        .bind(spec.secrets.bearer_token.clone())
        .bind(spec.secrets.signing_secret.clone())
        .bind(spec.timeout_ms)
        .bind(spec.kind.as_str())
        .bind(i64::from(spec.requires_confirmation))
        .bind(i64::from(spec.idempotent))
        .bind(encode(&spec.limits)?)
        .bind(encode(&spec.examples)?)
        .bind(encode(&spec.intents)?)
        .bind(spec.response_template.clone())
        .bind(encode(&spec.sensitive_fields)?)
        .bind(i64::from(spec.enabled))
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db)
                if db.message().contains("unique") || db.message().contains("UNIQUE") =>
            {
                Error::conflict(format!(
                    "name: an action named '{}' already exists",
                    spec.name
                ))
            }
            _ => Error::from(e),
        })?;
        self.action_by_name(org, &spec.name)
            .await?
            .map(|(a, _)| a)
            .ok_or_else(|| Error::internal("the new action was not found after insert"))
    }

    /// Replaces the action named `name` with `spec` (secrets included, as given).
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn update_action(
        &self,
        org: &OrganizationId,
        name: &str,
        spec: &ActionSpec,
    ) -> Result<Option<Action>> {
        if spec.name != name && self.action_by_name(org, &spec.name).await?.is_some() {
            return Err(Error::conflict(format!(
                "name: an action named '{}' already exists",
                spec.name
            )));
        }
        let done = sqlx::query(
            "update actions set name = $3, description = $4, parameters = $5, url = $6, \
             method = $7, bearer_token = $8, signing_secret = $9, timeout_ms = $10, kind = $11, \
             requires_confirmation = $12, idempotent = $13, limits = $14, examples = $15, \
             intents = $16, response_template = $17, sensitive_fields = $18, enabled = $19, \
             updated_at = $20 where organization_id = $1 and name = $2",
        )
        .bind(org.as_str())
        .bind(name)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(encode(&spec.parameters)?)
        .bind(&spec.url)
        .bind(&spec.method)
        .bind(spec.secrets.bearer_token.clone())
        .bind(spec.secrets.signing_secret.clone())
        .bind(spec.timeout_ms)
        .bind(spec.kind.as_str())
        .bind(i64::from(spec.requires_confirmation))
        .bind(i64::from(spec.idempotent))
        .bind(encode(&spec.limits)?)
        .bind(encode(&spec.examples)?)
        .bind(encode(&spec.intents)?)
        .bind(spec.response_template.clone())
        .bind(encode(&spec.sensitive_fields)?)
        .bind(i64::from(spec.enabled))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(self.action_by_name(org, &spec.name).await?.map(|(a, _)| a))
    }

    /// The organization's actions, by name.
    pub async fn list_actions(&self, org: &OrganizationId) -> Result<Vec<Action>> {
        let rows: Vec<ActionRow> = sqlx::query_as(&format!(
            "{SELECT} where organization_id = $1 order by name"
        ))
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| r.into_parts().map(|(a, _)| a))
            .collect()
    }

    /// One action of the organization with its secrets; `None` when it has none of that name.
    pub async fn action_by_name(
        &self,
        org: &OrganizationId,
        name: &str,
    ) -> Result<Option<(Action, ActionSecrets)>> {
        let row: Option<ActionRow> = sqlx::query_as(&format!(
            "{SELECT} where organization_id = $1 and name = $2"
        ))
        .bind(org.as_str())
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.map(ActionRow::into_parts).transpose()
    }

    /// Deletes an action; tells whether it existed.
    pub async fn delete_action(&self, org: &OrganizationId, name: &str) -> Result<bool> {
        let done = sqlx::query("delete from actions where organization_id = $1 and name = $2")
            .bind(org.as_str())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The action the conversation is preparing, if any.
    pub async fn pending_action(
        &self,
        org: &OrganizationId,
        conversation: &ConversationId,
    ) -> Result<Option<PendingAction>> {
        let row: Option<(String, String, String, Option<String>, String)> = sqlx::query_as(
            "select action_name, stage, parameters, asking, idempotency_key from action_pending \
             where organization_id = $1 and conversation_id = $2",
        )
        .bind(org.as_str())
        .bind(conversation.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some((action_name, stage, parameters, asking, idempotency_key)) = row else {
            return Ok(None);
        };
        Ok(Some(PendingAction {
            conversation_id: conversation.clone(),
            action_name,
            stage: if stage == "confirming" {
                PendingStage::Confirming
            } else {
                PendingStage::Collecting
            },
            parameters: json(&parameters, "pending parameters")?,
            asking,
            idempotency_key,
        }))
    }

    /// Saves (creates or replaces) the conversation's pending action.
    pub async fn save_pending_action(
        &self,
        org: &OrganizationId,
        pending: &PendingAction,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "delete from action_pending where organization_id = $1 and conversation_id = $2",
        )
        .bind(org.as_str())
        .bind(pending.conversation_id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into action_pending (conversation_id, organization_id, action_name, stage, \
             parameters, asking, idempotency_key, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(pending.conversation_id.as_str())
        .bind(org.as_str())
        .bind(&pending.action_name)
        .bind(pending.stage.as_str())
        .bind(encode(&pending.parameters)?)
        .bind(pending.asking.clone())
        .bind(&pending.idempotency_key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the conversation's pending action.
    pub async fn clear_pending_action(
        &self,
        org: &OrganizationId,
        conversation: &ConversationId,
    ) -> Result<()> {
        sqlx::query(
            "delete from action_pending where organization_id = $1 and conversation_id = $2",
        )
        .bind(org.as_str())
        .bind(conversation.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Writes one audit-log line inside the caller's transaction.
    pub async fn insert_execution_tx(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        execution: &Execution,
    ) -> Result<()> {
        sqlx::query(
            "insert into action_executions (id, organization_id, action_id, action_name, \
             conversation_id, customer_id, parameters, status, http_status, latency_ms, attempts, \
             error, idempotency_key, test, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&execution.id)
        .bind(org.as_str())
        .bind(execution.action_id.clone())
        .bind(&execution.action)
        .bind(execution.conversation_id.clone())
        .bind(execution.customer_id.clone())
        .bind(encode(&execution.parameters)?)
        .bind(&execution.status)
        .bind(execution.http_status)
        .bind(execution.latency_ms)
        .bind(execution.attempts)
        .bind(execution.error.clone())
        .bind(&execution.idempotency_key)
        .bind(i64::from(execution.test))
        .bind(execution.created_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The audit log, newest first.
    pub async fn list_executions(
        &self,
        org: &OrganizationId,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>> {
        // Fixed SQL with empty-string sentinels for absent filters (the Any driver's query
        // builder writes `?` placeholders, which PostgreSQL refuses).
        let rows: Vec<ExecutionRow> = sqlx::query_as(
            "select id, action_id, action_name, conversation_id, customer_id, parameters, status, \
             http_status, latency_ms, attempts, error, idempotency_key, test, created_at \
             from action_executions where organization_id = $1 \
             and ($2 = '' or action_name = $2) and ($3 = '' or conversation_id = $3) \
             order by created_at desc, id desc limit $4",
        )
        .bind(org.as_str())
        .bind(filter.action.clone().unwrap_or_default())
        .bind(filter.conversation_id.clone().unwrap_or_default())
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Execution {
                    id: r.id,
                    action_id: r.action_id,
                    action: r.action_name,
                    conversation_id: r.conversation_id,
                    customer_id: r.customer_id,
                    parameters: json(&r.parameters, "execution parameters")?,
                    status: r.status,
                    http_status: r.http_status,
                    latency_ms: r.latency_ms,
                    attempts: r.attempts,
                    error: r.error,
                    idempotency_key: r.idempotency_key,
                    test: r.test != 0,
                    created_at: r.created_at,
                })
            })
            .collect()
    }
}
