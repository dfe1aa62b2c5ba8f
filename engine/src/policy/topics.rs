//! Blocked topics: the organization lists topics the agent declines (`guardrails.blocked_topics`).
//! A topic matches when its stemmed words appear as a run in the stemmed message, so
//! "politics" blocks "political", "Politics!" and "POLITICS" but not "police".

use crate::text::{stem, words};

/// Returns the first configured topic the message is about, if any.
#[tracing::instrument(skip_all)]
pub fn blocked_topic(message: &str, blocked: &[String]) -> Option<String> {
    if blocked.is_empty() {
        return None;
    }
    let message_stems: Vec<String> = words(message).iter().map(|w| stem(w)).collect();
    blocked.iter().find_map(|topic| {
        let topic_stems: Vec<String> = words(topic).iter().map(|w| stem(w)).collect();
        if topic_stems.is_empty() || topic_stems.len() > message_stems.len() {
            return None;
        }
        message_stems
            .windows(topic_stems.len())
            .any(|window| window == topic_stems.as_slice())
            .then(|| topic.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<String> {
        vec![
            "politics".into(),
            "competitor prices".into(),
            "cryptocurrency".into(),
        ]
    }

    #[test]
    fn a_topic_matches_across_case_and_word_forms() {
        assert_eq!(
            blocked_topic("What do you think about POLITICAL parties?", &topics()),
            Some("politics".into())
        );
        assert_eq!(
            blocked_topic("Do you accept cryptocurrencies?", &topics()),
            Some("cryptocurrency".into())
        );
        assert_eq!(
            blocked_topic("How do your competitor's prices compare?", &topics()),
            Some("competitor prices".into())
        );
        assert_eq!(
            blocked_topic("what are competitor prices like", &topics()),
            Some("competitor prices".into())
        );
    }

    #[test]
    fn words_that_merely_contain_a_topic_do_not_match() {
        assert_eq!(
            blocked_topic("I called the police about my parcel", &topics()),
            None
        );
        assert_eq!(blocked_topic("Where is my order?", &topics()), None);
        assert_eq!(blocked_topic("anything", &[]), None);
    }
}
