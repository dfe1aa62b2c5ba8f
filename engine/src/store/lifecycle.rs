//! Lifecycle storage: status changes with their transition log, human replies, the customer
//! messages recorded while a human holds a conversation, CSAT ratings, the inbox listing and
//! the auto-resolve sweep.
//!
//! Every change reads the conversation inside its own short transaction, lets the caller's
//! rule ([`crate::service::lifecycle`]) decide, then writes the new state guarded by the status
//! it read (`where status = $old`), the transition row and the change's events, so a webhook
//! never announces a change that was rolled back.

use serde::Serialize;
use sqlx::{Any, Transaction};

use super::batch::Batch;
use super::conversations::{ConversationStatus, TurnRecord};
use super::messages::{insert_message, NewMessage};
use super::Store;
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::events::{signal, NewEvent};
use crate::ids::{fresh_suffix, ConversationId, MessageId, OrganizationId};

/// The lifecycle columns of one conversation, as read inside a change's transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleState {
    pub id: ConversationId,
    /// The organization's own customer id.
    pub customer_id: String,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub intent: Option<String>,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    pub created_at: i64,
    pub handoff_at: Option<i64>,
    pub assigned_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub closed_at: Option<i64>,
    pub first_response_at: Option<i64>,
    pub human_replied_at: Option<i64>,
    pub handoff_count: i64,
    pub reopen_count: i64,
    /// The last message's time, else the start (read-only: messages move it).
    pub last_activity_at: i64,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    id: String,
    external_id: String,
    channel: String,
    status: String,
    intent: Option<String>,
    handoff_reason: Option<String>,
    assignee: Option<String>,
    created_at: i64,
    handoff_at: Option<i64>,
    assigned_at: Option<i64>,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
    closed_at: Option<i64>,
    first_response_at: Option<i64>,
    human_replied_at: Option<i64>,
    handoff_count: i64,
    reopen_count: i64,
    last_activity_at: i64,
}

impl TryFrom<StateRow> for LifecycleState {
    type Error = Error;
    fn try_from(row: StateRow) -> Result<Self> {
        let corrupt =
            |e: Error| Error::internal("a stored conversation is unreadable").with_source(e);
        Ok(LifecycleState {
            id: ConversationId::from_trusted(row.id),
            customer_id: row.external_id,
            channel: Channel::parse(&row.channel).map_err(corrupt)?,
            status: ConversationStatus::parse(&row.status).map_err(corrupt)?,
            intent: row.intent,
            handoff_reason: row.handoff_reason,
            assignee: row.assignee,
            created_at: row.created_at,
            handoff_at: row.handoff_at,
            assigned_at: row.assigned_at,
            resolved_at: row.resolved_at,
            resolved_by: row.resolved_by,
            closed_at: row.closed_at,
            first_response_at: row.first_response_at,
            human_replied_at: row.human_replied_at,
            handoff_count: row.handoff_count,
            reopen_count: row.reopen_count,
            last_activity_at: row.last_activity_at,
        })
    }
}

const SELECT_STATE: &str = "select c.id, cu.external_id, c.channel, c.status, c.intent, \
    c.handoff_reason, c.assignee, c.created_at, c.handoff_at, c.assigned_at, c.resolved_at, \
    c.resolved_by, c.closed_at, c.first_response_at, c.human_replied_at, c.handoff_count, \
    c.reopen_count, coalesce(c.last_message_at, c.created_at) as last_activity_at \
    from conversations c join customers cu on cu.id = c.customer_id \
    where c.organization_id = $1 and c.id = $2";

/// What a lifecycle change writes: the conversation's next state (a full copy of the columns,
/// computed by the rule from the state it read), who made the change and why, an optional
/// message, and the events to record with it.
#[derive(Debug, Clone)]
pub struct Change {
    pub next: LifecycleState,
    /// Who made the change: `agent`, `system`, `customer`, `api` or a human's name.
    pub actor: String,
    pub reason: Option<String>,
    /// A message stored with the change (a human reply).
    pub message: Option<NewMessage>,
    pub events: Vec<NewEvent>,
    pub at: i64,
}

/// A transition log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub from_status: String,
    pub to_status: String,
    pub actor: String,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// One conversation of the inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxItem {
    pub id: ConversationId,
    pub customer_id: String,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub intent: Option<String>,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    /// When the conversation started waiting for a human (its handoff).
    pub waiting_since: i64,
    pub last_message: Option<LastMessage>,
}

/// The newest message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastMessage {
    pub text: String,
    pub role: String,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct InboxRow {
    id: String,
    external_id: String,
    channel: String,
    status: String,
    intent: Option<String>,
    handoff_reason: Option<String>,
    assignee: Option<String>,
    waiting_since: i64,
    last_text: Option<String>,
    last_role: Option<String>,
    last_at: Option<i64>,
}

/// Filters of the inbox; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    pub assignee: Option<String>,
    pub channel: Option<Channel>,
    /// `pending_human` or `human`.
    pub status: Option<ConversationStatus>,
}

/// Where an inbox page starts: strictly after this (waiting_since, id), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxCursor {
    pub waiting_since: i64,
    pub id: String,
}

/// A customer message recorded while a human holds the conversation (the agent stays quiet).
#[derive(Debug, Clone)]
pub struct HeldMessage {
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    pub customer_message: NewMessage,
    /// The acknowledgement, stored only when none was stored since the handoff.
    pub acknowledgement: NewMessage,
    /// `message.received`, then `message.sent` (recorded only with the acknowledgement).
    pub received_event: NewEvent,
    pub acknowledgement_event: NewEvent,
}

/// A CSAT rating about to be stored.
#[derive(Debug, Clone)]
pub struct NewCsat {
    pub rating: i64,
    pub comment: Option<String>,
    pub at: i64,
}

/// The stored rating and whether it replaced an earlier one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsatOutcome {
    pub rating: i64,
    pub comment: Option<String>,
    pub replaced: bool,
    pub created_at: i64,
}

/// What an agent turn does to its conversation's lifecycle, given the status it finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TurnLifecycle {
    /// The conversation was resolved or closed: the turn reopens it.
    pub reopened: bool,
    /// The turn hands an agent-handled conversation to the human queue.
    pub handed_off: bool,
}

impl TurnLifecycle {
    /// A customer writing into a resolved or closed conversation reopens it; a handoff moves
    /// an agent-handled one (open, or just reopened) to the human queue.
    pub(crate) fn of(from: ConversationStatus, handoff: bool) -> Self {
        let reopened = matches!(
            from,
            ConversationStatus::Resolved | ConversationStatus::Closed
        );
        let handed_off = handoff
            && matches!(
                from,
                ConversationStatus::Open
                    | ConversationStatus::Resolved
                    | ConversationStatus::Closed
            );
        Self {
            reopened,
            handed_off,
        }
    }

    /// Adds the transition log rows of this turn to `batch`: the reopening, then the handoff.
    pub(crate) fn push_transitions<'q>(
        self,
        batch: &mut Batch<'q>,
        record: &'q TurnRecord,
        from: ConversationStatus,
    ) {
        let (org, id) = (&record.organization_id, &record.conversation_id);
        let at = record.agent_message.created_at;
        let mut from = from;
        if self.reopened {
            push_transition(
                batch,
                org,
                id,
                (from, ConversationStatus::Open),
                "customer",
                Some("the customer wrote again"),
                at,
            );
            from = ConversationStatus::Open;
        }
        if self.handed_off {
            push_transition(
                batch,
                org,
                id,
                (from, ConversationStatus::PendingHuman),
                "agent",
                record.handoff_reason.as_deref(),
                at,
            );
        }
    }
}

impl Store {
    /// Reads the lifecycle state of the organization's conversation `id` (None: not found).
    pub async fn lifecycle_state(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
    ) -> Result<Option<LifecycleState>> {
        let row: Option<StateRow> = sqlx::query_as(SELECT_STATE)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(LifecycleState::try_from).transpose()
    }

    /// Applies one lifecycle change: reads the conversation in a transaction, asks `decide` for
    /// the change (an `Err` aborts, e.g. 409 for an impossible transition), then writes it with
    /// its transition row, message and events. Returns the new state; `Ok(None)` when the
    /// organization has no such conversation.
    pub async fn change_lifecycle(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
        decide: impl FnOnce(&LifecycleState) -> Result<Change>,
    ) -> Result<Option<LifecycleState>> {
        let mut tx = self.begin().await?;
        let row: Option<StateRow> = sqlx::query_as(SELECT_STATE)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = row.map(LifecycleState::try_from).transpose()? else {
            return Ok(None);
        };
        let change = decide(&current)?;
        apply_change_tx(&mut tx, org, &current, &change).await?;
        tx.commit().await?;
        signal::notify_committed();
        Ok(Some(change.next))
    }

    /// Returns the conversation's transition log, oldest first.
    pub async fn transitions(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
    ) -> Result<Vec<Transition>> {
        let rows: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
            "select from_status, to_status, actor, reason, created_at \
             from conversation_transitions where organization_id = $1 and conversation_id = $2 \
             order by created_at, id",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(from_status, to_status, actor, reason, created_at)| Transition {
                    from_status,
                    to_status,
                    actor,
                    reason,
                    created_at,
                },
            )
            .collect())
    }

    /// Records a customer message while a human holds the conversation, plus the
    /// acknowledgement when none was stored since the handoff. Returns the id of the
    /// acknowledgement the customer was shown (the stored one or the earlier one).
    #[tracing::instrument(skip_all, fields(conversation = %held.conversation_id))]
    pub async fn record_held_message(&self, held: &HeldMessage) -> Result<MessageId> {
        let org = &held.organization_id;
        let id = &held.conversation_id;
        let mut tx = self.begin().await?;
        let earlier: Option<(String,)> = sqlx::query_as(
            "select m.id from messages m join conversations c on c.id = m.conversation_id \
             where c.organization_id = $1 and c.id = $2 and m.role = 'agent' \
             and m.created_at >= coalesce(c.handoff_at, c.created_at) \
             order by m.created_at desc, m.id desc limit 1",
        )
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        insert_message(&mut tx, org, id, &held.customer_message).await?;
        let mut events = vec![held.received_event.clone()];
        let (ack_id, added) = match earlier {
            Some((earlier,)) => (MessageId::from_trusted(earlier), 1),
            None => {
                insert_message(&mut tx, org, id, &held.acknowledgement).await?;
                events.push(held.acknowledgement_event.clone());
                (held.acknowledgement.id.clone(), 2)
            }
        };
        let now = held
            .customer_message
            .created_at
            .max(held.acknowledgement.created_at);
        sqlx::query(
            "update conversations set message_count = message_count + $1, \
             last_message_at = $2, updated_at = $2 where organization_id = $3 and id = $4",
        )
        .bind(added)
        .bind(now)
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        Store::record_events_tx(&mut tx, org, &events).await?;
        tx.commit().await?;
        signal::notify_committed();
        Ok(ack_id)
    }

    /// Stores the conversation's CSAT rating, replacing an earlier one, with its
    /// `csat.submitted` event built by `event` (told whether it replaced one).
    pub async fn submit_csat(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
        csat: &NewCsat,
        event: impl FnOnce(&LifecycleState, bool) -> NewEvent,
    ) -> Result<Option<CsatOutcome>> {
        let mut tx = self.begin().await?;
        let row: Option<StateRow> = sqlx::query_as(SELECT_STATE)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(state) = row.map(LifecycleState::try_from).transpose()? else {
            return Ok(None);
        };
        let updated = sqlx::query(
            "update csat_responses set rating = $1, comment = $2, \
             replaced_count = replaced_count + 1, updated_at = $3 \
             where organization_id = $4 and conversation_id = $5",
        )
        .bind(csat.rating)
        .bind(csat.comment.as_deref())
        .bind(csat.at)
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let replaced = updated > 0;
        if !replaced {
            sqlx::query(
                "insert into csat_responses (id, organization_id, conversation_id, rating, \
                 comment, replaced_count, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, 0, $6, $6)",
            )
            .bind(format!("csat_{}", fresh_suffix()))
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(csat.rating)
            .bind(csat.comment.as_deref())
            .bind(csat.at)
            .execute(&mut *tx)
            .await?;
        }
        // The analytics summary reads the rating from the conversation (migration 0010).
        sqlx::query(
            "update conversations set csat_rating = $1 where organization_id = $2 and id = $3",
        )
        .bind(csat.rating)
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        let event = event(&state, replaced);
        Store::record_events_tx(&mut tx, org, std::slice::from_ref(&event)).await?;
        tx.commit().await?;
        signal::notify_committed();
        Ok(Some(CsatOutcome {
            rating: csat.rating,
            comment: csat.comment.clone(),
            replaced,
            created_at: csat.at,
        }))
    }

    /// Lists up to `limit` conversations waiting for or held by a human, oldest wait first.
    pub async fn inbox(
        &self,
        org: &OrganizationId,
        filter: &InboxFilter,
        cursor: Option<&InboxCursor>,
        limit: i64,
    ) -> Result<Vec<InboxItem>> {
        // The last message comes from a correlated lookup on `messages_conversation`, one
        // index probe per listed conversation.
        let rows: Vec<InboxRow> = sqlx::query_as(
            "select c.id, cu.external_id, c.channel, c.status, c.intent, c.handoff_reason, \
             c.assignee, coalesce(c.handoff_at, c.created_at) as waiting_since, \
             m.text as last_text, m.role as last_role, m.created_at as last_at \
             from conversations c join customers cu on cu.id = c.customer_id \
             left join messages m on m.id = (select m2.id from messages m2 \
                 where m2.conversation_id = c.id order by m2.created_at desc, m2.id desc limit 1) \
             where c.organization_id = $1 and c.status in ('pending_human', 'human') \
             and ($2 is null or c.assignee = $2) \
             and ($3 is null or c.channel = $3) \
             and ($4 is null or c.status = $4) \
             and ($5 is null or coalesce(c.handoff_at, c.created_at) > $5 \
                  or (coalesce(c.handoff_at, c.created_at) = $5 and c.id > $6)) \
             order by waiting_since, c.id limit $7",
        )
        .bind(org.as_str())
        .bind(filter.assignee.as_deref())
        .bind(filter.channel.map(Channel::as_str))
        .bind(filter.status.map(ConversationStatus::as_str))
        .bind(cursor.map(|c| c.waiting_since))
        .bind(cursor.map(|c| c.id.as_str()).unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let corrupt = |e: Error| {
                    Error::internal("a stored conversation is unreadable").with_source(e)
                };
                let last_message = match (row.last_text, row.last_role, row.last_at) {
                    (Some(text), Some(role), Some(created_at)) => Some(LastMessage {
                        text,
                        role,
                        created_at,
                    }),
                    _ => None,
                };
                Ok(InboxItem {
                    id: ConversationId::from_trusted(row.id),
                    customer_id: row.external_id,
                    channel: Channel::parse(&row.channel).map_err(corrupt)?,
                    status: ConversationStatus::parse(&row.status).map_err(corrupt)?,
                    intent: row.intent,
                    handoff_reason: row.handoff_reason,
                    assignee: row.assignee,
                    waiting_since: row.waiting_since,
                    last_message,
                })
            })
            .collect()
    }

    /// Ids of up to `limit` conversations (any organization) in `statuses` whose last activity
    /// is older than `idle_before` (unix ms), oldest first: the auto-resolve candidates.
    pub async fn idle_conversations(
        &self,
        idle_before: i64,
        limit: i64,
    ) -> Result<Vec<(OrganizationId, ConversationId)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select organization_id, id from conversations \
             where status in ('open', 'human') \
             and coalesce(last_message_at, created_at) < $1 \
             order by coalesce(last_message_at, created_at), id limit $2",
        )
        .bind(idle_before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(org, id)| {
                (
                    OrganizationId::from_trusted(org),
                    ConversationId::from_trusted(id),
                )
            })
            .collect())
    }
}

/// Writes `change` over `current` inside `tx`, guarded by the status that was read.
async fn apply_change_tx(
    tx: &mut Transaction<'static, Any>,
    org: &OrganizationId,
    current: &LifecycleState,
    change: &Change,
) -> Result<()> {
    let next = &change.next;
    let added = i64::from(change.message.is_some());
    let updated = sqlx::query(
        "update conversations set status = $1, assignee = $2, handoff_reason = $3, \
         handoff_at = $4, assigned_at = $5, resolved_at = $6, resolved_by = $7, closed_at = $8, \
         first_response_at = $9, human_replied_at = $10, handoff_count = $11, \
         reopen_count = $12, message_count = message_count + $13, \
         last_message_at = case when $13 = 1 then $14 else last_message_at end, \
         updated_at = $14 \
         where organization_id = $15 and id = $16 and status = $17",
    )
    .bind(next.status.as_str())
    .bind(next.assignee.as_deref())
    .bind(next.handoff_reason.as_deref())
    .bind(next.handoff_at)
    .bind(next.assigned_at)
    .bind(next.resolved_at)
    .bind(next.resolved_by.as_deref())
    .bind(next.closed_at)
    .bind(next.first_response_at)
    .bind(next.human_replied_at)
    .bind(next.handoff_count)
    .bind(next.reopen_count)
    .bind(added)
    .bind(change.at)
    .bind(org.as_str())
    .bind(current.id.as_str())
    .bind(current.status.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(Error::conflict(
            "the conversation changed while this request ran; retry",
        ));
    }
    if let Some(message) = &change.message {
        insert_message(tx, org, &current.id, message).await?;
    }
    log_transition(
        tx,
        org,
        &current.id,
        current.status,
        next.status,
        &change.actor,
        change.reason.as_deref(),
        change.at,
    )
    .await?;
    Store::record_events_tx(tx, org, &change.events).await?;
    Ok(())
}

/// Appends one row to the transition log.
#[allow(clippy::too_many_arguments)]
async fn log_transition(
    tx: &mut Transaction<'static, Any>,
    org: &OrganizationId,
    id: &ConversationId,
    from: ConversationStatus,
    to: ConversationStatus,
    actor: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<()> {
    let mut batch = Batch::new();
    push_transition(&mut batch, org, id, (from, to), actor, reason, at);
    batch.run(tx).await?;
    Ok(())
}

/// Adds one row of the transition log to `batch`.
fn push_transition<'q>(
    batch: &mut Batch<'q>,
    org: &'q OrganizationId,
    id: &'q ConversationId,
    (from, to): (ConversationStatus, ConversationStatus),
    actor: &'q str,
    reason: Option<&'q str>,
    at: i64,
) {
    batch.push(
        "insert into conversation_transitions (id, organization_id, conversation_id, \
         from_status, to_status, actor, reason, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        move |query| {
            query
                .bind(format!("trn_{}", fresh_suffix()))
                .bind(org.as_str().to_owned())
                .bind(id.as_str().to_owned())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(actor.to_owned())
                .bind(reason.map(str::to_owned))
                .bind(at)
        },
    );
}
