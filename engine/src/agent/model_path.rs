//! The language-model route: prompt, call (or stream), then policy out on the model's words:
//! every sentence must be grounded in the passages, memory or action results, nothing may
//! leak (system prompt, other customers' data, blocked topics). When too little survives, or
//! the model fails, the caller falls back to the offline responder.
//!
//! While streaming, the model's deltas are held back per sentence and forwarded only once the
//! sentence passed the same checks.

use std::sync::LazyLock;

use regex::Regex;
use tokio::sync::mpsc;

use super::answer::{Draft, Source};
use super::stream::{emit, EventSink, StreamEvent};
use super::{Agent, Turn};
use crate::knowledge::ScoredPassage;
use crate::llm::prompt::{build, map_citations, PromptInput};
use crate::llm::{ChatModel, ChatRequest, ModelError};
use crate::memory::CustomerMemory;
use crate::policy::{grounding, leak};
use crate::text::literal_regex;

/// Why the model route gave up (the caller falls back to the offline responder).
#[derive(Debug)]
pub enum ModelOutcome {
    Answered(Draft),
    /// The model failed (transient or permanent).
    Failed,
    /// The answer was not grounded enough.
    Ungrounded,
}

static SENTENCE_BOUNDARY: LazyLock<Regex> =
    LazyLock::new(|| literal_regex(r#"(?:[.!?]+(?:\s*\[\d+(?:,\s*\d+)*\])*["')\]]*\s+)|\n+"#));

/// What an answer is checked against.
struct Checks<'a> {
    support: Vec<String>,
    names: Vec<String>,
    system_prompt: &'a str,
    blocked: &'a [String],
}

impl Checks<'_> {
    /// The grounded, leak-free part of `text`; also the number of factual sentences kept and
    /// sentences dropped.
    fn apply(&self, text: &str) -> (String, usize, usize) {
        let grounded = grounding::check(text, &self.support, &self.names);
        let joined = grounded.kept.join(" ");
        let (clean, removed) = leak::scrub(
            &joined,
            &leak::Allowed {
                material: &self.support,
                system_prompt: self.system_prompt,
                blocked_topics: self.blocked,
            },
        );
        let factual = grounded.factual_kept.saturating_sub(removed);
        (clean, factual, grounded.dropped + removed)
    }
}

/// Forwards a model stream sentence by sentence after checking each one.
async fn forward_checked(
    mut deltas: mpsc::Receiver<String>,
    sink: &EventSink,
    checks: &Checks<'_>,
) {
    let mut buffer = String::new();
    let mut pending: Vec<String> = Vec::new();
    loop {
        let next = deltas.recv().await;
        let finished = next.is_none();
        if let Some(delta) = next {
            buffer.push_str(&delta);
            pending.push(delta);
        }
        let cut = if finished {
            buffer.len()
        } else {
            match SENTENCE_BOUNDARY.find_iter(&buffer).last() {
                Some(m) => m.end(),
                None => continue,
            }
        };
        if cut == 0 {
            if finished {
                break;
            }
            continue;
        }
        // Split the pending deltas at `cut` (a char boundary of the concatenation).
        let mut released: Vec<String> = Vec::new();
        let mut consumed = 0;
        while !pending.is_empty() {
            let len = pending[0].len();
            if consumed + len <= cut {
                released.push(pending.remove(0));
                consumed += len;
            } else {
                let split = cut - consumed;
                if split > 0 {
                    let head = pending[0][..split].to_string();
                    pending[0] = pending[0][split..].to_string();
                    released.push(head);
                }
                break;
            }
        }
        let region: String = buffer[..cut].to_string();
        buffer = buffer[cut..].to_string();
        let (clean, _, dropped) = checks.apply(&region);
        if dropped == 0 {
            for piece in released {
                emit(sink, StreamEvent::Delta(piece)).await;
            }
        } else if !clean.is_empty() {
            emit(sink, StreamEvent::Delta(format!("{clean} "))).await;
        }
        if finished {
            break;
        }
    }
}

impl Agent {
    /// Runs the model route. Logs failures at WARN (transient) or ERROR (permanent) without
    /// customer text.
    #[tracing::instrument(skip_all, fields(model = model.model_name(), passages = passages.len()))]
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn model_answer(
        &self,
        model: &dyn ChatModel,
        turn: &Turn,
        message: &str,
        passages: &[ScoredPassage],
        language: &str,
        memory: &CustomerMemory,
        sink: &EventSink,
    ) -> ModelOutcome {
        let facts = memory.fact_lines();
        let request: ChatRequest = build(PromptInput {
            config: &turn.config,
            language,
            facts: &facts,
            passages,
            history: &turn.history,
            message,
        });
        let mut support: Vec<String> = passages.iter().map(|p| p.text.clone()).collect();
        support.extend(facts.iter().cloned());
        let mut names = vec![turn.config.name.clone()];
        if let Some(name) = memory.latest("name") {
            names.push(name.to_string());
        }
        let checks = Checks {
            support,
            names,
            system_prompt: &request.system,
            blocked: &turn.config.guardrails.blocked_topics,
        };

        let raw = if sink.is_some() {
            let (tx, rx) = mpsc::channel::<String>(64);
            let generate = model.stream(&request, tx);
            let forward = forward_checked(rx, sink, &checks);
            let (raw, ()) = tokio::join!(generate, forward);
            raw
        } else {
            model.complete(&request).await
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err(ModelError::Transient(reason)) => {
                tracing::warn!(%reason, "the language model failed; the offline responder answers instead");
                return ModelOutcome::Failed;
            }
            Err(ModelError::Permanent(reason)) => {
                tracing::error!(%reason, "the language model refused the request; the offline responder answers instead");
                return ModelOutcome::Failed;
            }
        };
        let (clean, factual, dropped) = checks.apply(&raw);
        if factual == 0 {
            tracing::warn!(
                dropped,
                "the model answer was not grounded; the offline responder answers instead"
            );
            return ModelOutcome::Ungrounded;
        }
        let (text, citations) = map_citations(&clean, passages);
        ModelOutcome::Answered(Draft {
            text,
            citations,
            answered: true,
            source: Source::Model,
            flags: if dropped > 0 {
                vec!["ungrounded_dropped".into()]
            } else {
                Vec::new()
            },
        })
    }
}
