//! The suites `blaigent-eval` runs. Each takes a [`Context`] and its options and returns a
//! [`Report`](crate::report::Report).
//!
//! - [`intent`]: intent accuracy, macro-F1, per-intent scores, confusions, latency; few-shot.
//! - [`oos`]: out-of-scope detection at the shipped threshold and over a curve of thresholds.
//! - [`language`]: language identification accuracy on labelled sentences.
//! - [`gate`]: the fast CI gate (default intents on held-out Bitext, a CLINC150 slice,
//!   language on a sample).
//! - [`scripted`]: the data formats of the `answers`, `policy` and `conversations` suites.

pub mod gate;
pub mod intent;
pub mod language;
pub mod oos;
pub mod scripted;

use std::path::PathBuf;

use engine::intent::ClassifierSettings;

use crate::cache::EmbeddingCache;

/// What every suite needs: where the data is, the embedding cache, and the classifier settings.
pub struct Context {
    pub data_dir: PathBuf,
    pub cache: EmbeddingCache,
    pub settings: ClassifierSettings,
}
