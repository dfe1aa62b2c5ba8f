//! Knowledge-base documents, their pending content, and the durable ingestion jobs.
//!
//! A job is claimed with a lease (`locked_until`) that the worker renews while it runs; a job
//! whose worker died is claimed again once its lease expires, on this replica or another. The
//! claim is an optimistic `update ... where` on the row, portable to SQLite and PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::events::EventType;
use crate::ids::{DocumentId, JobId, OrganizationId};
use crate::knowledge::{Document, DocumentStatus, SourceKind};
use crate::retrieval::ActiveGenerations;

/// Attempts before a job is given up.
pub const MAX_JOB_ATTEMPTS: i64 = 3;

/// A document to create.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub id: DocumentId,
    pub organization_id: OrganizationId,
    pub title: String,
    pub source_kind: SourceKind,
    pub url: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Value,
    /// Crawl options of a url source.
    pub crawl: Option<Value>,
    pub refresh_interval_secs: Option<i64>,
    /// Known at upload for extracted content; computed by the job for URLs.
    pub content_hash: Option<String>,
}

/// What kind of work a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// First indexing of a document.
    Ingest,
    /// Re-fetch a url source; unchanged content is skipped.
    Refresh,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Ingest => "ingest",
            JobKind::Refresh => "refresh",
        }
    }
}

/// A job this worker holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub organization_id: OrganizationId,
    pub document_id: DocumentId,
    pub kind: JobKind,
    /// Including this one.
    pub attempts: i64,
}

/// The outcome of a successful job, stored with the generation switch.
#[derive(Debug, Clone)]
pub struct IndexedGeneration {
    pub generation: i64,
    pub chunk_count: i64,
    pub content_hash: String,
    /// Replaces an empty title (a page's `<title>`).
    pub title: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: String,
    organization_id: String,
    title: String,
    source_kind: String,
    url: Option<String>,
    status: String,
    failure_reason: Option<String>,
    chunk_count: i64,
    content_hash: Option<String>,
    tags: String,
    metadata: String,
    crawl: Option<String>,
    active_generation: i64,
    refresh_interval_secs: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// A document with the crawl options of its source.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    pub document: Document,
    pub crawl: Option<Value>,
}

impl TryFrom<DocumentRow> for StoredDocument {
    type Error = Error;
    fn try_from(row: DocumentRow) -> Result<Self> {
        let corrupt = |what: &str| Error::internal(format!("a stored document has a bad {what}"));
        Ok(StoredDocument {
            document: Document {
                id: DocumentId::from_trusted(row.id),
                organization_id: OrganizationId::from_trusted(row.organization_id),
                title: row.title,
                source_kind: SourceKind::parse(&row.source_kind)
                    .ok_or_else(|| corrupt("source kind"))?,
                url: row.url,
                status: DocumentStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
                failure_reason: row.failure_reason,
                chunk_count: row.chunk_count,
                content_hash: row.content_hash,
                tags: serde_json::from_str(&row.tags).map_err(|_| corrupt("tag list"))?,
                metadata: serde_json::from_str(&row.metadata).map_err(|_| corrupt("metadata"))?,
                active_generation: row.active_generation,
                refresh_interval_secs: row.refresh_interval_secs,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            crawl: row
                .crawl
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|_| corrupt("crawl"))?,
        })
    }
}

const SELECT: &str = "select id, organization_id, title, source_kind, url, status, \
    failure_reason, chunk_count, content_hash, tags, metadata, crawl, active_generation, \
    refresh_interval_secs, created_at, updated_at from knowledge_documents";

fn event_data(document: &DocumentId, change: &str, extra: Value) -> Value {
    let mut data = serde_json::json!({"document_id": document.as_str(), "change": change});
    if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    data
}

impl Store {
    /// Creates a document in `processing` with its pending content (if any) and queues its
    /// ingestion job, in one transaction. Returns the job id.
    #[tracing::instrument(skip_all, fields(org = %new.organization_id, document = %new.id))]
    pub async fn create_document(&self, new: &NewDocument, content: Option<&str>) -> Result<JobId> {
        let now = now_ms();
        let job = JobId::new();
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into knowledge_documents (id, organization_id, title, source_kind, url, \
             status, chunk_count, content_hash, tags, metadata, crawl, active_generation, \
             refresh_interval_secs, next_refresh_at, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'processing', 0, $6, $7, $8, $9, 0, $10, null, $11, $11)",
        )
        .bind(new.id.as_str())
        .bind(new.organization_id.as_str())
        .bind(&new.title)
        .bind(new.source_kind.as_str())
        .bind(new.url.as_deref())
        .bind(new.content_hash.as_deref())
        .bind(serde_json::to_string(&new.tags).unwrap_or_else(|_| "[]".into()))
        .bind(new.metadata.to_string())
        .bind(new.crawl.as_ref().map(Value::to_string))
        .bind(new.refresh_interval_secs)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(content) = content {
            sqlx::query(
                "insert into knowledge_sources (document_id, organization_id, content, \
                 created_at, updated_at) values ($1, $2, $3, $4, $4)",
            )
            .bind(new.id.as_str())
            .bind(new.organization_id.as_str())
            .bind(content)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        insert_job(
            &mut tx,
            &job,
            &new.organization_id,
            &new.id,
            JobKind::Ingest,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Creates a document that failed before any job could run (an unreadable upload), so the
    /// dashboard lists it with its reason.
    pub async fn create_failed_document(&self, new: &NewDocument, reason: &str) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into knowledge_documents (id, organization_id, title, source_kind, url, \
             status, failure_reason, chunk_count, tags, metadata, active_generation, \
             created_at, updated_at) \
             values ($1, $2, $3, $4, $5, 'failed', $6, 0, $7, $8, 0, $9, $9)",
        )
        .bind(new.id.as_str())
        .bind(new.organization_id.as_str())
        .bind(&new.title)
        .bind(new.source_kind.as_str())
        .bind(new.url.as_deref())
        .bind(reason)
        .bind(serde_json::to_string(&new.tags).unwrap_or_else(|_| "[]".into()))
        .bind(new.metadata.to_string())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The organization's document `id`, or `None` (also for another organization's id).
    pub async fn document(
        &self,
        org: &OrganizationId,
        id: &DocumentId,
    ) -> Result<Option<StoredDocument>> {
        let sql = format!("{SELECT} where organization_id = $1 and id = $2");
        let row: Option<DocumentRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(StoredDocument::try_from).transpose()
    }

    /// Up to `limit` documents, newest first, strictly after the `(created_at, id)` cursor.
    pub async fn documents(
        &self,
        org: &OrganizationId,
        cursor: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Document>> {
        let sql = format!(
            "{SELECT} where organization_id = $1 \
             and ($2 is null or created_at < $2 or (created_at = $2 and id < $3)) \
             order by created_at desc, id desc limit $4"
        );
        let rows: Vec<DocumentRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(cursor.as_ref().map(|c| c.0))
            .bind(cursor.as_ref().map(|c| c.1.as_str()).unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| StoredDocument::try_from(r).map(|s| s.document))
            .collect()
    }

    /// A document of `org` (not failed, not `except`) holding content with this hash.
    pub async fn document_with_hash(
        &self,
        org: &OrganizationId,
        content_hash: &str,
        except: Option<&DocumentId>,
    ) -> Result<Option<DocumentId>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select id from knowledge_documents where organization_id = $1 \
             and content_hash = $2 and status <> 'failed' and id <> $3 \
             order by created_at limit 1",
        )
        .bind(org.as_str())
        .bind(content_hash)
        .bind(except.map(DocumentId::as_str).unwrap_or(""))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| DocumentId::from_trusted(id)))
    }

    /// Deletes a document with its pending content, stored chunks and jobs, and records
    /// `knowledge.updated`. Returns false when the organization has no such document. The
    /// caller removes the vectors (retrieval ignores them from this commit on: the document has
    /// no active generation any more).
    #[tracing::instrument(skip_all, fields(org = %org, document = %id))]
    pub async fn delete_document(&self, org: &OrganizationId, id: &DocumentId) -> Result<bool> {
        let mut tx = self.begin().await?;
        let deleted =
            sqlx::query("delete from knowledge_documents where organization_id = $1 and id = $2")
                .bind(org.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        for sql in [
            "delete from knowledge_sources where document_id = $1",
            "delete from knowledge_chunks where document_id = $1",
            "delete from ingest_jobs where document_id = $1",
        ] {
            sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
        }
        Store::record_event_tx(
            &mut tx,
            org,
            EventType::KnowledgeUpdated,
            &event_data(id, "deleted", Value::Null),
            None,
        )
        .await?;
        tx.commit().await?;
        crate::events::signal::notify_committed();
        Ok(true)
    }

    /// Queues a job for a document (a refresh, or a retry).
    pub async fn enqueue_ingest_job(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        kind: JobKind,
    ) -> Result<JobId> {
        let job = JobId::new();
        let mut tx = self.begin().await?;
        insert_job(&mut tx, &job, org, document, kind, now_ms()).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// The pending extracted content of a document.
    pub async fn knowledge_source(&self, document: &DocumentId) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("select content from knowledge_sources where document_id = $1")
                .bind(document.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(c,)| c))
    }

    /// Claims the oldest runnable job (queued and due, or running with an expired lease) for
    /// `lease_ms`. Returns `None` when there is nothing to do.
    pub async fn claim_ingest_job(&self, lease_ms: i64) -> Result<Option<ClaimedJob>> {
        let now = now_ms();
        // A few candidates, in case another replica wins the race for the first.
        let candidates: Vec<(String,)> = sqlx::query_as(
            "select id from ingest_jobs where (status = 'queued' and run_after <= $1) \
             or (status = 'running' and locked_until < $1) order by run_after, id limit 4",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for (id,) in candidates {
            let claimed = sqlx::query(
                "update ingest_jobs set status = 'running', locked_until = $1, \
                 attempts = attempts + 1, updated_at = $2 where id = $3 and \
                 ((status = 'queued' and run_after <= $2) or (status = 'running' and locked_until < $2))",
            )
            .bind(now + lease_ms)
            .bind(now)
            .bind(&id)
            .execute(self.pool())
            .await?
            .rows_affected();
            if claimed == 1 {
                let row: (String, String, String, i64) = sqlx::query_as(
                    "select organization_id, document_id, kind, attempts from ingest_jobs \
                     where id = $1",
                )
                .bind(&id)
                .fetch_one(self.pool())
                .await?;
                return Ok(Some(ClaimedJob {
                    id: JobId::from_trusted(id),
                    organization_id: OrganizationId::from_trusted(row.0),
                    document_id: DocumentId::from_trusted(row.1),
                    kind: if row.2 == "refresh" {
                        JobKind::Refresh
                    } else {
                        JobKind::Ingest
                    },
                    attempts: row.3,
                }));
            }
        }
        Ok(None)
    }

    /// Extends the lease of a running job.
    pub async fn renew_ingest_job(&self, job: &JobId, lease_ms: i64) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "update ingest_jobs set locked_until = $1, updated_at = $2 \
             where id = $3 and status = 'running'",
        )
        .bind(now + lease_ms)
        .bind(now)
        .bind(job.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Switches the document to its newly indexed generation, marks it ready, finishes the job,
    /// drops the stored chunks of its other generations and records `knowledge.updated`,
    /// atomically. Returns false when the document was deleted meanwhile (the caller then
    /// removes the new vectors).
    pub async fn complete_ingest_job(
        &self,
        job: &ClaimedJob,
        indexed: &IndexedGeneration,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "update knowledge_documents set status = 'ready', failure_reason = null, \
             active_generation = $1, chunk_count = $2, content_hash = $3, \
             title = case when title = '' and $4 is not null then $4 else title end, \
             next_refresh_at = case when refresh_interval_secs is null then null \
                 else $5 + refresh_interval_secs * 1000 end, \
             updated_at = $5 where organization_id = $6 and id = $7",
        )
        .bind(indexed.generation)
        .bind(indexed.chunk_count)
        .bind(&indexed.content_hash)
        .bind(indexed.title.as_deref())
        .bind(now)
        .bind(job.organization_id.as_str())
        .bind(job.document_id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        finish_job(&mut tx, &job.id, "done", None, now).await?;
        if updated == 0 {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query("delete from knowledge_sources where document_id = $1")
            .bind(job.document_id.as_str())
            .execute(&mut *tx)
            .await?;
        // The new generation's chunks stay (the keyword index's database source); the
        // replaced one's go with the switch.
        sqlx::query("delete from knowledge_chunks where document_id = $1 and generation <> $2")
            .bind(job.document_id.as_str())
            .bind(indexed.generation)
            .execute(&mut *tx)
            .await?;
        let change = match job.kind {
            JobKind::Ingest => "indexed",
            JobKind::Refresh => "refreshed",
        };
        Store::record_event_tx(
            &mut tx,
            &job.organization_id,
            EventType::KnowledgeUpdated,
            &event_data(
                &job.document_id,
                change,
                serde_json::json!({"chunk_count": indexed.chunk_count, "content_hash": indexed.content_hash}),
            ),
            None,
        )
        .await?;
        tx.commit().await?;
        crate::events::signal::notify_committed();
        Ok(true)
    }

    /// Finishes a refresh that found the same content: nothing changes but the schedule.
    pub async fn complete_unchanged_refresh(&self, job: &ClaimedJob) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "update knowledge_documents set failure_reason = null, \
             next_refresh_at = case when refresh_interval_secs is null then null \
                 else $1 + refresh_interval_secs * 1000 end, updated_at = $1 \
             where organization_id = $2 and id = $3",
        )
        .bind(now)
        .bind(job.organization_id.as_str())
        .bind(job.document_id.as_str())
        .execute(&mut *tx)
        .await?;
        finish_job(&mut tx, &job.id, "done", None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt. With `retry_in_ms` the job is queued again; otherwise it is
    /// failed for good and so is the document, unless an earlier generation is live (a failed
    /// refresh keeps serving the previous content and only records the reason).
    pub async fn fail_ingest_job(
        &self,
        job: &ClaimedJob,
        reason: &str,
        retry_in_ms: Option<i64>,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        if let Some(delay) = retry_in_ms {
            sqlx::query(
                "update ingest_jobs set status = 'queued', run_after = $1, locked_until = null, \
                 error = $2, updated_at = $3 where id = $4",
            )
            .bind(now + delay)
            .bind(reason)
            .bind(now)
            .bind(job.id.as_str())
            .execute(&mut *tx)
            .await?;
        } else {
            finish_job(&mut tx, &job.id, "failed", Some(reason), now).await?;
            sqlx::query(
                "update knowledge_documents set \
                 status = case when active_generation > 0 then 'ready' else 'failed' end, \
                 failure_reason = $1, \
                 next_refresh_at = case when refresh_interval_secs is null then null \
                     else $2 + refresh_interval_secs * 1000 end, updated_at = $2 \
                 where organization_id = $3 and id = $4",
            )
            .bind(reason)
            .bind(now)
            .bind(job.organization_id.as_str())
            .bind(job.document_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a refresh for every url source whose interval has elapsed and returns how many.
    pub async fn enqueue_due_refreshes(&self) -> Result<usize> {
        let now = now_ms();
        let due: Vec<(String, String, i64)> = sqlx::query_as(
            "select id, organization_id, refresh_interval_secs from knowledge_documents \
             where next_refresh_at is not null and next_refresh_at <= $1 \
             and status <> 'processing' limit 50",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut queued = 0;
        for (id, org, interval) in due {
            let mut tx = self.begin().await?;
            // Moving next_refresh_at first makes the claim: another replica's update finds
            // the row no longer due.
            let claimed = sqlx::query(
                "update knowledge_documents set next_refresh_at = $1 \
                 where id = $2 and next_refresh_at <= $3",
            )
            .bind(now + interval.max(60) * 1000)
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                insert_job(
                    &mut tx,
                    &JobId::new(),
                    &OrganizationId::from_trusted(org),
                    &DocumentId::from_trusted(id),
                    JobKind::Refresh,
                    now,
                )
                .await?;
                queued += 1;
            }
            tx.commit().await?;
        }
        Ok(queued)
    }

    /// The status of a job (`queued`, `running`, `done`, `failed`), for tests and the CLI.
    pub async fn ingest_job_status(&self, job: &JobId) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("select status from ingest_jobs where id = $1")
            .bind(job.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(s,)| s))
    }
}

async fn insert_job(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: &JobId,
    org: &OrganizationId,
    document: &DocumentId,
    kind: JobKind,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "insert into ingest_jobs (id, organization_id, document_id, kind, status, attempts, \
         run_after, created_at, updated_at) values ($1, $2, $3, $4, 'queued', 0, $5, $5, $5)",
    )
    .bind(job.as_str())
    .bind(org.as_str())
    .bind(document.as_str())
    .bind(kind.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn finish_job(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: &JobId,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "update ingest_jobs set status = $1, error = $2, locked_until = null, updated_at = $3 \
         where id = $4",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(job.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl ActiveGenerations for Store {
    async fn active_generations(&self, org: &OrganizationId) -> Result<HashMap<DocumentId, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select id, active_generation from knowledge_documents where organization_id = $1",
        )
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, generation)| (DocumentId::from_trusted(id), generation))
            .collect())
    }
}
