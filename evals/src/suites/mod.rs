//! The suites `blaigent-eval` runs. Each takes a [`Context`] and its options and returns a
//! [`Report`](crate::report::Report).
//!
//! - [`intent`]: intent accuracy, macro-F1, per-intent scores, confusions, latency; few-shot.
//! - [`oos`]: out-of-scope detection at the shipped threshold and over a curve of thresholds.
//! - [`language`]: language identification accuracy on labelled sentences.
//! - [`gate`]: the fast CI gate (default intents on held-out Bitext, a CLINC150 slice,
//!   language on a sample).
//! - [`retrieval`]: Recall@k, MRR and nDCG@10 of keyword, vector and hybrid retrieval.
//! - [`kb`]: the throw-away knowledge base of the suites that retrieve.
//! - [`answers`]: pass rate and groundedness of whole-agent answers over a knowledge base.
//! - [`conversations`]: scripted multi-turn action conversations against a loopback backend
//!   ([`action_backend`]); task success rate.
//! - [`policy`]: red-team and ordinary messages, expected block / redact / escalate / allow.
//! - [`remote_intent`]: the intent suite against a running server.
//! - [`target`]: the agent in-process or a running server over HTTP.

pub mod action_backend;
pub mod answers;
pub mod conversations;
pub mod gate;
pub mod intent;
pub mod kb;
pub mod language;
pub mod oos;
pub mod policy;
pub mod remote_intent;
pub mod retrieval;
pub mod target;
pub mod tuned;

use std::path::PathBuf;

use engine::intent::ClassifierSettings;

use crate::cache::EmbeddingCache;

/// What every suite needs: where the data is, the embedding cache, and the classifier settings.
pub struct Context {
    pub data_dir: PathBuf,
    pub cache: EmbeddingCache,
    pub settings: ClassifierSettings,
    /// Fine-tune the encoder on each run's training examples (`--tune-encoder`).
    pub tuning: Option<engine::encoder::tune::TuningSettings>,
}
