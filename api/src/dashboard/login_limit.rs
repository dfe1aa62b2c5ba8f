//! Sign-in attempt limits: failed attempts are counted per e-mail address and per client IP in
//! a sliding window; once either count reaches its limit, further attempts are refused (429)
//! until the oldest failure leaves the window, even with the right password. A successful
//! sign-in clears the address's count.
//!
//! Per e-mail: 5 failures in 15 minutes stops online guessing against one account (about 480
//! guesses a day at most). Per IP: 20 failures in 15 minutes stops one client spraying many
//! accounts, while an office behind one address can still mistype. Counts live in this
//! process (like the API's in-process buckets).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed attempts allowed per e-mail inside [`WINDOW`].
pub const PER_EMAIL: usize = 5;
/// Failed attempts allowed per client IP inside [`WINDOW`].
pub const PER_IP: usize = 20;
/// The sliding window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Above this many tracked keys, stale ones are dropped on the next write.
const PRUNE_ABOVE: usize = 10_000;

/// Failure timestamps per key (`email:...` or `ip:...`).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Returns the seconds to wait when `email` or `ip` is over its limit, else None.
    pub fn blocked(&self, email: &str, ip: &str) -> Option<u64> {
        self.blocked_at(email, ip, Instant::now())
    }

    fn blocked_at(&self, email: &str, ip: &str, now: Instant) -> Option<u64> {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut wait = None;
        for (key, limit) in [
            (format!("email:{email}"), PER_EMAIL),
            (format!("ip:{ip}"), PER_IP),
        ] {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = times.front().copied().unwrap_or(now);
                    let left = WINDOW.saturating_sub(now.saturating_duration_since(oldest));
                    let secs = left.as_secs().max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    /// Records a failed attempt.
    pub fn record_failure(&self, email: &str, ip: &str) {
        self.record_failure_at(email, ip, Instant::now());
    }

    fn record_failure_at(&self, email: &str, ip: &str, now: Instant) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < WINDOW)
            });
        }
        for key in [format!("email:{email}"), format!("ip:{ip}")] {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// Forgets an address's failures after a successful sign-in.
    pub fn clear_email(&self, email: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&format!("email:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_attempt_on_one_address_is_blocked_until_the_window_passes() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_EMAIL {
            assert!(limiter.blocked_at("a@x.io", "1.1.1.1", t0).is_none());
            limiter.record_failure_at("a@x.io", "1.1.1.1", t0);
        }
        assert!(limiter.blocked_at("a@x.io", "2.2.2.2", t0).is_some());
        assert!(limiter.blocked_at("b@x.io", "1.1.1.1", t0).is_none());
        assert!(limiter
            .blocked_at("a@x.io", "1.1.1.1", t0 + WINDOW)
            .is_none());
    }

    #[test]
    fn one_ip_spraying_many_addresses_is_blocked() {
        let limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..PER_IP {
            limiter.record_failure_at(&format!("u{i}@x.io"), "9.9.9.9", t0);
        }
        assert!(limiter.blocked_at("new@x.io", "9.9.9.9", t0).is_some());
        assert!(limiter.blocked_at("new@x.io", "8.8.8.8", t0).is_none());
    }
}
