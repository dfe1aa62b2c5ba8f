//! A trainable copy of the embedding model, for intent classification that adapts to an
//! organization's own intents.
//!
//! The frozen all-MiniLM-L6-v2 embedding bounds a classifier trained on a few examples per
//! intent (docs/quality.md: a dozen heads on it land within half a point of each other).
//! Fine-tuning the encoder itself on the examples, so that paraphrases of one intent move
//! together and different intents apart, is what moves that bound. This module runs the same
//! network in candle (reverse-mode autodiff on the CPU) from the fp32 weights
//! `scripts/setup-models.sh` installs beside the ONNX file.
//!
//! - [`bert`]: the network (BERT, 6 layers, 384 wide): forward pass and mean pooling.
//! - [`tokens`]: texts to padded id and mask tensors with the model's own tokenizer.
//! - [`pairs`]: anchor/positive pairs and batches of distinct intents for in-batch negatives.
//! - [`tune`]: contrastive fine-tuning (multiple-negatives ranking loss, AdamW).
//! - [`onnx_file`]: where each weight lies in an ONNX file (a minimal protobuf reader).
//! - [`onnx_export`]: tuned weights written into a copy of the shipped ONNX model, which ONNX
//!   Runtime then serves at the frozen model's speed.

pub mod bert;
pub mod onnx_export;
pub mod onnx_file;
pub mod pairs;
pub mod tokens;
pub mod tune;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

use crate::error::{Error, Result};
use bert::{Bert, BertConfig};
use tokens::TextBatcher;

/// The fp32 weights file inside the model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Texts embedded per forward pass when only inferring.
const EMBED_BATCH: usize = 32;

/// Maps a candle failure into the engine's error type.
pub(crate) fn candle_error(context: &str) -> impl Fn(candle_core::Error) -> Error + '_ {
    move |e| Error::internal(format!("{context}: {e}"))
}

/// The encoder: network weights (trainable variables) and the tokenizer.
pub struct Encoder {
    weights: VarMap,
    model: Bert,
    batcher: TextBatcher,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("variables", &self.weights.all_vars().len())
            .finish()
    }
}

impl Encoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `model_dir` (the
    /// folder `scripts/setup-models.sh` fills).
    pub fn load(model_dir: &Path, max_tokens: usize) -> Result<Self> {
        let config = BertConfig::read(&model_dir.join("config.json"))?;
        let batcher = TextBatcher::load(&model_dir.join("tokenizer.json"), max_tokens)?;
        let weights_path: PathBuf = model_dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(Error::unavailable(format!(
                "encoder weights {} are missing; run scripts/setup-models.sh",
                weights_path.display()
            )));
        }
        let mut weights = VarMap::new();
        let builder = VarBuilder::from_varmap(&weights, DType::F32, &Device::Cpu);
        let model = Bert::new(&config, builder).map_err(candle_error("building the encoder"))?;
        weights
            .load(&weights_path)
            .map_err(candle_error("loading the encoder weights"))?;
        Ok(Self {
            weights,
            model,
            batcher,
        })
    }

    /// The network, for training.
    pub(crate) fn parts(&self) -> (&VarMap, &Bert, &TextBatcher) {
        (&self.weights, &self.model, &self.batcher)
    }

    /// Unit-length sentence embeddings (mean pooling), one per text, in order.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBED_BATCH) {
            let batch = self.batcher.encode(chunk)?;
            let vectors = self
                .model
                .sentence_embeddings(&batch.ids, &batch.mask)
                .and_then(|t| t.to_vec2::<f32>())
                .map_err(candle_error("embedding with the encoder"))?;
            out.extend(vectors);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::tune::{tune, TuningSettings};
    use super::*;
    use crate::embed::local::{LocalEmbedder, ModelPaths};
    use crate::embed::{dot, Embedder};

    fn load() -> Encoder {
        Encoder::load(&ModelPaths::from_env().model_dir, 64).expect("run scripts/setup-models.sh")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_candle_network_embeds_like_the_onnx_model() {
        let texts = strings(&[
            "Where is my parcel?",
            "I want my money back for the broken kettle",
            "hi",
            "Can I change the delivery address of order 4411 to my office?",
        ]);
        let candle = load().embed(&texts).expect("embeds");
        let onnx = LocalEmbedder::load_default()
            .expect("model")
            .embed(&texts)
            .expect("embeds");
        for (a, b) in candle.iter().zip(&onnx) {
            assert_eq!(a.len(), 384);
            let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
            // The ONNX file stores int8 weights; the fp32 network agrees to about 0.999.
            assert!(dot(a, b) > 0.99, "cosine {}", dot(a, b));
        }
        // Padding a text inside a batch does not change its embedding.
        let alone = load().embed(&texts[2..3]).expect("embeds");
        assert!(dot(&alone[0], &candle[2]) > 0.9999);
    }

    #[test]
    fn tuning_pulls_an_intents_examples_together_and_pushes_intents_apart() {
        let texts = strings(&[
            "where is my order",
            "track my package",
            "has my parcel shipped yet",
            "when will my delivery arrive",
            "I want a refund",
            "give me my money back",
            "please refund the charge",
            "can I get reimbursed",
            "reset my password",
            "I cannot log in",
            "my account is locked",
            "forgot my login details",
        ]);
        let labels: Vec<&str> = (0..12)
            .map(|i| ["tracking", "refund", "access"][i / 4])
            .collect();
        let margin = |vectors: &[Vec<f32>]| {
            let (mut same, mut other, mut n_same, mut n_other) = (0.0, 0.0, 0, 0);
            for i in 0..vectors.len() {
                for j in 0..i {
                    let s = dot(&vectors[i], &vectors[j]);
                    if labels[i] == labels[j] {
                        same += s;
                        n_same += 1;
                    } else {
                        other += s;
                        n_other += 1;
                    }
                }
            }
            same / n_same as f32 - other / n_other as f32
        };
        let mut encoder = load();
        let before = margin(&encoder.embed(&texts).expect("embeds"));
        let settings = TuningSettings {
            rounds: 4,
            batch_size: 3,
            learning_rate: 1e-4,
            ..TuningSettings::default()
        };
        let report = tune(&mut encoder, &texts, &labels, &settings).expect("tunes");
        assert_eq!(report.pairs, 48);
        // 16 batches when every batch has all three intents; a few more when the shuffled
        // order leaves an intent's pairs for the end.
        assert!((16..=24).contains(&report.steps), "{report:?}");
        assert!(report.last_loss < report.first_loss, "{report:?}");
        let after = margin(&encoder.embed(&texts).expect("embeds"));
        assert!(after > before + 0.05, "margin {before} -> {after}");
        // A fresh load is the untuned model again.
        assert!((margin(&load().embed(&texts).expect("embeds")) - before).abs() < 1e-5);
    }

    #[test]
    fn a_missing_weights_file_says_how_to_install_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = ModelPaths::from_env().model_dir;
        for name in ["config.json", "tokenizer.json"] {
            std::fs::copy(source.join(name), dir.path().join(name)).expect("copies");
        }
        let err = Encoder::load(dir.path(), 64).expect_err("no weights");
        assert!(
            err.message().contains("setup-models.sh"),
            "{}",
            err.message()
        );
    }
}
