//! What a continuing chat turn reads before the agent runs: whose the conversation is, its
//! status, its latest messages and (on PostgreSQL) the organization's webhook subscriptions,
//! in one query.
//!
//! One statement instead of two matters on SQLite, where each statement is a round trip to a
//! connection's worker thread (two thread switches): at hundreds of turns a second those
//! switches are a large share of the server's CPU time. The conversation's row and its
//! messages are one `union all`, told apart by the first column; only the columns a turn
//! needs are read (the whole conversation is read again only when a human holds it).
//!
//! On PostgreSQL the same statement also reads the enabled webhook endpoints (part 2), which
//! the turn's write needs to queue its deliveries: every replica sees an endpoint change at
//! once without a cache, and the turn saves the round trip it would cost to read them on
//! their own. On SQLite they come from the store's cache instead (see
//! [`Store::webhook_subscriptions`]).

use super::conversations::ConversationStatus;
use super::events::Subscription;
use super::{Dialect, Store};
use crate::agent::{HistoryMessage, Role};
use crate::error::{Error, Result};
use crate::ids::{ConversationId, CustomerRecordId, OrganizationId};

/// A conversation as a turn about to continue it sees it.
#[derive(Debug, Clone)]
pub struct TurnContext {
    pub customer_record_id: CustomerRecordId,
    pub status: ConversationStatus,
    /// Its latest messages, oldest first.
    pub history: Vec<HistoryMessage>,
    /// The organization's enabled webhook endpoints, read in the same statement (PostgreSQL);
    /// `None` where they are cached instead (SQLite).
    pub webhook_subscriptions: Option<Vec<Subscription>>,
}

/// The conversation's row (part 0: status, customer record id) and its latest `$3` messages
/// (part 1: role, text, intent), newest first; `{}` is where the webhook part goes.
///
/// The messages are selected by conversation only: part 0 is what checks the organization
/// (no row, no context: the messages are dropped). Filtering them by organization too made
/// PostgreSQL's planner, which takes the two columns for independent, expect a row or two,
/// read every message of the conversation and sort them (2 ms for a conversation of 700
/// messages) instead of walking the index backwards for the latest 20 (0.1 ms).
const TURN_CONTEXT: &str = "select part, a, b, c from (\
     select 0 as part, status as a, customer_id as b, null as c, 0 as created_at, '' as id \
     from conversations where organization_id = $1 and id = $2 \
     union all \
     select * from (select 1, role, text, intent, created_at, id from messages \
       where conversation_id = $2 \
       order by created_at desc, id desc limit $3) latest\
     {}) parts order by part, created_at desc, id desc";

/// Part 2: the organization's enabled webhook endpoints (id, subscribed event types).
const WEBHOOK_PART: &str = " union all select 2, id, events, null, 0, id from webhooks \
     where organization_id = $1 and enabled = 1";

/// Which part of [`TURN_CONTEXT`] a row belongs to.
const CONVERSATION: i64 = 0;
const MESSAGE: i64 = 1;
const WEBHOOK: i64 = 2;

impl Store {
    /// The conversation `id` of `org` with its latest `limit` messages, or `None` when `org`
    /// has no such conversation.
    #[tracing::instrument(skip_all, fields(conversation = %id))]
    pub async fn turn_context(
        &self,
        org: &OrganizationId,
        id: &ConversationId,
        limit: i64,
    ) -> Result<Option<TurnContext>> {
        let reads_webhooks = self.dialect() == Dialect::Postgres;
        let sql = TURN_CONTEXT.replace("{}", if reads_webhooks { WEBHOOK_PART } else { "" });
        let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut rows = rows.into_iter().peekable();
        let Some((CONVERSATION, status, customer, _)) = rows.next() else {
            // No conversation row: the messages (if any) belong to nobody this caller owns.
            return Ok(None);
        };
        let status = ConversationStatus::parse(&status)?;
        let mut history = Vec::new();
        while let Some((_, role, text, intent)) = rows.next_if(|row| row.0 == MESSAGE) {
            let role = Role::parse(&role)
                .ok_or_else(|| Error::internal("a stored message has an unknown role"))?;
            history.push(HistoryMessage { role, text, intent });
        }
        history.reverse();
        let webhook_subscriptions = reads_webhooks.then(|| {
            rows.filter(|row| row.0 == WEBHOOK)
                .map(|(_, webhook_id, events, _)| Subscription { webhook_id, events })
                .collect()
        });
        Ok(Some(TurnContext {
            customer_record_id: CustomerRecordId::from_trusted(customer),
            status,
            history,
            webhook_subscriptions,
        }))
    }
}
