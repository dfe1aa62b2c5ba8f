//! A memo of the most recent single-text embeddings in front of another [`Embedder`].
//!
//! One chat turn embeds the customer's message twice with the same model: the intent stage
//! classifies its embedding, and retrieval searches the vector index with it (the rewritten
//! query is the message itself unless it is an elliptical follow-up). Each embedding costs a
//! few milliseconds of CPU on this hardware, the largest share of an offline turn, so the
//! second one is served from here. Only one-text calls (queries) are remembered; batches
//! (ingestion, intent training) pass straight through and never evict a query.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::Embedder;
use crate::error::Result;

/// How many recent query texts are remembered: a turn's two embeddings are milliseconds
/// apart, so this covers the turns in flight on a small server; a miss only costs the
/// embedding it would have cost anyway. A linear scan of 16 entries is free next to one
/// embedding.
pub const CAPACITY: usize = 16;

/// Remembers the vectors of the last [`CAPACITY`] single texts embedded through it.
pub struct RecentQueries {
    inner: Arc<dyn Embedder>,
    recent: Mutex<VecDeque<(String, Vec<f32>)>>,
}

impl RecentQueries {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Embedder>) -> Self {
        Self {
            inner,
            recent: Mutex::new(VecDeque::with_capacity(CAPACITY)),
        }
    }

    fn lookup(&self, text: &str) -> Option<Vec<f32>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|(known, _)| known == text)
            .map(|(_, vector)| vector.clone())
    }

    fn remember(&self, text: &str, vector: &[f32]) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.iter().any(|(known, _)| known == text) {
            return;
        }
        if recent.len() == CAPACITY {
            recent.pop_front();
        }
        recent.push_back((text.to_owned(), vector.to_vec()));
    }
}

impl Embedder for RecentQueries {
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let [text] = texts else {
            return self.inner.embed(texts);
        };
        if let Some(vector) = self.lookup(text) {
            return Ok(vec![vector]);
        }
        let vectors = self.inner.embed(texts)?;
        if let Some(vector) = vectors.first() {
            self.remember(text, vector);
        }
        Ok(vectors)
    }
}

impl std::fmt::Debug for RecentQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentQueries")
            .field("model", &self.inner.model_name())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts the texts it embeds; the vector is the text's length.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Embedder for Counting {
        fn dimension(&self) -> usize {
            1
        }
        fn model_name(&self) -> &str {
            "counting"
        }
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[test]
    fn a_repeated_query_is_embedded_once_and_batches_pass_through() {
        let inner = Arc::new(Counting::default());
        let cached = RecentQueries::new(inner.clone());
        let query = vec!["where is my order?".to_owned()];
        let first = cached.embed(&query).unwrap();
        let second = cached.embed(&query).unwrap();
        assert_eq!(first, second);
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
        let batch = vec!["a".to_owned(), "bb".to_owned()];
        assert_eq!(cached.embed(&batch).unwrap(), vec![vec![1.0], vec![2.0]]);
        cached.embed(&batch).unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn the_oldest_query_is_forgotten_beyond_capacity() {
        let inner = Arc::new(Counting::default());
        let cached = RecentQueries::new(inner.clone());
        for i in 0..=CAPACITY {
            cached.embed(&[format!("q{i}")]).unwrap();
        }
        assert_eq!(inner.0.load(Ordering::SeqCst), CAPACITY + 1);
        cached.embed(&[format!("q{CAPACITY}")]).unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), CAPACITY + 1);
        cached.embed(&["q0".to_owned()]).unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), CAPACITY + 2);
    }
}
