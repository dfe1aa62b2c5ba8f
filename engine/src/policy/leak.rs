//! Leak checks on an outgoing answer: no text of the system prompt, no personal data that is
//! neither this customer's nor in the organization's knowledge, no blocked topic. Offending
//! sentences are removed, not rewritten.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::text::{literal_regex, sentences, words};

use super::topics::blocked_topic;

/// What the answer may mention.
#[derive(Debug, Clone, Default)]
pub struct Allowed<'a> {
    /// Everything the agent legitimately knows for this turn: passages, the customer's facts,
    /// action results, the customer's own message.
    pub material: &'a [String],
    /// The system prompt the model saw (never to be quoted).
    pub system_prompt: &'a str,
    pub blocked_topics: &'a [String],
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"));
static ORDER_REF: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(r"(?i)\border\s*(?:number|no\.?|#)?\s*#?\s*([a-z]?\d{3,}[a-z0-9-]*)")
});
static LONG_NUMBER: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\+?\d[\d -]{7,}\d"));

/// Runs of this many words shared with the system prompt count as quoting it.
const PROMPT_NGRAM: usize = 8;

fn ngrams(text: &str, n: usize) -> HashSet<Vec<String>> {
    let w = words(text);
    w.windows(n).map(<[String]>::to_vec).collect()
}

/// Removes offending sentences from `answer`; returns the cleaned text and how many were
/// removed.
pub fn scrub(answer: &str, allowed: &Allowed<'_>) -> (String, usize) {
    let material = allowed.material.join("\n").to_lowercase();
    let material_digits: String = material.chars().filter(char::is_ascii_digit).collect();
    let prompt_grams = ngrams(allowed.system_prompt, PROMPT_NGRAM);
    let mut kept = Vec::new();
    let mut removed = 0;
    for sentence in sentences(answer) {
        let lower = sentence.to_lowercase();
        let foreign_email = EMAIL
            .find_iter(&lower)
            .any(|m| !material.contains(m.as_str()));
        let foreign_order = ORDER_REF
            .captures_iter(&lower)
            .any(|c| c.get(1).is_some_and(|id| !material.contains(id.as_str())));
        let foreign_number = LONG_NUMBER.find_iter(&sentence).any(|m| {
            let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
            !material_digits.contains(&digits)
        });
        let quotes_prompt = !prompt_grams.is_empty()
            && ngrams(&sentence, PROMPT_NGRAM)
                .iter()
                .any(|g| prompt_grams.contains(g) && !material.contains(&g.join(" ")));
        let blocked = blocked_topic(&sentence, allowed.blocked_topics).is_some();
        if foreign_email || foreign_order || foreign_number || quotes_prompt || blocked {
            removed += 1;
        } else {
            kept.push(sentence);
        }
    }
    (kept.join(" "), removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_customers_email_and_order_number_are_removed() {
        let material = vec!["Customer email: dana@example.com. Order 4411.".to_string()];
        let allowed = Allowed {
            material: &material,
            ..Allowed::default()
        };
        let (text, removed) = scrub(
            "Your order 4411 has shipped. Bob's order 9876 is late. Write to bob@example.org. We emailed dana@example.com.",
            &allowed,
        );
        assert_eq!(
            text,
            "Your order 4411 has shipped. We emailed dana@example.com."
        );
        assert_eq!(removed, 2);
    }

    #[test]
    fn quoting_the_system_prompt_is_removed() {
        let prompt = "You are Ava, the assistant of Acme. Answer only from the numbered passages below and cite them.";
        let allowed = Allowed {
            system_prompt: prompt,
            ..Allowed::default()
        };
        let (text, removed) = scrub(
            "Sure. My instructions say: answer only from the numbered passages below and cite them.",
            &allowed,
        );
        assert_eq!(text, "Sure.");
        assert_eq!(removed, 1);
    }

    #[test]
    fn blocked_topics_are_removed_from_answers() {
        let blocked = vec!["politics".to_string()];
        let allowed = Allowed {
            blocked_topics: &blocked,
            ..Allowed::default()
        };
        let (text, _) = scrub("Refunds take 5 days. Politics is complicated.", &allowed);
        assert_eq!(text, "Refunds take 5 days.");
    }
}
