//! Mailgun request authenticity: signature, freshness and replay.
//!
//! Mailgun signs every inbound-route and webhook request with three form fields: `timestamp`
//! (unix seconds), `token` (50 random characters) and `signature`, the lowercase hex
//! HMAC-SHA256 of `timestamp` immediately followed by `token` (no separator), keyed with the
//! account's HTTP webhook signing key. A request is accepted when
//! 1. the signature matches (compared in constant time),
//! 2. the timestamp is within [`FRESHNESS_SECS`] of the server clock, so a captured request
//!    cannot be replayed later, and
//! 3. the token has not been seen within that window ([`TokenCache`]), so it cannot be
//!    replayed sooner either.
//!
//! The token cache lives in the process; several replicas each keep their own, and the durable
//! duplicate check on `Message-Id` (the channel inbound table) still answers a replay once.

use std::collections::HashMap;
use std::sync::Mutex;

use subtle::ConstantTimeEq;

/// How far a request's timestamp may be from the server clock, either way: 5 minutes, enough
/// for Mailgun's queueing and ordinary clock drift.
pub const FRESHNESS_SECS: i64 = 5 * 60;

/// Why a request was refused (the route answers 403 for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `timestamp`, `token` or `signature` is missing or malformed.
    Missing,
    BadSignature,
    Stale,
    Replayed,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Missing => "missing signature fields",
            Rejection::BadSignature => "signature mismatch",
            Rejection::Stale => "timestamp outside the freshness window",
            Rejection::Replayed => "token already used",
        }
    }
}

/// Returns the hex HMAC-SHA256 of `timestamp + token` under `signing_key`.
pub fn sign(signing_key: &str, timestamp: &str, token: &str) -> String {
    crate::signing::hmac_sha256_hex(
        signing_key.as_bytes(),
        &[timestamp.as_bytes(), token.as_bytes()],
    )
}

/// Checks the signature and the freshness of a request at `now_secs` (not the replay: see
/// [`TokenCache::verify`]).
pub fn verify_signature(
    signing_key: &str,
    timestamp: &str,
    token: &str,
    signature: &str,
    now_secs: i64,
) -> Result<(), Rejection> {
    if signing_key.is_empty() || token.is_empty() || signature.is_empty() {
        return Err(Rejection::Missing);
    }
    let Ok(sent) = timestamp.trim().parse::<i64>() else {
        return Err(Rejection::Missing);
    };
    let expected = sign(signing_key, timestamp.trim(), token);
    let given = signature.trim().to_ascii_lowercase();
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(Rejection::BadSignature);
    }
    if now_secs.abs_diff(sent) > FRESHNESS_SECS.unsigned_abs() {
        return Err(Rejection::Stale);
    }
    Ok(())
}

/// Tokens seen within the freshness window, per process.
#[derive(Debug, Default)]
pub struct TokenCache {
    seen: Mutex<HashMap<String, i64>>,
}

impl TokenCache {
    /// Verifies signature and freshness, then remembers the token; a token seen before in the
    /// window is [`Rejection::Replayed`]. Only authentic requests are remembered, so forged
    /// requests cannot fill the cache.
    pub fn verify(
        &self,
        signing_key: &str,
        timestamp: &str,
        token: &str,
        signature: &str,
        now_secs: i64,
    ) -> Result<(), Rejection> {
        verify_signature(signing_key, timestamp, token, signature, now_secs)?;
        // A poisoned lock only means another request panicked mid-insert; the map is still
        // a valid map, so keep using it.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, at| now_secs - *at <= FRESHNESS_SECS);
        if seen.contains_key(token) {
            return Err(Rejection::Replayed);
        }
        seen.insert(token.to_string(), now_secs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key-5f2a8e0c9d4b7a1e3f6c8d2b0a9e7c5d";
    const TIMESTAMP: &str = "1770920772";
    const TOKEN: &str = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";

    #[test]
    fn the_signature_matches_python_hmac_of_timestamp_and_token() {
        // Mailgun's "Securing Webhooks" page documents the algorithm (HMAC-SHA256 over
        // timestamp + token, hex digest, keyed with the webhook signing key) and shows a
        // sample {token, timestamp, signature}, but not the signing key behind it, so it
        // cannot be checked. The reference here is computed independently by Python's hmac
        // module over that page's sample timestamp and token and a made-up key.
        let script = format!(
            "import hmac,hashlib; print(hmac.new(b'{KEY}', b'{TIMESTAMP}{TOKEN}', hashlib.sha256).hexdigest())"
        );
        let Some(reference) = python_stdout(&script) else {
            eprintln!("python3 is not available: the Python cross-check is skipped");
            return;
        };
        assert_eq!(reference.len(), 64);
        assert_eq!(sign(KEY, TIMESTAMP, TOKEN), reference);
        assert_eq!(
            verify_signature(KEY, TIMESTAMP, TOKEN, &reference, 1_770_920_800),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_key_or_token_is_a_bad_signature() {
        let sig = sign(KEY, TIMESTAMP, TOKEN);
        let now = 1_770_920_772;
        assert_eq!(
            verify_signature("key-other", TIMESTAMP, TOKEN, &sig, now),
            Err(Rejection::BadSignature)
        );
        let other_token = TOKEN.replace('e', "f");
        assert_eq!(
            verify_signature(KEY, TIMESTAMP, &other_token, &sig, now),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify_signature(KEY, "x", TOKEN, &sig, now),
            Err(Rejection::Missing)
        );
        assert_eq!(
            verify_signature("", TIMESTAMP, TOKEN, &sign("", TIMESTAMP, TOKEN), now),
            Err(Rejection::Missing)
        );
    }

    #[test]
    fn an_old_or_future_timestamp_is_stale() {
        let sig = sign(KEY, TIMESTAMP, TOKEN);
        let sent = 1_770_920_772;
        assert_eq!(
            verify_signature(KEY, TIMESTAMP, TOKEN, &sig, sent + FRESHNESS_SECS),
            Ok(())
        );
        assert_eq!(
            verify_signature(KEY, TIMESTAMP, TOKEN, &sig, sent + FRESHNESS_SECS + 1),
            Err(Rejection::Stale)
        );
        assert_eq!(
            verify_signature(KEY, TIMESTAMP, TOKEN, &sig, sent - FRESHNESS_SECS - 1),
            Err(Rejection::Stale)
        );
    }

    #[test]
    fn an_extreme_timestamp_is_stale_not_an_overflow() {
        for timestamp in [i64::MIN.to_string(), i64::MAX.to_string()] {
            let sig = sign(KEY, &timestamp, TOKEN);
            for now in [i64::MIN, 0, i64::MAX] {
                let verdict = verify_signature(KEY, &timestamp, TOKEN, &sig, now);
                let fresh = now.to_string() == timestamp;
                assert_eq!(verdict.is_ok(), fresh, "{timestamp} at {now}: {verdict:?}");
            }
        }
    }

    #[test]
    fn a_token_is_accepted_once_within_the_window() {
        let cache = TokenCache::default();
        let sig = sign(KEY, TIMESTAMP, TOKEN);
        let now = 1_770_920_772;
        assert_eq!(cache.verify(KEY, TIMESTAMP, TOKEN, &sig, now), Ok(()));
        assert_eq!(
            cache.verify(KEY, TIMESTAMP, TOKEN, &sig, now + 10),
            Err(Rejection::Replayed)
        );
        // A forged request with a fresh token is not remembered.
        assert_eq!(
            cache.verify(KEY, TIMESTAMP, "forged", &sig, now),
            Err(Rejection::BadSignature)
        );
        let forged_then_real = sign(KEY, TIMESTAMP, "forged");
        assert_eq!(
            cache.verify(KEY, TIMESTAMP, "forged", &forged_then_real, now),
            Ok(())
        );
    }

    fn python_stdout(script: &str) -> Option<String> {
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
