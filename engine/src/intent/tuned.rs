//! The per-intent-set procedure with a fine-tuned encoder: a fresh copy of the embedding model
//! is fine-tuned on the set's examples ([`crate::encoder::tune`]), and the classifier is trained
//! on that copy's embeddings. Messages are then embedded by the same copy.
//!
//! Used by the evaluation harness (`blaigent-eval intent --tune-encoder`). The server does not
//! serve tuned encoders yet: measured on the 2-core project machine, candle's CPU kernels take
//! 14 minutes to tune on BANKING77's ten examples per intent and 43 ms to embed one message
//! (the ONNX model: 3 ms); the gain was 1.8 points on one seed (docs/quality.md).

use std::path::PathBuf;

use super::{ClassifierSettings, IntentClassifier, IntentExample};
use crate::encoder::tune::{tune, TuningReport, TuningSettings};
use crate::encoder::Encoder;
use crate::error::Result;

/// Tokens per message the tuned encoder reads when embedding.
pub const TUNED_MAX_TOKENS: usize = 64;

/// Where the weights are and how they are tuned.
#[derive(Debug, Clone)]
pub struct TuningConfig {
    /// Folder with `model.safetensors`, `config.json` and `tokenizer.json`.
    pub model_dir: PathBuf,
    pub settings: TuningSettings,
}

impl TuningConfig {
    /// The shipped settings over the installed model ([`crate::embed::local::ModelPaths`]).
    pub fn installed() -> Self {
        Self {
            model_dir: crate::embed::local::ModelPaths::from_env().model_dir,
            settings: TuningSettings::default(),
        }
    }
}

/// A tuned encoder and the classifier trained on its embeddings.
#[derive(Debug)]
pub struct TunedModel {
    pub encoder: Encoder,
    pub classifier: IntentClassifier,
    pub report: TuningReport,
}

/// Tunes a fresh copy of the installed encoder on `examples` and trains the classifier on its
/// embeddings (blocking; minutes).
pub fn train_tuned(
    config: &TuningConfig,
    examples: &[IntentExample],
    settings: &ClassifierSettings,
) -> Result<TunedModel> {
    let span = tracing::info_span!("intent_tuning", examples = examples.len());
    let _guard = span.enter();
    let mut encoder = Encoder::load(&config.model_dir, TUNED_MAX_TOKENS)?;
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let labels: Vec<&str> = examples.iter().map(|e| e.label.as_str()).collect();
    let report = tune(&mut encoder, &texts, &labels, &config.settings)?;
    let vectors = encoder.embed(&texts)?;
    let classifier = IntentClassifier::train(examples, &vectors, settings)?;
    Ok(TunedModel {
        encoder,
        classifier,
        report,
    })
}
