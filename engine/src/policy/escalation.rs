//! Escalation rules: when the conversation goes to a human. A customer asking for a person (in
//! many phrasings and the languages the templates speak), an organization's escalation
//! keywords, repeated failure to help, and strongly negative sentiment each hand off with a
//! reason the inbox shows.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::agent::{HistoryMessage, Role};
use crate::config::Guardrails;
use crate::text::{literal_regex, words};

use super::sentiment;

/// Why a turn is handed to a human.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Escalation {
    /// The customer asked for a person.
    HumanRequested,
    /// The message contains a configured escalation keyword.
    Keyword { keyword: String },
    /// The agent failed to help this many turns in a row.
    RepeatedFailure { failed_turns: u32 },
    /// The message is strongly negative (score in [-1, 0)).
    NegativeSentiment { score: f32 },
}

impl Escalation {
    /// A short reason for the inbox (`handoff_reason`).
    pub fn reason(&self) -> String {
        match self {
            Escalation::HumanRequested => "customer asked for a human".into(),
            Escalation::Keyword { keyword } => format!("escalation keyword '{keyword}'"),
            Escalation::RepeatedFailure { failed_turns } => {
                format!("agent could not help {failed_turns} turns in a row")
            }
            Escalation::NegativeSentiment { .. } => "strongly negative sentiment".into(),
        }
    }
}

static HUMAN_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    literal_regex(concat!(
        r"(?i)\b(?:talk|speak|chat|connect|transfer|put)\w*\s+(?:me\s+)?(?:to|with|through)\s+(?:a|an|some|the|your|real|actual|live)?\s*",
        r"(?:real\s+|actual\s+|live\s+)?(?:human|person|people|agent|representative|rep|someone|somebody|manager|supervisor|operator|staff|employee|colleague)s?\b",
        r"|\b(?:human|real\s+person|live\s+agent|live\s+person|operator|representative)\s*(?:please|pls|now)\b",
        r"|\b(?:i\s+)?(?:want|need|would\s+like|demand)\s+(?:a|an|to\s+(?:talk|speak)\s+to\s+a)\s+(?:real\s+)?(?:human|person|representative|manager|supervisor)\b",
        r"|\b(?:connect|transfer|put)\s+me\s+(?:to|with|through)\s+(?:\w+\s+){1,3}(?:human|person|people|agent|representative|manager|supervisor|operator|staff|employee)s?\b",
        r"|\b(?:human|person|people|someone|somebody|agent|representative|staff|employee)\s+(?:i|we)\s+(?:can|could|may)\s+(?:talk|speak|chat)\b",
        r"|\b(?:get|give)\s+me\s+(?:a|an)\s+(?:real\s+)?(?:human|person|representative|manager|agent)\b",
        r"|^\s*(?:human|agent|operator|representative)\s*[.!?]*\s*$",
        r"|\bmit\s+(?:einem|einer)\s+(?:menschen|mitarbeiter(?:in)?|person)\b|\bmenschlichen\s+mitarbeiter\b",
        r"|\bparler\s+(?:à|a|avec)\s+(?:un|une|quelqu'un)\s*(?:humain|conseill\w*|agent|personne|opérat\w*)?\b",
        r"|\bhablar\s+con\s+(?:un|una|alguien)\s*(?:humano|persona|agente|representante)?\b",
        r"|\bparlare\s+con\s+(?:un|una|qualcuno)\s*(?:operatore|persona|umano|agente)?\b",
        r"|\bfalar\s+com\s+(?:um|uma|alguém)\s*(?:humano|atendente|pessoa|agente)?\b",
        r"|\b(?:spreken|praten)\s+met\s+(?:een\s+)?(?:medewerker|mens|persoon)\b|\bmet\s+een\s+(?:medewerker|mens)\b",
    ))
});

/// Tells whether the customer asks for a person.
pub fn asks_for_human(message: &str) -> bool {
    HUMAN_REQUEST.is_match(message)
}

/// Returns the first configured keyword present in `message` (whole words, any case).
pub fn escalation_keyword(message: &str, keywords: &[String]) -> Option<String> {
    let message_words = words(message);
    keywords.iter().find_map(|keyword| {
        let kw = words(keyword);
        (!kw.is_empty()
            && message_words
                .windows(kw.len())
                .any(|window| window == kw.as_slice()))
        .then(|| keyword.clone())
    })
}

/// Counts the agent's most recent consecutive replies that did not help (the responder's
/// "I don't know" fallback, or turns recorded with intent `unanswered`).
pub fn consecutive_failures(history: &[HistoryMessage], is_fallback: impl Fn(&str) -> bool) -> u32 {
    let mut count = 0;
    for message in history.iter().rev().filter(|m| m.role != Role::Customer) {
        let failed = m_intent_is_unanswered(message) || is_fallback(&message.text);
        if !failed || message.role == Role::Human {
            break;
        }
        count += 1;
    }
    count
}

fn m_intent_is_unanswered(message: &HistoryMessage) -> bool {
    message.intent.as_deref() == Some("unanswered")
}

/// Sentiment at or below this is "strongly negative" (see [`sentiment::score`]).
pub const NEGATIVE_THRESHOLD: f32 = -0.7;

/// Applies every escalation rule; `current_turn_failed` is known only after retrieval, so the
/// failure rule counts this turn when the caller says it failed.
#[tracing::instrument(skip_all)]
pub fn check(
    message: &str,
    guardrails: &Guardrails,
    history: &[HistoryMessage],
    is_fallback: impl Fn(&str) -> bool,
) -> Option<Escalation> {
    if asks_for_human(message) {
        return Some(Escalation::HumanRequested);
    }
    if let Some(keyword) = escalation_keyword(message, &guardrails.escalation_keywords) {
        return Some(Escalation::Keyword { keyword });
    }
    if guardrails.escalate_on_negative_sentiment {
        let score = sentiment::score(message);
        if score <= NEGATIVE_THRESHOLD {
            return Some(Escalation::NegativeSentiment { score });
        }
    }
    let failed_turns = consecutive_failures(history, is_fallback);
    if guardrails.max_failed_turns > 0 && failed_turns >= guardrails.max_failed_turns {
        return Some(Escalation::RepeatedFailure { failed_turns });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_phrasings_of_asking_for_a_human_are_recognised() {
        for text in [
            "Can I talk to a human?",
            "I want to speak with a real person",
            "connect me to an agent please",
            "transfer me to a representative",
            "get me a manager",
            "human please",
            "Agent!",
            "Ich möchte mit einem Mitarbeiter sprechen",
            "Je veux parler à un conseiller",
            "Quiero hablar con una persona",
            "Vorrei parlare con un operatore",
            "Quero falar com um atendente",
            "Ik wil met een medewerker spreken",
        ] {
            assert!(asks_for_human(text), "missed: {text}");
        }
    }

    #[test]
    fn asking_for_a_person_to_talk_to_or_for_named_staff_is_recognised() {
        for text in [
            "Transfer me to customer service staff please.",
            "Please connect me with your billing team manager",
            "Is there a person I can chat with instead?",
            "Do you have someone we could speak to?",
        ] {
            assert!(asks_for_human(text), "missed: {text}");
        }
        for text in [
            "Is there a person I can send the gift to?",
            "Please transfer me to the express shipping option",
        ] {
            assert!(!asks_for_human(text), "false positive: {text}");
        }
    }

    #[test]
    fn ordinary_questions_are_not_escalated() {
        let guardrails = Guardrails::default();
        for text in [
            "What are your opening hours?",
            "Is my parcel handled by a courier agent?",
            "How do I become a sales representative for your brand?",
            "Where is order 4411?",
        ] {
            assert_eq!(check(text, &guardrails, &[], |_| false), None, "{text}");
        }
    }

    #[test]
    fn configured_keywords_match_whole_words_only() {
        let keywords = vec!["lawyer".to_string(), "chargeback".to_string()];
        assert_eq!(
            escalation_keyword("I will call my LAWYER", &keywords),
            Some("lawyer".into())
        );
        assert_eq!(escalation_keyword("lawyers are expensive", &keywords), None);
    }

    #[test]
    fn repeated_failure_hands_off_after_the_configured_number_of_turns() {
        let msg = |role, text: &str| HistoryMessage {
            role,
            text: text.into(),
            intent: None,
        };
        let history = vec![
            msg(Role::Customer, "q1"),
            msg(Role::Agent, "FALLBACK"),
            msg(Role::Customer, "q2"),
            msg(Role::Agent, "FALLBACK"),
        ];
        let fallback = |t: &str| t == "FALLBACK";
        assert_eq!(consecutive_failures(&history, fallback), 2);
        let guardrails = Guardrails::default();
        assert_eq!(
            check("q3", &guardrails, &history, fallback),
            Some(Escalation::RepeatedFailure { failed_turns: 2 })
        );
        let mut helped = history.clone();
        helped.push(msg(Role::Customer, "q3"));
        helped.push(msg(Role::Agent, "Refunds take 5 days."));
        assert_eq!(consecutive_failures(&helped, fallback), 0);
    }

    #[test]
    fn strongly_negative_messages_escalate_unless_disabled() {
        let text = "This is absolutely terrible, the worst service ever, I am furious!!!";
        let mut guardrails = Guardrails::default();
        assert!(matches!(
            check(text, &guardrails, &[], |_| false),
            Some(Escalation::NegativeSentiment { .. })
        ));
        guardrails.escalate_on_negative_sentiment = false;
        assert_eq!(check(text, &guardrails, &[], |_| false), None);
    }
}
