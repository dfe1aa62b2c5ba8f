//! Intent detection: which of an organization's intents a customer message expresses, with a
//! calibrated confidence, or `other` when it fits none of them (out of scope).
//!
//! Map of the module:
//! - [`features`]: embedding standardisation plus hashed TF-IDF word and character n-grams.
//! - [`train`]: the softmax regression trainer (mini-batch Adam, sparse-aware, seeded).
//! - [`calibrate`]: temperature scaling and the expected calibration error.
//! - [`classifier`]: [`IntentClassifier`], the trained model and its out-of-scope rule.
//! - [`label_examples`]: intent names spelled as words, used as one more example each.
//! - [`defaults`]: the shipped customer-service intent set (`default_intents.tsv`).
//! - [`service`]: [`IntentService`], one classifier per organization, retrained on change.
//! - [`tuned`]: the classifier on an encoder fine-tuned on the intent set ([`crate::encoder`]).
//! - [`tuner`]: the server's background tuning, one intent set at a time, saved to disk.
//! - [`manage`]: list, create or replace, delete and reset an organization's intents.
//!
//! The classifier is trained in-process from examples in milliseconds (the default set) to
//! seconds (BANKING77's 10,000 examples, release build), so an organization's edits take
//! effect on the next message without a restart.

pub mod calibrate;
pub mod classifier;
pub mod defaults;
pub mod features;
pub mod label_examples;
pub mod manage;
pub mod service;
pub mod train;
pub mod tuned;
pub mod tuner;

use serde::{Deserialize, Serialize};

pub use classifier::{ClassifierSettings, IntentClassifier};
pub use service::{IntentDefinition, IntentService, IntentSource};
pub use train::TrainSettings;

/// The label of a message that fits none of the intents.
pub const OTHER: &str = "other";

/// One labelled example utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentExample {
    pub text: String,
    pub label: String,
}

impl IntentExample {
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            label: label.into(),
        }
    }
}

/// What the classifier says about one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentPrediction {
    /// The intent, or [`OTHER`] when out of scope.
    pub label: String,
    /// Calibrated probability of the best intent, in `[0, 1]`.
    pub confidence: f32,
    /// True when the confidence is below the threshold (or the best intent is `other`).
    pub out_of_scope: bool,
    /// The best intents with their probabilities, best first.
    pub ranked: Vec<(String, f32)>,
}
