//! The agent's input and output.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::config::AgentConfig;
use crate::ids::{ConversationId, CustomerRecordId, DocumentId, OrganizationId};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Agent,
    Human,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Human => "human",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "customer" => Some(Role::Customer),
            "agent" => Some(Role::Agent),
            "human" => Some(Role::Human),
            _ => None,
        }
    }
}

/// A message already in the conversation, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryMessage {
    pub role: Role,
    pub text: String,
    pub intent: Option<String>,
}

/// One customer turn, with everything the agent needs that the caller already loaded.
#[derive(Debug, Clone)]
pub struct Turn {
    pub organization_id: OrganizationId,
    /// The organization's own id for the customer (the `customer_id` of the chat API).
    pub customer_id: String,
    pub customer_record_id: CustomerRecordId,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    pub message: String,
    /// ISO 639-1 code from the request, when the caller gave one.
    pub language: Option<String>,
    /// The request's `metadata`, forwarded to action hooks and webhooks.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Earlier messages of this conversation, oldest first.
    pub history: Vec<HistoryMessage>,
    pub config: AgentConfig,
}

/// A source the answer drew on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub document_id: DocumentId,
    pub title: String,
    pub url: Option<String>,
    pub snippet: String,
}

/// An action the turn ran (or tried to), and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub name: String,
    /// `succeeded`, `failed`, `awaiting_confirmation`, `needs_input`, `cancelled`, `refused`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The agent's reply to one turn.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub response: String,
    pub intent: String,
    pub confidence: f32,
    /// ISO 639-1 code of the customer's message (and of the reply).
    pub language: String,
    pub citations: Vec<Citation>,
    pub handoff: bool,
    pub handoff_reason: Option<String>,
    pub actions: Vec<ActionOutcome>,
    /// The customer's message as it may be stored and logged (PII redacted).
    pub stored_message: String,
    /// What the policy noticed: `pii_redacted`, `prompt_injection`, `blocked_topic`,
    /// `model_fallback` (the language model failed and the offline responder answered),
    /// `ungrounded_dropped` (sentences of a model answer were removed).
    #[serde(default)]
    pub flags: Vec<String>,
}
