//! Conversation listing and threads. Pages are newest first; the cursor is opaque to clients
//! (base64url of `created_at:id` of the last conversation of the previous page), so the
//! listing stays stable while new conversations arrive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{ConversationId, OrganizationId};
use crate::store::conversations::{Conversation, ConversationCursor, ConversationFilter};
use crate::store::messages::Message;
use crate::store::Store;

/// Page size when the client gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// One page of conversations.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Lists the organization's conversations, newest first.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn list_conversations(
    store: &Store,
    org: &OrganizationId,
    filter: &ConversationFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<ConversationPage> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(Error::unprocessable(format!(
            "limit: must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let cursor = cursor.map(decode_cursor).transpose()?;
    // One extra row tells whether another page follows.
    let mut conversations = store
        .conversations(org, filter, cursor.as_ref(), limit + 1)
        .await?;
    let next_cursor = if conversations.len() as i64 > limit {
        conversations.truncate(limit as usize);
        conversations.last().map(|c| {
            encode_cursor(&ConversationCursor {
                created_at: c.created_at,
                id: c.id.as_str().to_owned(),
            })
        })
    } else {
        None
    };
    Ok(ConversationPage {
        conversations,
        next_cursor,
    })
}

/// Returns one of the organization's conversations; 404 when it has none with that id.
pub async fn get_conversation(
    store: &Store,
    org: &OrganizationId,
    id: &str,
) -> Result<Conversation> {
    let id = parse_conversation_id(id)?;
    store
        .conversation(org, &id)
        .await?
        .ok_or_else(|| not_found(&id))
}

/// Returns the whole thread of one of the organization's conversations, oldest first.
pub async fn conversation_messages(
    store: &Store,
    org: &OrganizationId,
    id: &str,
) -> Result<(Conversation, Vec<Message>)> {
    let conversation = get_conversation(store, org, id).await?;
    let messages = store.messages(org, &conversation.id).await?;
    Ok((conversation, messages))
}

/// Parses a conversation id from a path or body; a malformed one is simply not found.
pub fn parse_conversation_id(raw: &str) -> Result<ConversationId> {
    ConversationId::parse(raw).map_err(|_| {
        Error::not_found(format!(
            "no conversation '{}' in this organization",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

fn not_found(id: &ConversationId) -> Error {
    Error::not_found(format!("no conversation '{id}' in this organization"))
}

fn encode_cursor(cursor: &ConversationCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.created_at, cursor.id))
}

fn decode_cursor(raw: &str) -> Result<ConversationCursor> {
    let invalid = || Error::invalid("cursor: not a cursor returned by this endpoint");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_at = at.parse().map_err(|_| invalid())?;
    let id = ConversationId::parse(id).map_err(|_| invalid())?;
    Ok(ConversationCursor {
        created_at,
        id: id.into_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let cursor = ConversationCursor {
            created_at: 1_700_000_000_123,
            id: ConversationId::new().into_string(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        let err = decode_cursor("not-a-cursor").unwrap_err();
        assert!(err.message().starts_with("cursor:"), "{err}");
    }
}
