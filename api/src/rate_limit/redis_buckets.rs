//! Token buckets in Redis (`BLAIGENT_RATE_LIMITER=redis`, `BLAIGENT_REDIS_URL`): the same
//! bucket as the database limiter (one minute's allowance, refilled continuously), kept as a
//! Redis hash per organization so every replica charges the same one.
//!
//! The read-refill-take step is one Lua script ([`TAKE_TOKEN`], sent with `EVALSHA` and
//! loaded on a `NOSCRIPT` reply), which Redis runs atomically: two replicas can never both
//! spend the last token. The script reads the clock of the Redis server (`TIME`), so the
//! replicas' own clocks do not have to agree. A bucket expires once it would be full again,
//! so idle organizations leave nothing behind.
//!
//! Every call is bounded by [`CALL_TIMEOUT`]: a Redis that has gone away must cost a request
//! at most that long, never a hung connection. The connection reconnects by itself.

use std::time::Duration;

use anyhow::Context;
use engine::store::limits::BucketState;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The longest one limiter call may take (connecting included) before the caller gives up on
/// Redis for this request. A healthy Redis on the same network answers in well under a
/// millisecond; 250 ms is long enough to ride out a pause, short enough that an outage does
/// not stall every request.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Prefix of every key this limiter writes, so a Redis shared with other programs stays tidy.
pub const KEY_PREFIX: &str = "blaigent:ratelimit:";

/// Takes `ARGV[3]` tokens (or one when fewer are left, or none) from bucket `KEYS[1]` of
/// `ARGV[1]` tokens refilling at `ARGV[2]` tokens per millisecond; returns `{tokens granted,
/// tokens left (as a string: Lua numbers become integers in replies)}`. A clock behind the
/// stored one refills nothing.
const TAKE_TOKENS: &str = r"
local capacity = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(stored[1])
local at = tonumber(stored[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = tokens + (now - at) * per_ms
  at = now
end
if tokens > capacity then
  tokens = capacity
end
local granted = 0
if tokens >= want then
  granted = want
elseif tokens >= 1 then
  granted = 1
end
tokens = tokens - granted
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / per_ms) + 1000)
return {granted, left}
";

/// A handle on the Redis that holds the buckets; cheap to clone.
#[derive(Clone)]
pub struct RedisBuckets {
    connection: ConnectionManager,
    script: redis::Script,
    /// The URL with any password replaced, for messages.
    shown: String,
}

impl std::fmt::Debug for RedisBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBuckets")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl RedisBuckets {
    /// A handle on the Redis at `url` (`redis://[:password@]host:port[/db]`). It does not
    /// connect yet: a replica starts even while Redis is down, and connects on first use.
    pub fn new(url: &str) -> anyhow::Result<RedisBuckets> {
        let shown = crate::config::redact_url(url);
        let client = redis::Client::open(url)
            .with_context(|| format!("BLAIGENT_REDIS_URL is not a Redis URL ('{shown}')"))?;
        // Few, quick reconnection attempts: a request never waits for more than CALL_TIMEOUT
        // anyway, and the next request after a failed attempt starts a new one.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(CALL_TIMEOUT);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .with_context(|| format!("setting up the Redis connection to {shown}"))?;
        Ok(RedisBuckets {
            connection,
            script: redis::Script::new(TAKE_TOKENS),
            shown,
        })
    }

    /// Takes `want` tokens (or one when fewer are left, or none) from bucket `key` of
    /// `capacity` tokens refilling at `per_ms` tokens per millisecond.
    #[tracing::instrument(skip_all, fields(want))]
    pub async fn take_tokens(
        &self,
        key: &str,
        capacity: f64,
        per_ms: f64,
        want: u32,
    ) -> anyhow::Result<BucketState> {
        let want = want.clamp(1, (capacity as u32).max(1));
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{KEY_PREFIX}{key}"));
        invocation.arg(capacity).arg(per_ms).arg(want);
        let call = invocation.invoke_async::<(i64, String)>(&mut connection);
        let (granted, left) = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {CALL_TIMEOUT:?}"))
            .and_then(|result| result.map_err(anyhow::Error::from))
            .with_context(|| format!("charging a rate-limit bucket in Redis at {}", self.shown))?;
        let tokens: f64 = left
            .parse()
            .with_context(|| format!("the Redis rate-limit script returned '{left}'"))?;
        Ok(BucketState {
            granted: u32::try_from(granted).unwrap_or(0),
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's Redis, when one answers (tests that need it say so and pass otherwise).
    async fn local_redis() -> Option<RedisBuckets> {
        let url = std::env::var("BLAIGENT_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let buckets = RedisBuckets::new(&url).ok()?;
        match buckets.take_tokens("probe", 1.0, 1.0, 1).await {
            Ok(_) => Some(buckets),
            Err(err) => {
                eprintln!("NOTICE: skipped, no Redis at {url}: {err:#}");
                None
            }
        }
    }

    #[tokio::test]
    async fn a_bucket_allows_its_capacity_then_refuses_on_any_handle() {
        let Some(a) = local_redis().await else { return };
        let b = a.clone();
        let key = format!("test:{}", engine::ids::fresh_suffix());
        let per_ms = 3.0 / 60_000.0;
        for (i, handle) in [&a, &b, &a].into_iter().enumerate() {
            let state = handle.take_tokens(&key, 3.0, per_ms, 1).await.unwrap();
            assert!(state.allowed(), "request {i}");
        }
        let refused = b.take_tokens(&key, 3.0, per_ms, 1).await.unwrap();
        assert!(!refused.allowed());
        assert!(refused.tokens < 1.0, "{refused:?}");
    }

    #[tokio::test]
    async fn a_lease_gets_all_it_asks_for_then_one_then_none() {
        let Some(buckets) = local_redis().await else {
            return;
        };
        let key = format!("test:{}", engine::ids::fresh_suffix());
        // One token a minute: nothing refills while the test runs.
        let per_ms = 1.0 / 60_000.0;
        let lease = buckets.take_tokens(&key, 12.0, per_ms, 10).await.unwrap();
        assert_eq!(lease.granted, 10);
        assert!((1.9..2.1).contains(&lease.tokens), "{lease:?}");
        let short = buckets.take_tokens(&key, 12.0, per_ms, 10).await.unwrap();
        assert_eq!(short.granted, 1);
        buckets.take_tokens(&key, 12.0, per_ms, 10).await.unwrap();
        let empty = buckets.take_tokens(&key, 12.0, per_ms, 10).await.unwrap();
        assert_eq!(empty.granted, 0, "{empty:?}");
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_with_the_url_named_without_its_password() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let buckets = RedisBuckets::new("redis://:hunter2@127.0.0.1:1").unwrap();
        let started = std::time::Instant::now();
        let err = buckets.take_tokens("k", 1.0, 1.0, 1).await.unwrap_err();
        let shown = format!("{err:#}");
        assert!(shown.contains("127.0.0.1:1"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(started.elapsed() < Duration::from_secs(2), "{shown}");
    }

    #[tokio::test]
    async fn a_url_that_is_not_redis_is_refused_with_the_setting_named() {
        let err = RedisBuckets::new("http://example.invalid").unwrap_err();
        assert!(format!("{err:#}").contains("BLAIGENT_REDIS_URL"), "{err:#}");
    }
}
