//! The offline grounded responder: composes a reply from selected knowledge sentences, memory
//! facts and fixed phrases only, so it cannot state anything that is not in the knowledge
//! base, the customer's memory or an action result.

use crate::agent::Citation;
use crate::config::Tone;
use crate::knowledge::ScoredPassage;
use crate::memory::CustomerMemory;

use super::select::Selected;
use super::templates::{closing, join_values, label, opener, phrases};

/// Longest snippet quoted in a citation (characters).
pub const SNIPPET_CHARS: usize = 240;

/// A composed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    pub text: String,
    pub citations: Vec<Citation>,
    /// False when the responder had nothing to say from the knowledge base.
    pub answered: bool,
}

fn snippet(text: &str) -> String {
    if text.chars().count() <= SNIPPET_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(SNIPPET_CHARS).collect();
    match cut.rfind(' ') {
        Some(space) => format!("{}...", &cut[..space]),
        None => format!("{cut}..."),
    }
}

/// Citations for the passages the chosen sentences came from, in order of first use; the
/// snippet is the quoted sentences of that passage.
pub fn citations(selected: &[Selected], passages: &[ScoredPassage]) -> Vec<Citation> {
    let mut out: Vec<(usize, Citation)> = Vec::new();
    for s in selected {
        let Some(passage) = passages.get(s.passage) else {
            continue;
        };
        if let Some((_, existing)) = out
            .iter_mut()
            .find(|(p, c)| *p == s.passage || c.document_id == passage.document_id)
        {
            if existing.snippet.chars().count() < SNIPPET_CHARS {
                existing.snippet = snippet(&format!("{} {}", existing.snippet, s.text));
            }
            continue;
        }
        out.push((
            s.passage,
            Citation {
                document_id: passage.document_id.clone(),
                title: passage.title.clone(),
                url: passage.url.clone(),
                snippet: snippet(&s.text),
            },
        ));
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// Composes the answer from the chosen knowledge sentences, framed by tone and language.
pub fn compose(
    selected: &[Selected],
    passages: &[ScoredPassage],
    tone: Tone,
    language: &str,
    customer_name: Option<&str>,
) -> Composed {
    if selected.is_empty() {
        return Composed {
            text: phrases(language).dont_know.to_string(),
            citations: Vec::new(),
            answered: false,
        };
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(open) = opener(tone, language, customer_name) {
        parts.push(open);
    }
    parts.extend(selected.iter().map(|s| s.text.clone()));
    if let Some(close) = closing(tone, language) {
        parts.push(close);
    }
    Composed {
        text: parts.join(" "),
        citations: citations(selected, passages),
        answered: true,
    }
}

/// Answers a question about the customer's own data from memory (`values` are `(key, value)`
/// pairs from `memory::answer::recall`; `asked_key` is the key asked about, `None` for
/// "everything").
pub fn compose_memory_answer(
    asked_key: Option<&str>,
    values: &[(String, String)],
    language: &str,
) -> String {
    let p = phrases(language);
    match asked_key {
        Some(key) => {
            let vals: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
            let template = match vals.len() {
                0 => p.memory_missing,
                1 => p.memory_value,
                _ => p.memory_values,
            };
            template
                .replace("{label}", label(p, key))
                .replace("{value}", &join_values(&vals, language))
        }
        None if values.is_empty() => p.memory_nothing.to_string(),
        None => {
            let mut lines = vec![p.memory_intro.to_string()];
            let mut keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
            keys.dedup();
            for key in keys {
                let vals: Vec<&str> = values
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
                    .collect();
                lines.push(format!(
                    "{}: {}.",
                    label(p, key),
                    join_values(&vals, language)
                ));
            }
            lines.join(" ")
        }
    }
}

/// The greeting reply: the organization's configured greeting in its default language,
/// otherwise the template in the customer's language.
pub fn greeting(
    configured: &str,
    default_language: &str,
    language: &str,
    agent_name: &str,
    memory: &CustomerMemory,
) -> String {
    let base = if language == default_language && !configured.trim().is_empty() {
        configured.to_string()
    } else {
        phrases(language).greeting.replace("{agent}", agent_name)
    };
    match memory.first_name() {
        // "Hi! How can I help?" -> "Hi Dana! How can I help?"
        Some(name) if base.starts_with("Hi!") => base.replacen("Hi!", &format!("Hi {name}!"), 1),
        Some(name) if base.starts_with("Hello!") => {
            base.replacen("Hello!", &format!("Hello {name}!"), 1)
        }
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocumentId;
    use crate::memory::{FactSource, NewFact};

    fn passage(title: &str, text: &str) -> ScoredPassage {
        ScoredPassage {
            document_id: DocumentId::new(),
            chunk_index: 0,
            title: title.into(),
            url: Some(format!("https://shop.example/{title}")),
            heading_path: vec![],
            text: text.into(),
            score: 1.0,
            vector_score: None,
            keyword_score: None,
        }
    }

    fn chosen(passage: usize, position: usize, text: &str) -> Selected {
        Selected {
            passage,
            position,
            text: text.into(),
            score: 0.8,
        }
    }

    #[test]
    fn an_answer_quotes_sentences_greets_by_name_and_cites_each_document_once() {
        let passages = vec![
            passage("refunds", "Refunds take 5 days. They go to your card."),
            passage("shipping", "We ship in 2 days."),
        ];
        let selected = vec![
            chosen(0, 0, "Refunds take 5 days."),
            chosen(0, 1, "They go to your card."),
            chosen(1, 0, "We ship in 2 days."),
        ];
        let composed = compose(&selected, &passages, Tone::Friendly, "en", Some("Dana"));
        assert_eq!(
            composed.text,
            "Thanks, Dana! Refunds take 5 days. They go to your card. We ship in 2 days. Is there anything else I can help with?"
        );
        assert!(composed.answered);
        assert_eq!(composed.citations.len(), 2);
        assert_eq!(composed.citations[0].title, "refunds");
        assert_eq!(
            composed.citations[0].snippet,
            "Refunds take 5 days. They go to your card."
        );
        assert_eq!(
            composed.citations[1].url.as_deref(),
            Some("https://shop.example/shipping")
        );
    }

    #[test]
    fn nothing_selected_is_an_honest_i_dont_know_in_the_customers_language() {
        let composed = compose(&[], &[], Tone::Friendly, "de", None);
        assert!(!composed.answered);
        assert!(composed.text.contains("Mitarbeiter"), "{}", composed.text);
        assert!(composed.citations.is_empty());
    }

    #[test]
    fn memory_answers_read_the_facts() {
        let values = vec![("order_number".to_string(), "4411".to_string())];
        assert_eq!(
            compose_memory_answer(Some("order_number"), &values, "en"),
            "Your order number is 4411."
        );
        assert_eq!(
            compose_memory_answer(Some("email"), &[], "en"),
            "I don't have your e-mail address on file yet."
        );
        let mut memory = CustomerMemory::default();
        memory.merge(
            &[NewFact {
                key: "name".into(),
                value: "Dana".into(),
                source: FactSource::Rule,
                confidence: 0.9,
            }],
            1,
        );
        assert_eq!(
            greeting("Hi! How can I help you today?", "en", "en", "Ava", &memory),
            "Hi Dana! How can I help you today?"
        );
        assert_eq!(
            greeting("Hi! How can I help you today?", "en", "fr", "Ava", &memory),
            "Bonjour ! Je suis Ava. Comment puis-je vous aider ?"
        );
    }
}
