//! Rate limiting: a token bucket that holds one minute's worth of requests and refills
//! continuously (limit / 60 tokens per second). A full bucket lets a client burst its whole
//! per-minute allowance, then settles at the steady rate. Buckets are keyed by a string: each
//! organization's API limit (`org:<id>`, [`RateLimiter::check`]) and the public widget's and
//! dashboard's finer limits (per client address, per visitor, per dashboard user:
//! [`RateLimiter::take`]) live side by side in the same place, so with several replicas every
//! one of them holds across all of them.
//!
//! Three places can hold the buckets ([`LimiterChoice`], `BLAIGENT_RATE_LIMITER`):
//! - in this process (the default on SQLite, where there is only one server): no I/O at all;
//! - in the database (the default on PostgreSQL): every replica charges the same row
//!   ([`engine::store::limits`]), so an organization gets its limit once, not once per
//!   replica. It costs one upsert per request;
//! - in Redis ([`redis_buckets`], `BLAIGENT_REDIS_URL`): the same bucket as one atomic Lua
//!   script per request, which takes the per-request write off the database.
//!
//! With a shared store, a bucket with a large limit (at least [`leases::LEASE_FROM`] per
//! minute) is charged a tenth of a second's worth of tokens at a time, which this replica
//! then spends from memory ([`leases`]): the shared limit still holds, and a busy
//! organization costs one round trip per lease instead of one per request.
//!
//! If the shared store cannot be reached (the database or Redis is failing), the request is
//! charged to a bucket in this process instead, with a warning when that starts and a note
//! when the store answers again: during the outage each replica enforces the full limit on
//! its own (so the whole deployment allows at most the limit times the replicas), rather than
//! refusing traffic that would otherwise succeed or letting it through unlimited. With the
//! database limiter the request's own queries then fail with a 503 anyway.

pub mod leases;
pub mod redis_buckets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use engine::ids::OrganizationId;
use engine::service::lifecycle::AbortOnDrop;
use engine::store::limits::BucketState;
use engine::store::{now_ms, Dialect, Store};

use self::leases::{lease_size, Leases};
use self::redis_buckets::RedisBuckets;

/// The verdict on one request, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests per minute.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until the next request would be allowed (0 when allowed).
    pub retry_after_secs: u64,
}

impl Decision {
    /// The verdict for a bucket of `limit` per minute left holding `tokens`.
    fn from_tokens(allowed: bool, limit: u32, tokens: f64) -> Decision {
        let capacity = f64::from(limit);
        let per_sec = capacity / 60.0;
        let tokens = tokens.clamp(0.0, capacity);
        Decision {
            allowed,
            limit,
            remaining: tokens.floor() as u32,
            reset_secs: ((capacity - tokens) / per_sec).ceil() as u64,
            retry_after_secs: if allowed {
                0
            } else {
                ((1.0 - tokens) / per_sec).ceil().max(1.0) as u64
            },
        }
    }
}

/// Where the buckets live (`BLAIGENT_RATE_LIMITER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimiterChoice {
    /// In the database on PostgreSQL (replicas share it), in process on SQLite.
    #[default]
    Auto,
    /// In this process: each replica enforces the full limit on its own.
    Memory,
    /// In the database, whatever it is.
    Database,
    /// In Redis at `BLAIGENT_REDIS_URL`.
    Redis,
}

impl LimiterChoice {
    /// Parses `auto`, `memory`, `database` or `redis`.
    pub fn parse(raw: &str) -> anyhow::Result<LimiterChoice> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(LimiterChoice::Auto),
            "memory" | "process" => Ok(LimiterChoice::Memory),
            "database" | "shared" | "postgres" => Ok(LimiterChoice::Database),
            "redis" => Ok(LimiterChoice::Redis),
            other => {
                bail!(
                    "BLAIGENT_RATE_LIMITER must be auto, memory, database or redis (got '{other}')"
                )
            }
        }
    }

    /// Reads `BLAIGENT_RATE_LIMITER` through `env` (unset: `auto`).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> anyhow::Result<LimiterChoice> {
        env("BLAIGENT_RATE_LIMITER").map_or(Ok(LimiterChoice::Auto), |raw| Self::parse(&raw))
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Tokens when full (the limit per minute it was last charged with).
    capacity: f64,
}

/// Buckets kept in this process, by key.
type LocalBuckets = Mutex<HashMap<String, Bucket>>;

/// More keys than this in this process's buckets and the full ones are dropped (a full bucket
/// is the state a new key starts in, so forgetting it changes nothing), bounding memory under
/// an address scan of the widget's endpoints.
const PRUNE_ABOVE: usize = 50_000;

/// A store every replica shares.
#[derive(Debug)]
enum SharedBuckets {
    Database(Store),
    Redis(RedisBuckets),
}

/// Token buckets keyed by organization, in process, in the database or in Redis.
#[derive(Debug)]
pub struct RateLimiter {
    shared: Option<SharedBuckets>,
    /// The buckets of the in-process limiter, and the fallback of a shared one.
    local: LocalBuckets,
    /// Tokens taken from the shared buckets ahead of time ([`leases`]).
    leases: Leases,
    /// Whether the shared store failed on its last call (to warn once per outage).
    failing: AtomicBool,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// An in-process limiter.
    pub fn new() -> Self {
        Self::with_shared(None)
    }

    /// A limiter whose buckets live in `store`'s database, shared by every replica.
    pub fn shared(store: Store) -> Self {
        Self::with_shared(Some(SharedBuckets::Database(store)))
    }

    /// A limiter whose buckets live in the Redis at `url`, shared by every replica. Does not
    /// connect yet (see [`RedisBuckets::new`]).
    pub fn redis(url: &str) -> anyhow::Result<Self> {
        Ok(Self::with_shared(Some(SharedBuckets::Redis(
            RedisBuckets::new(url)?,
        ))))
    }

    fn with_shared(shared: Option<SharedBuckets>) -> Self {
        RateLimiter {
            shared,
            local: Mutex::default(),
            leases: Leases::default(),
            failing: AtomicBool::new(false),
        }
    }

    /// The limiter `choice` asks for on `store` (`redis_url` is needed for Redis).
    pub fn build(
        store: &Store,
        choice: LimiterChoice,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        Ok(match (choice, store.dialect()) {
            (LimiterChoice::Memory, _) | (LimiterChoice::Auto, Dialect::Sqlite) => Self::new(),
            (LimiterChoice::Database, _) | (LimiterChoice::Auto, Dialect::Postgres) => {
                Self::shared(store.clone())
            }
            (LimiterChoice::Redis, _) => Self::redis(
                redis_url.context("BLAIGENT_RATE_LIMITER=redis needs BLAIGENT_REDIS_URL")?,
            )?,
        })
    }

    /// The limiter `config` asks for on `store`.
    pub fn for_config(store: &Store, config: &crate::Config) -> anyhow::Result<Self> {
        Self::build(store, config.rate_limiter, config.redis_url.as_deref())
    }

    /// Whether replicas share this limiter's buckets.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Where the buckets live: `memory`, `database` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self.shared {
            None => "memory",
            Some(SharedBuckets::Database(_)) => "database",
            Some(SharedBuckets::Redis(_)) => "redis",
        }
    }

    /// Takes one token from `org`'s API bucket of `limit_per_min`.
    pub async fn check(&self, org: &OrganizationId, limit_per_min: u32) -> Decision {
        self.check_key(&format!("org:{}", org.as_str()), limit_per_min)
            .await
    }

    /// Takes one token from the bucket `key` of `per_min`, or returns the 429 error to answer
    /// with: "`what` limit of `per_min` per minute reached; retry in N s".
    pub async fn take(&self, key: &str, per_min: u32, what: &str) -> Result<(), engine::Error> {
        let decision = self.check_key(key, per_min).await;
        if decision.allowed {
            return Ok(());
        }
        let retry = decision.retry_after_secs;
        Err(engine::Error::rate_limited(
            retry,
            format!("{what} limit of {per_min} per minute reached; retry in {retry} s"),
        ))
    }

    /// Takes one token from the bucket `key` of `limit_per_min`: from this replica's lease
    /// on it when it holds one, else from the shared store (taking a new lease), else from
    /// this process's bucket.
    #[tracing::instrument(skip_all, fields(limiter = self.kind()))]
    pub async fn check_key(&self, key: &str, limit_per_min: u32) -> Decision {
        let limit = limit_per_min.max(1);
        let Some(shared) = &self.shared else {
            return check_memory(&self.local, key, limit, Instant::now());
        };
        if let Some(spent) = self.leases.spend(key, limit, Instant::now()) {
            return Decision::from_tokens(true, limit, spent.tokens_left);
        }
        let capacity = f64::from(limit);
        let per_ms = capacity / 60_000.0;
        let want = lease_size(limit);
        let taken: Result<BucketState, String> = match shared {
            SharedBuckets::Database(store) => store
                .take_tokens(key, capacity, per_ms, now_ms(), want)
                .await
                .map_err(|err| err.chain()),
            SharedBuckets::Redis(redis) => redis
                .take_tokens(key, capacity, per_ms, want)
                .await
                .map_err(|err| format!("{err:#}")),
        };
        match taken {
            Ok(state) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        limiter = self.kind(),
                        "the shared rate limiter answers again"
                    );
                }
                // The request spends the first token granted; this replica keeps the rest.
                let kept = state.granted.saturating_sub(1);
                self.leases
                    .keep(key, limit, kept, state.tokens, Instant::now());
                Decision::from_tokens(state.allowed(), limit, state.tokens + f64::from(kept))
            }
            Err(error) => {
                if self.failing.swap(true, Ordering::Relaxed) {
                    tracing::debug!(limiter = self.kind(), %error, "the shared rate limiter still fails");
                } else {
                    tracing::warn!(
                        limiter = self.kind(),
                        %error,
                        "the shared rate limiter failed; limiting in this process until it answers"
                    );
                }
                check_memory(&self.local, key, limit, Instant::now())
            }
        }
    }

    /// Deletes the database buckets nobody charged for `idle_ms` (they are full again: every
    /// bucket refills within a minute, and a missing bucket starts full), so the widget's
    /// per-address buckets do not pile up. Does nothing for the other kinds (Redis expires its
    /// keys itself; this process's buckets are pruned as they grow).
    pub async fn prune_idle(&self, idle_ms: i64) -> engine::Result<u64> {
        match &self.shared {
            Some(SharedBuckets::Database(store)) => {
                store.delete_idle_buckets(now_ms() - idle_ms).await
            }
            _ => Ok(0),
        }
    }
}

/// How often, and after how long idle, database buckets are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// Deletes idle database buckets every five minutes (see [`RateLimiter::prune_idle`]); `None`
/// for the limiters that need no such thing.
pub fn spawn_pruner(limiter: Arc<RateLimiter>) -> Option<AbortOnDrop> {
    if !matches!(limiter.shared, Some(SharedBuckets::Database(_))) {
        return None;
    }
    Some(AbortOnDrop::spawn(async move {
        let mut ticker = tokio::time::interval(PRUNE_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let idle_ms = i64::try_from(PRUNE_EVERY.as_millis()).unwrap_or(i64::MAX);
            match limiter.prune_idle(idle_ms).await {
                Ok(0) => {}
                Ok(deleted) => tracing::debug!(deleted, "deleted idle rate-limit buckets"),
                Err(err) => tracing::warn!(
                    error = %err.chain(),
                    "deleting idle rate-limit buckets failed; retrying later"
                ),
            }
        }
    }))
}

fn check_memory(buckets: &LocalBuckets, key: &str, limit_per_min: u32, now: Instant) -> Decision {
    let limit = limit_per_min.max(1);
    let capacity = f64::from(limit);
    let per_sec = capacity / 60.0;
    // A poisoned lock only means another request panicked mid-update; the map is still
    // usable, so carry on with it.
    let mut buckets = buckets
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if buckets.len() > PRUNE_ABOVE {
        buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            b.tokens + elapsed * b.capacity / 60.0 < b.capacity
        });
    }
    let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
        tokens: capacity,
        updated: now,
        capacity,
    });
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
    bucket.updated = now;
    bucket.capacity = capacity;
    let allowed = bucket.tokens >= 1.0;
    if allowed {
        bucket.tokens -= 1.0;
    }
    Decision::from_tokens(allowed, limit, bucket.tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_minute_is_allowed_then_the_next_request_waits_a_second() {
        let buckets = Mutex::default();
        let start = Instant::now();
        for i in 0..60 {
            let d = check_memory(&buckets, "org:a", 60, start);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
        }
        let refused = check_memory(&buckets, "org:a", 60, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 60);
        assert!(check_memory(&buckets, "org:a", 60, start + Duration::from_secs(1)).allowed);
    }

    #[test]
    fn keys_do_not_share_a_bucket() {
        let buckets = Mutex::default();
        let now = Instant::now();
        assert!(check_memory(&buckets, "org:a", 1, now).allowed);
        assert!(!check_memory(&buckets, "org:a", 1, now).allowed);
        assert!(check_memory(&buckets, "org:b", 1, now).allowed);
    }

    #[tokio::test]
    async fn a_refusal_names_the_limit_and_when_to_retry() {
        let limiter = RateLimiter::new();
        for _ in 0..3 {
            limiter.take("widget-ip:a", 3, "per-IP").await.unwrap();
        }
        let err = limiter.take("widget-ip:a", 3, "per-IP").await.unwrap_err();
        assert_eq!(
            err.kind(),
            engine::ErrorKind::RateLimited {
                retry_after_secs: 20
            }
        );
        assert!(err.message().contains("per-IP limit of 3"), "{err}");
        assert!(err.message().contains("retry in 20 s"), "{err}");
        limiter.take("widget-ip:b", 3, "per-IP").await.unwrap();
    }

    #[test]
    fn this_process_forgets_full_buckets_when_it_holds_too_many() {
        let buckets = Mutex::default();
        let start = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            check_memory(&buckets, &format!("widget-ip:{i}"), 60, start);
        }
        // A minute later every one of them is full again; the next charge prunes them all.
        check_memory(
            &buckets,
            "widget-ip:new",
            60,
            start + Duration::from_secs(60),
        );
        assert_eq!(buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_choice_is_read_from_its_setting() {
        assert_eq!(
            LimiterChoice::parse("Database").unwrap(),
            LimiterChoice::Database
        );
        assert_eq!(
            LimiterChoice::parse("memory").unwrap(),
            LimiterChoice::Memory
        );
        assert_eq!(LimiterChoice::parse("redis").unwrap(), LimiterChoice::Redis);
        let err = LimiterChoice::parse("memcached").unwrap_err().to_string();
        assert!(err.contains("BLAIGENT_RATE_LIMITER"), "{err}");
        assert_eq!(
            LimiterChoice::from_env(|_| None).unwrap(),
            LimiterChoice::Auto
        );
    }

    /// A migrated SQLite store in a folder deleted when the returned guard drops.
    async fn sqlite_store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    #[tokio::test]
    async fn the_shared_limiter_refuses_past_the_limit_on_any_handle() {
        let (store, _dir) = sqlite_store().await;
        let (a, b) = (
            RateLimiter::build(&store, LimiterChoice::Database, None).unwrap(),
            RateLimiter::shared(store.clone()),
        );
        assert!(a.is_shared());
        let auto = RateLimiter::build(&store, LimiterChoice::Auto, None).unwrap();
        assert!(!auto.is_shared());
        let err = RateLimiter::build(&store, LimiterChoice::Redis, None).unwrap_err();
        assert!(err.to_string().contains("BLAIGENT_REDIS_URL"), "{err}");
        let org = OrganizationId::new();
        assert!(a.check(&org, 2).await.allowed);
        assert!(b.check(&org, 2).await.allowed);
        let refused = a.check(&org, 2).await;
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after_secs >= 1);
        // Idle buckets are deleted (they would be full again); recent ones stay.
        assert_eq!(a.prune_idle(60_000).await.unwrap(), 0);
        assert_eq!(a.prune_idle(-1_000).await.unwrap(), 1);
        assert!(
            b.check(&org, 2).await.allowed,
            "a deleted bucket starts full"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn an_unreachable_store_falls_back_to_a_bucket_in_this_process() {
        // Nothing listens on loopback port 1: every call to Redis fails at once.
        let limiter = RateLimiter::redis("redis://127.0.0.1:1").unwrap();
        assert_eq!(limiter.kind(), "redis");
        let org = OrganizationId::new();
        let first = limiter.check(&org, 2).await;
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        assert!(limiter.check(&org, 2).await.allowed);
        let refused = limiter.check(&org, 2).await;
        assert!(
            !refused.allowed,
            "the fallback bucket did not limit: {refused:?}"
        );
        assert!(limiter.failing.load(Ordering::Relaxed));
    }

    /// The stored bucket `key`: its tokens and when it was last charged.
    async fn stored_bucket(store: &Store, key: &str) -> (f64, i64) {
        sqlx::query_as("select tokens, updated_at from rate_limit_buckets where bucket_key = $1")
            .bind(key)
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_busy_bucket_is_charged_once_per_lease() {
        let (store, _dir) = sqlite_store().await;
        let replica = RateLimiter::shared(store.clone());
        let org = OrganizationId::new();
        let key = format!("org:{}", org.as_str());
        // 60,000 a minute: leases of 100.
        let first = replica.check(&org, 60_000).await;
        assert!(first.allowed);
        assert_eq!(first.remaining, 59_999);
        let (tokens, charged_at) = stored_bucket(&store, &key).await;
        assert_eq!(
            tokens, 59_900.0,
            "the whole lease is taken from the shared bucket"
        );
        for _ in 1..100 {
            assert!(replica.check(&org, 60_000).await.allowed);
        }
        assert_eq!(
            stored_bucket(&store, &key).await,
            (tokens, charged_at),
            "the lease's requests did not touch the shared bucket"
        );
        assert!(replica.check(&org, 60_000).await.allowed);
        let (after, _) = stored_bucket(&store, &key).await;
        assert!(after < tokens, "the 101st request takes a new lease");
        // A small limit is charged request by request, as before.
        let small = OrganizationId::new();
        replica.check(&small, 600).await;
        let (tokens, _) = stored_bucket(&store, &format!("org:{}", small.as_str())).await;
        assert_eq!(tokens, 599.0);
        store.close().await;
    }

    #[tokio::test]
    async fn replicas_with_leases_together_stay_within_the_limit() {
        let (store, _dir) = sqlite_store().await;
        let replicas = [
            RateLimiter::shared(store.clone()),
            RateLimiter::shared(store.clone()),
        ];
        let org = OrganizationId::new();
        // 1,200 a minute: leases of 2, and 20 tokens a second refill while the test runs.
        let started = Instant::now();
        let mut allowed = 0;
        for i in 0..1_400 {
            if replicas[i % 2].check(&org, 1_200).await.allowed {
                allowed += 1;
            }
        }
        let refilled = (started.elapsed().as_secs_f64() * 20.0).ceil() as usize;
        assert!(
            allowed <= 1_200 + refilled,
            "{allowed} allowed, more than the limit and {refilled} refilled tokens"
        );
        // At most one lease per replica goes unspent.
        assert!(allowed >= 1_200 - 2 * 2, "{allowed} allowed");
        store.close().await;
    }
}
