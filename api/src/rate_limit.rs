//! In-process rate limiting per organization: a token bucket that holds one minute's worth of
//! requests and refills continuously (limit / 60 tokens per second). A full bucket lets a
//! client burst its whole per-minute allowance, then settles at the steady rate.
//!
//! One process enforces its own buckets; several replicas each allow the full rate (a shared
//! limiter in PostgreSQL or Redis is the at-scale variant, see DESIGN.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use engine::ids::OrganizationId;

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

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by organization.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<OrganizationId, Bucket>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one token from `org`'s bucket of `limit_per_min`, if there is one.
    pub fn check(&self, org: &OrganizationId, limit_per_min: u32) -> Decision {
        self.check_at(org, limit_per_min, Instant::now())
    }

    fn check_at(&self, org: &OrganizationId, limit_per_min: u32, now: Instant) -> Decision {
        let limit = limit_per_min.max(1);
        let capacity = f64::from(limit);
        let per_sec = capacity / 60.0;
        // A poisoned lock only means another request panicked mid-update; the map is still
        // usable, so carry on with it.
        let mut buckets = self
            .buckets
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
        let tokens = bucket.tokens;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_minute_is_allowed_then_the_next_request_waits_a_second() {
        let limiter = RateLimiter::new();
        let org = OrganizationId::new();
        let start = Instant::now();
        for i in 0..60 {
            let d = limiter.check_at(&org, 60, start);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 59 - i);
        }
        let refused = limiter.check_at(&org, 60, start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        assert_eq!(refused.reset_secs, 60);
        assert!(
            limiter
                .check_at(&org, 60, start + Duration::from_secs(1))
                .allowed
        );
    }

    #[test]
    fn organizations_do_not_share_a_bucket() {
        let limiter = RateLimiter::new();
        let (a, b) = (OrganizationId::new(), OrganizationId::new());
        let now = Instant::now();
        assert!(limiter.check_at(&a, 1, now).allowed);
        assert!(!limiter.check_at(&a, 1, now).allowed);
        assert!(limiter.check_at(&b, 1, now).allowed);
    }
}
