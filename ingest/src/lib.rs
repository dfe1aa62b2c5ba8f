//! Ingestion: files, texts and URLs -> normalised text -> chunks -> embeddings -> the indexes.
//!
//! Map of the crate:
//! - [`service`]: [`Knowledge`], the knowledge base as the API and CLI use it.
//! - [`worker`]: the durable ingestion jobs and the background worker.
//! - [`extract`]: PDF, HTML, Markdown, plain text, CSV and JSON (FAQ pairs, product rows).
//! - [`normalize`]: Unicode NFC, whitespace, hyphenation at line ends.
//! - [`chunk`]: token-sized chunks with overlap and heading paths.
//! - [`fetch`]: HTTP(S) fetching behind an SSRF guard, crawls with robots.txt and sitemaps.
//! - [`pipeline`]: one generation of a document's chunks from its pages.
//! - [`config`]: settings from the environment.
//! - [`eval`]: retrieval quality on the stackfaq set (Recall@k, MRR, the relevance cut-off).

pub mod chunk;
pub mod config;
pub mod eval;
pub mod extract;
pub mod fetch;
pub mod normalize;
pub mod pipeline;
pub mod service;
pub mod worker;

pub use config::KnowledgeConfig;
pub use service::{shared_embedder, Knowledge, NewSource, SourceContent};
