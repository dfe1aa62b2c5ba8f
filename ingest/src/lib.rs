//! Ingestion: files, texts and URLs -> normalised text -> chunks -> embeddings -> the indexes.
//!
//! Map of the crate:
//! - [`extract`]: PDF, HTML, Markdown, plain text, CSV and JSON (FAQ pairs, product rows).
//! - [`normalize`]: Unicode NFC, whitespace, hyphenation at line ends.
//! - [`chunk`]: token-sized chunks with overlap and heading paths.
//! - [`fetch`]: HTTP(S) fetching behind an SSRF guard, crawls with robots.txt and sitemaps.
//! - [`pipeline`]: one document from source to indexed chunks, under a generation.

pub mod chunk;
pub mod extract;
pub mod fetch;
pub mod normalize;
