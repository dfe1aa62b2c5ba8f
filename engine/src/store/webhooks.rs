//! Webhook endpoints (subscriptions) and their delivery log.
//!
//! The signing secret is stored as is: unlike an API key, it must be readable to compute each
//! delivery's HMAC. It never appears in [`Webhook`], only in what a dispatcher claims.

use serde::Serialize;

use super::{now_ms, Store};
use crate::error::{Error, Result, ResultExt};
use crate::events::EventType;
use crate::ids::{EventId, OrganizationId, WebhookId};

/// An endpoint as shown to its organization (no secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub description: String,
    /// Event types it receives; `["*"]` means all.
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why the platform disabled it (410 Gone, failing too long), if it did.
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed attempts.
    pub failing_since: Option<i64>,
    /// While set and in the future, the previous secret still signs (after a rotation).
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Webhook {
    /// Tells whether the endpoint is subscribed to `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.events.iter().any(|e| e == "*" || e == event.as_str())
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    url: String,
    description: String,
    events: String,
    enabled: i64,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    previous_secret_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = Error;
    fn try_from(row: WebhookRow) -> Result<Self> {
        Ok(Webhook {
            id: WebhookId::from_trusted(row.id),
            url: row.url,
            description: row.description,
            events: serde_json::from_str(&row.events)
                .or_internal("a stored webhook has an unreadable event list")?,
            enabled: row.enabled != 0,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            previous_secret_expires_at: row.previous_secret_expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const SELECT: &str = "select id, url, description, events, enabled, disabled_reason, \
    failing_since, previous_secret_expires_at, created_at, updated_at from webhooks";

/// A new endpoint, already validated.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event: String,
    pub attempt: i64,
    /// The HTTP status, or `None` when no response came (see `error`).
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first 512 bytes of the response body.
    pub response_excerpt: Option<String>,
    pub succeeded: bool,
    /// When the next retry is due; `None` when none follows.
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    id: String,
    delivery_id: String,
    event_id: String,
    event: String,
    attempt: i64,
    status_code: Option<i64>,
    error: Option<String>,
    latency_ms: i64,
    response_excerpt: Option<String>,
    succeeded: i64,
    next_attempt_at: Option<i64>,
    created_at: i64,
}

impl From<AttemptRow> for Attempt {
    fn from(row: AttemptRow) -> Self {
        Attempt {
            id: row.id,
            delivery_id: row.delivery_id,
            event_id: row.event_id,
            event: row.event,
            attempt: row.attempt,
            status_code: row.status_code,
            error: row.error,
            latency_ms: row.latency_ms,
            response_excerpt: row.response_excerpt,
            succeeded: row.succeeded != 0,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
        }
    }
}

const SELECT_ATTEMPTS: &str = "select a.id, a.delivery_id, a.event_id, e.event_type as event, \
    a.attempt, a.status_code, a.error, a.latency_ms, a.response_excerpt, a.succeeded, \
    a.next_attempt_at, a.created_at from webhook_attempts a join events e on e.id = a.event_id";

fn events_json(events: &[String]) -> Result<String> {
    serde_json::to_string(events).or_internal("encoding a webhook's event list")
}

impl Store {
    /// Stores a new endpoint of `org`.
    pub async fn insert_webhook(&self, org: &OrganizationId, new: &NewWebhook) -> Result<Webhook> {
        let id = WebhookId::new();
        let now = now_ms();
        sqlx::query(
            "insert into webhooks (id, organization_id, url, description, events, enabled, \
             secret, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(&new.url)
        .bind(&new.description)
        .bind(events_json(&new.events)?)
        .bind(i64::from(new.enabled))
        .bind(&new.secret)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.forget_webhook_subscriptions(org);
        self.webhook(org, &id)
            .await?
            .ok_or_else(|| Error::internal("a webhook vanished right after it was stored"))
    }

    /// Returns the organization's endpoint `id`, or `None` (also for another organization's).
    pub async fn webhook(&self, org: &OrganizationId, id: &WebhookId) -> Result<Option<Webhook>> {
        let sql = format!("{SELECT} where organization_id = $1 and id = $2");
        let row: Option<WebhookRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(Webhook::try_from).transpose()
    }

    /// Lists the organization's endpoints, oldest first.
    pub async fn webhooks(&self, org: &OrganizationId) -> Result<Vec<Webhook>> {
        let sql = format!("{SELECT} where organization_id = $1 order by created_at, id");
        let rows: Vec<WebhookRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Webhook::try_from).collect()
    }

    /// Applies `patch`; enabling an endpoint clears the platform's disable reason and its
    /// failing streak. Returns `None` when there is no such endpoint.
    pub async fn update_webhook(
        &self,
        org: &OrganizationId,
        id: &WebhookId,
        patch: &WebhookPatch,
    ) -> Result<Option<Webhook>> {
        let events = patch.events.as_deref().map(events_json).transpose()?;
        let enable = patch.enabled == Some(true);
        sqlx::query(
            "update webhooks set url = coalesce($1, url), description = coalesce($2, description), \
             events = coalesce($3, events), enabled = coalesce($4, enabled), \
             disabled_reason = case when $5 = 1 then null else disabled_reason end, \
             failing_since = case when $5 = 1 then null else failing_since end, \
             updated_at = $6 where organization_id = $7 and id = $8",
        )
        .bind(patch.url.as_deref())
        .bind(patch.description.as_deref())
        .bind(events)
        .bind(patch.enabled.map(i64::from))
        .bind(i64::from(enable))
        .bind(now_ms())
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        self.forget_webhook_subscriptions(org);
        self.webhook(org, id).await
    }

    /// Deletes the endpoint with its deliveries and log. Returns whether it existed.
    pub async fn delete_webhook(&self, org: &OrganizationId, id: &WebhookId) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Children first: the cascade would do it, but only where foreign keys are enforced.
        for sql in [
            "delete from webhook_attempts where organization_id = $1 and webhook_id = $2",
            "delete from webhook_deliveries where organization_id = $1 and webhook_id = $2",
        ] {
            sqlx::query(sql)
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query("delete from webhooks where organization_id = $1 and id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        self.forget_webhook_subscriptions(org);
        Ok(deleted > 0)
    }

    /// Replaces the signing secret; the current one keeps signing until `grace_until` (unix
    /// ms). Returns `None` when there is no such endpoint.
    pub async fn rotate_webhook_secret(
        &self,
        org: &OrganizationId,
        id: &WebhookId,
        new_secret: &str,
        grace_until: i64,
    ) -> Result<Option<Webhook>> {
        sqlx::query(
            "update webhooks set previous_secret = secret, previous_secret_expires_at = $1, \
             secret = $2, updated_at = $3 where organization_id = $4 and id = $5",
        )
        .bind(grace_until)
        .bind(new_secret)
        .bind(now_ms())
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(self.pool())
        .await?;
        self.webhook(org, id).await
    }

    /// Lists up to `limit` attempts to the endpoint, newest first, before the cursor
    /// `(created_at, id)`.
    pub async fn webhook_attempts(
        &self,
        org: &OrganizationId,
        webhook: &WebhookId,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Attempt>> {
        let sql = format!(
            "{SELECT_ATTEMPTS} where a.organization_id = $1 and a.webhook_id = $2 \
             and ($3 is null or a.created_at < $3 or (a.created_at = $3 and a.id < $4)) \
             order by a.created_at desc, a.id desc limit $5"
        );
        let rows: Vec<AttemptRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(webhook.as_str())
            .bind(before.map(|(at, _)| at))
            .bind(before.map(|(_, id)| id).unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(Attempt::from).collect())
    }

    /// The attempts made to deliver `event` to any endpoint, oldest first (tests, support).
    pub async fn event_attempts(
        &self,
        org: &OrganizationId,
        event: &EventId,
    ) -> Result<Vec<Attempt>> {
        let sql = format!(
            "{SELECT_ATTEMPTS} where a.organization_id = $1 and a.event_id = $2 \
             order by a.created_at, a.id"
        );
        let rows: Vec<AttemptRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(event.as_str())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(Attempt::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subscriptions a turn of `org` would queue deliveries for, as endpoint ids.
    async fn subscribed(store: &Store, org: &OrganizationId) -> Vec<String> {
        let mut ids: Vec<String> = store
            .webhook_subscriptions(org)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.webhook_id)
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn every_endpoint_change_reaches_the_next_turn_at_once() {
        let (store, _dir) = crate::store::test_support::sqlite_store().await;
        let org = crate::store::test_support::organization(&store).await;
        // Read (and, on SQLite, cached) before the endpoint exists.
        assert!(subscribed(&store, &org).await.is_empty());
        let new = NewWebhook {
            url: "https://example.com/hook".into(),
            description: String::new(),
            events: vec!["message.received".into()],
            enabled: true,
            secret: "whsec_test".into(),
        };
        let hook = store.insert_webhook(&org, &new).await.unwrap();
        assert_eq!(subscribed(&store, &org).await, [hook.id.as_str()]);

        let disable = WebhookPatch {
            enabled: Some(false),
            ..WebhookPatch::default()
        };
        store
            .update_webhook(&org, &hook.id, &disable)
            .await
            .unwrap();
        assert!(subscribed(&store, &org).await.is_empty());
        let enable = WebhookPatch {
            enabled: Some(true),
            ..WebhookPatch::default()
        };
        store.update_webhook(&org, &hook.id, &enable).await.unwrap();
        assert_eq!(subscribed(&store, &org).await.len(), 1);

        assert!(store.delete_webhook(&org, &hook.id).await.unwrap());
        assert!(subscribed(&store, &org).await.is_empty());
    }
}
