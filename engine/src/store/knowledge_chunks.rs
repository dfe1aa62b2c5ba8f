//! The chunks of each knowledge document generation, kept in the database
//! (`knowledge_chunks`, one row per document generation).
//!
//! The vector index holds every chunk with its vector, and the keyword (BM25) index is built
//! from its payloads. A process that cannot reach the vector index (a Qdrant server down when a
//! replica first searches an organization) would have nothing to build it from, so the
//! ingestion worker also stores each generation's chunks here, exactly as it indexes them, and
//! [`Store`] is the keyword index's fallback [`ChunkSource`] (see [`crate::index::source`]).
//!
//! Why the chunks and not the extracted text, re-chunked on demand: chunking is CPU-bound (the
//! splitter measures candidate pieces in model tokens), about 300 chunks/s in a release build on
//! the 2-core development machine, so a 100,000-chunk organization would take minutes inside
//! its first search; reading stored chunks is one query (100,000 chunks, 100 MB of JSON: 2 to
//! 3 s on SQLite and PostgreSQL, debug build). Stored chunks are also the indexed ones by
//! construction, whatever a later version's chunker does.
//!
//! Visibility follows retrieval's rule ([`crate::retrieval::ActiveGenerations`]): only the row
//! of a document's `active_generation` is ever read, so a generation still being indexed (or
//! left behind by a crashed attempt) is never loaded, nor is another organization's row.
//! [`Store::complete_ingest_job`] deletes the other generations' rows in the transaction that
//! switches generations, and [`Store::delete_document`] deletes them all.

use std::time::Instant;

use async_trait::async_trait;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::{DocumentId, OrganizationId};
use crate::index::source::ChunkSource;
use crate::index::StoredChunk;
use crate::knowledge::Chunk;

/// A chunk as stored: what the row (organization, document, generation) does not already say.
#[derive(Debug, Serialize, Deserialize)]
struct ChunkRecord {
    chunk_index: i64,
    text: String,
    title: String,
    url: Option<String>,
    heading_path: Vec<String>,
    tags: Vec<String>,
    content_hash: String,
}

impl ChunkRecord {
    fn of(chunk: &Chunk) -> Self {
        Self {
            chunk_index: chunk.chunk_index,
            text: chunk.text.clone(),
            title: chunk.title.clone(),
            url: chunk.url.clone(),
            heading_path: chunk.heading_path.clone(),
            tags: chunk.tags.clone(),
            content_hash: chunk.content_hash.clone(),
        }
    }

    fn into_chunk(self, org: &OrganizationId, document: &DocumentId, generation: i64) -> Chunk {
        Chunk {
            organization_id: org.clone(),
            document_id: document.clone(),
            generation,
            chunk_index: self.chunk_index,
            text: self.text,
            title: self.title,
            url: self.url,
            heading_path: self.heading_path,
            tags: self.tags,
            content_hash: self.content_hash,
        }
    }
}

impl Store {
    /// Stores the chunks of `generation` of `document` (replacing what an interrupted attempt
    /// at the same generation stored). Call before indexing them: the row is invisible until
    /// the generation becomes the active one. Fails when a chunk belongs to another document,
    /// generation or organization.
    #[tracing::instrument(skip_all, fields(org = %org, document = %document, generation, chunks = chunks.len()))]
    pub async fn save_chunks(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        generation: i64,
        chunks: &[Chunk],
    ) -> Result<()> {
        let foreign = chunks.iter().any(|c| {
            &c.organization_id != org || &c.document_id != document || c.generation != generation
        });
        if foreign {
            return Err(Error::internal(
                "the chunks to store belong to another document generation",
            ));
        }
        let records: Vec<ChunkRecord> = chunks.iter().map(ChunkRecord::of).collect();
        let json = serde_json::to_string(&records)
            .map_err(|e| Error::internal("could not serialise chunks").with_source(e))?;
        sqlx::query(
            "insert into knowledge_chunks (document_id, organization_id, generation, chunks, \
             created_at, updated_at) values ($1, $2, $3, $4, $5, $5) \
             on conflict (document_id, generation) do update \
             set chunks = excluded.chunks, updated_at = excluded.updated_at",
        )
        .bind(document.as_str())
        .bind(org.as_str())
        .bind(generation)
        .bind(json)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// How many of `org`'s visible documents have no stored chunks (indexed before chunks were
    /// kept in the database).
    pub async fn documents_without_chunks(&self, org: &OrganizationId) -> Result<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "select cast(count(*) as bigint) from knowledge_documents d \
             where d.organization_id = $1 and d.active_generation > 0 and not exists \
             (select 1 from knowledge_chunks c where c.document_id = d.id \
              and c.generation = d.active_generation)",
        )
        .bind(org.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(count)
    }

    /// Warns when some visible documents cannot be loaded from here.
    async fn report_documents_without_chunks(&self, org: &OrganizationId) -> Result<()> {
        let missing = self.documents_without_chunks(org).await?;
        if missing > 0 {
            tracing::warn!(
                documents = missing,
                "documents indexed before their chunks were kept in the database are missing \
                 from a keyword index loaded from it"
            );
        }
        Ok(())
    }
}

/// The database as the keyword index's fallback: every chunk of `org`'s visible generations.
#[async_trait]
impl ChunkSource for Store {
    fn name(&self) -> &'static str {
        "database"
    }

    #[tracing::instrument(skip_all, fields(org = %org))]
    async fn chunks(&self, org: &OrganizationId) -> Result<Vec<StoredChunk>> {
        let started = Instant::now();
        // One query, its rows read as they arrive: the raw JSON of one document at a time is
        // held, whatever the size of the organization.
        let mut rows = sqlx::query_as::<_, (String, i64, String)>(
            "select c.document_id, c.generation, c.chunks \
             from knowledge_chunks c join knowledge_documents d on d.id = c.document_id \
             where c.organization_id = $1 and d.organization_id = $1 \
             and d.active_generation = c.generation",
        )
        .bind(org.as_str())
        .fetch(self.pool());
        let mut chunks = Vec::new();
        let mut documents = 0;
        while let Some((document, generation, json)) = rows.try_next().await? {
            let document = DocumentId::from_trusted(document);
            chunks.extend(chunks_of_row(org, &document, generation, &json));
            documents += 1;
        }
        drop(rows); // hands the connection back before the next query
        self.report_documents_without_chunks(org).await?;
        tracing::info!(
            documents,
            chunks = chunks.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "loaded the organization's chunks from the database"
        );
        Ok(chunks)
    }

    /// One stored generation, whether or not it is the active one yet (the caller asks for a
    /// generation it read as active); `None` when the database has no row for it (indexed
    /// before chunks were kept here, or since replaced).
    #[tracing::instrument(skip_all, fields(org = %org, document = %document, generation))]
    async fn generation_chunks(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        generation: i64,
    ) -> Result<Option<Vec<StoredChunk>>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select chunks from knowledge_chunks \
             where document_id = $1 and organization_id = $2 and generation = $3",
        )
        .bind(document.as_str())
        .bind(org.as_str())
        .bind(generation)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(json,)| chunks_of_row(org, document, generation, &json)))
    }
}

/// The chunks of one stored row. An unreadable row is skipped with an error log: retrying
/// cannot repair it, and the rest of the organization still loads.
fn chunks_of_row(
    org: &OrganizationId,
    document: &DocumentId,
    generation: i64,
    json: &str,
) -> Vec<StoredChunk> {
    let records: Vec<ChunkRecord> = match serde_json::from_str(json) {
        Ok(records) => records,
        Err(err) => {
            tracing::error!(document = %document, error = %err, "skipping unreadable stored chunks");
            return Vec::new();
        }
    };
    records
        .into_iter()
        .map(|record| {
            let chunk = record.into_chunk(org, document, generation);
            StoredChunk {
                id: chunk.point_id(),
                chunk,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::SourceKind;
    use crate::store::knowledge::{IndexedGeneration, NewDocument};

    async fn store() -> (Store, tempfile::TempDir) {
        crate::store::test_support::sqlite_store().await
    }

    /// A document of a new organization whose generation 1 is live with one stored chunk.
    async fn live_document(store: &Store, text: &str) -> Chunk {
        let org = crate::store::test_support::organization(store).await;
        let new = NewDocument {
            id: DocumentId::new(),
            organization_id: org.clone(),
            title: "Policy".into(),
            source_kind: SourceKind::Text,
            url: None,
            tags: vec![],
            metadata: serde_json::json!({}),
            crawl: None,
            refresh_interval_secs: None,
            content_hash: None,
        };
        store.create_document(&new, None).await.unwrap();
        let chunk = crate::index::conformance::chunk(&org, &new.id, 1, 0, text, &["policy"]);
        store
            .save_chunks(&org, &new.id, 1, std::slice::from_ref(&chunk))
            .await
            .unwrap();
        let job = store.claim_ingest_job(60_000).await.unwrap().unwrap();
        let indexed = IndexedGeneration {
            generation: 1,
            chunk_count: 1,
            content_hash: text.into(),
            title: None,
        };
        assert!(store.complete_ingest_job(&job, &indexed).await.unwrap());
        chunk
    }

    #[tokio::test]
    async fn each_organization_loads_only_its_own_chunks() {
        let (store, _dir) = store().await;
        let ours = live_document(&store, "Refunds take 5 days.").await;
        let theirs = live_document(&store, "Refunds take 90 days.").await;
        let loaded = store.chunks(&ours.organization_id).await.unwrap();
        assert_eq!(
            loaded,
            vec![StoredChunk {
                id: ours.point_id(),
                chunk: ours.clone()
            }]
        );
        let loaded = store.chunks(&theirs.organization_id).await.unwrap();
        assert_eq!(loaded[0].chunk.text, "Refunds take 90 days.");
    }

    #[tokio::test]
    async fn chunks_of_another_document_generation_are_refused() {
        let (store, _dir) = store().await;
        let chunk = live_document(&store, "Refunds take 5 days.").await;
        let err = store
            .save_chunks(
                &chunk.organization_id,
                &chunk.document_id,
                2,
                std::slice::from_ref(&chunk),
            )
            .await
            .expect_err("generation 1 stored as generation 2");
        assert_eq!(err.kind(), crate::error::ErrorKind::Internal);
    }

    #[tokio::test]
    async fn one_generation_is_read_alone_and_only_by_its_organization() {
        let (store, _dir) = store().await;
        let chunk = live_document(&store, "Refunds take 5 days.").await;
        let (org, doc) = (&chunk.organization_id, &chunk.document_id);
        let found = store.generation_chunks(org, doc, 1).await.unwrap();
        assert_eq!(
            found,
            Some(vec![StoredChunk {
                id: chunk.point_id(),
                chunk: chunk.clone()
            }])
        );
        // A generation never stored, and another organization asking for this one.
        assert_eq!(store.generation_chunks(org, doc, 2).await.unwrap(), None);
        let stranger = OrganizationId::new();
        assert_eq!(
            store.generation_chunks(&stranger, doc, 1).await.unwrap(),
            None
        );
    }
}
