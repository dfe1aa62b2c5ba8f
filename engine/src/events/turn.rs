//! The events of one chat turn: `message.received` (the customer's message), `message.sent`
//! (the agent's reply) and, when the agent hands off, `handoff.requested`. They are recorded
//! in the turn's own transaction.

use serde_json::{json, Map, Value};

use super::{EventType, NewEvent};
use crate::agent::Reply;
use crate::channel::Channel;
use crate::ids::{ConversationId, MessageId};

/// What a turn's events say about it.
#[derive(Debug, Clone, Copy)]
pub struct TurnFacts<'a> {
    pub conversation_id: &'a ConversationId,
    /// The caller's own customer id (not the internal record id).
    pub customer_id: &'a str,
    pub channel: Channel,
    pub customer_message_id: &'a MessageId,
    pub agent_message_id: &'a MessageId,
    /// The request's `metadata`, forwarded as is.
    pub metadata: &'a Map<String, Value>,
    pub reply: &'a Reply,
}

/// Returns the turn's events in the order they happened.
pub fn turn_events(facts: &TurnFacts<'_>) -> Vec<NewEvent> {
    let reply = facts.reply;
    // The customer's message as stored (PII redacted), the same text the dashboard shows.
    let common = |message_id: &MessageId| {
        json!({
            "conversation_id": facts.conversation_id.as_str(),
            "session_id": facts.conversation_id.as_str(),
            "message_id": message_id.as_str(),
            "customer_id": facts.customer_id,
            "channel": facts.channel.as_str(),
            "message": reply.stored_message,
            "intent": reply.intent,
            "confidence": reply.confidence,
            "language": reply.language,
            "agent_response": reply.response,
            "metadata": facts.metadata,
        })
    };
    let conversation = Some(facts.conversation_id.clone());
    let mut events = vec![
        NewEvent {
            event_type: EventType::MessageReceived,
            data: common(facts.customer_message_id),
            conversation_id: conversation.clone(),
        },
        NewEvent {
            event_type: EventType::MessageSent,
            data: with(common(facts.agent_message_id), "sender", json!("agent")),
            conversation_id: conversation.clone(),
        },
    ];
    if reply.handoff {
        events.push(NewEvent {
            event_type: EventType::HandoffRequested,
            data: with(
                common(facts.customer_message_id),
                "reason",
                json!(reply.handoff_reason),
            ),
            conversation_id: conversation,
        });
    }
    events
}

fn with(mut data: Value, key: &str, value: Value) -> Value {
    if let Some(object) = data.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(handoff: bool) -> Reply {
        Reply {
            response: "I'm looking that up...".into(),
            intent: "order_tracking".into(),
            confidence: 0.9,
            language: "en".into(),
            handoff,
            handoff_reason: handoff.then(|| "customer asked for a human".into()),
            stored_message: "Where is my order?".into(),
            ..Reply::default()
        }
    }

    #[test]
    fn a_turn_yields_received_then_sent_with_the_brief_fields() {
        let conversation = ConversationId::new();
        let (customer_msg, agent_msg) = (MessageId::new(), MessageId::new());
        let mut metadata = Map::new();
        metadata.insert("order".into(), json!("A-1"));
        let reply = reply(false);
        let events = turn_events(&TurnFacts {
            conversation_id: &conversation,
            customer_id: "cust_12345",
            channel: Channel::Whatsapp,
            customer_message_id: &customer_msg,
            agent_message_id: &agent_msg,
            metadata: &metadata,
            reply: &reply,
        });
        let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::MessageReceived, EventType::MessageSent]);
        let data = &events[0].data;
        assert_eq!(data["conversation_id"], conversation.as_str());
        assert_eq!(data["customer_id"], "cust_12345");
        assert_eq!(data["channel"], "whatsapp");
        assert_eq!(data["message"], "Where is my order?");
        assert_eq!(data["intent"], "order_tracking");
        assert_eq!(data["agent_response"], "I'm looking that up...");
        assert_eq!(data["metadata"]["order"], "A-1");
        assert_eq!(events[1].data["message_id"], agent_msg.as_str());
    }

    #[test]
    fn a_handoff_adds_handoff_requested_with_its_reason() {
        let conversation = ConversationId::new();
        let ids = (MessageId::new(), MessageId::new());
        let reply = reply(true);
        let events = turn_events(&TurnFacts {
            conversation_id: &conversation,
            customer_id: "c",
            channel: Channel::Web,
            customer_message_id: &ids.0,
            agent_message_id: &ids.1,
            metadata: &Map::new(),
            reply: &reply,
        });
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].event_type, EventType::HandoffRequested);
        assert_eq!(events[2].data["reason"], "customer asked for a human");
    }
}
