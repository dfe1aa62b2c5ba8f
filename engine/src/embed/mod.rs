//! Text embeddings. [`Embedder`] is the seam; [`local::LocalEmbedder`] runs all-MiniLM-L6-v2
//! through ONNX Runtime from files installed by `scripts/setup-models.sh` (never downloaded at
//! run time).
//!
//! Embedding is CPU-bound and synchronous: async callers go through [`embed_blocking`], which
//! moves the work to tokio's blocking pool.

pub mod local;
pub mod recent;

use std::sync::Arc;

use crate::error::{Error, Result};

/// Turns texts into unit-length vectors of a fixed dimension.
pub trait Embedder: Send + Sync {
    /// Number of dimensions of every vector this embedder returns.
    fn dimension(&self) -> usize;

    /// A short name of the model, recorded with indexed vectors.
    fn model_name(&self) -> &str;

    /// Embeds `texts` in order. Blocking: call from `spawn_blocking` (see [`embed_blocking`]).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// Embeds on tokio's blocking pool so the async threads stay free.
pub async fn embed_blocking(
    embedder: Arc<dyn Embedder>,
    texts: Vec<String>,
) -> Result<Vec<Vec<f32>>> {
    tokio::task::spawn_blocking(move || embedder.embed(&texts))
        .await
        .map_err(|e| Error::internal("the embedding task failed").with_source(e))?
}

/// Embeds one query text on the blocking pool.
pub async fn embed_one(embedder: Arc<dyn Embedder>, text: String) -> Result<Vec<f32>> {
    let mut vectors = embed_blocking(embedder, vec![text]).await?;
    vectors
        .pop()
        .ok_or_else(|| Error::internal("the embedder returned no vector"))
}

/// Scales `vector` to unit length in place (a zero vector is left as is).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
