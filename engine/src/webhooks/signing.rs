//! Webhook signatures.
//!
//! The signed bytes are exactly `{timestamp}.{body}`: the decimal unix seconds sent in
//! `Blaigent-Timestamp`, one ASCII dot, then the raw request body as sent (the same bytes on
//! every retry). The key is the endpoint's whole secret string, `whsec_` prefix included. The
//! signature goes in `Blaigent-Signature` as `sha256=<lowercase hex HMAC-SHA256>`; during a
//! secret rotation's grace period two values are sent, comma-separated, newest first, and a
//! receiver accepts the request when any of them matches.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Every signing secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";

/// Header names, as sent.
pub const HEADER_EVENT_ID: &str = "Blaigent-Event-Id";
pub const HEADER_TIMESTAMP: &str = "Blaigent-Timestamp";
pub const HEADER_SIGNATURE: &str = "Blaigent-Signature";
pub const HEADER_EVENT: &str = "Blaigent-Event";
pub const HEADER_ATTEMPT: &str = "Blaigent-Delivery-Attempt";

/// How old a timestamp receivers should accept, in seconds (the documented snippets use it).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// Returns a fresh secret: `whsec_` and 32 random bytes in URL-safe base64.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Returns the lowercase hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    crate::signing::hmac_sha256_hex(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])
}

/// Returns the `Blaigent-Signature` value: one `sha256=<hex>` per secret, comma-separated.
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| format!("sha256={}", sign(secret, timestamp, body)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Tells whether a request is authentic for `secret`: one of the header's signatures matches
/// and the timestamp is within `tolerance_secs` of `now_secs`. What a receiver does; used by
/// the tests.
pub fn verify(
    secret: &str,
    signature_header: &str,
    timestamp_header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let Ok(timestamp) = timestamp_header.trim().parse::<i64>() else {
        return false;
    };
    if (now_secs - timestamp).abs() > tolerance_secs {
        return false;
    }
    let expected = sign(secret, timestamp, body);
    signature_header
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("sha256="))
        .any(|candidate| bool::from(candidate.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_a_reference_hmac_of_timestamp_dot_body() {
        // Reference computed independently: printf '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac 'whsec_test' -hex
        let sig = sign("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn a_genuine_request_verifies_and_a_tampered_or_stale_one_does_not() {
        let secret = generate_secret();
        let body = br#"{"id":"evt_1","event":"ping"}"#;
        let now = 1_700_000_000;
        let header = signature_header(&[&secret], now, body);
        assert!(verify(
            &secret,
            &header,
            &now.to_string(),
            body,
            now + 10,
            TOLERANCE_SECS
        ));
        assert!(!verify(
            &secret,
            &header,
            &now.to_string(),
            b"{}",
            now,
            TOLERANCE_SECS
        ));
        assert!(!verify(
            "whsec_other",
            &header,
            &now.to_string(),
            body,
            now,
            TOLERANCE_SECS
        ));
        let stale = now + TOLERANCE_SECS + 1;
        assert!(!verify(
            &secret,
            &header,
            &now.to_string(),
            body,
            stale,
            TOLERANCE_SECS
        ));
    }

    #[test]
    fn during_rotation_either_secret_verifies() {
        let (new, old) = (generate_secret(), generate_secret());
        let body = b"{}";
        let header = signature_header(&[&new, &old], 42, body);
        assert_eq!(header.matches("sha256=").count(), 2);
        assert!(verify(&new, &header, "42", body, 42, TOLERANCE_SECS));
        assert!(verify(&old, &header, "42", body, 42, TOLERANCE_SECS));
    }

    #[test]
    fn secrets_are_prefixed_and_unique() {
        let (a, b) = (generate_secret(), generate_secret());
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_ne!(a, b);
    }
}
