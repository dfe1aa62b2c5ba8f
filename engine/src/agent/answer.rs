//! Response generation: the drafts each route of the pipeline produces (handoff, declines,
//! small talk, memory answers, knowledge answers by the offline responder).

use super::stream::{emit, EventSink, StreamEvent};
use super::{Agent, Citation, Turn};
use crate::knowledge::ScoredPassage;
use crate::memory::answer::{recall, MemoryQuestion};
use crate::memory::{CustomerMemory, NewFact};
use crate::respond::offline::{compose, compose_memory_answer, greeting};
use crate::respond::select::{candidates, select};
use crate::respond::templates::{join_values, label, phrases};

/// How a draft was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A fixed phrase (greeting, decline, handoff).
    Canned,
    /// From memory facts.
    Memory,
    /// Knowledge sentences chosen by the offline responder.
    Offline,
    /// A language model's grounded answer.
    Model,
}

/// A reply before policy out and channel shaping.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    pub citations: Vec<Citation>,
    /// False when the agent could not help (counts toward the repeated-failure rule).
    pub answered: bool,
    pub source: Source,
    /// Flags for the reply (`model_fallback`, `ungrounded_dropped`).
    pub flags: Vec<String>,
}

impl Draft {
    pub fn canned(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            citations: Vec::new(),
            answered: true,
            source: Source::Canned,
            flags: Vec::new(),
        }
    }
}

/// Replies to small talk.
pub fn small_talk(label: &str, turn: &Turn, language: &str, memory: &CustomerMemory) -> Draft {
    let p = phrases(language);
    let text = match label {
        "greeting" => greeting(
            &turn.config.greeting,
            &turn.config.default_language,
            language,
            &turn.config.name,
            memory,
        ),
        "thanks" => p.thanks.to_string(),
        _ => p.goodbye.to_string(),
    };
    Draft::canned(text)
}

/// Answers a question about the customer's own data.
pub fn memory_answer(question: MemoryQuestion, memory: &CustomerMemory, language: &str) -> Draft {
    let values = recall(question, memory);
    Draft {
        text: compose_memory_answer(question.key(), &values, language),
        citations: Vec::new(),
        answered: true,
        source: Source::Memory,
        flags: Vec::new(),
    }
}

/// "I've noted your name Dana and order number 4411." for facts just learned, `None` when
/// nothing worth acknowledging was said.
pub fn acknowledgement(new_facts: &[NewFact], language: &str) -> Option<String> {
    let p = phrases(language);
    let items: Vec<String> = new_facts
        .iter()
        .filter(|f| matches!(f.key.as_str(), "name" | "email" | "phone" | "order_number"))
        .map(|f| format!("{} {}", label(p, &f.key), f.value))
        .collect();
    if items.is_empty() {
        return None;
    }
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    Some(p.noted.replace("{items}", &join_values(&refs, language)))
}

impl Agent {
    /// The offline grounded responder over retrieved `passages`.
    pub(super) async fn offline_answer(
        &self,
        turn: &Turn,
        query: &str,
        passages: &[ScoredPassage],
        language: &str,
        memory: &CustomerMemory,
    ) -> Draft {
        let found = candidates(query, passages);
        let vectors = match (&self.embedder, found.is_empty()) {
            (Some(embedder), false) => {
                let mut texts = Vec::with_capacity(found.len() + 1);
                texts.push(query.to_string());
                texts.extend(found.iter().map(|c| c.text.clone()));
                match self.cache.embed(embedder, &texts).await {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(error = %e, "sentence embedding failed; scoring by keywords only");
                        None
                    }
                }
            }
            _ => None,
        };
        let chosen = match &vectors {
            Some(v) if v.len() == found.len() + 1 => {
                let sentence_vectors: Vec<&[f32]> = v[1..].iter().map(|x| x.as_slice()).collect();
                select(Some(v[0].as_slice()), &found, Some(&sentence_vectors))
            }
            _ => select(None, &found, None),
        };
        let composed = compose(
            &chosen,
            passages,
            turn.config.tone,
            language,
            memory.first_name(),
        );
        tracing::debug!(
            candidates = found.len(),
            chosen = chosen.len(),
            "offline responder"
        );
        Draft {
            text: composed.text,
            citations: composed.citations,
            answered: composed.answered,
            source: Source::Offline,
            flags: Vec::new(),
        }
    }
}

/// Streams a finished draft sentence by sentence.
pub async fn stream_sentences(sink: &EventSink, text: &str) {
    if sink.is_none() {
        return;
    }
    for sentence in crate::text::sentences(text) {
        emit(sink, StreamEvent::Sentence(sentence)).await;
    }
}
