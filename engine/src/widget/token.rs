//! Visitor session tokens: `wv1.<payload>.<mac>`, both parts base64url without padding. The
//! payload is JSON naming the organization, the customer id, the embedding origin and the
//! expiry; the MAC is HMAC-SHA256 of the payload part with the organization's token key (kept
//! server-side in `widget_keys`).
//!
//! Stateless on purpose: any replica verifies a token with one key read and no session table,
//! and a token expires on its own. The cost is that a token cannot be revoked before it
//! expires, which is why it lives only [`DEFAULT_TTL_SECS`]; the widget simply asks for a new
//! one (its visitor id or the site's signature get it the same customer id back).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// Version tag at the start of every token, so the format can change later.
const VERSION: &str = "wv1";

/// How long a token is valid by default: one hour, long enough for a support chat, short
/// enough that a leaked token is soon worthless.
pub const DEFAULT_TTL_SECS: u64 = 60 * 60;

/// What a token vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Organization id (`org_...`).
    #[serde(rename = "o")]
    pub organization_id: String,
    /// The customer id chats run as (`visitor_...` or the site's signed id).
    #[serde(rename = "c")]
    pub customer_id: String,
    /// The normalised origin of the page that asked for the token.
    #[serde(rename = "r")]
    pub origin: String,
    /// Expiry, unix milliseconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

/// Returns a new random token key (32 bytes, hex).
pub fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn mac(key: &str, payload: &str) -> Result<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key.as_bytes())
        .map_err(|_| Error::internal("the widget token key is unusable"))?;
    mac.update(payload.as_bytes());
    Ok(mac)
}

/// Signs `claims` with `key`.
pub fn issue(key: &str, claims: &Claims) -> Result<String> {
    let json = serde_json::to_vec(claims)
        .map_err(|e| Error::internal("encoding a widget token").with_source(e))?;
    let payload = URL_SAFE_NO_PAD.encode(json);
    let tag = mac(key, &payload)?.finalize().into_bytes();
    Ok(format!(
        "{VERSION}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// Checks the token's MAC and expiry (at `now_ms`) and returns its claims; any failure is a
/// 401 that tells the widget to start a new session.
pub fn verify(key: &str, token: &str, now_ms: i64) -> Result<Claims> {
    let invalid =
        || Error::unauthorized("the visitor session token is invalid; start a new session");
    let mut parts = token.trim().split('.');
    let (Some(VERSION), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    mac(key, payload)?
        .verify_slice(&tag)
        .map_err(|_| invalid())?;
    let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if claims.expires_at <= now_ms {
        return Err(Error::unauthorized(
            "the visitor session token has expired; start a new session",
        ));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> Claims {
        Claims {
            organization_id: "org_a".into(),
            customer_id: "visitor_x".into(),
            origin: "https://shop.example".into(),
            expires_at,
        }
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let key = new_key();
        let token = issue(&key, &claims(2_000)).unwrap();
        assert!(token.starts_with("wv1."));
        assert_eq!(verify(&key, &token, 1_999).unwrap(), claims(2_000));
        let expired = verify(&key, &token, 2_000).unwrap_err();
        assert!(expired.message().contains("expired"), "{expired}");
    }

    #[test]
    fn a_token_from_another_key_or_with_edited_claims_is_refused() {
        let key = new_key();
        let token = issue(&key, &claims(2_000)).unwrap();
        assert!(verify(&new_key(), &token, 0).is_err());
        // Swap in a payload naming another customer, keeping the original MAC.
        let mut forged = claims(2_000);
        forged.customer_id = "cust_victim".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = token.rsplit('.').next().unwrap();
        let forged_token = format!("wv1.{forged_payload}.{tag}");
        assert!(verify(&key, &forged_token, 0).is_err());
        assert!(verify(&key, "wv1.abc", 0).is_err());
        assert!(verify(&key, "", 0).is_err());
    }
}
