//! What a continuing chat turn reads before the agent runs: whose the conversation is, its
//! status, and its latest messages, in one query.
//!
//! One statement instead of two matters on SQLite, where each statement is a round trip to a
//! connection's worker thread (two thread switches): at hundreds of turns a second those
//! switches are a large share of the server's CPU time. The conversation's row and its
//! messages are one `union all`, told apart by the first column; only the columns a turn
//! needs are read (the whole conversation is read again only when a human holds it).

use super::conversations::ConversationStatus;
use super::Store;
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
}

/// The conversation's row (part 0: status, customer record id) and its latest `$3` messages
/// (part 1: role, text, intent), newest first.
const TURN_CONTEXT: &str = "select part, a, b, c from (\
     select 0 as part, status as a, customer_id as b, null as c, 0 as created_at, '' as id \
     from conversations where organization_id = $1 and id = $2 \
     union all \
     select * from (select 1, role, text, intent, created_at, id from messages \
       where organization_id = $1 and conversation_id = $2 \
       order by created_at desc, id desc limit $3) latest\
     ) parts order by part, created_at desc, id desc";

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
        let rows: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(TURN_CONTEXT)
            .bind(org.as_str())
            .bind(id.as_str())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut rows = rows.into_iter();
        let Some((0, status, customer, _)) = rows.next() else {
            // No conversation row: the messages (if any) belong to nobody this caller owns.
            return Ok(None);
        };
        let status = ConversationStatus::parse(&status)?;
        let mut history = rows
            .map(|(_, role, text, intent)| {
                Ok(HistoryMessage {
                    role: Role::parse(&role)
                        .ok_or_else(|| Error::internal("a stored message has an unknown role"))?,
                    text,
                    intent,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        history.reverse();
        Ok(Some(TurnContext {
            customer_record_id: CustomerRecordId::from_trusted(customer),
            status,
            history,
        }))
    }
}
