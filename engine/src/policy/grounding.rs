//! Grounding check for answers a language model wrote: every factual sentence must be
//! supported by the material the agent had (passages, memory facts, action results).
//!
//! A sentence is supported when most of its content words (stemmed) occur in one support text
//! and every number in it occurs in the support material verbatim (a model that turns "14 days"
//! into "30 days" keeps most words but changes the number, which is exactly the error that
//! matters). Sentences without content (courtesies such as "Happy to help!") pass.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::text::{content_stems, literal_regex, sentences};

/// Fraction of a sentence's content stems that must occur in one support text.
pub const MIN_OVERLAP: f32 = 0.6;

/// The grounded part of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Grounded {
    /// The supported sentences, in order.
    pub kept: Vec<String>,
    /// How many sentences were dropped as unsupported.
    pub dropped: usize,
    /// How many kept sentences carry facts (had content words).
    pub factual_kept: usize,
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\d+(?:[.,:]\d+)*"));
static CITATION_MARK: LazyLock<Regex> = LazyLock::new(|| literal_regex(r"\s*\[\d+\]"));

/// Words of courtesy and framing that carry no facts; a sentence made only of these passes.
fn is_filler(stem: &str) -> bool {
    matches!(
        stem,
        "happy"
            | "help"
            | "glad"
            | "sure"
            | "certainly"
            | "course"
            | "question"
            | "anything"
            | "else"
            | "feel"
            | "free"
            | "ask"
            | "hope"
            | "assist"
            | "welcome"
            | "great"
            | "let"
            | "reach"
            | "contact"
            | "day"
            | "nice"
            | "thank"
            | "sorry"
            | "hear"
            | "understand"
            | "information"
            | "according"
            | "mention"
            | "say"
            | "state"
            | "policy"
            | "here"
            | "answer"
            | "source"
            | "look"
            | "see"
            | "dana"
    )
}

/// Checks each sentence of `answer` against `support`. `names` (the agent's and the
/// customer's names) count as supported words.
pub fn check(answer: &str, support: &[String], names: &[String]) -> Grounded {
    let support_stems: Vec<HashSet<String>> = support
        .iter()
        .map(|s| content_stems(s).into_iter().collect())
        .collect();
    let support_numbers: HashSet<String> = support
        .iter()
        .flat_map(|s| NUMBER.find_iter(s).map(|m| m.as_str().to_string()))
        .collect();
    let name_stems: HashSet<String> = names.iter().flat_map(|n| content_stems(n)).collect();

    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut factual_kept = 0;
    for sentence in sentences(answer) {
        let bare = CITATION_MARK.replace_all(&sentence, "");
        let stems: Vec<String> = content_stems(&bare)
            .into_iter()
            .filter(|s| !is_filler(s) && !name_stems.contains(s))
            .collect();
        let numbers_ok = NUMBER
            .find_iter(&bare)
            .all(|m| support_numbers.contains(m.as_str()));
        if stems.is_empty() && numbers_ok {
            kept.push(sentence);
            continue;
        }
        let best_overlap = support_stems
            .iter()
            .map(|set| {
                stems.iter().filter(|s| set.contains(*s)).count() as f32 / stems.len().max(1) as f32
            })
            .fold(0.0f32, f32::max);
        if numbers_ok && best_overlap >= MIN_OVERLAP {
            kept.push(sentence);
            factual_kept += 1;
        } else {
            dropped += 1;
        }
    }
    Grounded {
        kept,
        dropped,
        factual_kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support() -> Vec<String> {
        vec![
            "You can return any item within 30 days of delivery for a full refund.".into(),
            "Our store is open Monday to Friday from 9:00 to 18:00.".into(),
        ]
    }

    #[test]
    fn supported_sentences_are_kept_and_invented_ones_dropped() {
        let answer = "You can return items within 30 days of delivery for a full refund [1]. We also give every customer a free gift card. Happy to help!";
        let grounded = check(answer, &support(), &[]);
        assert_eq!(
            grounded.kept,
            vec![
                "You can return items within 30 days of delivery for a full refund [1].",
                "Happy to help!"
            ]
        );
        assert_eq!(grounded.dropped, 1);
        assert_eq!(grounded.factual_kept, 1);
    }

    #[test]
    fn a_changed_number_is_unsupported() {
        let grounded = check(
            "You can return any item within 60 days of delivery.",
            &support(),
            &[],
        );
        assert!(grounded.kept.is_empty());
        assert_eq!(grounded.dropped, 1);
    }
}
