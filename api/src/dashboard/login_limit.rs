//! Sign-in attempt limits: failed attempts are counted per e-mail address and per client IP in
//! a sliding window; once either count reaches its limit, further attempts are refused (429)
//! until the oldest failure leaves the window, even with the right password. A successful
//! sign-in clears the address's count.
//!
//! Per e-mail: 5 failures in 15 minutes stops online guessing against one account (about 480
//! guesses a day at most). Per IP: 20 failures in 15 minutes stops one client spraying many
//! accounts, while an office behind one address can still mistype. The failures live in the
//! database ([`engine::store::sign_in_failures`]), so with several replicas the limits hold
//! across all of them; the addresses are stored only as SHA-256 hashes.

use std::time::Duration;

use engine::store::sign_in_failures::FailureCount;
use engine::store::{now_ms, Store};
use sha2::{Digest, Sha256};

/// Failed attempts allowed per e-mail inside [`WINDOW`].
pub const PER_EMAIL: i64 = 5;
/// Failed attempts allowed per client IP inside [`WINDOW`].
pub const PER_IP: i64 = 20;
/// The sliding window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

fn window_ms() -> i64 {
    WINDOW.as_millis() as i64
}

/// The stored subject for an e-mail address or a client address: kind and SHA-256.
fn subject(kind: &str, value: &str) -> String {
    format!("{kind}:{}", hex::encode(Sha256::digest(value.as_bytes())))
}

/// Returns the seconds to wait when `email` or `ip` is over its limit, else None.
pub async fn blocked(store: &Store, email: &str, ip: &str) -> engine::Result<Option<u64>> {
    let now = now_ms();
    let since = now - window_ms();
    let mut wait = None;
    for (subject, limit) in [
        (subject("email", email), PER_EMAIL),
        (subject("ip", ip), PER_IP),
    ] {
        let failures = store.sign_in_failures(&subject, since).await?;
        if let Some(secs) = wait_secs(failures, limit, now) {
            wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
        }
    }
    Ok(wait)
}

/// The seconds until `failures` (counted over the window ending at `now_ms`) drop below
/// `limit`: when the oldest leaves the window. None when under the limit.
fn wait_secs(failures: FailureCount, limit: i64, now_ms: i64) -> Option<u64> {
    if failures.count < limit {
        return None;
    }
    let oldest = failures.oldest_ms.unwrap_or(now_ms);
    let left_ms = (oldest + window_ms() - now_ms).max(0);
    Some((left_ms as u64).div_ceil(1000).max(1))
}

/// Records a failed attempt for `email` and `ip`.
pub async fn record_failure(store: &Store, email: &str, ip: &str) -> engine::Result<()> {
    let now = now_ms();
    let (email, ip) = (subject("email", email), subject("ip", ip));
    store
        .record_sign_in_failure(&[&email, &ip], now, now - window_ms())
        .await
}

/// Forgets an address's failures after a successful sign-in.
pub async fn clear_email(store: &Store, email: &str) -> engine::Result<()> {
    store.clear_sign_in_failures(&subject("email", email)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(count: i64, oldest_ms: Option<i64>) -> FailureCount {
        FailureCount { count, oldest_ms }
    }

    #[test]
    fn under_the_limit_nothing_waits() {
        assert_eq!(wait_secs(failures(4, Some(0)), PER_EMAIL, 1_000), None);
        assert_eq!(wait_secs(failures(0, None), PER_EMAIL, 1_000), None);
    }

    #[test]
    fn at_the_limit_the_wait_ends_when_the_oldest_failure_leaves_the_window() {
        let window = window_ms();
        // The oldest failure a minute ago: 14 minutes left.
        assert_eq!(
            wait_secs(failures(5, Some(0)), PER_EMAIL, 60_000),
            Some(((window - 60_000) / 1000) as u64)
        );
        // Rounded up to whole seconds, never 0.
        assert_eq!(
            wait_secs(failures(5, Some(0)), PER_EMAIL, window - 1),
            Some(1)
        );
        assert_eq!(wait_secs(failures(20, Some(0)), PER_IP, 0), Some(900));
    }

    #[test]
    fn subjects_hide_the_address_and_keep_kinds_apart() {
        let email = subject("email", "a@shop.example");
        assert!(email.starts_with("email:"));
        assert!(!email.contains("shop"));
        assert_eq!(email.len(), "email:".len() + 64);
        // The same text as an e-mail and as an address: two counts.
        assert_ne!(subject("email", "10.0.0.1"), subject("ip", "10.0.0.1"));
    }
}
