//! Shared token buckets: the rate limiter that several replicas on one database agree on.
//!
//! A bucket holds `capacity` tokens and refills continuously at `per_ms` tokens per
//! millisecond; each request takes one. A replica may ask for several at once (a lease it
//! spends on its next requests without asking again: see the API's rate limiter): it gets
//! all it asked for, or one when fewer are left, or none. The whole read-refill-take step is
//! one upsert, so two replicas charging the same bucket at the same moment are serialised by
//! the row lock (PostgreSQL) or the single writer (SQLite) and can never both spend the last
//! token. The row's `last_allowed` column holds how many tokens the last upsert granted.
//! Portable SQL: `case` instead of `least`/`greatest`, which SQLite lacks.
//!
//! On PostgreSQL the upsert commits without waiting for the log to reach the disk
//! (`synchronous_commit` off for this one statement): every request of an organization
//! charges the same row, and a commit keeps the row locked until its flush is done, so with
//! durable commits an organization could never go faster than one disk flush per request
//! (about 1,000 requests/s on this machine's disk). A crash can lose the last fraction of a
//! second of charges, which only means a few requests are not counted; the conversations
//! themselves are still committed durably.
//! On SQLite the upsert goes through the writer connection ([`Store::writer`]).

use super::{Dialect, Store};
use crate::error::Result;

/// A bucket's state right after one request was charged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    /// How many tokens this request got: what it asked for, one, or none.
    pub granted: u32,
    /// Tokens left after this request.
    pub tokens: f64,
}

impl BucketState {
    /// Whether the request got at least the one token it needs itself.
    pub fn allowed(&self) -> bool {
        self.granted > 0
    }
}

/// The refilled content of the stored bucket, capped at the capacity (`$2`), at time `$3`
/// with `$4` tokens per millisecond. A clock running behind the stored one refills nothing.
const REFILLED: &str = "(case when rate_limit_buckets.tokens + \
     (case when $3 > rate_limit_buckets.refilled_at then $3 - rate_limit_buckets.refilled_at else 0 end) * $4 > $2 \
     then $2 else rate_limit_buckets.tokens + \
     (case when $3 > rate_limit_buckets.refilled_at then $3 - rate_limit_buckets.refilled_at else 0 end) * $4 end)";

/// How many of the `$5` tokens asked for the refilled bucket grants: all of them, one, or none.
fn granted() -> String {
    format!("(case when {REFILLED} >= $5 then $5 when {REFILLED} >= 1 then 1 else 0 end)")
}

impl Store {
    /// Takes `want` tokens (at least one) from bucket `key` (created full when missing) at
    /// `now_ms`, for a bucket of `capacity` tokens refilling at `per_ms` tokens per
    /// millisecond: all of them when the bucket holds that many, else one when it holds one,
    /// else none.
    #[tracing::instrument(skip_all, fields(want))]
    pub async fn take_tokens(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        now_ms: i64,
        want: u32,
    ) -> Result<BucketState> {
        // A new bucket grants the lease out of its capacity: never more than that.
        let want = want.clamp(1, (capacity as u32).max(1));
        // The new row's values; on PostgreSQL selected next to `set_config`, which turns off
        // `synchronous_commit` for this statement's own transaction (module docs).
        let values = match self.dialect() {
            Dialect::Sqlite => "values ($1, $2 - $5, $3, $5, $3, $3)",
            Dialect::Postgres => {
                "select $1, $2 - $5, $3, $5, $3, $3 \
                 from (select set_config('synchronous_commit', 'off', true)) relaxed"
            }
        };
        let granted = granted();
        let sql = format!(
            "insert into rate_limit_buckets \
             (bucket_key, tokens, refilled_at, last_allowed, created_at, updated_at) \
             {values} \
             on conflict (bucket_key) do update set \
             tokens = {REFILLED} - {granted}, \
             last_allowed = {granted}, \
             refilled_at = case when $3 > rate_limit_buckets.refilled_at then $3 \
                 else rate_limit_buckets.refilled_at end, \
             updated_at = $3 \
             returning tokens, last_allowed"
        );
        let (tokens, granted): (f64, i64) = sqlx::query_as(&sql)
            .bind(key)
            .bind(capacity)
            .bind(now_ms)
            .bind(per_ms)
            .bind(i64::from(want))
            .fetch_one(self.writer())
            .await?;
        Ok(BucketState {
            granted: u32::try_from(granted).unwrap_or(0),
            tokens,
        })
    }

    /// Deletes the buckets last charged before `before_ms`; returns how many. A bucket idle
    /// for longer than its refill time is full, the state a missing one starts in, so this
    /// changes no verdict when `before_ms` is at least a minute ago (every bucket here refills
    /// within a minute).
    #[tracing::instrument(skip_all)]
    pub async fn delete_idle_buckets(&self, before_ms: i64) -> Result<u64> {
        let deleted = sqlx::query("delete from rate_limit_buckets where updated_at < $1")
            .bind(before_ms)
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    #[tokio::test]
    async fn a_full_bucket_allows_its_capacity_then_refuses_until_it_refills() {
        let (store, _dir) = store().await;
        let per_ms = 3.0 / 60_000.0;
        for i in 0..3 {
            let s = store
                .take_tokens("org:a", 3.0, per_ms, 1_000, 1)
                .await
                .unwrap();
            assert!(s.allowed(), "request {i}");
        }
        let refused = store
            .take_tokens("org:a", 3.0, per_ms, 1_000, 1)
            .await
            .unwrap();
        assert!(!refused.allowed());
        // One token per 20 s at 3 per minute.
        let later = store
            .take_tokens("org:a", 3.0, per_ms, 21_000, 1)
            .await
            .unwrap();
        assert!(later.allowed());
        assert!(later.tokens < 1.0);
        let other = store
            .take_tokens("org:b", 3.0, per_ms, 21_000, 1)
            .await
            .unwrap();
        assert!(other.allowed());
    }

    #[tokio::test]
    async fn a_clock_behind_the_stored_one_refills_nothing() {
        let (store, _dir) = store().await;
        let per_ms = 1.0 / 60_000.0;
        assert!(store
            .take_tokens("k", 1.0, per_ms, 100_000, 1)
            .await
            .unwrap()
            .allowed());
        assert!(!store
            .take_tokens("k", 1.0, per_ms, 1_000, 1)
            .await
            .unwrap()
            .allowed());
    }

    #[tokio::test]
    async fn a_lease_gets_all_it_asks_for_then_one_then_none() {
        let (store, _dir) = store().await;
        let per_ms = 25.0 / 60_000.0;
        let lease = store.take_tokens("k", 25.0, per_ms, 0, 10).await.unwrap();
        assert_eq!(lease.granted, 10);
        assert_eq!(lease.tokens, 15.0);
        let lease = store.take_tokens("k", 25.0, per_ms, 0, 10).await.unwrap();
        assert_eq!((lease.granted, lease.tokens), (10, 5.0));
        // Fewer left than asked for: the request still gets its own token.
        let short = store.take_tokens("k", 25.0, per_ms, 0, 10).await.unwrap();
        assert_eq!((short.granted, short.tokens), (1, 4.0));
        for _ in 0..4 {
            assert!(store
                .take_tokens("k", 25.0, per_ms, 0, 10)
                .await
                .unwrap()
                .allowed());
        }
        let empty = store.take_tokens("k", 25.0, per_ms, 0, 10).await.unwrap();
        assert_eq!((empty.granted, empty.tokens), (0, 0.0));
        // A new bucket starts full and grants the lease out of it.
        let fresh = store
            .take_tokens("other", 25.0, per_ms, 0, 10)
            .await
            .unwrap();
        assert_eq!((fresh.granted, fresh.tokens), (10, 15.0));
    }
}
