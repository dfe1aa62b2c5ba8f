//! Customer memory: what the agent knows about a customer (organization + customer record)
//! across sessions and channels.
//!
//! - [`extract`]: facts pulled from a customer message by rules (name, e-mail, phone, order
//!   numbers, preferences, open issues).
//! - [`summary`]: a short extractive summary of a conversation (its intents and open issues).
//! - [`service`]: the memory API's operations (read, replace, upsert, forget).
//! - [`answer`]: questions about the customer's own data ("what's my order number?") answered
//!   from the facts.
//!
//! Facts are stored by `store::memory`; single-valued keys (name, e-mail, phone) replace the
//! previous value, multi-valued keys (order numbers, preferences, open issues) accumulate.

pub mod answer;
pub mod extract;
pub mod service;
pub mod summary;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ConversationId, FactId};

/// Keys a fact can have. Organizations may also write their own keys through the API (any
/// lowercase `snake_case` name); these are the ones the agent extracts and understands.
pub const KNOWN_KEYS: [&str; 7] = [
    "name",
    "email",
    "phone",
    "order_number",
    "preference",
    "open_issue",
    "language",
];

/// Tells whether a key holds one value per customer (a new value replaces the old one).
pub fn is_single_valued(key: &str) -> bool {
    matches!(key, "name" | "email" | "phone" | "language")
}

/// Longest accepted key and value (bytes).
pub const MAX_KEY_LEN: usize = 64;
pub const MAX_VALUE_LEN: usize = 1_000;

/// Checks a fact key: 1-64 characters of lowercase letters, digits and underscores, starting
/// with a letter.
pub fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "fact key '{}' must be 1-{MAX_KEY_LEN} lowercase letters, digits or underscores, starting with a letter",
            key.chars().take(40).collect::<String>()
        )))
    }
}

/// Checks a fact value: non-empty after trimming, at most 1,000 bytes.
pub fn validate_value(value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid("fact value must not be empty"));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::invalid(format!(
            "fact value must be at most {MAX_VALUE_LEN} bytes"
        )));
    }
    Ok(())
}

/// Where a fact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactSource {
    /// Extracted by the offline rules.
    Rule,
    /// Written through the memory API.
    Api,
    /// Extracted by a language model.
    Model,
}

impl FactSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FactSource::Rule => "rule",
            FactSource::Api => "api",
            FactSource::Model => "model",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "rule" => Some(FactSource::Rule),
            "api" => Some(FactSource::Api),
            "model" => Some(FactSource::Model),
            _ => None,
        }
    }
}

/// A fact to write (from extraction or the API).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFact {
    pub key: String,
    pub value: String,
    pub source: FactSource,
    /// How sure the source is, in [0, 1].
    pub confidence: f32,
}

/// A remembered fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub id: FactId,
    pub key: String,
    pub value: String,
    pub source: FactSource,
    pub confidence: f32,
    pub source_conversation_id: Option<ConversationId>,
    pub channel: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A summary of one past conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub channel: String,
    pub summary: String,
    pub intents: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Everything remembered about one customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerMemory {
    /// Oldest first.
    pub facts: Vec<Fact>,
    /// Most recent first.
    pub summaries: Vec<ConversationSummary>,
}

impl CustomerMemory {
    /// The most recent value of `key`.
    pub fn latest(&self, key: &str) -> Option<&str> {
        self.facts
            .iter()
            .filter(|f| f.key == key)
            .max_by_key(|f| f.updated_at)
            .map(|f| f.value.as_str())
    }

    /// Every value of `key`, most recent first.
    pub fn values(&self, key: &str) -> Vec<&str> {
        let mut facts: Vec<&Fact> = self.facts.iter().filter(|f| f.key == key).collect();
        facts.sort_by_key(|f| std::cmp::Reverse(f.updated_at));
        facts.into_iter().map(|f| f.value.as_str()).collect()
    }

    /// The customer's first name, when known.
    pub fn first_name(&self) -> Option<&str> {
        self.latest("name")
            .and_then(|n| n.split_whitespace().next())
    }

    /// Merges freshly extracted facts into this in-memory view (so the current turn can use
    /// what the customer just said before it is read back from the store).
    pub fn merge(&mut self, new: &[NewFact], now_ms: i64) {
        for fact in new {
            if is_single_valued(&fact.key) {
                self.facts.retain(|f| f.key != fact.key);
            } else if self
                .facts
                .iter()
                .any(|f| f.key == fact.key && f.value.eq_ignore_ascii_case(&fact.value))
            {
                continue;
            }
            self.facts.push(Fact {
                id: FactId::new(),
                key: fact.key.clone(),
                value: fact.value.clone(),
                source: fact.source,
                confidence: fact.confidence,
                source_conversation_id: None,
                channel: None,
                created_at: now_ms,
                updated_at: now_ms,
            });
        }
    }

    /// The facts as plain lines ("name: Dana"), for prompts and grounding.
    pub fn fact_lines(&self) -> Vec<String> {
        self.facts
            .iter()
            .map(|f| format!("{}: {}", f.key.replace('_', " "), f.value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("order_number").is_ok());
        assert!(validate_key("loyalty_tier2").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("Name").is_err());
        assert!(validate_key("1abc").is_err());
        assert!(validate_key("a b").is_err());
        assert!(validate_value("  ").is_err());
        assert!(validate_value(&"x".repeat(1001)).is_err());
    }

    #[test]
    fn merging_replaces_names_and_accumulates_order_numbers() {
        let mut memory = CustomerMemory::default();
        let fact = |key: &str, value: &str| NewFact {
            key: key.into(),
            value: value.into(),
            source: FactSource::Rule,
            confidence: 0.9,
        };
        memory.merge(&[fact("name", "Dana"), fact("order_number", "4411")], 1);
        memory.merge(
            &[fact("name", "Dana Lee"), fact("order_number", "A1234")],
            2,
        );
        memory.merge(&[fact("order_number", "4411")], 3);
        assert_eq!(memory.latest("name"), Some("Dana Lee"));
        assert_eq!(memory.first_name(), Some("Dana"));
        assert_eq!(memory.values("order_number"), vec!["A1234", "4411"]);
    }
}
