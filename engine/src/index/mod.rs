//! Where chunk vectors live, behind one object-safe trait.
//!
//! - [`VectorIndex`]: the seam. Every query names an organization and implementations filter on
//!   it, so one organization never sees another's knowledge.
//! - [`qdrant_edge::EdgeIndex`]: the default, the Qdrant engine in-process (persisted under the
//!   data directory).
//! - [`qdrant_server::ServerIndex`]: a Qdrant server over gRPC, chosen when
//!   `BLAIGENT_QDRANT_URL` is set.
//! - [`keyword::KeywordIndex`]: BM25 over the same chunks, kept in memory and rebuilt from the
//!   vector index's payloads (the one source of truth), so it survives restarts and deletes.
//! - [`held_generations`]: which document generations the keyword index holds, compared with
//!   the live ones on every search so it learns what another replica indexed or deleted.
//! - [`source::ChunkSource`]: where the keyword index loads an organization from: the vector
//!   index first, the database's copy of the chunks when the vector index cannot be read.
//! - [`guarded::GuardedIndex`]: wraps either with a deadline on every call, so an index that
//!   stops answering fails fast and retrieval falls back to keywords.
//! - `conformance` (tests only): the suite both vector implementations must pass.

#[cfg(test)]
pub mod conformance;
pub mod guarded;
pub(crate) mod held_generations;
pub mod keyword;
pub mod qdrant_edge;
pub mod qdrant_server;
pub mod source;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{DocumentId, OrganizationId};
use crate::knowledge::Chunk;

/// A chunk with its vector, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexPoint {
    pub id: uuid::Uuid,
    pub vector: Vec<f32>,
    pub chunk: Chunk,
}

impl IndexPoint {
    /// Pairs a chunk with its embedding under the chunk's stable point id.
    pub fn new(chunk: Chunk, vector: Vec<f32>) -> Self {
        Self {
            id: chunk.point_id(),
            vector,
            chunk,
        }
    }
}

/// A stored chunk as read back from an index.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub id: uuid::Uuid,
    pub chunk: Chunk,
}

/// A search hit: the stored chunk and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHit {
    pub id: uuid::Uuid,
    pub score: f32,
    pub chunk: Chunk,
}

/// Narrows a search beyond the organization (which is always applied).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    /// Keep chunks carrying at least one of these tags (no filter when empty).
    pub tags: Vec<String>,
    /// Keep chunks of these documents only (no filter when `None`).
    pub document_ids: Option<Vec<DocumentId>>,
}

/// One page of [`VectorIndex::scroll`].
#[derive(Debug, Clone, Default)]
pub struct ScrollPage {
    pub chunks: Vec<StoredChunk>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<uuid::Uuid>,
}

/// Payload field names, shared by both Qdrant implementations.
pub mod fields {
    pub const ORGANIZATION_ID: &str = "organization_id";
    pub const DOCUMENT_ID: &str = "document_id";
    pub const GENERATION: &str = "generation";
    pub const CHUNK_INDEX: &str = "chunk_index";
    pub const TEXT: &str = "text";
    pub const TITLE: &str = "title";
    pub const URL: &str = "url";
    pub const HEADING_PATH: &str = "heading_path";
    pub const TAGS: &str = "tags";
    pub const CONTENT_HASH: &str = "content_hash";
}

/// Storage and similarity search of chunk vectors, partitioned by organization.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// A short name for logs and health output (`qdrant-edge`, `qdrant-server`).
    fn name(&self) -> &'static str;

    /// Creates the collection for vectors of `dimension` with its payload indexes, if missing.
    /// Fails when an existing collection has another dimension.
    async fn ensure_collection(&self, dimension: usize) -> Result<()>;

    /// Inserts or replaces points (by id) in one batch.
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()>;

    /// Removes every point of a document, all generations.
    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()>;

    /// Removes the points of a document whose generation is not `keep` (stale or half-written
    /// generations).
    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()>;

    /// Removes points by id.
    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()>;

    /// The `top_k` chunks of `org` most similar to `vector`, best first.
    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<IndexHit>>;

    /// Reads an organization's chunks page by page (no vectors), in id order.
    async fn scroll(
        &self,
        org: &OrganizationId,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<ScrollPage>;

    /// Number of points stored for `org`.
    async fn count(&self, org: &OrganizationId) -> Result<u64>;

    /// Succeeds when the index can serve queries.
    async fn health(&self) -> Result<()>;
}

/// The payload stored with each point, as JSON (both Qdrant flavours accept this shape).
pub(crate) fn chunk_payload(chunk: &Chunk) -> serde_json::Value {
    serde_json::json!({
        fields::ORGANIZATION_ID: chunk.organization_id.as_str(),
        fields::DOCUMENT_ID: chunk.document_id.as_str(),
        fields::GENERATION: chunk.generation,
        fields::CHUNK_INDEX: chunk.chunk_index,
        fields::TEXT: chunk.text,
        fields::TITLE: chunk.title,
        fields::URL: chunk.url,
        fields::HEADING_PATH: chunk.heading_path,
        fields::TAGS: chunk.tags,
        fields::CONTENT_HASH: chunk.content_hash,
    })
}

/// Reads a chunk back from a payload written by [`chunk_payload`].
pub(crate) fn chunk_from_payload(
    payload: &serde_json::Map<String, serde_json::Value>,
) -> Result<Chunk> {
    use crate::error::Error;
    let text = |key: &str| -> String {
        payload
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let int = |key: &str| payload.get(key).and_then(|v| v.as_i64()).unwrap_or(0);
    let list = |key: &str| -> Vec<String> {
        payload
            .get(key)
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let organization = text(fields::ORGANIZATION_ID);
    let document = text(fields::DOCUMENT_ID);
    if organization.is_empty() || document.is_empty() {
        return Err(Error::internal(
            "an indexed point has no organization or document id",
        ));
    }
    Ok(Chunk {
        organization_id: OrganizationId::from_trusted(organization),
        document_id: DocumentId::from_trusted(document),
        generation: int(fields::GENERATION),
        chunk_index: int(fields::CHUNK_INDEX),
        text: text(fields::TEXT),
        title: text(fields::TITLE),
        url: payload
            .get(fields::URL)
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        heading_path: list(fields::HEADING_PATH),
        tags: list(fields::TAGS),
        content_hash: text(fields::CONTENT_HASH),
    })
}
