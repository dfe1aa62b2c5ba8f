//! Conversations: creation inside a turn's transaction, lookup, and the newest-first listing
//! with keyset (cursor) pagination and filters.

use serde::{Deserialize, Serialize};

use sqlx::{Any, Transaction};
use tracing::Instrument;

use super::batch::{Batch, BatchFailure};
use super::events::Subscription;
use super::lifecycle::TurnLifecycle;
use super::messages::{push_turn_messages, NewMessage};
use super::usage::month_period;
use super::{now_ms, Dialect, Store};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, CustomerRecordId, OrganizationId};

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The agent is handling it.
    Open,
    /// The agent asked for a human; nobody took it yet.
    PendingHuman,
    /// A human took it over.
    Human,
    Resolved,
    Closed,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 5] = [
        ConversationStatus::Open,
        ConversationStatus::PendingHuman,
        ConversationStatus::Human,
        ConversationStatus::Resolved,
        ConversationStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::PendingHuman => "pending_human",
            ConversationStatus::Human => "human",
            ConversationStatus::Resolved => "resolved",
            ConversationStatus::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self> {
        ConversationStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "status must be one of open, pending_human, human, resolved, closed (got '{}')",
                    raw.chars().take(30).collect::<String>()
                ))
            })
    }
}

/// A conversation as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub organization_id: OrganizationId,
    /// The organization's own id for the customer.
    pub customer_id: String,
    pub customer_record_id: CustomerRecordId,
    pub channel: Channel,
    pub status: ConversationStatus,
    pub intent: Option<String>,
    pub handoff_reason: Option<String>,
    pub assignee: Option<String>,
    pub message_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_message_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: String,
    organization_id: String,
    external_id: String,
    customer_id: String,
    channel: String,
    status: String,
    intent: Option<String>,
    handoff_reason: Option<String>,
    assignee: Option<String>,
    message_count: i64,
    created_at: i64,
    updated_at: i64,
    last_message_at: Option<i64>,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
}

impl TryFrom<ConversationRow> for Conversation {
    type Error = Error;
    fn try_from(row: ConversationRow) -> Result<Self> {
        let corrupt =
            |e: Error| Error::internal("a stored conversation is unreadable").with_source(e);
        Ok(Conversation {
            id: ConversationId::from_trusted(row.id),
            organization_id: OrganizationId::from_trusted(row.organization_id),
            customer_id: row.external_id,
            customer_record_id: CustomerRecordId::from_trusted(row.customer_id),
            channel: Channel::parse(&row.channel).map_err(corrupt)?,
            status: ConversationStatus::parse(&row.status).map_err(corrupt)?,
            intent: row.intent,
            handoff_reason: row.handoff_reason,
            assignee: row.assignee,
            message_count: row.message_count,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_message_at: row.last_message_at,
            resolved_at: row.resolved_at,
            resolved_by: row.resolved_by,
        })
    }
}

const SELECT: &str = "select c.id, c.organization_id, cu.external_id, c.customer_id, c.channel, \
    c.status, c.intent, c.handoff_reason, c.assignee, c.message_count, c.created_at, \
    c.updated_at, c.last_message_at, c.resolved_at, c.resolved_by \
    from conversations c join customers cu on cu.id = c.customer_id";

/// Filters of the conversation listing; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub channel: Option<Channel>,
    /// The organization's own customer id.
    pub customer_id: Option<String>,
}

/// Where a page starts: strictly after this (created_at, id) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationCursor {
    pub created_at: i64,
    pub id: String,
}

/// A conversation that a turn starts (stored in the turn's transaction).
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub customer_record_id: CustomerRecordId,
    pub channel: Channel,
    /// The organization's monthly conversation quota, when its plan has one.
    pub monthly_quota: Option<i64>,
}

/// Everything one chat turn writes, stored atomically by [`Store::record_turn`].
#[derive(Debug, Clone)]
pub struct TurnRecord {
    pub organization_id: OrganizationId,
    pub conversation_id: ConversationId,
    /// Set when this turn starts the conversation.
    pub new_conversation: Option<NewConversation>,
    pub customer_message: NewMessage,
    pub agent_message: NewMessage,
    /// The turn's intent, remembered as the conversation's latest intent.
    pub intent: Option<String>,
    /// Set when the agent handed the conversation to a human.
    pub handoff_reason: Option<String>,
    pub handoff: bool,
    /// The turn's events (`message.received`, ...), recorded in its transaction.
    pub events: Vec<crate::events::NewEvent>,
    /// The conversation's status when the turn began (`Open` for a new one); the turn's
    /// lifecycle changes are computed from it (see [`Store::record_turn`]).
    pub status_before: ConversationStatus,
    /// The organization's enabled webhook endpoints when they were read with the turn's
    /// context ([`super::turn_context::TurnContext::webhook_subscriptions`]); `None` to read
    /// them when the turn is written.
    pub webhook_subscriptions: Option<Vec<Subscription>>,
}

impl Store {
    /// Returns the organization's conversation `id`, or `None` (also when it belongs to
    /// another organization).
    pub async fn conversation(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
    ) -> Result<Option<Conversation>> {
        let sql = format!("{SELECT} where c.organization_id = $1 and c.id = $2");
        let row: Option<ConversationRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(Conversation::try_from).transpose()
    }

    /// Lists up to `limit` conversations of the organization, newest first, after `cursor`.
    pub async fn conversations(
        &self,
        org: &OrganizationId,
        filter: &ConversationFilter,
        cursor: Option<&ConversationCursor>,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        // Optional filters are written as `($n is null or column = $n)` so one static statement
        // serves every combination on both databases.
        let sql = format!(
            "{SELECT} where c.organization_id = $1 \
             and ($2 is null or c.status = $2) \
             and ($3 is null or c.channel = $3) \
             and ($4 is null or cu.external_id = $4) \
             and ($5 is null or c.created_at < $5 or (c.created_at = $5 and c.id < $6)) \
             order by c.created_at desc, c.id desc limit $7"
        );
        let rows: Vec<ConversationRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(filter.status.map(ConversationStatus::as_str))
            .bind(filter.channel.map(Channel::as_str))
            .bind(filter.customer_id.as_deref())
            .bind(cursor.map(|c| c.created_at))
            .bind(cursor.map(|c| c.id.as_str()).unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Conversation::try_from).collect()
    }

    /// Stores one turn in a single short transaction: the new conversation (counted against
    /// the monthly quota), both messages, the lifecycle transitions, the conversation's
    /// counters and status, and the turn's events with their webhook deliveries. Called after
    /// the agent ran, never while it runs. Returns how many webhook deliveries the turn's
    /// events queued (wake the dispatcher only when there are some).
    ///
    /// The writes go as one [`Batch`] (one round trip to SQLite's writer, or one PostgreSQL
    /// statement), computed from the status the conversation had when the turn began
    /// (`record.status_before`). The
    /// conversation update only applies while the status is still that one; when a human or
    /// the auto-resolver changed it meanwhile, the transaction is rolled back and the turn is
    /// written again from the status read inside the transaction.
    ///
    /// The write runs in its own task, so a caller that goes away (a client hanging up)
    /// cannot stop it half-way: the batch's cached statement relies on that.
    #[tracing::instrument(skip_all, fields(conversation = %record.conversation_id))]
    pub async fn record_turn(&self, record: TurnRecord) -> Result<usize> {
        let store = self.clone();
        tokio::spawn(
            async move { store.write_turn(&record).await }.instrument(tracing::Span::current()),
        )
        .await
        .map_err(|e| Error::internal("storing the turn was interrupted").with_source(e))?
    }

    async fn write_turn(&self, record: &TurnRecord) -> Result<usize> {
        // Read before the transaction: on SQLite every statement inside it holds the writer.
        let endpoints = match (&record.webhook_subscriptions, record.events.is_empty()) {
            (_, true) => Vec::new(),
            (Some(read_with_the_context), false) => read_with_the_context.clone(),
            (None, false) => self.webhook_subscriptions(&record.organization_id).await?,
        };
        let mut expected = record.status_before;
        // A conversation that exists: the whole turn in one round trip (to SQLite's writer, or
        // as one PostgreSQL statement). Only when the status changed meanwhile does it go the
        // long way (below), which reads the status inside the transaction.
        let mut first_attempt = 0;
        if record.new_conversation.is_none() {
            match self
                .write_turn_in_one_round_trip(record, &endpoints)
                .await?
            {
                Some(queued) => return Ok(queued),
                None => first_attempt = 1,
            }
        }
        for attempt in first_attempt..2 {
            let mut tx = self.begin().await?;
            if let Some(new) = &record.new_conversation {
                let period = month_period(record.agent_message.created_at);
                Store::count_new_conversation(
                    &mut tx,
                    &record.organization_id,
                    &period,
                    new.monthly_quota,
                )
                .await?;
            }
            if attempt > 0 {
                expected = match self.status_for_update(&mut tx, record).await? {
                    Some(status) => status,
                    None if record.new_conversation.is_some() => ConversationStatus::Open,
                    None => return Err(Error::not_found("the conversation no longer exists")),
                };
            }
            // Cached: `record_turn` runs this in its own task, never stopped half-way.
            let mut batch = Batch::cached();
            let queued = push_turn(&mut batch, record, expected, &endpoints, Guard::Returning)?;
            let rows = batch.run(&mut tx).await?;
            if rows.len() == 1 {
                tx.commit().await?;
                return Ok(queued);
            }
            tx.rollback().await?;
            tracing::debug!(attempt, "the conversation's status changed during the turn");
        }
        Err(Error::conflict(
            "the conversation changed while this turn was stored; send the message again",
        ))
    }

    /// The turn's writes for the status read when the turn began, in one round trip. On
    /// SQLite one execution on the writer connection that begins, writes and commits
    /// ([`Batch::run_as_transaction`]), with a check right after the conversation update; on
    /// PostgreSQL one statement ([`Batch::run_as_single_statement`]) guarded by that update.
    /// When the update found another status (a human or the auto-resolver changed it while the
    /// agent worked) nothing is written and `None` returned. Saves the round trips of a
    /// separate `begin` and `commit` (on PostgreSQL, of each write too).
    async fn write_turn_in_one_round_trip(
        &self,
        record: &TurnRecord,
        endpoints: &[Subscription],
    ) -> Result<Option<usize>> {
        let (mut batch, guard) = match self.dialect() {
            Dialect::Sqlite => (Batch::cached(), Guard::Check),
            Dialect::Postgres => (Batch::new(), Guard::Returning),
        };
        let queued = push_turn(&mut batch, record, record.status_before, endpoints, guard)?;
        let applied = match self.dialect() {
            Dialect::Sqlite => {
                let mut connection = self.writer().acquire().await?;
                match batch.run_as_transaction(&mut connection).await {
                    Ok(_) => true,
                    Err(BatchFailure::CheckFailed) => false,
                    Err(BatchFailure::Error(err)) => return Err(err),
                }
            }
            Dialect::Postgres => batch.run_as_single_statement(self.pool()).await?,
        };
        if !applied {
            tracing::debug!("the conversation's status changed during the turn");
            return Ok(None);
        }
        Ok(Some(queued))
    }

    /// The conversation's status inside `tx`, locked until the transaction ends (SQLite's
    /// writer already holds the whole database).
    async fn status_for_update(
        &self,
        tx: &mut Transaction<'static, Any>,
        record: &TurnRecord,
    ) -> Result<Option<ConversationStatus>> {
        let lock = match self.dialect() {
            Dialect::Postgres => " for update",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "select status from conversations where organization_id = $1 and id = $2{lock}"
        );
        let row: Option<(String,)> = sqlx::query_as(&sql)
            .bind(record.organization_id.as_str())
            .bind(record.conversation_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|(status,)| ConversationStatus::parse(&status))
            .transpose()
    }

    /// Milliseconds now; re-exported here so callers stamping a turn use the store's clock.
    pub fn clock_ms(&self) -> i64 {
        now_ms()
    }
}

/// Adds every write of a turn to `batch`, for a conversation whose status is `from`: the new
/// conversation, both messages, the transitions, the one conversation update (which returns
/// the conversation's id only while its status is still `from`), the events and their
/// deliveries. Returns how many deliveries it queues.
fn push_turn<'q>(
    batch: &mut Batch<'q>,
    record: &'q TurnRecord,
    from: ConversationStatus,
    endpoints: &[Subscription],
    guard: Guard,
) -> Result<usize> {
    let (org, id) = (&record.organization_id, &record.conversation_id);
    if let Some(new) = &record.new_conversation {
        batch.push(
            "insert into conversations (id, organization_id, customer_id, channel, status, \
             message_count, created_at, updated_at) values ($1, $2, $3, $4, 'open', 0, $5, $5)",
            move |query| {
                query
                    .bind(id.as_str().to_owned())
                    .bind(org.as_str().to_owned())
                    .bind(new.customer_record_id.as_str().to_owned())
                    .bind(new.channel.as_str())
                    .bind(record.customer_message.created_at)
            },
        );
    }
    push_turn_messages(
        batch,
        org,
        id,
        [&record.customer_message, &record.agent_message],
    );
    let lifecycle = TurnLifecycle::of(from, record.handoff);
    lifecycle.push_transitions(batch, record, from);
    // One update per turn (the analytics triggers fire once): the message count and the last
    // activity; the lifecycle stamps (first response, handoff, reopening, which clears the
    // resolution); and the status: a customer writing into a resolved or closed conversation
    // reopens it, a handoff moves an agent-handled one to the human queue.
    batch.push(
        "update conversations set message_count = message_count + 2, \
         last_message_at = $1, updated_at = $1, intent = coalesce($2, intent), \
         status = case when $3 = 1 and status in ('open', 'resolved', 'closed') \
             then 'pending_human' \
             when status in ('resolved', 'closed') then 'open' else status end, \
         handoff_reason = case when $3 = 1 then $4 else handoff_reason end, \
         first_response_at = coalesce(first_response_at, $1), \
         handoff_at = case when $5 = 1 then $1 else handoff_at end, \
         handoff_count = handoff_count + $5, \
         reopen_count = reopen_count + $6, \
         resolved_at = case when $6 = 1 then null else resolved_at end, \
         resolved_by = case when $6 = 1 then null else resolved_by end, \
         closed_at = case when $6 = 1 then null else closed_at end, \
         assignee = case when $6 = 1 then null else assignee end \
         where id = $7 and organization_id = $8 and status = $9 returning id",
        move |query| {
            query
                .bind(record.agent_message.created_at)
                .bind(record.intent.clone())
                .bind(i64::from(record.handoff))
                .bind(record.handoff_reason.clone())
                .bind(i64::from(lifecycle.handed_off))
                .bind(i64::from(lifecycle.reopened))
                .bind(id.as_str().to_owned())
                .bind(org.as_str().to_owned())
                .bind(from.as_str())
        },
    );
    match guard {
        Guard::Check => batch.check_previous_changed_one_row(),
        Guard::Returning => batch.guard_last(),
    }
    Store::push_events(batch, org, &record.events, endpoints)
}

/// How a turn's batch tells that the conversation update applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// The update returns the conversation's id; the caller counts the rows.
    Returning,
    /// A check right after the update fails the batch ([`Batch::run_as_transaction`]).
    Check,
}
