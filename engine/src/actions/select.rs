//! Offline action selection: which of the organization's actions fits a turn, without a
//! language model.
//!
//! 1. Trigger intents: the turn's intent is one the action lists, with at least
//!    [`INTENT_MIN_CONFIDENCE`]; the most confident wins.
//! 2. Example utterances: otherwise the message is compared with every action's examples by
//!    embedding similarity (cosine of the local sentence model, at least
//!    [`EXAMPLE_MIN_SIMILARITY`]), or by shared content words when no embedder is loaded.

use std::sync::Arc;

use super::spec::Action;
use crate::agent::cache::EmbeddingCache;
use crate::embed::Embedder;
use crate::text::content_stems;

/// The intent classifier must be at least this sure for an intent to trigger an action.
pub const INTENT_MIN_CONFIDENCE: f32 = 0.35;
/// Cosine similarity a message needs with an example utterance (all-MiniLM-L6-v2: paraphrases
/// score 0.6-0.9, unrelated customer questions mostly below 0.45).
pub const EXAMPLE_MIN_SIMILARITY: f32 = 0.6;
/// Share of content words a message must have in common with an example (no embedder).
const EXAMPLE_MIN_OVERLAP: f32 = 0.5;

/// A chosen action and why.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub action: &'a Action,
    pub reason: String,
}

/// Picks the action for a message with `intent` (`confidence`), if one fits.
pub async fn select<'a>(
    actions: &'a [Action],
    text: &str,
    intent: &str,
    confidence: f32,
    embedder: Option<&Arc<dyn Embedder>>,
    cache: &EmbeddingCache,
) -> Option<Selection<'a>> {
    if confidence >= INTENT_MIN_CONFIDENCE {
        if let Some(action) = actions
            .iter()
            .find(|a| a.intents.iter().any(|i| i == intent))
        {
            return Some(Selection {
                action,
                reason: format!("intent {intent} ({confidence:.2})"),
            });
        }
    }
    let with_examples: Vec<&Action> = actions.iter().filter(|a| !a.examples.is_empty()).collect();
    if with_examples.is_empty() || text.trim().is_empty() {
        return None;
    }
    let scores = match embedder {
        Some(embedder) => match similarities(&with_examples, text, embedder, cache).await {
            Some(scores) => scores,
            None => overlaps(&with_examples, text),
        },
        None => overlaps(&with_examples, text),
    };
    let threshold = if embedder.is_some() {
        EXAMPLE_MIN_SIMILARITY
    } else {
        EXAMPLE_MIN_OVERLAP
    };
    scores
        .into_iter()
        .zip(with_examples)
        .filter(|(score, _)| *score >= threshold)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(score, action)| Selection {
            action,
            reason: format!("example similarity {score:.2}"),
        })
}

async fn similarities(
    actions: &[&Action],
    text: &str,
    embedder: &Arc<dyn Embedder>,
    cache: &EmbeddingCache,
) -> Option<Vec<f32>> {
    let mut texts = vec![text.to_string()];
    for action in actions {
        texts.extend(action.examples.iter().cloned());
    }
    let vectors = match cache.embed(embedder, &texts).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "embedding for action selection failed; using word overlap");
            return None;
        }
    };
    let query = vectors.first()?;
    let mut at = 1;
    let mut out = Vec::with_capacity(actions.len());
    for action in actions {
        let best = vectors[at..at + action.examples.len()]
            .iter()
            .map(|v| cosine(query, v))
            .fold(f32::MIN, f32::max);
        at += action.examples.len();
        out.push(best);
    }
    Some(out)
}

fn overlaps(actions: &[&Action], text: &str) -> Vec<f32> {
    let words = content_stems(text);
    actions
        .iter()
        .map(|a| {
            a.examples
                .iter()
                .map(|e| {
                    let example = content_stems(e);
                    if example.is_empty() || words.is_empty() {
                        return 0.0;
                    }
                    let shared = example.iter().filter(|w| words.contains(w)).count();
                    shared as f32 / example.len().max(words.len()) as f32
                })
                .fold(0.0, f32::max)
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
