//! The event outbox and its deliveries.
//!
//! An event is written with [`Store::record_event_tx`] inside the transaction of the change
//! that caused it, together with one `webhook_deliveries` row per enabled endpoint subscribed
//! to it: a committed change always has its deliveries queued, a rolled-back one never does.
//! Dispatchers then [claim](Store::claim_deliveries) due deliveries, send them and
//! [record the outcome](Store::complete_delivery) with a row in the attempt log.

use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Transaction};

use super::batch::Batch;
use super::{now_ms, Dialect, Store};
use crate::error::{Error, Result, ResultExt};
use crate::events::{payload, signal, EventType, NewEvent};
use crate::ids::{fresh_suffix, ConversationId, EventId, OrganizationId, WebhookId};

/// A recorded event as listed to its organization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: EventId,
    pub event: String,
    pub conversation_id: Option<ConversationId>,
    pub created_at: i64,
    /// The exact body sent to endpoints.
    pub payload: Value,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    event_type: String,
    conversation_id: Option<String>,
    created_at: i64,
    payload: String,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = Error;
    fn try_from(row: EventRow) -> Result<Self> {
        Ok(StoredEvent {
            id: EventId::from_trusted(row.id),
            event: row.event_type,
            conversation_id: row.conversation_id.map(ConversationId::from_trusted),
            created_at: row.created_at,
            payload: serde_json::from_str(&row.payload)
                .or_internal("a stored event has an unreadable payload")?,
        })
    }
}

/// A delivery claimed by one dispatcher, with everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: String,
    pub event_id: String,
    /// The event type, e.g. `message.received`.
    pub event_type: String,
    pub webhook_id: String,
    pub organization_id: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub lock_token: String,
    pub payload: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
}

/// The outcome of one HTTP attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub status_code: Option<u16>,
    /// Why the attempt failed when there was no response (timeout, refused, blocked address).
    pub error: Option<String>,
    pub latency_ms: i64,
    /// The first bytes of the response body.
    pub response_excerpt: Option<String>,
    pub succeeded: bool,
    /// When to retry after a failure; `None` means no retry will follow (the delivery is dead).
    pub next_attempt_at: Option<i64>,
    /// Set when this outcome disables the endpoint at once (410 Gone).
    pub disable_reason: Option<String>,
}

/// Returns a fresh id with `prefix` (deliveries `dlv_`, attempts `att_`).
fn row_id(prefix: &str) -> String {
    format!("{prefix}_{}", fresh_suffix())
}

/// `($1, .., $n), (..)`: `rows` groups of `columns` numbered binds (placeholders only; the
/// values are always bound).
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values of `rows` pending deliveries: six binds each (id, event, endpoint,
/// organization, conversation, time), the status and attempt count are constants.
fn delivery_placeholders(rows: usize) -> String {
    (0..rows)
        .map(|r| {
            let b = |c: usize| format!("${}", r * 6 + c);
            format!(
                "({}, {}, {}, {}, {}, 'pending', 0, {t}, {t}, {t})",
                b(1),
                b(2),
                b(3),
                b(4),
                b(5),
                t = b(6)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tells whether an endpoint subscribed to `events` (a JSON array) wants `event`.
fn subscribed(events_json: &str, event: EventType) -> bool {
    match serde_json::from_str::<Vec<String>>(events_json) {
        Ok(events) => events.iter().any(|e| e == "*" || e == event.as_str()),
        Err(_) => false,
    }
}

/// An enabled webhook endpoint and the event types it subscribed to (stored JSON list).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub webhook_id: String,
    pub events: String,
}

impl Store {
    /// Records `event_type` with `data` for `org` inside the caller's transaction and queues a
    /// delivery for each enabled endpoint of the organization subscribed to it. After the
    /// commit, call [`signal::notify_committed`] so the dispatcher starts at once.
    #[tracing::instrument(skip_all, fields(org = %org, event = %event_type))]
    pub async fn record_event_tx(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        event_type: EventType,
        data: &Value,
        conversation_id: Option<&ConversationId>,
    ) -> Result<EventId> {
        Self::insert_event(tx, org, event_type, data, conversation_id, None).await
    }

    /// Records several events in order inside the caller's transaction, with their deliveries
    /// to every subscribed enabled endpoint. A chat turn writes two or three events: the
    /// endpoints are read once and the events and deliveries are each inserted with one
    /// multi-row statement, so the turn pays three round trips however many events it has.
    /// Returns how many deliveries were queued: with none, there is no dispatcher to wake.
    #[tracing::instrument(skip_all, fields(org = %org, events = events.len()))]
    pub async fn record_events_tx(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        events: &[NewEvent],
    ) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let endpoints = Self::webhook_subscriptions_in(&mut **tx, org).await?;
        let mut batch = Batch::new();
        let queued = Self::push_events(&mut batch, org, events, &endpoints)?;
        batch.run(tx).await?;
        Ok(queued)
    }

    /// The organization's enabled endpoints with their subscriptions, read outside any
    /// transaction: a chat turn reads them before it takes SQLite's one writer, so the
    /// writer's critical section is one statement shorter. On SQLite they are cached
    /// ([`super::cache::WEBHOOK_SUBSCRIPTIONS_TTL`]; every change through this process drops
    /// the entry), which saves every turn a round trip to the database thread.
    pub async fn webhook_subscriptions(&self, org: &OrganizationId) -> Result<Vec<Subscription>> {
        if self.dialect() != Dialect::Sqlite {
            return Self::webhook_subscriptions_in(self.pool(), org).await;
        }
        let cache = &self.caches().webhook_subscriptions;
        if let Some(subscriptions) = cache.get(org.as_str()) {
            return Ok(subscriptions);
        }
        let read_from = cache.generation();
        let subscriptions = Self::webhook_subscriptions_in(self.pool(), org).await?;
        cache.insert_since(read_from, org.as_str().to_owned(), subscriptions.clone());
        Ok(subscriptions)
    }

    /// Forgets the cached subscriptions of `org` (after a change to its endpoints).
    pub(crate) fn forget_webhook_subscriptions(&self, org: &OrganizationId) {
        self.caches().webhook_subscriptions.remove(org.as_str());
    }

    async fn webhook_subscriptions_in<'e>(
        executor: impl sqlx::Executor<'e, Database = Any>,
        org: &OrganizationId,
    ) -> Result<Vec<Subscription>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select id, events from webhooks where organization_id = $1 and enabled = 1",
        )
        .bind(org.as_str())
        .fetch_all(executor)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(webhook_id, events)| Subscription { webhook_id, events })
            .collect())
    }

    /// Adds the events, and their deliveries to the subscribed `endpoints`
    /// ([`Store::webhook_subscriptions`]), to `batch`: one multi-row insert each. Returns how
    /// many deliveries it queued.
    pub(crate) fn push_events<'q>(
        batch: &mut Batch<'q>,
        org: &'q OrganizationId,
        events: &'q [NewEvent],
        endpoints: &[Subscription],
    ) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            let id = EventId::new();
            let body = payload::build(&id, event.event_type, now, org, &event.data)?;
            rows.push((id, body));
        }
        // Event order first, then endpoint order: delivery ids are minted in that order.
        let deliveries: Vec<(String, String, String, Option<String>)> = rows
            .iter()
            .zip(events)
            .flat_map(|((id, _), event)| {
                endpoints
                    .iter()
                    .filter(|endpoint| subscribed(&endpoint.events, event.event_type))
                    .map(move |endpoint| {
                        (
                            row_id("dlv"),
                            id.as_str().to_owned(),
                            endpoint.webhook_id.clone(),
                            event
                                .conversation_id
                                .as_ref()
                                .map(|c| c.as_str().to_owned()),
                        )
                    })
            })
            .collect();
        let queued = deliveries.len();
        batch.push(
            format!(
                "insert into events (id, organization_id, event_type, payload, \
                 conversation_id, created_at) values {}",
                placeholders(rows.len(), 6)
            ),
            move |mut insert| {
                for ((id, body), event) in rows.into_iter().zip(events) {
                    insert = insert
                        .bind(id.as_str().to_owned())
                        .bind(org.as_str().to_owned())
                        .bind(event.event_type.as_str())
                        .bind(body)
                        .bind(
                            event
                                .conversation_id
                                .as_ref()
                                .map(|c| c.as_str().to_owned()),
                        )
                        .bind(now);
                }
                insert
            },
        );
        if !deliveries.is_empty() {
            batch.push(
                format!(
                    "insert into webhook_deliveries (id, event_id, webhook_id, \
                     organization_id, conversation_id, status, attempts, next_attempt_at, \
                     created_at, updated_at) values {}",
                    delivery_placeholders(deliveries.len())
                ),
                move |mut insert| {
                    for (delivery_id, event_id, webhook_id, conversation_id) in deliveries {
                        insert = insert
                            .bind(delivery_id)
                            .bind(event_id)
                            .bind(webhook_id)
                            .bind(org.as_str().to_owned())
                            .bind(conversation_id)
                            .bind(now);
                    }
                    insert
                },
            );
        }
        Ok(queued)
    }

    /// Records one event in its own transaction and wakes the dispatcher: for changes that
    /// have no transaction of their own to share.
    pub async fn record_event(
        &self,
        org: &OrganizationId,
        event_type: EventType,
        data: &Value,
        conversation_id: Option<&ConversationId>,
    ) -> Result<EventId> {
        let mut tx = self.begin().await?;
        let id = Self::record_event_tx(&mut tx, org, event_type, data, conversation_id).await?;
        tx.commit().await?;
        signal::notify_committed();
        Ok(id)
    }

    /// Records a `ping` for one endpoint only, whatever its subscriptions (a disabled endpoint
    /// receives it once re-enabled).
    pub async fn record_ping(&self, org: &OrganizationId, webhook: &WebhookId) -> Result<EventId> {
        let data = serde_json::json!({
            "webhook_id": webhook.as_str(),
            "message": "Blaigent webhook test",
        });
        let mut tx = self.begin().await?;
        let id =
            Self::insert_event(&mut tx, org, EventType::Ping, &data, None, Some(webhook)).await?;
        tx.commit().await?;
        signal::notify_committed();
        Ok(id)
    }

    /// Inserts the event and its deliveries: to every subscribed enabled endpoint, or to
    /// `only` whatever its subscriptions.
    async fn insert_event(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        event_type: EventType,
        data: &Value,
        conversation_id: Option<&ConversationId>,
        only: Option<&WebhookId>,
    ) -> Result<EventId> {
        let now = now_ms();
        let id = EventId::new();
        let body = payload::build(&id, event_type, now, org, data)?;
        sqlx::query(
            "insert into events (id, organization_id, event_type, payload, conversation_id, \
             created_at) values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(org.as_str())
        .bind(event_type.as_str())
        .bind(&body)
        .bind(conversation_id.map(ConversationId::as_str))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        let endpoints: Vec<(String, String)> = sqlx::query_as(
            "select id, events from webhooks where organization_id = $1 \
             and ($2 is null and enabled = 1 or id = $2)",
        )
        .bind(org.as_str())
        .bind(only.map(WebhookId::as_str))
        .fetch_all(&mut **tx)
        .await?;
        for (webhook_id, events) in endpoints {
            if only.is_none() && !subscribed(&events, event_type) {
                continue;
            }
            sqlx::query(
                "insert into webhook_deliveries (id, event_id, webhook_id, organization_id, \
                 conversation_id, status, attempts, next_attempt_at, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)",
            )
            .bind(row_id("dlv"))
            .bind(id.as_str())
            .bind(&webhook_id)
            .bind(org.as_str())
            .bind(conversation_id.map(ConversationId::as_str))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Ok(id)
    }

    /// Returns the organization's event `id`, or `None`.
    pub async fn event(&self, org: &OrganizationId, id: &EventId) -> Result<Option<StoredEvent>> {
        let row: Option<EventRow> = sqlx::query_as(
            "select id, event_type, conversation_id, created_at, payload from events \
             where organization_id = $1 and id = $2",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(StoredEvent::try_from).transpose()
    }

    /// Lists up to `limit` events of the organization, newest first, before the cursor
    /// `(created_at, id)`, optionally of one type.
    pub async fn events(
        &self,
        org: &OrganizationId,
        event_type: Option<EventType>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "select id, event_type, conversation_id, created_at, payload from events \
             where organization_id = $1 and ($2 is null or event_type = $2) \
             and ($3 is null or created_at < $3 or (created_at = $3 and id < $4)) \
             order by created_at desc, id desc limit $5",
        )
        .bind(org.as_str())
        .bind(event_type.map(EventType::as_str))
        .bind(before.map(|(at, _)| at))
        .bind(before.map(|(_, id)| id).unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(StoredEvent::try_from).collect()
    }

    /// Claims up to `limit` due deliveries for `lease_ms` under a fresh lock token: pending or
    /// failed ones whose time has come, and claimed ones whose lease ran out (their dispatcher
    /// died). A delivery waits while an earlier one of the same conversation to the same
    /// endpoint is unfinished, so a conversation's events arrive in order.
    ///
    /// PostgreSQL: `for update skip locked` lets replicas claim side by side without ever
    /// taking the same row. SQLite has one writer at a time, so the single statement is
    /// already exclusive.
    #[tracing::instrument(skip_all, fields(limit))]
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = now_ms();
        let token = row_id("lock");
        let lock = match self.dialect() {
            Dialect::Postgres => "for update of d skip locked",
            Dialect::Sqlite => "",
        };
        let claim = format!(
            "update webhook_deliveries set status = 'delivering', attempts = attempts + 1, \
             lock_token = $1, locked_until = $2, updated_at = $3 \
             where id in (select d.id from webhook_deliveries d \
               join webhooks w on w.id = d.webhook_id and w.enabled = 1 \
               where ((d.status in ('pending', 'failed') and d.next_attempt_at <= $3) \
                   or (d.status = 'delivering' and d.locked_until < $3)) \
               and (d.conversation_id is null or not exists (select 1 from webhook_deliveries e \
                   where e.webhook_id = d.webhook_id and e.conversation_id = d.conversation_id \
                   and e.status in ('pending', 'failed', 'delivering') \
                   and (e.created_at < d.created_at or (e.created_at = d.created_at and e.id < d.id)))) \
               order by d.next_attempt_at, d.created_at, d.id limit $4 {lock})"
        );
        let claimed = sqlx::query(&claim)
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .execute(self.writer())
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<ClaimedDelivery> = sqlx::query_as(
            "select d.id, d.event_id, e.event_type, d.webhook_id, d.organization_id, d.attempts, d.lock_token, \
             e.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at \
             from webhook_deliveries d join events e on e.id = d.event_id \
             join webhooks w on w.id = d.webhook_id where d.lock_token = $1 \
             order by d.created_at, d.id",
        )
        .bind(&token)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Stores the outcomes of several attempts in one transaction (one commit, however many
    /// deliveries finished meanwhile: what lets a dispatcher keep up on PostgreSQL, where every
    /// commit waits for the disk). See [`Store::complete_in_tx`] for what each outcome writes.
    #[tracing::instrument(skip_all, fields(count = batch.len()))]
    pub async fn complete_deliveries(
        &self,
        batch: &[(ClaimedDelivery, AttemptOutcome)],
        disable_after_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut disabled = Vec::new();
        for (delivery, outcome) in batch {
            if Self::complete_in_tx(&mut tx, delivery, outcome, disable_after_ms).await? {
                disabled.push(OrganizationId::from_trusted(
                    delivery.organization_id.clone(),
                ));
            }
        }
        tx.commit().await?;
        for org in &disabled {
            self.forget_webhook_subscriptions(org);
        }
        Ok(())
    }

    /// Stores the outcome of an attempt: the delivery's new state, a row in the attempt log,
    /// and the endpoint's health (a success ends its failing streak; a 410 or a streak longer
    /// than `disable_after_ms` disables it with a reason the organization can read). Ignored
    /// when the claim was lost (a replay reset the delivery meanwhile) except for the log row.
    /// Returns whether the endpoint was disabled.
    async fn complete_in_tx(
        tx: &mut Transaction<'static, Any>,
        delivery: &ClaimedDelivery,
        outcome: &AttemptOutcome,
        disable_after_ms: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let status = match (outcome.succeeded, outcome.next_attempt_at) {
            (true, _) => "succeeded",
            (false, Some(_)) => "failed",
            (false, None) => "dead",
        };
        let status_code = outcome.status_code.map(i64::from);
        sqlx::query(
            "update webhook_deliveries set status = $1, next_attempt_at = coalesce($2, \
             next_attempt_at), locked_until = null, lock_token = null, last_status_code = $3, \
             last_error = $4, last_latency_ms = $5, response_excerpt = $6, updated_at = $7 \
             where id = $8 and lock_token = $9",
        )
        .bind(status)
        .bind(outcome.next_attempt_at)
        .bind(status_code)
        .bind(outcome.error.as_deref())
        .bind(outcome.latency_ms)
        .bind(outcome.response_excerpt.as_deref())
        .bind(now)
        .bind(&delivery.id)
        .bind(&delivery.lock_token)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "insert into webhook_attempts (id, delivery_id, webhook_id, event_id, \
             organization_id, attempt, status_code, error, latency_ms, response_excerpt, \
             succeeded, next_attempt_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        )
        .bind(row_id("att"))
        .bind(&delivery.id)
        .bind(&delivery.webhook_id)
        .bind(&delivery.event_id)
        .bind(&delivery.organization_id)
        .bind(delivery.attempts)
        .bind(status_code)
        .bind(outcome.error.as_deref())
        .bind(outcome.latency_ms)
        .bind(outcome.response_excerpt.as_deref())
        .bind(i64::from(outcome.succeeded))
        .bind(if outcome.succeeded {
            None
        } else {
            outcome.next_attempt_at
        })
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if outcome.succeeded {
            sqlx::query(
                "update webhooks set failing_since = null where id = $1 \
                 and failing_since is not null",
            )
            .bind(&delivery.webhook_id)
            .execute(&mut **tx)
            .await?;
        } else {
            let since: Option<(Option<i64>,)> = sqlx::query_as(
                "update webhooks set failing_since = coalesce(failing_since, $1) where id = $2 \
                 returning failing_since",
            )
            .bind(now)
            .bind(&delivery.webhook_id)
            .fetch_optional(&mut **tx)
            .await?;
            let since = since.and_then(|(s,)| s).unwrap_or(now);
            let reason = outcome.disable_reason.clone().or_else(|| {
                (now - since >= disable_after_ms).then(|| {
                    format!(
                        "disabled after failing continuously since {} (last attempt: {})",
                        payload::rfc3339(since).unwrap_or_else(|_| since.to_string()),
                        describe(outcome)
                    )
                })
            });
            if let Some(reason) = reason {
                tracing::warn!(webhook = %delivery.webhook_id, %reason, "webhook endpoint disabled");
                sqlx::query(
                    "update webhooks set enabled = 0, disabled_reason = $1, updated_at = $2 \
                     where id = $3",
                )
                .bind(&reason)
                .bind(now)
                .bind(&delivery.webhook_id)
                .execute(&mut **tx)
                .await?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Queues event `id` again for its endpoints (or only `webhook`, subscribed or not):
    /// finished deliveries go back to pending with a fresh retry budget. Returns how many
    /// deliveries were queued.
    #[tracing::instrument(skip_all, fields(org = %org, event = %id))]
    pub async fn replay_event(
        &self,
        org: &OrganizationId,
        id: &EventId,
        webhook: Option<&WebhookId>,
    ) -> Result<u64> {
        let event = self
            .event(org, id)
            .await?
            .ok_or_else(|| Error::not_found(format!("no event '{id}' in this organization")))?;
        let mut tx = self.begin().await?;
        let queued = match webhook {
            Some(webhook) => {
                Self::requeue(&mut tx, org, webhook, &event).await?;
                1
            }
            None => {
                let now = now_ms();
                sqlx::query(
                    "update webhook_deliveries set status = 'pending', attempts = 0, \
                     next_attempt_at = $1, locked_until = null, lock_token = null, \
                     updated_at = $1 where organization_id = $2 and event_id = $3",
                )
                .bind(now)
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
            }
        };
        tx.commit().await?;
        signal::notify_committed();
        Ok(queued)
    }

    /// Queues every event of the organization recorded in `[from_ms, to_ms)` again for
    /// `webhook`, when the endpoint is subscribed to its type. Returns how many were queued.
    #[tracing::instrument(skip_all, fields(org = %org, webhook = %webhook))]
    pub async fn replay_range(
        &self,
        org: &OrganizationId,
        webhook: &WebhookId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<u64> {
        let endpoint = self.webhook(org, webhook).await?.ok_or_else(|| {
            Error::not_found(format!("no webhook '{webhook}' in this organization"))
        })?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "select id, event_type, conversation_id, created_at, payload from events \
             where organization_id = $1 and created_at >= $2 and created_at < $3 \
             order by created_at, id",
        )
        .bind(org.as_str())
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        let mut tx = self.begin().await?;
        let mut queued = 0;
        for row in rows {
            let event = StoredEvent::try_from(row)?;
            let wanted = EventType::parse(&event.event)
                .map(|t| t != EventType::Ping && endpoint.wants(t))
                .unwrap_or(false);
            if wanted {
                Self::requeue(&mut tx, org, webhook, &event).await?;
                queued += 1;
            }
        }
        tx.commit().await?;
        signal::notify_committed();
        Ok(queued)
    }

    /// Puts the delivery of `event` to `webhook` back to pending, creating it when the endpoint
    /// never had one.
    async fn requeue(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        webhook: &WebhookId,
        event: &StoredEvent,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into webhook_deliveries (id, event_id, webhook_id, organization_id, \
             conversation_id, status, attempts, next_attempt_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6) \
             on conflict (event_id, webhook_id) do update set status = 'pending', attempts = 0, \
             next_attempt_at = $6, locked_until = null, lock_token = null, updated_at = $6",
        )
        .bind(row_id("dlv"))
        .bind(event.id.as_str())
        .bind(webhook.as_str())
        .bind(org.as_str())
        .bind(event.conversation_id.as_ref().map(ConversationId::as_str))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Counts the organization's deliveries by status (for tests, benchmarks and health).
    pub async fn delivery_counts(&self, org: &OrganizationId) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select status, cast(count(*) as bigint) from webhook_deliveries \
             where organization_id = $1 group by status order by status",
        )
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}

/// A short description of an attempt for a disable reason: `HTTP 500` or the error.
fn describe(outcome: &AttemptOutcome) -> String {
    match (outcome.status_code, &outcome.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no response".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_match_the_type_or_the_wildcard_only() {
        assert!(subscribed(r#"["*"]"#, EventType::MessageSent));
        assert!(subscribed(r#"["message.sent"]"#, EventType::MessageSent));
        assert!(!subscribed(
            r#"["message.received"]"#,
            EventType::MessageSent
        ));
        assert!(!subscribed("not json", EventType::MessageSent));
    }
}
