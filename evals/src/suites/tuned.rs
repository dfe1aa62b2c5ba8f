//! `--tune-encoder`: instead of the frozen embedding model, a copy of it fine-tuned on the
//! run's own training examples embeds the training examples and the scored rows, and the
//! engine's classifier is trained on those embeddings: the server's procedure with
//! `BLAIGENT_INTENT_TUNING=on` ([`engine::intent::tuned::train_tuned`]). Nothing but the
//! training split touches the encoder.

use anyhow::{anyhow, Result};
use engine::embed::Embedder;
use engine::encoder::tune::TuningSettings;
use engine::intent::label_examples::with_label_examples;
use engine::intent::tuned::{train_tuned as engine_train_tuned, TunedModel, TuningConfig};
use engine::intent::ClassifierSettings;

use super::intent::examples_at;
use crate::data::Labelled;

/// A classifier trained on a tuned encoder's embeddings, and that encoder as the server runs
/// it (ONNX Runtime over the tuned copy of `model.onnx`).
pub struct TunedRun(pub TunedModel);

impl TunedRun {
    /// Embeds `rows` with the tuned encoder.
    pub fn embed(&self, rows: &[Labelled]) -> Result<Vec<Vec<f32>>> {
        let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
        self.0.embedder.embed(&texts).map_err(|e| anyhow!("{e}"))
    }
}

/// Tunes a fresh copy of the installed model on the rows at `indices` of `train` (plus the
/// intent-name examples the engine adds), then trains the classifier on its embeddings.
pub fn train_tuned(
    train: &[Labelled],
    indices: &[usize],
    settings: &ClassifierSettings,
    tuning: &TuningSettings,
) -> Result<TunedRun> {
    let examples = examples_at(train, indices);
    let config = TuningConfig {
        settings: *tuning,
        ..TuningConfig::installed()
    };
    engine_train_tuned(&config, &with_label_examples(&examples), settings)
        .map(TunedRun)
        .map_err(|e| anyhow!("{e}"))
}
