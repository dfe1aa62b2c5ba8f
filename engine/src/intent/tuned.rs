//! The per-intent-set procedure with a fine-tuned encoder: a fresh copy of the embedding model
//! is fine-tuned on the set's examples ([`crate::encoder::tune`], candle), written into a copy
//! of the shipped ONNX file ([`crate::encoder::onnx_export`]), and the classifier is trained on
//! that copy's embeddings. Messages are then embedded by the same copy through ONNX Runtime, at
//! the frozen model's speed.
//!
//! The evaluation harness (`blaigent-eval intent --tune-encoder`) and the server's background
//! tuner ([`super::tuner`]) both call [`train_tuned`].

use super::{ClassifierSettings, IntentClassifier, IntentExample};
use crate::embed::local::{LocalEmbedder, ModelPaths};
use crate::embed::Embedder;
use crate::encoder::onnx_export::export_onnx;
use crate::encoder::tune::{tune, TuningReport, TuningSettings};
use crate::encoder::Encoder;
use crate::error::Result;

/// Tokens per message the tuned encoder reads when embedding.
pub const TUNED_MAX_TOKENS: usize = 64;

/// Where the weights are and how they are tuned.
#[derive(Debug, Clone)]
pub struct TuningConfig {
    /// The installed model: `model.safetensors` (tuned), `model.onnx` (served) and the
    /// tokenizer files.
    pub paths: ModelPaths,
    pub settings: TuningSettings,
}

impl TuningConfig {
    /// The shipped settings over the installed model ([`ModelPaths::from_env`]).
    pub fn installed() -> Self {
        Self {
            paths: ModelPaths::from_env(),
            settings: TuningSettings::default(),
        }
    }
}

/// A tuned encoder (as ONNX bytes and the embedder serving them) and the classifier trained on
/// its embeddings.
pub struct TunedModel {
    /// The tuned copy of `model.onnx`, for saving.
    pub onnx: Vec<u8>,
    pub embedder: LocalEmbedder,
    pub classifier: IntentClassifier,
    pub report: TuningReport,
}

impl std::fmt::Debug for TunedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunedModel")
            .field("onnx_bytes", &self.onnx.len())
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Tunes a fresh copy of the installed encoder on `examples` and trains the classifier on the
/// served copy's embeddings (blocking; minutes).
pub fn train_tuned(
    config: &TuningConfig,
    examples: &[IntentExample],
    settings: &ClassifierSettings,
) -> Result<TunedModel> {
    let span = tracing::info_span!("intent_tuning", examples = examples.len());
    let _guard = span.enter();
    let mut encoder = Encoder::load(&config.paths.model_dir, TUNED_MAX_TOKENS)?;
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let labels: Vec<&str> = examples.iter().map(|e| e.label.as_str()).collect();
    let report = tune(&mut encoder, &texts, &labels, &config.settings)?;
    let shipped = crate::embed::local::read(&config.paths.model_dir, "model.onnx")?;
    let onnx = export_onnx(&shipped, &encoder)?;
    drop(encoder);
    let (embedder, classifier) = serve_tuned(&config.paths, onnx.clone(), examples, settings)?;
    Ok(TunedModel {
        onnx,
        embedder,
        classifier,
        report,
    })
}

/// Loads a tuned ONNX copy and trains the classifier on its embeddings of `examples` (also how
/// a saved tuned model is brought back after a restart: seconds, no tuning).
pub fn serve_tuned(
    paths: &ModelPaths,
    onnx: Vec<u8>,
    examples: &[IntentExample],
    settings: &ClassifierSettings,
) -> Result<(LocalEmbedder, IntentClassifier)> {
    let embedder = LocalEmbedder::from_onnx(paths, onnx)?;
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let vectors = embedder.embed(&texts)?;
    let classifier = IntentClassifier::train(examples, &vectors, settings)?;
    Ok((embedder, classifier))
}
