//! The human inbox: the conversations waiting for or held by a person (oldest wait first,
//! cursor pagination), and the customer's side meanwhile: while a conversation is
//! `pending_human` or `human` the agent does not answer on its own; the customer's message is
//! recorded and acknowledged once per wait ([`held_turn`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use super::chat::{ChatInput, ChatOutcome};
use crate::agent::{Reply, Role};
use crate::error::{Error, Result, ResultExt};
use crate::events::turn::{turn_events, TurnFacts};
use crate::ids::{ConversationId, MessageId, OrganizationId};
use crate::policy::pii;
use crate::store::conversations::{Conversation, ConversationStatus};
use crate::store::lifecycle::{HeldMessage, InboxCursor, InboxFilter, InboxItem};
use crate::store::messages::NewMessage;
use crate::store::{now_ms, Store};

/// What the customer is told while a human holds the conversation.
pub const ACKNOWLEDGEMENT: &str = "A member of our team will reply here shortly.";
/// Page size when the client gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// One page of the inbox.
#[derive(Debug, Clone, Serialize)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The server's clock when the page was read (waiting times are counted to it).
    pub now: i64,
}

/// Lists the organization's conversations waiting for or held by a human, oldest wait first.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn list_inbox(
    store: &Store,
    org: &OrganizationId,
    filter: &InboxFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<InboxPage> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(Error::unprocessable(format!(
            "limit: must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    if let Some(status) = filter.status {
        if !matches!(
            status,
            ConversationStatus::PendingHuman | ConversationStatus::Human
        ) {
            return Err(Error::unprocessable(
                "status: the inbox holds only pending_human and human conversations",
            ));
        }
    }
    let cursor = cursor.map(decode_cursor).transpose()?;
    let now = now_ms();
    // One extra row tells whether another page follows.
    let mut items = store.inbox(org, filter, cursor.as_ref(), limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|item| {
            encode_cursor(&InboxCursor {
                waiting_since: item.waiting_since,
                id: item.id.as_str().to_owned(),
            })
        })
    } else {
        None
    };
    Ok(InboxPage {
        items,
        next_cursor,
        now,
    })
}

/// Records a customer's message to a conversation a human holds, without running the agent:
/// the message is stored (PII redacted as the organization configured), acknowledged once per
/// wait, and announced with `message.received` (and `message.sent` for a stored
/// acknowledgement). The reply says `handoff: true` and carries the acknowledgement.
#[tracing::instrument(skip_all, fields(org = %org, conversation = %conversation.id))]
pub async fn held_turn(
    store: &Store,
    org: &OrganizationId,
    conversation: &Conversation,
    input: &ChatInput,
) -> Result<ChatOutcome> {
    let config = store.agent_config(org).await?.unwrap_or_default();
    let kinds = pii::configured_kinds(&config.guardrails.redact_pii);
    let stored_message = pii::redact(&input.message, &kinds).text;
    let language = crate::language::resolve(
        input.language.as_deref(),
        &input.message,
        &config.default_language,
    );
    let intent = conversation
        .intent
        .clone()
        .unwrap_or_else(|| "human_handoff".to_owned());
    let reply = Reply {
        response: ACKNOWLEDGEMENT.to_owned(),
        intent: intent.clone(),
        confidence: 0.0,
        language: language.clone(),
        handoff: true,
        handoff_reason: conversation.handoff_reason.clone(),
        stored_message: stored_message.clone(),
        ..Reply::default()
    };
    let customer_message_id = MessageId::new();
    let ack_id = MessageId::new();
    let received_at = now_ms();
    // The turn's usual events, without a second `handoff.requested`: the conversation was
    // already handed off.
    let quiet = Reply {
        handoff: false,
        ..reply.clone()
    };
    let mut events = turn_events(&TurnFacts {
        conversation_id: &conversation.id,
        customer_id: &input.customer_id,
        channel: conversation.channel,
        customer_message_id: &customer_message_id,
        agent_message_id: &ack_id,
        metadata: &input.metadata,
        reply: &quiet,
    })
    .into_iter();
    let (Some(received_event), Some(acknowledgement_event)) = (events.next(), events.next()) else {
        return Err(Error::internal("a turn yields a received and a sent event"));
    };
    let held = HeldMessage {
        organization_id: org.clone(),
        conversation_id: conversation.id.clone(),
        customer_message: NewMessage {
            id: customer_message_id.clone(),
            role: Role::Customer,
            text: stored_message,
            intent: None,
            confidence: None,
            language: Some(language.clone()),
            citations_json: "[]".into(),
            actions_json: "[]".into(),
            metadata_json: serde_json::to_string(&input.metadata)
                .or_internal("encoding the message metadata")?,
            created_at: received_at,
        },
        acknowledgement: NewMessage {
            id: ack_id,
            role: Role::Agent,
            text: ACKNOWLEDGEMENT.to_owned(),
            intent: Some(intent),
            confidence: None,
            language: Some(language),
            citations_json: "[]".into(),
            actions_json: "[]".into(),
            metadata_json: r#"{"acknowledgement":true}"#.into(),
            created_at: now_ms().max(received_at),
        },
        received_event,
        acknowledgement_event,
    };
    let message_id = store.record_held_message(&held).await?;
    Ok(ChatOutcome {
        reply,
        conversation_id: conversation.id.clone(),
        message_id,
        customer_message_id,
        new_conversation: false,
    })
}

fn encode_cursor(cursor: &InboxCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", cursor.waiting_since, cursor.id))
}

fn decode_cursor(raw: &str) -> Result<InboxCursor> {
    let invalid = || Error::invalid("cursor: not a cursor returned by this endpoint");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    let waiting_since = at.parse().map_err(|_| invalid())?;
    let id = ConversationId::parse(id).map_err(|_| invalid())?;
    Ok(InboxCursor {
        waiting_since,
        id: id.into_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_cursors_round_trip_and_garbage_is_rejected() {
        let cursor = InboxCursor {
            waiting_since: 1_700_000_000_123,
            id: ConversationId::new().into_string(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        let err = decode_cursor("bm9wZQ").unwrap_err();
        assert!(err.message().starts_with("cursor:"), "{err}");
    }
}
