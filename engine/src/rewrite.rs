//! Follow-up query rewriting: "and for shoes?" after "How long do refunds take for jackets?"
//! becomes a self-contained query. Offline rule: when the message is elliptical (starts with
//! "and", "what about", "how about", "also", ... or has at most three content words and no
//! verb of its own), its content words are combined with the previous customer question's
//! content words, the new ones first, minus words the follow-up replaces.

use std::sync::LazyLock;

use regex::Regex;

use crate::agent::{HistoryMessage, Role};
use crate::text::{is_stop_word, literal_regex, words};

static FOLLOW_UP_START: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(
        r"(?i)^\s*(?:and|also|plus|what\s+about|how\s+about|what\s+if|same\s+for|and\s+what\s+about|und|et|y|e|en|wie\s+ist\s+es\s+mit|et\s+pour|y\s+para|e\s+per)\b",
    )
});

/// The outcome of rewriting.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewritten {
    /// The query to search with.
    pub query: String,
    /// True when the previous question was folded in.
    pub used_context: bool,
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| {
            !is_stop_word(w)
                && w.chars().count() > 1
                && !matches!(
                    w.as_str(),
                    "and" | "about" | "also" | "plus" | "same" | "if"
                )
        })
        .collect()
}

fn is_preposition(word: &str) -> bool {
    matches!(
        word,
        "for"
            | "to"
            | "with"
            | "on"
            | "in"
            | "about"
            | "of"
            | "from"
            | "für"
            | "pour"
            | "para"
            | "per"
            | "voor"
    )
}

/// Tells whether `message` reads as a follow-up that needs the previous question.
pub fn is_elliptical(message: &str) -> bool {
    let content = content_words(message);
    FOLLOW_UP_START.is_match(message)
        || (content.len() <= 2 && words(message).len() <= 5 && !content.is_empty())
}

/// Rewrites `message` against the most recent earlier customer message in `history`.
#[tracing::instrument(skip_all)]
pub fn rewrite(message: &str, history: &[HistoryMessage]) -> Rewritten {
    let unchanged = Rewritten {
        query: message.trim().to_string(),
        used_context: false,
    };
    if !is_elliptical(message) {
        return unchanged;
    }
    let Some(previous) = history
        .iter()
        .rev()
        .find(|m| m.role == Role::Customer && !content_words(&m.text).is_empty())
    else {
        return unchanged;
    };
    let new_words = content_words(message);
    if new_words.is_empty() {
        return unchanged;
    }
    // Words the follow-up replaces: the objects of prepositions in the previous question
    // ("refunds for jackets" + "and for shoes?" drops "jackets"; "opening hours" + "what about
    // weekends?" keeps everything).
    let previous_all = words(&previous.text);
    let replaced: Vec<&String> = previous_all
        .windows(2)
        .filter(|pair| is_preposition(&pair[0]))
        .map(|pair| &pair[1])
        .collect();
    let follow_up_has_preposition = words(message).iter().any(|w| is_preposition(w));
    let kept: Vec<String> = content_words(&previous.text)
        .into_iter()
        .filter(|w| !(follow_up_has_preposition && replaced.contains(&w)))
        .collect();
    let mut query_words = new_words;
    for w in kept {
        if !query_words.contains(&w) {
            query_words.push(w);
        }
    }
    Rewritten {
        query: query_words.join(" "),
        used_context: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(question: &str) -> Vec<HistoryMessage> {
        vec![
            HistoryMessage {
                role: Role::Customer,
                text: question.into(),
                intent: None,
            },
            HistoryMessage {
                role: Role::Agent,
                text: "Jackets can be refunded within 30 days.".into(),
                intent: None,
            },
        ]
    }

    #[test]
    fn a_follow_up_borrows_the_previous_questions_words() {
        let r = rewrite(
            "and for shoes?",
            &history("How long do refunds take for jackets?"),
        );
        assert!(r.used_context);
        assert_eq!(r.query, "shoes long refunds take");
        let r = rewrite(
            "What about weekends?",
            &history("What are your opening hours?"),
        );
        assert_eq!(r.query, "weekends opening hours");
    }

    #[test]
    fn a_self_contained_question_is_left_alone() {
        let r = rewrite(
            "How long does shipping to Canada take?",
            &history("What are your opening hours?"),
        );
        assert!(!r.used_context);
        assert_eq!(r.query, "How long does shipping to Canada take?");
    }

    #[test]
    fn without_history_the_message_is_the_query() {
        let r = rewrite("and for shoes?", &[]);
        assert_eq!(r.query, "and for shoes?");
        assert!(!r.used_context);
    }
}
