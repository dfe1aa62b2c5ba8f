//! Rate limiting per organization: a token bucket that holds one minute's worth of requests
//! and refills continuously (limit / 60 tokens per second). A full bucket lets a client burst
//! its whole per-minute allowance, then settles at the steady rate.
//!
//! Three places can hold the buckets ([`LimiterChoice`], `BLAIGENT_RATE_LIMITER`):
//! - in this process (the default on SQLite, where there is only one server): no I/O at all;
//! - in the database (the default on PostgreSQL): every replica charges the same row
//!   ([`engine::store::limits`]), so an organization gets its limit once, not once per
//!   replica. It costs one upsert per request;
//! - in Redis ([`redis_buckets`], `BLAIGENT_REDIS_URL`): the same bucket as one atomic Lua
//!   script per request, which takes the per-request write off the database.
//!
//! If the shared store cannot be reached (the database or Redis is failing), the request is
//! charged to a bucket in this process instead, with a warning when that starts and a note
//! when the store answers again: during the outage each replica enforces the full limit on
//! its own (so the whole deployment allows at most the limit times the replicas), rather than
//! refusing traffic that would otherwise succeed or letting it through unlimited. With the
//! database limiter the request's own queries then fail with a 503 anyway.

pub mod redis_buckets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use engine::ids::OrganizationId;
use engine::store::limits::BucketState;
use engine::store::{now_ms, Dialect, Store};

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
}

/// Buckets kept in this process.
type LocalBuckets = Mutex<HashMap<OrganizationId, Bucket>>;

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

    /// Takes one token from `org`'s bucket of `limit_per_min`, if there is one.
    pub async fn check(&self, org: &OrganizationId, limit_per_min: u32) -> Decision {
        let limit = limit_per_min.max(1);
        let Some(shared) = &self.shared else {
            return check_memory(&self.local, org, limit, Instant::now());
        };
        let capacity = f64::from(limit);
        let per_ms = capacity / 60_000.0;
        let key = format!("org:{}", org.as_str());
        let taken: Result<BucketState, String> = match shared {
            SharedBuckets::Database(store) => store
                .take_token(&key, capacity, per_ms, now_ms())
                .await
                .map_err(|err| err.chain()),
            SharedBuckets::Redis(redis) => redis
                .take_token(&key, capacity, per_ms)
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
                Decision::from_tokens(state.allowed, limit, state.tokens)
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
                check_memory(&self.local, org, limit, Instant::now())
            }
        }
    }
}

fn check_memory(
    buckets: &LocalBuckets,
    org: &OrganizationId,
    limit_per_min: u32,
    now: Instant,
) -> Decision {
    let limit = limit_per_min.max(1);
    let capacity = f64::from(limit);
    let per_sec = capacity / 60.0;
    // A poisoned lock only means another request panicked mid-update; the map is still
    // usable, so carry on with it.
    let mut buckets = buckets
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let bucket = buckets.entry(org.clone()).or_insert(Bucket {
        tokens: capacity,
        updated: now,
    });
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
    bucket.updated = now;
    let allowed = bucket.tokens >= 1.0;
    if allowed {
        bucket.tokens -= 1.0;
    }
    Decision::from_tokens(allowed, limit, bucket.tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_minute_is_allowed_then_the_next_request_waits_a_second() {
        let buckets = Mutex::default();
        let org = OrganizationId::new();
        let start = Instant::now();
        for i in 0..60 {
            let d = check_memory(&buckets, &org, 60, start);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
        }
        let refused = check_memory(&buckets, &org, 60, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 60);
        assert!(check_memory(&buckets, &org, 60, start + Duration::from_secs(1)).allowed);
    }

    #[test]
    fn organizations_do_not_share_a_bucket() {
        let buckets = Mutex::default();
        let (a, b) = (OrganizationId::new(), OrganizationId::new());
        let now = Instant::now();
        assert!(check_memory(&buckets, &a, 1, now).allowed);
        assert!(!check_memory(&buckets, &a, 1, now).allowed);
        assert!(check_memory(&buckets, &b, 1, now).allowed);
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

    #[tokio::test]
    async fn the_shared_limiter_refuses_past_the_limit_on_any_handle() {
        let dir = std::env::temp_dir().join(format!("limiter-{}", engine::ids::fresh_suffix()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
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
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
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
}
