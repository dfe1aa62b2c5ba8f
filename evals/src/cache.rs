//! An on-disk cache of embeddings for evaluation data, so that re-running a suite takes
//! seconds instead of the minutes the model needs (about 120 texts/s on two cores).
//!
//! A cache entry is keyed by the SHA-256 of the model name and the exact list of texts; the file
//! holds the vector count, the dimension and the little-endian `f32` values. The cache lives
//! under `target/eval-cache/` (override with `BLAIGENT_EVAL_CACHE`); deleting it is always safe.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use engine::embed::Embedder;
use sha2::{Digest, Sha256};

/// Texts per call to the embedder: small enough to report progress, large enough to batch.
const CHUNK: usize = 512;

/// Embeds through an [`Embedder`], remembering results on disk.
pub struct EmbeddingCache {
    embedder: Arc<dyn Embedder>,
    dir: Option<PathBuf>,
}

impl EmbeddingCache {
    /// A cache in the default folder; `no_cache` turns the disk part off.
    pub fn new(embedder: Arc<dyn Embedder>, no_cache: bool) -> Self {
        let dir = (!no_cache).then(default_dir);
        Self { embedder, dir }
    }

    /// The embedder behind the cache (for timing single messages).
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Returns one unit vector per text, from disk when this exact list was embedded before.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let key = cache_key(self.embedder.model_name(), texts);
        let path = self.dir.as_ref().map(|d| d.join(format!("{key}.f32")));
        if let Some(path) = &path {
            if let Ok(vectors) = read_vectors(path, texts.len()) {
                return Ok(vectors);
            }
        }
        let started = std::time::Instant::now();
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(CHUNK) {
            vectors.extend(
                self.embedder
                    .embed(chunk)
                    .map_err(|e| anyhow::anyhow!("embedding failed: {e}"))?,
            );
            if texts.len() > CHUNK {
                tracing::info!(done = vectors.len(), total = texts.len(), "embedding");
            }
        }
        tracing::info!(
            texts = texts.len(),
            seconds = started.elapsed().as_secs_f64(),
            "embedded"
        );
        if let Some(path) = &path {
            write_vectors(path, &vectors)
                .with_context(|| format!("writing the embedding cache {}", path.display()))?;
        }
        Ok(vectors)
    }
}

fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BLAIGENT_EVAL_CACHE") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("eval-cache")
}

/// SHA-256 over the model name and the texts, each followed by a zero byte.
pub fn cache_key(model: &str, texts: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(model.as_bytes());
    hasher.update([0u8]);
    for text in texts {
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

fn read_vectors(path: &Path, expected: usize) -> Result<Vec<Vec<f32>>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < 8 {
        bail!("truncated cache file");
    }
    let count = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let dim = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if count != expected || bytes.len() != 8 + count * dim * 4 {
        bail!("cache file does not match");
    }
    let values: Vec<f32> = bytes[8..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(values.chunks(dim.max(1)).map(<[f32]>::to_vec).collect())
}

fn write_vectors(path: &Path, vectors: &[Vec<f32>]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let dim = vectors.first().map_or(0, Vec::len);
    let mut bytes = Vec::with_capacity(8 + vectors.len() * dim * 4);
    bytes.extend_from_slice(&u32::try_from(vectors.len())?.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(dim)?.to_le_bytes());
    for value in vectors.iter().flatten() {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    // Write then rename, so an interrupted run never leaves a half file behind.
    let partial = path.with_extension("partial");
    std::fs::File::create(&partial)?.write_all(&bytes)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_a_cache_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.f32");
        let vectors = vec![vec![0.5, -1.25], vec![3.0, 0.0]];
        write_vectors(&path, &vectors).unwrap();
        assert_eq!(read_vectors(&path, 2).unwrap(), vectors);
        assert!(read_vectors(&path, 3).is_err());
    }

    #[test]
    fn the_key_changes_with_the_model_and_the_texts() {
        let texts = vec!["a".to_string(), "b".to_string()];
        let swapped = vec!["b".to_string(), "a".to_string()];
        assert_ne!(cache_key("m", &texts), cache_key("m", &swapped));
        assert_ne!(cache_key("m", &texts), cache_key("n", &texts));
        assert_eq!(cache_key("m", &texts), cache_key("m", &texts));
    }
}
