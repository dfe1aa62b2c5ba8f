//! Where the keyword index reads an organization's chunks from when it first searches it.
//!
//! [`ChunkSource`] is the seam. The keyword index tries its sources in order and keeps the first
//! complete answer:
//!
//! 1. [`VectorChunks`]: the vector index's payloads, scrolled page by page (the single source
//!    of truth while it answers).
//! 2. The database ([`crate::store::Store`], see [`crate::store::knowledge_chunks`]): the
//!    chunks the ingestion worker stored for each document's visible generation, injected with
//!    [`crate::retrieval::Retriever::with_keyword_fallback`] where the knowledge base is built
//!    (`ingest::Knowledge`), used when the vector index cannot be scrolled.
//!
//! A source may also read one document generation on its own ([`ChunkSource::generation_chunks`]):
//! the database can, and that is how a keyword index learns of a generation another replica
//! indexed (see [`super::held_generations`]) without reloading the whole organization.
//!
//! Every source must return, for one organization, at least the chunks of its visible
//! generations exactly as the vector index holds them, under the same point ids
//! ([`crate::knowledge::point_id`]). (The vector index may also return a generation still being
//! indexed, or one a crash left behind; retrieval drops chunks of generations that are not
//! active.) Retrieval fuses the vector and keyword rankings on (document, generation, chunk
//! index), so a keyword index loaded from the database merges with vector hits once the index
//! is back.

use std::sync::Arc;

use async_trait::async_trait;

use super::{StoredChunk, VectorIndex};
use crate::error::Result;
use crate::ids::{DocumentId, OrganizationId};

/// Page size when scrolling an organization out of the vector index.
const SCROLL_PAGE: usize = 1_000;

/// Every chunk of one organization, for building its keyword index.
#[async_trait]
pub trait ChunkSource: Send + Sync {
    /// A short name for logs (`vector index`, `database`).
    fn name(&self) -> &'static str;

    /// All of `org`'s chunks, or an error: never a partial list (a source that fails half-way
    /// fails as a whole, so the next one is tried).
    async fn chunks(&self, org: &OrganizationId) -> Result<Vec<StoredChunk>>;

    /// The chunks of `generation` of `document` (possibly none), or `Ok(None)` when this
    /// source cannot read one generation on its own or does not have this one (the caller
    /// then reloads the whole organization).
    async fn generation_chunks(
        &self,
        _org: &OrganizationId,
        _document: &DocumentId,
        _generation: i64,
    ) -> Result<Option<Vec<StoredChunk>>> {
        Ok(None)
    }
}

/// The vector index as a [`ChunkSource`]: its payloads, scrolled in id order.
pub struct VectorChunks(pub Arc<dyn VectorIndex>);

#[async_trait]
impl ChunkSource for VectorChunks {
    fn name(&self) -> &'static str {
        "vector index"
    }

    async fn chunks(&self, org: &OrganizationId) -> Result<Vec<StoredChunk>> {
        let mut chunks = Vec::new();
        let mut after = None;
        loop {
            let page = self.0.scroll(org, after, SCROLL_PAGE).await?;
            chunks.extend(page.chunks);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(chunks),
            }
        }
    }
}
