//! Turns a message into the classifier's input: its sentence embedding, standardised per
//! dimension, beside sparse lexical features (word uni- and bigrams and character 3-5-grams,
//! TF-IDF weighted and hashed into a fixed number of buckets).
//!
//! Why both: the embedding captures paraphrase ("where's my parcel" ~ "track my order"), the
//! n-grams catch the exact domain words an embedding model trained on general text blurs
//! ("top up" vs "transfer", "virtual card" vs "physical card"). On BANKING77 the pair beats
//! either alone (see `docs/quality.md`).

use serde::{Deserialize, Serialize};

/// One message as the linear model sees it.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// The standardised embedding (dense block).
    pub dense: Vec<f32>,
    /// Hashed lexical features as `(bucket, value)`, buckets unique and sorted.
    pub sparse: Vec<(u32, f32)>,
}

/// Statistics learned from the training examples that map raw inputs to [`Features`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureSpace {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Number of hash buckets of the lexical block (a power of two), 0 when it is off.
    buckets: u32,
    /// Scale of the L2-normalised lexical block relative to the embedding block.
    lexical_weight: f32,
    /// Inverse document frequency per bucket (empty when the lexical block is off).
    idf: Vec<f32>,
}

/// Lower-cases and keeps letters and digits; everything else separates words.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// FNV-1a: stable across platforms and releases, unlike `std`'s hasher.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Term counts of the hashed n-grams of `text`, as sorted `(bucket, count)`.
fn term_counts(text: &str, buckets: u32) -> Vec<(u32, f32)> {
    let mask = u64::from(buckets - 1);
    let mut ids: Vec<u32> = Vec::new();
    let tokens = words(text);
    for (i, word) in tokens.iter().enumerate() {
        ids.push((fnv1a(&[b"w", word.as_bytes()]) & mask) as u32);
        if let Some(next) = tokens.get(i + 1) {
            ids.push((fnv1a(&[b"b", word.as_bytes(), next.as_bytes()]) & mask) as u32);
        }
        // Character n-grams inside the word padded with spaces, so prefixes and suffixes
        // count ("refund" shares " ref" with "refunded").
        let padded: Vec<char> = std::iter::once(' ')
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        for n in 3..=5 {
            for window in padded.windows(n) {
                let gram: String = window.iter().collect();
                ids.push((fnv1a(&[b"c", gram.as_bytes()]) & mask) as u32);
            }
        }
    }
    ids.sort_unstable();
    let mut counts: Vec<(u32, f32)> = Vec::new();
    for id in ids {
        match counts.last_mut() {
            Some((last, count)) if *last == id => *count += 1.0,
            _ => counts.push((id, 1.0)),
        }
    }
    counts
}

impl FeatureSpace {
    /// Learns the standardisation of `embeddings` and, when `buckets > 0`, the IDF of the
    /// lexical block from `texts`. `buckets` is rounded up to a power of two.
    pub fn fit(texts: &[&str], embeddings: &[&[f32]], buckets: u32, lexical_weight: f32) -> Self {
        let dim = embeddings.first().map_or(0, |e| e.len());
        let n = embeddings.len().max(1) as f32;
        let mut mean = vec![0.0f32; dim];
        for e in embeddings {
            mean.iter_mut().zip(e.iter()).for_each(|(m, x)| *m += x / n);
        }
        let mut var = vec![0.0f32; dim];
        for e in embeddings {
            for ((v, x), m) in var.iter_mut().zip(e.iter()).zip(&mean) {
                *v += (x - m) * (x - m) / n;
            }
        }
        // The floor keeps a dimension that is constant in a tiny training set from exploding.
        let inv_std = var.iter().map(|v| 1.0 / v.sqrt().max(1e-3)).collect();
        let buckets = if buckets == 0 {
            0
        } else {
            buckets.next_power_of_two()
        };
        let mut idf = Vec::new();
        if buckets > 0 {
            let mut df = vec![0u32; buckets as usize];
            for text in texts {
                for (id, _) in term_counts(text, buckets) {
                    df[id as usize] += 1;
                }
            }
            let docs = texts.len() as f32;
            idf = df
                .iter()
                .map(|d| ((1.0 + docs) / (1.0 + *d as f32)).ln() + 1.0)
                .collect();
        }
        Self {
            mean,
            inv_std,
            buckets,
            lexical_weight,
            idf,
        }
    }

    /// Dimension of the dense block.
    pub fn dense_dim(&self) -> usize {
        self.mean.len()
    }

    /// Number of lexical buckets (0 when off).
    pub fn buckets(&self) -> usize {
        self.buckets as usize
    }

    /// Maps one message to its features.
    pub fn transform(&self, text: &str, embedding: &[f32]) -> Features {
        let dense = embedding
            .iter()
            .zip(&self.mean)
            .zip(&self.inv_std)
            .map(|((x, m), s)| (x - m) * s)
            .collect();
        let mut sparse = Vec::new();
        if self.buckets > 0 {
            sparse = term_counts(text, self.buckets)
                .into_iter()
                .map(|(id, tf)| (id, (1.0 + tf.ln()) * self.idf[id as usize]))
                .collect();
            let norm = sparse.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                let scale = self.lexical_weight / norm;
                sparse.iter_mut().for_each(|(_, v)| *v *= scale);
            }
        }
        Features { dense, sparse }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            words("Where's my CARD? (virtual)"),
            ["where's", "my", "card", "virtual"]
        );
    }

    #[test]
    fn shared_word_parts_share_buckets() {
        let a: Vec<u32> = term_counts("refund", 1 << 16).iter().map(|p| p.0).collect();
        let b: Vec<u32> = term_counts("refunded", 1 << 16)
            .iter()
            .map(|p| p.0)
            .collect();
        let shared = a.iter().filter(|id| b.contains(id)).count();
        assert!(shared >= 6, "only {shared} shared n-grams");
    }

    #[test]
    fn transformed_embeddings_are_standardised_and_lexical_block_has_the_set_norm() {
        let e1 = [1.0f32, 0.0];
        let e2 = [3.0f32, 0.0];
        let space = FeatureSpace::fit(&["a b", "c d"], &[&e1, &e2], 1 << 10, 2.0);
        let f = space.transform("a b", &e1);
        assert!((f.dense[0] + 1.0).abs() < 1e-5, "{:?}", f.dense);
        let norm = f.sparse.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        assert!((norm - 2.0).abs() < 1e-4);
    }
}
