//! [`GuardedIndex`]: any [`VectorIndex`] with a deadline on every call and a memory of
//! whether the last call worked.
//!
//! A Qdrant server that is down answers "connection refused" at once, but one behind a dead
//! load balancer or a full network queue may accept the connection and never answer. Without
//! a deadline a chat turn would wait as long as the gRPC client's own timeout (5 s) or longer;
//! with it the retriever gets an `Unavailable` error quickly and answers from keywords alone
//! (see [`crate::retrieval`]).
//!
//! Queries (search, count, health) get the short `query_timeout`: a customer is waiting.
//! Writes and scrolls get [`WRITE_TIMEOUT`]: an ingestion batch of 32 chunks or a page of
//! 1,000 payloads may legitimately take a few seconds on a busy server (scrolls get the short
//! deadline while the last call failed, or before any call has succeeded).
//!
//! The guard also remembers the collection dimension when creating the collection failed at
//! start (the server was down): the first write creates it before upserting, so a server
//! started while the index was away indexes normally once it is back. State changes are
//! logged once (`unreachable`, then `reachable again`), not once per failing call.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{IndexHit, IndexPoint, ScrollPage, SearchFilter, VectorIndex};
use crate::error::{Error, Result};
use crate::ids::{DocumentId, OrganizationId};

/// The deadline of a search when nothing else is configured (`BLAIGENT_VECTOR_TIMEOUT_MS`):
/// an embedded search takes milliseconds and a healthy Qdrant server tens of them, so two
/// seconds only ever cuts off an index that is not answering.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The deadline of writes, deletes and scrolls (see the module docs).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// A vector index whose calls cannot outlast their deadline.
pub struct GuardedIndex {
    inner: Arc<dyn VectorIndex>,
    query_timeout: Duration,
    /// True while the last call failed (for the one-line state-change logs).
    unreachable: AtomicBool,
    /// True once any call has succeeded: until then the index is as suspect as one that just
    /// failed (a server down since start never answers, and its scrolls must not wait out
    /// the long deadline).
    answered_once: AtomicBool,
    /// The dimension to create the collection with before the next write; 0 when the
    /// collection is known to exist.
    pending_dimension: AtomicUsize,
}

impl std::fmt::Debug for GuardedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedIndex")
            .field("inner", &self.inner.name())
            .field("query_timeout", &self.query_timeout)
            .finish()
    }
}

impl GuardedIndex {
    /// Guards `inner`, cutting queries off after `query_timeout`.
    pub fn new(inner: Arc<dyn VectorIndex>, query_timeout: Duration) -> Self {
        Self {
            inner,
            query_timeout,
            unreachable: AtomicBool::new(false),
            answered_once: AtomicBool::new(false),
            pending_dimension: AtomicUsize::new(0),
        }
    }

    /// True when the last call to the index failed or timed out.
    pub fn last_call_failed(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }

    /// Runs one call with `deadline`, mapping a timeout to `Unavailable` and logging state
    /// changes.
    async fn call<T>(
        &self,
        what: &'static str,
        deadline: Duration,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let outcome = match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::unavailable(format!(
                "the vector index ({}) did not answer within {} ms",
                self.inner.name(),
                deadline.as_millis()
            ))),
        };
        match &outcome {
            Ok(_) => {
                self.answered_once.store(true, Ordering::Relaxed);
                if self.unreachable.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        index = self.inner.name(),
                        "the vector index is reachable again"
                    );
                }
            }
            Err(err) => {
                if !self.unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        index = self.inner.name(),
                        call = what,
                        error = %err.chain(),
                        "the vector index is unreachable; retrieval falls back to keywords"
                    );
                }
            }
        }
        outcome
    }

    /// Creates the collection first if that failed at start.
    async fn ensure_pending_collection(&self) -> Result<()> {
        let dimension = self.pending_dimension.load(Ordering::Relaxed);
        if dimension == 0 {
            return Ok(());
        }
        self.call(
            "ensure_collection",
            WRITE_TIMEOUT,
            self.inner.ensure_collection(dimension),
        )
        .await?;
        self.pending_dimension.store(0, Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl VectorIndex for GuardedIndex {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ensure_collection(&self, dimension: usize) -> Result<()> {
        let result = self
            .call(
                "ensure_collection",
                // At start (a server that is down must not hold the process for long);
                // writes retry it with the long deadline.
                WRITE_TIMEOUT.min(self.query_timeout * 2),
                self.inner.ensure_collection(dimension),
            )
            .await;
        // Only an unreachable index is retried later; a dimension mismatch is a real error.
        let retry_later = result
            .as_ref()
            .is_err_and(|e| e.kind() == crate::error::ErrorKind::Unavailable);
        self.pending_dimension
            .store(if retry_later { dimension } else { 0 }, Ordering::Relaxed);
        result
    }

    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()> {
        self.ensure_pending_collection().await?;
        self.call("upsert", WRITE_TIMEOUT, self.inner.upsert(points))
            .await
    }

    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        self.ensure_pending_collection().await?;
        self.call(
            "delete_document",
            WRITE_TIMEOUT,
            self.inner.delete_document(org, document),
        )
        .await
    }

    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        self.ensure_pending_collection().await?;
        self.call(
            "delete_other_generations",
            WRITE_TIMEOUT,
            self.inner.delete_other_generations(org, document, keep),
        )
        .await
    }

    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()> {
        self.ensure_pending_collection().await?;
        self.call(
            "delete_points",
            WRITE_TIMEOUT,
            self.inner.delete_points(ids),
        )
        .await
    }

    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<IndexHit>> {
        self.call(
            "search",
            self.query_timeout,
            self.inner.search(org, vector, top_k, filter),
        )
        .await
    }

    async fn scroll(
        &self,
        org: &OrganizationId,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<ScrollPage> {
        // Scrolls load the keyword index during a search: while the index is known to be
        // unreachable they get the short deadline, so a turn does not wait out a long one
        // for an index that is not answering anyway.
        let suspect = self.last_call_failed() || !self.answered_once.load(Ordering::Relaxed);
        let deadline = if suspect {
            self.query_timeout
        } else {
            WRITE_TIMEOUT
        };
        self.call("scroll", deadline, self.inner.scroll(org, after, limit))
            .await
    }

    async fn count(&self, org: &OrganizationId) -> Result<u64> {
        self.call("count", self.query_timeout, self.inner.count(org))
            .await
    }

    async fn health(&self) -> Result<()> {
        self.call("health", self.query_timeout, self.inner.health())
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// An index that hangs on every call, or fails at once, as told.
    struct Broken {
        hang: bool,
        calls: AtomicU32,
    }

    impl Broken {
        async fn answer<T>(&self) -> Result<T> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                std::future::pending::<()>().await;
            }
            Err(Error::unavailable("connection refused"))
        }
    }

    #[async_trait]
    impl VectorIndex for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        async fn ensure_collection(&self, _: usize) -> Result<()> {
            self.answer().await
        }
        async fn upsert(&self, _: Vec<IndexPoint>) -> Result<()> {
            self.answer().await
        }
        async fn delete_document(&self, _: &OrganizationId, _: &DocumentId) -> Result<()> {
            self.answer().await
        }
        async fn delete_other_generations(
            &self,
            _: &OrganizationId,
            _: &DocumentId,
            _: i64,
        ) -> Result<()> {
            self.answer().await
        }
        async fn delete_points(&self, _: Vec<uuid::Uuid>) -> Result<()> {
            self.answer().await
        }
        async fn search(
            &self,
            _: &OrganizationId,
            _: Vec<f32>,
            _: usize,
            _: &SearchFilter,
        ) -> Result<Vec<IndexHit>> {
            self.answer().await
        }
        async fn scroll(
            &self,
            _: &OrganizationId,
            _: Option<uuid::Uuid>,
            _: usize,
        ) -> Result<ScrollPage> {
            self.answer().await
        }
        async fn count(&self, _: &OrganizationId) -> Result<u64> {
            self.answer().await
        }
        async fn health(&self) -> Result<()> {
            self.answer().await
        }
    }

    fn guarded(hang: bool) -> (Arc<Broken>, GuardedIndex) {
        let inner = Arc::new(Broken {
            hang,
            calls: AtomicU32::new(0),
        });
        let guard = GuardedIndex::new(inner.clone(), Duration::from_millis(50));
        (inner, guard)
    }

    #[tokio::test]
    async fn a_search_that_never_answers_is_cut_off_as_unavailable() {
        let (_, guard) = guarded(true);
        let started = std::time::Instant::now();
        let err = guard
            .search(
                &OrganizationId::new(),
                vec![0.0],
                5,
                &SearchFilter::default(),
            )
            .await
            .expect_err("the index hangs");
        assert_eq!(err.kind(), crate::error::ErrorKind::Unavailable);
        assert!(
            err.message().contains("did not answer within 50 ms"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(guard.last_call_failed());
    }

    #[tokio::test]
    async fn a_collection_missed_at_start_is_created_before_the_first_write() {
        let (inner, guard) = guarded(false);
        assert!(guard.ensure_collection(384).await.is_err());
        assert_eq!(guard.pending_dimension.load(Ordering::SeqCst), 384);
        assert!(guard.upsert(Vec::new()).await.is_err());
        // The write tried the collection first (and stopped there: the index is still down).
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        assert_eq!(guard.pending_dimension.load(Ordering::SeqCst), 384);
    }
}
