//! Knowledge-base domain types: documents an organization uploads, the chunks they are split
//! into, and the passages retrieval returns.
//!
//! A document moves `processing -> ready` (or `failed` with a readable reason). Its chunks are
//! indexed under a *generation* number: a refresh writes a new generation beside the old one and
//! the document's `active_generation` flips only once every new chunk is indexed, so a search
//! never sees half a document, nor two versions of it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{DocumentId, OrganizationId};

/// Where a document came from, which decides how it is extracted and whether it can refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An uploaded file (PDF, HTML, Markdown, text, CSV, JSON).
    File,
    /// One web page, a crawl, or a sitemap; refreshable.
    Url,
    /// Text sent inline as JSON.
    Text,
    /// Question/answer pairs.
    Faq,
    /// Product rows (CSV or JSON), one record per row.
    Product,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::File => "file",
            SourceKind::Url => "url",
            SourceKind::Text => "text",
            SourceKind::Faq => "faq",
            SourceKind::Product => "product",
        }
    }

    /// Parses the stored form written by [`SourceKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "file" => SourceKind::File,
            "url" => SourceKind::Url,
            "text" => SourceKind::Text,
            "faq" => SourceKind::Faq,
            "product" => SourceKind::Product,
            _ => return None,
        })
    }
}

/// The life cycle of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Processing,
    Ready,
    Failed,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Processing => "processing",
            DocumentStatus::Ready => "ready",
            DocumentStatus::Failed => "failed",
        }
    }

    /// Parses the stored form written by [`DocumentStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "processing" => DocumentStatus::Processing,
            "ready" => DocumentStatus::Ready,
            "failed" => DocumentStatus::Failed,
            _ => return None,
        })
    }
}

/// A document of an organization's knowledge base, as listed by the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: DocumentId,
    pub organization_id: OrganizationId,
    pub title: String,
    pub source_kind: SourceKind,
    /// The URL of a `url` source (or the page a file came from, when known).
    pub url: Option<String>,
    pub status: DocumentStatus,
    /// Why ingestion failed, in words a dashboard user can act on.
    pub failure_reason: Option<String>,
    pub chunk_count: i64,
    /// sha256 (hex) of the normalised text; equal hashes in one organization are duplicates.
    pub content_hash: Option<String>,
    pub tags: Vec<String>,
    pub metadata: serde_json::Value,
    /// The generation of chunks retrieval may return (0: none yet).
    pub active_generation: i64,
    pub refresh_interval_secs: Option<i64>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// One piece of a document's text, the unit that is embedded, indexed and retrieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    pub organization_id: OrganizationId,
    pub document_id: DocumentId,
    pub generation: i64,
    /// Position of the chunk in its document, from 0.
    pub chunk_index: i64,
    pub text: String,
    pub title: String,
    pub url: Option<String>,
    /// Headings above the chunk, outermost first (`["Shipping", "International"]`).
    pub heading_path: Vec<String>,
    pub tags: Vec<String>,
    /// sha256 (hex) of the document's normalised text.
    pub content_hash: String,
}

impl Chunk {
    /// A stable point id for this chunk: the same document, generation and position always map
    /// to the same id, so re-running an interrupted job overwrites instead of duplicating.
    pub fn point_id(&self) -> uuid::Uuid {
        point_id(&self.document_id, self.generation, self.chunk_index)
    }
}

/// The stable point id of chunk `chunk_index` of `document` in `generation`.
pub fn point_id(document: &DocumentId, generation: i64, chunk_index: i64) -> uuid::Uuid {
    let digest = Sha256::digest(format!("{document}/{generation}/{chunk_index}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// sha256 (hex) of a text, the content hash used for duplicate detection and refreshes.
pub fn content_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a search ranks passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// BM25 over chunk texts only.
    Keyword,
    /// Embedding similarity only.
    Vector,
    /// Both, fused by reciprocal rank.
    #[default]
    Hybrid,
}

impl SearchMode {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "keyword" => SearchMode::Keyword,
            "vector" => SearchMode::Vector,
            "hybrid" => SearchMode::Hybrid,
            _ => return None,
        })
    }
}

/// A passage retrieval returns, with where it came from and how well it matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPassage {
    pub document_id: DocumentId,
    pub chunk_index: i64,
    pub title: String,
    pub url: Option<String>,
    pub heading_path: Vec<String>,
    pub text: String,
    /// The final score (reciprocal-rank fusion in hybrid mode, cosine or BM25 otherwise).
    pub score: f32,
    /// Cosine similarity to the query, when the vector side saw this passage.
    pub vector_score: Option<f32>,
    /// BM25 score, when the keyword side saw this passage.
    pub keyword_score: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_ids_are_stable_and_distinct_per_generation() {
        let doc = DocumentId::new();
        assert_eq!(point_id(&doc, 1, 0), point_id(&doc, 1, 0));
        assert_ne!(point_id(&doc, 1, 0), point_id(&doc, 2, 0));
        assert_ne!(point_id(&doc, 1, 0), point_id(&doc, 1, 1));
    }

    #[test]
    fn stored_names_round_trip() {
        for kind in [
            SourceKind::File,
            SourceKind::Url,
            SourceKind::Text,
            SourceKind::Faq,
            SourceKind::Product,
        ] {
            assert_eq!(SourceKind::parse(kind.as_str()), Some(kind));
        }
        for status in [
            DocumentStatus::Processing,
            DocumentStatus::Ready,
            DocumentStatus::Failed,
        ] {
            assert_eq!(DocumentStatus::parse(status.as_str()), Some(status));
        }
    }
}
