//! Questions about the customer's own data ("what's my order number?", "do you know my
//! name?", "which e-mail do you have for me?") answered from memory, never from guesses.

use std::sync::LazyLock;

use regex::Regex;

use super::CustomerMemory;
use crate::text::literal_regex;

/// What a memory question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryQuestion {
    Name,
    Email,
    Phone,
    OrderNumber,
    Everything,
}

impl MemoryQuestion {
    /// The fact key this question reads (`None` for "everything").
    pub fn key(self) -> Option<&'static str> {
        match self {
            MemoryQuestion::Name => Some("name"),
            MemoryQuestion::Email => Some("email"),
            MemoryQuestion::Phone => Some("phone"),
            MemoryQuestion::OrderNumber => Some("order_number"),
            MemoryQuestion::Everything => None,
        }
    }
}

static ASKS_ABOUT_ME: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\b(?:what(?:'s|\s+is|\s+was|\s+are|\s+were)|which|do\s+you\s+(?:know|remember|have)|did\s+i\s+(?:tell|give)|remind\s+me\s+(?:of\s+)?|tell\s+me)\b[^.!?]{0,40}\b(?:my|me)\b",
    )
});
static WHAT_DO_YOU_KNOW: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)\bwhat\s+do\s+you\s+(?:know|remember)\s+about\s+me\b|\bdo\s+you\s+remember\s+me\b",
    )
});

/// Recognises a question about the customer's own remembered data.
pub fn classify(message: &str) -> Option<MemoryQuestion> {
    if WHAT_DO_YOU_KNOW.is_match(message) {
        return Some(MemoryQuestion::Everything);
    }
    if !ASKS_ABOUT_ME.is_match(message) {
        return None;
    }
    let lower = message.to_lowercase();
    if lower.contains("order number")
        || lower.contains("order #")
        || lower.contains("order id")
        || lower.contains("my order") && (lower.contains("number") || lower.contains("which"))
    {
        Some(MemoryQuestion::OrderNumber)
    } else if lower.contains("my name") {
        Some(MemoryQuestion::Name)
    } else if lower.contains("e-mail") || lower.contains("email") {
        Some(MemoryQuestion::Email)
    } else if lower.contains("phone") || lower.contains("number") {
        Some(MemoryQuestion::Phone)
    } else {
        None
    }
}

/// The remembered values that answer `question` (empty when nothing is known).
pub fn recall(question: MemoryQuestion, memory: &CustomerMemory) -> Vec<(String, String)> {
    match question.key() {
        Some(key) => memory
            .values(key)
            .into_iter()
            .map(|v| (key.to_string(), v.to_string()))
            .collect(),
        None => {
            let mut out: Vec<(String, String)> = Vec::new();
            for key in ["name", "email", "phone", "order_number", "preference"] {
                for value in memory.values(key) {
                    out.push((key.to_string(), value.to_string()));
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{FactSource, NewFact};

    #[test]
    fn questions_about_own_data_are_recognised() {
        assert_eq!(
            classify("What's my order number?"),
            Some(MemoryQuestion::OrderNumber)
        );
        assert_eq!(
            classify("do you remember my name?"),
            Some(MemoryQuestion::Name)
        );
        assert_eq!(
            classify("Which email do you have for my account?"),
            Some(MemoryQuestion::Email)
        );
        assert_eq!(
            classify("What do you know about me?"),
            Some(MemoryQuestion::Everything)
        );
        assert_eq!(classify("What is your refund policy?"), None);
        assert_eq!(classify("Where is my order?"), None);
        assert_eq!(
            classify("which order numbers do you have for me?"),
            Some(MemoryQuestion::OrderNumber)
        );
    }

    #[test]
    fn recall_reads_the_remembered_values() {
        let mut memory = CustomerMemory::default();
        memory.merge(
            &[NewFact {
                key: "order_number".into(),
                value: "4411".into(),
                source: FactSource::Rule,
                confidence: 0.9,
            }],
            1,
        );
        assert_eq!(
            recall(MemoryQuestion::OrderNumber, &memory),
            vec![("order_number".to_string(), "4411".to_string())]
        );
        assert!(recall(MemoryQuestion::Name, &memory).is_empty());
    }
}
