//! A bounded cache of sentence embeddings. Knowledge sentences repeat across turns (the same
//! policy page answers many questions), so caching their vectors keeps the offline responder's
//! embedding work to the query and the few sentences it has not seen yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::embed::{embed_blocking, Embedder};
use crate::error::Result;

/// At most this many vectors (384 floats each: about 15 MB).
pub const CAPACITY: usize = 10_000;

/// Text -> unit vector.
#[derive(Default)]
pub struct EmbeddingCache {
    map: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl EmbeddingCache {
    /// Returns the vectors of `texts` in order, embedding only the ones not cached (in one
    /// batch on the blocking pool).
    pub async fn embed(
        &self,
        embedder: &Arc<dyn Embedder>,
        texts: &[String],
    ) -> Result<Vec<Arc<Vec<f32>>>> {
        let mut missing: Vec<String> = Vec::new();
        {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            for text in texts {
                if !map.contains_key(text) && !missing.contains(text) {
                    missing.push(text.clone());
                }
            }
        }
        if !missing.is_empty() {
            let vectors = embed_blocking(embedder.clone(), missing.clone()).await?;
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() + missing.len() > CAPACITY {
                // Crude but bounded: start over rather than track recency per entry.
                map.clear();
            }
            for (text, vector) in missing.into_iter().zip(vectors) {
                map.insert(text, Arc::new(vector));
            }
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        Ok(texts
            .iter()
            .map(|t| map.get(t).cloned().unwrap_or_default())
            .collect())
    }
}
