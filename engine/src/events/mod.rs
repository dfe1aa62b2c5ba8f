//! Events: what happened in an organization, written to a durable outbox in the same
//! transaction as the change that caused it, then delivered to its webhooks.
//!
//! - [`EventType`]: every event the platform emits, with its wire name.
//! - [`payload`]: the exact JSON body of an event (`id`, `event`, `timestamp`,
//!   `organization_id`, `data`), built once and stored, so every retry sends the same bytes.
//! - [`turn`]: the events of a chat turn (`message.received`, `message.sent`,
//!   `handoff.requested`).
//! - [`signal`]: wakes the webhook dispatchers of this process once an event is committed.
//!
//! Writing an event: inside your transaction call
//! [`Store::record_event_tx`](crate::store::Store::record_event_tx), commit, then call
//! [`signal::notify_committed`]. Outside a transaction,
//! [`Store::record_event`](crate::store::Store::record_event) does all three.

pub mod payload;
pub mod signal;
pub mod turn;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::ConversationId;

/// An event about to be recorded for an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    /// The `data` object of the payload.
    pub data: Value,
    /// The conversation the event belongs to: deliveries of one conversation to one endpoint
    /// go out in the order the events were recorded.
    pub conversation_id: Option<ConversationId>,
}

/// Every event type, as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A customer's message arrived.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// The agent (or a human) replied.
    #[serde(rename = "message.sent")]
    MessageSent,
    /// The agent handed the conversation to a human.
    #[serde(rename = "handoff.requested")]
    HandoffRequested,
    /// An action hook ran (booking, refund, order lookup).
    #[serde(rename = "action.executed")]
    ActionExecuted,
    #[serde(rename = "conversation.resolved")]
    ConversationResolved,
    #[serde(rename = "conversation.closed")]
    ConversationClosed,
    #[serde(rename = "csat.submitted")]
    CsatSubmitted,
    #[serde(rename = "knowledge.updated")]
    KnowledgeUpdated,
    /// Sent by `POST /api/v1/dashboard/webhooks/{id}/test`, to that endpoint only.
    #[serde(rename = "ping")]
    Ping,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::MessageReceived,
        EventType::MessageSent,
        EventType::HandoffRequested,
        EventType::ActionExecuted,
        EventType::ConversationResolved,
        EventType::ConversationClosed,
        EventType::CsatSubmitted,
        EventType::KnowledgeUpdated,
        EventType::Ping,
    ];

    /// The wire name, e.g. `message.received`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageSent => "message.sent",
            EventType::HandoffRequested => "handoff.requested",
            EventType::ActionExecuted => "action.executed",
            EventType::ConversationResolved => "conversation.resolved",
            EventType::ConversationClosed => "conversation.closed",
            EventType::CsatSubmitted => "csat.submitted",
            EventType::KnowledgeUpdated => "knowledge.updated",
            EventType::Ping => "ping",
        }
    }

    /// Parses a wire name, listing the valid ones when it is unknown.
    pub fn parse(raw: &str) -> Result<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                Error::unprocessable(format!(
                    "unknown event type '{}' (expected one of {} or '*')",
                    raw.chars().take(40).collect::<String>(),
                    names.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_round_trips_through_its_wire_name() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()).unwrap(), event);
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(json, format!("\"{}\"", event.as_str()));
        }
    }

    #[test]
    fn unknown_event_types_are_refused_listing_the_valid_ones() {
        let err = EventType::parse("message.deleted").unwrap_err();
        assert!(err.message().contains("message.received"), "{err}");
    }
}
