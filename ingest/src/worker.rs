//! The ingestion worker: claims durable jobs, turns sources into indexed chunks, and switches
//! a document to its new generation only once every chunk is indexed.
//!
//! Crash safety: a job holds a lease it renews while it runs; after a crash the lease expires
//! and the job is claimed again. Each attempt first deletes chunks of generations other than
//! the active one (what a crashed attempt left behind), stores the new generation's chunks in
//! the database (`engine::store::knowledge_chunks`, the keyword index's source when the vector
//! index cannot be read; never read before the switch), indexes them beside the live
//! generation, then flips `active_generation` in one transaction (retrieval filters on it), and
//! only then deletes the old generation. There is never a moment with both or neither live.

use std::sync::Arc;
use std::time::Duration;

use engine::error::{Error, ErrorKind, Result};
use engine::knowledge::SourceKind;
use engine::store::knowledge::{ClaimedJob, IndexedGeneration, JobKind, MAX_JOB_ATTEMPTS};
use tokio::task::JoinHandle;

use crate::extract::Extracted;
use crate::fetch::CrawlOptions;
use crate::pipeline::{build_chunks, pages_hash, DocumentMeta, SourcePage};
use crate::service::Knowledge;

/// Renewals per lease period: two may fail in a row before the lease runs out.
const RENEWALS_PER_LEASE: u32 = 3;
/// How often the worker looks for url sources due for refresh.
const REFRESH_SCAN_EVERY: Duration = Duration::from_secs(30);

/// The background worker; stops (like a crash, which jobs survive) when dropped.
#[derive(Debug)]
pub struct WorkerHandle {
    task: JoinHandle<()>,
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Indexed { chunks: usize },
    Unchanged,
    Failed { reason: String },
    Retrying { reason: String },
    DocumentGone,
}

impl Knowledge {
    /// Starts the background worker on the current tokio runtime.
    pub fn spawn_worker(self: &Arc<Self>) -> WorkerHandle {
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut last_refresh_scan = tokio::time::Instant::now() - REFRESH_SCAN_EVERY;
            loop {
                if last_refresh_scan.elapsed() >= REFRESH_SCAN_EVERY {
                    last_refresh_scan = tokio::time::Instant::now();
                    if let Err(e) = this.store.enqueue_due_refreshes().await {
                        tracing::warn!(error = %e.chain(), "scanning for due refreshes failed");
                    }
                }
                match this.run_pending_jobs().await {
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e.chain(), "the ingestion worker failed"),
                }
                tokio::select! {
                    _ = this.wake.notified() => {}
                    _ = tokio::time::sleep(this.config.poll_interval) => {}
                }
            }
        });
        WorkerHandle { task }
    }

    /// Runs jobs until none is due; returns how many ran. The CLI calls this to ingest inline.
    pub async fn run_pending_jobs(&self) -> Result<usize> {
        let mut ran = 0;
        while let Some(job) = self.store.claim_ingest_job(self.lease_ms()).await? {
            let outcome = self.run_job(&job).await;
            tracing::info!(job = %job.id, document = %job.document_id, ?outcome, "ingestion job finished");
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs one claimed job, renewing its lease meanwhile, and records the outcome.
    #[tracing::instrument(skip_all, fields(job = %job.id, document = %job.document_id, kind = job.kind.as_str()))]
    pub async fn run_job(&self, job: &ClaimedJob) -> JobOutcome {
        let store = self.store.clone();
        let job_id = job.id.clone();
        let lease_ms = self.lease_ms();
        let renew_every = self.config.job_lease / RENEWALS_PER_LEASE;
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(renew_every).await;
                if let Err(e) = store.renew_ingest_job(&job_id, lease_ms).await {
                    tracing::warn!(error = %e.chain(), "renewing a job lease failed");
                }
            }
        });
        let result = self.index_document(job).await;
        renewer.abort();
        match result {
            Ok(outcome) => outcome,
            Err(e) => {
                let permanent = matches!(
                    e.kind(),
                    ErrorKind::Unprocessable
                        | ErrorKind::Invalid
                        | ErrorKind::NotFound
                        | ErrorKind::Forbidden
                        | ErrorKind::UnsupportedMediaType
                        | ErrorKind::TooLarge
                );
                let retry = (!permanent && job.attempts < MAX_JOB_ATTEMPTS)
                    .then(|| 5_000 * job.attempts.max(1));
                let reason = if permanent {
                    e.message().to_owned()
                } else {
                    tracing::warn!(error = %e.chain(), "ingestion attempt failed");
                    format!("ingestion failed: {}", e.message())
                };
                if let Err(store_error) = self.store.fail_ingest_job(job, &reason, retry).await {
                    tracing::error!(error = %store_error.chain(), "recording a failed job failed");
                }
                match retry {
                    Some(_) => JobOutcome::Retrying { reason },
                    None => JobOutcome::Failed { reason },
                }
            }
        }
    }

    /// The job lease in milliseconds, as the store takes it.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.job_lease.as_millis()).unwrap_or(i64::MAX)
    }

    async fn index_document(&self, job: &ClaimedJob) -> Result<JobOutcome> {
        let org = &job.organization_id;
        let Some(stored) = self.store.document(org, &job.document_id).await? else {
            self.store
                .fail_ingest_job(job, "the document was deleted", None)
                .await?;
            return Ok(JobOutcome::DocumentGone);
        };
        let document = stored.document;
        let active = document.active_generation;
        // Whatever an interrupted attempt indexed is not live: remove it before starting.
        self.retriever
            .delete_other_generations(org, &document.id, active)
            .await?;

        let pages = match document.source_kind {
            SourceKind::Url => {
                let url = document
                    .url
                    .clone()
                    .ok_or_else(|| Error::unprocessable("the url source has no URL"))?;
                let crawl = stored.crawl.unwrap_or_default();
                let options = CrawlOptions {
                    max_pages: crawl.get("max_pages").and_then(|v| v.as_u64()).unwrap_or(1)
                        as usize,
                    same_site: crawl
                        .get("same_site")
                        .and_then(|v| v.as_bool())
                        .unwrap_or(true),
                };
                self.fetcher
                    .crawl(&url, options)
                    .await?
                    .into_iter()
                    .map(|p| SourcePage {
                        url: Some(p.url.to_string()),
                        extracted: p.extracted,
                    })
                    .collect::<Vec<_>>()
            }
            _ => {
                let Some(content) = self.store.knowledge_source(&document.id).await? else {
                    if active > 0 {
                        // Already indexed by an attempt that finished; nothing to redo.
                        self.store.complete_unchanged_refresh(job).await?;
                        return Ok(JobOutcome::Unchanged);
                    }
                    return Err(Error::unprocessable("the uploaded content is missing"));
                };
                let extracted: Extracted = serde_json::from_str(&content).map_err(|e| {
                    Error::internal("the stored content is unreadable").with_source(e)
                })?;
                vec![SourcePage {
                    url: document.url.clone(),
                    extracted,
                }]
            }
        };

        let hash = pages_hash(&pages);
        if job.kind == JobKind::Refresh
            && active > 0
            && document.content_hash.as_deref() == Some(hash.as_str())
        {
            self.store.complete_unchanged_refresh(job).await?;
            return Ok(JobOutcome::Unchanged);
        }
        if active == 0 {
            if let Some(existing) = self
                .store
                .document_with_hash(org, &hash, Some(&document.id))
                .await?
            {
                return Err(Error::unprocessable(format!(
                    "the same content is already in the knowledge base as document {existing}"
                )));
            }
        }

        let generation = active + 1;
        let title_from_page = pages.first().and_then(|p| p.extracted.title.clone());
        let meta = DocumentMeta {
            organization_id: org.clone(),
            document_id: document.id.clone(),
            generation,
            title: if document.title.is_empty() {
                title_from_page.clone().unwrap_or_default()
            } else {
                document.title.clone()
            },
            tags: document.tags.clone(),
        };
        let chunker = self.chunker.clone();
        let chunk_hash = hash.clone();
        let chunks =
            tokio::task::spawn_blocking(move || build_chunks(&chunker, &meta, &pages, &chunk_hash))
                .await
                .map_err(|e| Error::internal("chunking failed").with_source(e))?;
        if chunks.is_empty() {
            return Err(Error::unprocessable("the document contains no text"));
        }
        // Kept in the database too (invisible until the switch below), so a process that
        // cannot read the vector index still builds its keyword index from them.
        self.store
            .save_chunks(org, &document.id, generation, &chunks)
            .await?;
        let count = self.retriever.index_chunks(chunks).await?;
        // event: knowledge.updated is recorded by complete_ingest_job, in the same transaction
        // as the generation switch.
        let live = self
            .store
            .complete_ingest_job(
                job,
                &IndexedGeneration {
                    generation,
                    chunk_count: count as i64,
                    content_hash: hash,
                    title: title_from_page,
                },
            )
            .await?;
        if live {
            self.retriever
                .delete_other_generations(org, &document.id, generation)
                .await?;
            Ok(JobOutcome::Indexed { chunks: count })
        } else {
            self.retriever.delete_document(org, &document.id).await?;
            Ok(JobOutcome::DocumentGone)
        }
    }
}

#[cfg(test)]
mod tests {
    use engine::ids::OrganizationId;
    use engine::index::qdrant_edge::EdgeIndex;
    use engine::index::source::{ChunkSource, VectorChunks};
    use engine::index::StoredChunk;
    use engine::store::orgs::{NewOrganization, Plan};
    use engine::store::Store;
    use serde_json::Value;

    use super::*;
    use crate::config::KnowledgeConfig;
    use crate::service::{shared_embedder, NewSource, SourceContent};

    /// A Markdown guide long enough for several chunks, under two heading levels.
    fn guide() -> String {
        let mut text = String::from("# Returns guide\n\n");
        for (section, topic) in [
            ("Returns", "return"),
            ("Refunds", "refund"),
            ("Exchanges", "exchange"),
            ("Shipping", "parcel"),
        ] {
            text.push_str(&format!("## {section}\n\n"));
            for i in 1..=6 {
                text.push_str(&format!(
                    "Rule {i} about each {topic}: customers keep the receipt, pack the item in \
                     its original box, print the label from their account page and drop the \
                     {topic} at any post office within thirty days of delivery.\n\n"
                ));
            }
        }
        text
    }

    async fn organization(store: &Store, name: &str) -> OrganizationId {
        store
            .insert_organization(&NewOrganization {
                name: name.into(),
                plan: Plan::Growth,
                rate_limit_per_min: None,
                monthly_conversation_quota: None,
            })
            .await
            .unwrap()
            .id
    }

    fn source(content: SourceContent, title: &str, tags: &[&str]) -> NewSource {
        NewSource {
            content,
            title: Some(title.into()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            metadata: Value::Null,
            refresh_interval_secs: None,
        }
    }

    fn text(text: &str) -> SourceContent {
        SourceContent::Text { text: text.into() }
    }

    fn sorted(mut chunks: Vec<StoredChunk>) -> Vec<StoredChunk> {
        chunks.sort_by_key(|c| c.id);
        chunks
    }

    /// A knowledge base on a fresh SQLite file and embedded index. The folder comes last so it
    /// is dropped last (the index flushes on drop).
    async fn knowledge() -> (Knowledge, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/kb.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let embedder = shared_embedder().unwrap();
        let index = EdgeIndex::open_async(dir.path().join("qdrant"), embedder.dimension())
            .await
            .unwrap();
        let knowledge = Knowledge::open_with_vectors(
            store.clone(),
            embedder,
            Arc::new(index),
            KnowledgeConfig::default(),
        )
        .await
        .unwrap();
        (knowledge, store, dir)
    }

    #[tokio::test]
    async fn the_database_returns_the_chunks_the_worker_indexed() {
        let (knowledge, store, _dir) = knowledge().await;
        let org = organization(&store, "Shop").await;
        let other = organization(&store, "Other shop").await;
        let guide_doc = knowledge
            .add(&org, source(text(&guide()), "Returns guide", &["policy"]))
            .await
            .unwrap();
        let faq = SourceContent::Faq {
            pairs: vec![
                (
                    "Do you ship abroad?".into(),
                    "Yes, to every EU country.".into(),
                ),
                (
                    "Can I pay by invoice?".into(),
                    "Only business customers.".into(),
                ),
            ],
        };
        knowledge.add(&org, source(faq, "FAQ", &[])).await.unwrap();
        let foreign = text("Refunds of the other shop take ninety days.");
        knowledge
            .add(&other, source(foreign, "Other", &[]))
            .await
            .unwrap();
        assert_eq!(knowledge.run_pending_jobs().await.unwrap(), 3);

        let vectors = VectorChunks(knowledge.retriever().vectors().clone());
        let indexed = sorted(vectors.chunks(&org).await.unwrap());
        let from_database = sorted(store.chunks(&org).await.unwrap());
        let guide_chunks = indexed
            .iter()
            .filter(|c| c.chunk.document_id == guide_doc.id)
            .count();
        assert!(
            guide_chunks > 3,
            "the guide is several chunks: {guide_chunks}"
        );
        assert!(indexed.iter().any(|c| c.chunk.heading_path.len() == 2));
        assert_eq!(from_database, indexed);
        assert!(from_database.iter().all(|c| c.chunk.organization_id == org));
    }

    #[tokio::test]
    async fn generations_that_are_not_live_stay_out_of_the_database_load() {
        let (knowledge, store, _dir) = knowledge().await;
        let org = organization(&store, "Shop").await;
        let live = knowledge
            .add(&org, source(text("Refunds take 5 days."), "Refunds", &[]))
            .await
            .unwrap();
        knowledge.run_pending_jobs().await.unwrap();
        let before = sorted(store.chunks(&org).await.unwrap());
        assert_eq!(before.len(), 1);

        // A refresh half-way (generation 2 stored, not switched to) and a first ingestion
        // half-way (stored, the document still has no active generation).
        let pending = knowledge
            .add(
                &org,
                source(text("Gift cards last 3 years."), "Gift cards", &[]),
            )
            .await
            .unwrap();
        for (document, generation) in [(&live.id, 2), (&pending.id, 1)] {
            let mut chunk = before[0].chunk.clone();
            chunk.document_id = document.clone();
            chunk.generation = generation;
            chunk.text = "Half-ingested text.".into();
            store
                .save_chunks(&org, document, generation, &[chunk])
                .await
                .unwrap();
        }
        assert_eq!(sorted(store.chunks(&org).await.unwrap()), before);

        // Once a generation is switched to, its stored chunks are the ones loaded.
        for document in [&pending.id, &live.id] {
            if document == &live.id {
                store
                    .enqueue_ingest_job(&org, document, JobKind::Refresh)
                    .await
                    .unwrap();
            }
            let job = store.claim_ingest_job(60_000).await.unwrap().unwrap();
            assert_eq!(&job.document_id, document);
            let indexed = IndexedGeneration {
                generation: if document == &live.id { 2 } else { 1 },
                chunk_count: 1,
                content_hash: "hash".into(),
                title: None,
            };
            assert!(store.complete_ingest_job(&job, &indexed).await.unwrap());
        }
        let after = store.chunks(&org).await.unwrap();
        assert_eq!(after.len(), 2);
        assert!(after.iter().all(|c| c.chunk.text == "Half-ingested text."));
        assert_eq!(store.documents_without_chunks(&org).await.unwrap(), 0);
    }
}
