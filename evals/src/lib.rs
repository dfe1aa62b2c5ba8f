//! The offline evaluation harness behind `blaigent-eval`: data sets in, metrics and a report
//! out, and a gate that fails CI when quality drops. It calls the engine in-process, the very
//! code the server runs.
//!
//! Map of the crate:
//! - [`cli`]: the command line and the baseline comparison that sets the exit status.
//! - [`data`]: loaders for the public benchmarks and for `text,label` files.
//! - [`cache`]: an on-disk cache of embeddings keyed by model and texts.
//! - [`metrics`]: accuracy, macro-F1, MRR, nDCG@k, recall@k, pass^k, mean and standard error.
//! - [`replay`]: `blaigent-eval replay` of recorded conversations ([`replay_backend`],
//!   [`replay_model`]: the recorded action results and model responses substituted).
//! - [`report`]: Markdown and JSON reports, baselines and regressions.
//! - [`suites`]: intent, out-of-scope, language, retrieval, answers, policy, conversations,
//!   the CI gate, and the in-process or HTTP target of the whole-agent suites.
pub mod cache;
pub mod cli;
pub mod data;
pub mod metrics;
pub mod replay;
pub mod replay_backend;
pub mod replay_model;
pub mod report;
pub mod suites;
