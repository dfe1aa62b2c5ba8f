//! The messages of a conversation, oldest first.

use serde::Serialize;
use sqlx::{Any, Transaction};

use super::batch::{AnyQuery, Batch};
use super::Store;
use crate::agent::Role;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, MessageId, OrganizationId};

/// A stored message as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub role: Role,
    pub text: String,
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    pub language: Option<String>,
    pub citations: serde_json::Value,
    pub actions: serde_json::Value,
    pub metadata: serde_json::Value,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    conversation_id: String,
    role: String,
    text: String,
    intent: Option<String>,
    confidence: Option<f64>,
    language: Option<String>,
    citations: String,
    actions: String,
    metadata: String,
    created_at: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(row: MessageRow) -> Result<Self> {
        let json = |raw: &str| {
            serde_json::from_str(raw)
                .map_err(|e| Error::internal("a stored message has unreadable JSON").with_source(e))
        };
        Ok(Message {
            id: MessageId::from_trusted(row.id),
            conversation_id: ConversationId::from_trusted(row.conversation_id),
            role: Role::parse(&row.role)
                .ok_or_else(|| Error::internal("a stored message has an unknown role"))?,
            text: row.text,
            intent: row.intent,
            confidence: row.confidence,
            language: row.language,
            citations: json(&row.citations)?,
            actions: json(&row.actions)?,
            metadata: json(&row.metadata)?,
            created_at: row.created_at,
        })
    }
}

/// A message about to be stored; JSON columns are already encoded.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub role: Role,
    pub text: String,
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    pub language: Option<String>,
    pub citations_json: String,
    pub actions_json: String,
    pub metadata_json: String,
    pub created_at: i64,
}

/// Columns of an inserted message, in bind order (see [`bind_message`]).
const INSERT_COLUMNS: &str = "insert into messages (id, conversation_id, organization_id, role, \
     text, intent, confidence, language, citations, actions, metadata, created_at, updated_at)";

/// One row of values for [`INSERT_COLUMNS`], placeholders starting at `$1`.
///
/// sqlx 0.8.6's Any driver sends a NULL double as float4 to PostgreSQL, which then rejects
/// the float8 values of later executions of the same cached statement; so the confidence is
/// always bound as a number and a presence flag (`$13`) decides whether it is stored.
const ROW_1: &str = "($1, $2, $3, $4, $5, $6, case when $13 = 1 then $7 else null end, \
     $8, $9, $10, $11, $12, $12)";
/// The same row with placeholders starting at `$14`.
const ROW_2: &str = "($14, $15, $16, $17, $18, $19, case when $26 = 1 then $20 else null end, \
     $21, $22, $23, $24, $25, $25)";

/// Binds one message's values for [`ROW_1`] (owned copies, so the query may outlive them).
fn bind_message<'s>(
    query: AnyQuery<'s>,
    org: &OrganizationId,
    conversation: &ConversationId,
    message: &NewMessage,
) -> AnyQuery<'s> {
    query
        .bind(message.id.as_str().to_owned())
        .bind(conversation.as_str().to_owned())
        .bind(org.as_str().to_owned())
        .bind(message.role.as_str())
        .bind(message.text.clone())
        .bind(message.intent.clone())
        .bind(message.confidence.unwrap_or(0.0))
        .bind(message.language.clone())
        .bind(message.citations_json.clone())
        .bind(message.actions_json.clone())
        .bind(message.metadata_json.clone())
        .bind(message.created_at)
        .bind(i64::from(message.confidence.is_some()))
}

/// Inserts one message inside `tx`.
pub async fn insert_message(
    tx: &mut Transaction<'static, Any>,
    org: &OrganizationId,
    conversation: &ConversationId,
    message: &NewMessage,
) -> Result<()> {
    let sql = format!("{INSERT_COLUMNS} values {ROW_1}");
    bind_message(sqlx::query(&sql), org, conversation, message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds the two messages of a turn to `batch` as one statement.
pub(crate) fn push_turn_messages<'q>(
    batch: &mut Batch<'q>,
    org: &'q OrganizationId,
    conversation: &'q ConversationId,
    [first, second]: [&'q NewMessage; 2],
) {
    batch.push(
        format!("{INSERT_COLUMNS} values {ROW_1}, {ROW_2}"),
        move |query| {
            let query = bind_message(query, org, conversation, first);
            bind_message(query, org, conversation, second)
        },
    );
}

impl Store {
    /// Returns the whole thread of the organization's conversation, oldest first.
    pub async fn messages(
        &self,
        org: &OrganizationId,
        conversation: &ConversationId,
    ) -> Result<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "select id, conversation_id, role, text, intent, confidence, language, citations, \
             actions, metadata, created_at from messages \
             where organization_id = $1 and conversation_id = $2 order by created_at, id",
        )
        .bind(org.as_str())
        .bind(conversation.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Message::try_from).collect()
    }
}
