//! An organization's agent configuration (what `PATCH /api/v1/dashboard/agent-config` edits):
//! who the agent is, how it speaks, what it must not do, and how it looks in the widget.

use serde::{Deserialize, Serialize};

/// How the agent speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    #[default]
    Friendly,
    Professional,
    Casual,
    Concise,
    Empathetic,
}

/// Structured guardrails: the engine's policy stages read these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Guardrails {
    /// Free-text rules, shown to a language model when one is configured.
    pub instructions: String,
    /// Topics the agent declines (matched against the customer's message).
    pub blocked_topics: Vec<String>,
    /// Phrases that always hand the conversation to a human.
    pub escalation_keywords: Vec<String>,
    /// Kinds of personal data redacted before storage: `card`, `iban`, `email`, `phone`,
    /// `national_id`.
    pub redact_pii: Vec<String>,
    /// Hand off after this many consecutive turns the agent could not help with.
    pub max_failed_turns: u32,
    /// Hand off when the customer's message is strongly negative.
    pub escalate_on_negative_sentiment: bool,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            instructions: String::new(),
            blocked_topics: Vec::new(),
            escalation_keywords: Vec::new(),
            redact_pii: vec![
                "card".into(),
                "iban".into(),
                "email".into(),
                "phone".into(),
                "national_id".into(),
            ],
            max_failed_turns: 2,
            escalate_on_negative_sentiment: true,
        }
    }
}

/// How the widget looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Brand {
    /// CSS hex colour, `#rrggbb`.
    pub accent_color: String,
    pub avatar_url: Option<String>,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            accent_color: "#6366f1".into(),
            avatar_url: None,
        }
    }
}

/// The whole agent configuration of one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub name: String,
    pub tone: Tone,
    pub goal: String,
    pub greeting: String,
    pub guardrails: Guardrails,
    pub brand: Brand,
    /// Default reply language when detection is unsure (ISO 639-1).
    pub default_language: String,
    /// Origins allowed to embed the widget (`https://shop.example`).
    pub allowed_origins: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            name: "Blaigent".into(),
            tone: Tone::Friendly,
            goal: "Help customers with their questions, orders and accounts.".into(),
            greeting: "Hi! How can I help you today?".into(),
            guardrails: Guardrails::default(),
            brand: Brand::default(),
            default_language: "en".into(),
            allowed_origins: Vec::new(),
        }
    }
}
