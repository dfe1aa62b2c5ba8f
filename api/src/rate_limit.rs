//! Rate limiting per organization: a token bucket that holds one minute's worth of requests
//! and refills continuously (limit / 60 tokens per second). A full bucket lets a client burst
//! its whole per-minute allowance, then settles at the steady rate.
//!
//! Two places can hold the buckets ([`LimiterChoice`], `BLAIGENT_RATE_LIMITER`):
//! - in this process (the default on SQLite, where there is only one server): no I/O at all;
//! - in the database (the default on PostgreSQL): every replica charges the same row
//!   ([`engine::store::limits`]), so an organization gets its limit once, not once per
//!   replica. It costs one upsert per request.
//!
//! If the shared bucket cannot be read (the database is failing) the request is let through
//! with a warning: the request's own queries then fail with a 503, and a limiter must not turn
//! a database hiccup into refusing traffic that would otherwise succeed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::bail;
use engine::ids::OrganizationId;
use engine::store::{now_ms, Dialect, Store};

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
}

impl LimiterChoice {
    /// Parses `auto`, `memory` or `database`.
    pub fn parse(raw: &str) -> anyhow::Result<LimiterChoice> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(LimiterChoice::Auto),
            "memory" | "process" => Ok(LimiterChoice::Memory),
            "database" | "shared" | "postgres" => Ok(LimiterChoice::Database),
            other => {
                bail!("BLAIGENT_RATE_LIMITER must be auto, memory or database (got '{other}')")
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

#[derive(Debug)]
enum Buckets {
    Memory(Mutex<HashMap<OrganizationId, Bucket>>),
    Shared(Store),
}

/// Token buckets keyed by organization, in process or in the database.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Buckets,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// An in-process limiter.
    pub fn new() -> Self {
        RateLimiter {
            buckets: Buckets::Memory(Mutex::default()),
        }
    }

    /// A limiter whose buckets live in `store`'s database, shared by every replica.
    pub fn shared(store: Store) -> Self {
        RateLimiter {
            buckets: Buckets::Shared(store),
        }
    }

    /// The limiter `choice` asks for on `store`.
    pub fn for_store(store: &Store, choice: LimiterChoice) -> Self {
        match (choice, store.dialect()) {
            (LimiterChoice::Memory, _) | (LimiterChoice::Auto, Dialect::Sqlite) => Self::new(),
            (LimiterChoice::Database, _) | (LimiterChoice::Auto, Dialect::Postgres) => {
                Self::shared(store.clone())
            }
        }
    }

    /// Whether replicas share this limiter's buckets.
    pub fn is_shared(&self) -> bool {
        matches!(self.buckets, Buckets::Shared(_))
    }

    /// Takes one token from `org`'s bucket of `limit_per_min`, if there is one.
    pub async fn check(&self, org: &OrganizationId, limit_per_min: u32) -> Decision {
        match &self.buckets {
            Buckets::Memory(buckets) => check_memory(buckets, org, limit_per_min, Instant::now()),
            Buckets::Shared(store) => {
                let limit = limit_per_min.max(1);
                let capacity = f64::from(limit);
                let key = format!("org:{}", org.as_str());
                match store
                    .take_token(&key, capacity, capacity / 60_000.0, now_ms())
                    .await
                {
                    Ok(state) => Decision::from_tokens(state.allowed, limit, state.tokens),
                    Err(err) => {
                        tracing::warn!(error = %err.chain(), "the shared rate limiter failed; letting the request through");
                        Decision::from_tokens(true, limit, capacity)
                    }
                }
            }
        }
    }
}

fn check_memory(
    buckets: &Mutex<HashMap<OrganizationId, Bucket>>,
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
        let err = LimiterChoice::parse("redis").unwrap_err().to_string();
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
            RateLimiter::for_store(&store, LimiterChoice::Database),
            RateLimiter::shared(store.clone()),
        );
        assert!(a.is_shared());
        assert!(!RateLimiter::for_store(&store, LimiterChoice::Auto).is_shared());
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
}
