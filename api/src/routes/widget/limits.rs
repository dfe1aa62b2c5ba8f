//! Per-visitor and per-IP rate limits of the public widget endpoints: token buckets keyed by
//! a string (`ip:1.2.3.4`, `visitor:org_..:visitor_..`), refilled continuously like the
//! organization limiter ([`crate::rate_limit`]). The organization's own limit still applies
//! to widget chats on top of these.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use engine::Error;

/// More keys than this and full buckets are dropped (a full bucket is the state a new key
/// starts in, so forgetting it changes nothing), bounding memory under an address scan.
const PRUNE_ABOVE: usize = 50_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    capacity: f64,
}

/// Token buckets keyed by string.
#[derive(Debug, Default)]
pub struct KeyedLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyedLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one token from `key`'s bucket of `per_min`, or returns a 429 error saying when to
    /// retry. `what` names the limit in the message.
    pub fn take(&self, key: &str, per_min: u32, what: &str) -> Result<(), Error> {
        self.take_at(key, per_min, what, Instant::now())
    }

    fn take_at(&self, key: &str, per_min: u32, what: &str, now: Instant) -> Result<(), Error> {
        let capacity = f64::from(per_min.max(1));
        let per_sec = capacity / 60.0;
        let mut buckets = self
            .buckets
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
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let retry = ((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64;
        Err(Error::rate_limited(
            retry,
            format!("{what} limit of {per_min} per minute reached; retry in {retry} s"),
        ))
    }
}

/// The client's IP address: the last `X-Forwarded-For` entry when the proxy is trusted, else
/// the TCP peer, else `unknown` (in-process tests without connection info).
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let Some(ip) = forwarded {
            return ip.to_owned();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::ErrorKind;
    use std::time::Duration;

    #[test]
    fn a_key_gets_its_minute_then_waits_and_other_keys_are_untouched() {
        let limiter = KeyedLimiter::new();
        let now = Instant::now();
        for _ in 0..3 {
            limiter.take_at("ip:a", 3, "per-IP", now).unwrap();
        }
        let err = limiter.take_at("ip:a", 3, "per-IP", now).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::RateLimited {
                retry_after_secs: 20
            }
        );
        assert!(err.message().contains("per-IP limit of 3"), "{err}");
        limiter.take_at("ip:b", 3, "per-IP", now).unwrap();
        limiter
            .take_at("ip:a", 3, "per-IP", now + Duration::from_secs(20))
            .unwrap();
    }
}
