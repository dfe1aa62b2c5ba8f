//! API keys: secrets are `bk_live_` followed by 40 random base62 characters (about 238 bits),
//! shown once and stored as SHA-256. The first 16 characters are a public prefix used to find
//! the key; the hash is then compared in constant time. Because secrets are long and random,
//! a fast hash is safe here (no password stretching is needed).

use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, OrganizationId};
use crate::store::keys::{ApiKey, NewApiKey};
use crate::store::orgs::Plan;
use crate::store::{now_ms, Store};

/// What every secret starts with: recognisable in logs and by secret scanners.
pub const SECRET_PREFIX: &str = "bk_live_";
/// Random characters after [`SECRET_PREFIX`].
const SECRET_RANDOM_LEN: usize = 40;
/// Characters of the secret stored in clear for lookup and display.
const LOOKUP_PREFIX_LEN: usize = SECRET_PREFIX.len() + 8;
/// Longest name a key may have.
pub const MAX_KEY_NAME_CHARS: usize = 100;

/// A key just issued: the only time its secret is visible.
#[derive(Clone, Serialize)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Who a valid key authenticates, with the limits of its organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub organization_id: OrganizationId,
    pub key_id: ApiKeyId,
    pub plan: Plan,
    pub rate_limit_per_min: Option<i64>,
    pub monthly_conversation_quota: Option<i64>,
}

/// Returns the hex SHA-256 of a secret, the form keys are stored in.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Mints a fresh secret with its stored form for organization `org`.
fn mint(org: &OrganizationId, name: &str) -> (String, NewApiKey) {
    let random = Alphanumeric.sample_string(&mut rand::rngs::OsRng, SECRET_RANDOM_LEN);
    let secret = format!("{SECRET_PREFIX}{random}");
    let new = NewApiKey {
        id: ApiKeyId::new(),
        organization_id: org.clone(),
        name: name.to_owned(),
        prefix: secret[..LOOKUP_PREFIX_LEN].to_owned(),
        secret_hash: hash_secret(&secret),
    };
    (secret, new)
}

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.chars().count() > MAX_KEY_NAME_CHARS {
        return Err(Error::unprocessable(format!(
            "name: must be at most {MAX_KEY_NAME_CHARS} characters"
        )));
    }
    Ok(if name.is_empty() {
        "default".to_owned()
    } else {
        name.to_owned()
    })
}

/// Issues a new key for the organization.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn create_key(store: &Store, org: &OrganizationId, name: &str) -> Result<IssuedKey> {
    let name = validate_name(name)?;
    let (secret, new) = mint(org, &name);
    let key = store.insert_api_key(&new).await?;
    Ok(IssuedKey { key, secret })
}

/// Lists the organization's keys (never their secrets).
pub async fn list_keys(store: &Store, org: &OrganizationId) -> Result<Vec<ApiKey>> {
    store.api_keys(org).await
}

/// Revokes a key immediately; 404 when the organization has no such key.
#[tracing::instrument(skip_all, fields(org = %org, key = %id))]
pub async fn revoke_key(store: &Store, org: &OrganizationId, id: &ApiKeyId) -> Result<ApiKey> {
    if !store.revoke_api_key(org, id).await? {
        return Err(Error::not_found(format!(
            "no API key {id} in this organization"
        )));
    }
    store
        .api_key(org, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no API key {id} in this organization")))
}

/// Issues a successor for key `id`; the old secret keeps working for `grace_secs` seconds,
/// then stops. 404 when the organization has no such active key.
#[tracing::instrument(skip_all, fields(org = %org, key = %id))]
pub async fn rotate_key(
    store: &Store,
    org: &OrganizationId,
    id: &ApiKeyId,
    grace_secs: u64,
) -> Result<IssuedKey> {
    let old = store
        .api_key(org, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("no API key {id} in this organization")))?;
    let (secret, new) = mint(org, &old.name);
    let grace_ms = i64::try_from(grace_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let expires_at = now_ms().saturating_add(grace_ms);
    if !store.rotate_api_key(id, &new, expires_at).await? {
        return Err(Error::conflict(format!(
            "API key {id} is revoked or expired and cannot be rotated"
        )));
    }
    let key = store
        .api_key(org, &new.id)
        .await?
        .ok_or_else(|| Error::internal("the rotated key vanished"))?;
    Ok(IssuedKey { key, secret })
}

/// Checks a presented secret: malformed, unknown, revoked and expired keys are all 401, with
/// a message that says which (none of them reveals anything about other keys).
pub async fn authenticate(store: &Store, presented: &str) -> Result<Principal> {
    if !looks_like_secret(presented) {
        return Err(Error::unauthorized(
            "the API key is malformed (expected 'Authorization: Bearer bk_live_...')",
        ));
    }
    let hash = hash_secret(presented);
    let candidates = store
        .key_credentials_by_prefix(&presented[..LOOKUP_PREFIX_LEN])
        .await?;
    let found = candidates
        .into_iter()
        .find(|c| bool::from(c.secret_hash.as_bytes().ct_eq(hash.as_bytes())))
        .ok_or_else(|| Error::unauthorized("the API key is not valid"))?;
    let now = now_ms();
    if found.revoked_at.is_some() {
        return Err(Error::unauthorized("the API key has been revoked"));
    }
    if found.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::unauthorized(
            "the API key has expired (it was rotated; use its replacement)",
        ));
    }
    Ok(Principal {
        organization_id: found.organization_id,
        key_id: found.key_id,
        plan: found.plan,
        rate_limit_per_min: found.rate_limit_per_min,
        monthly_conversation_quota: found.monthly_conversation_quota,
    })
}

fn looks_like_secret(presented: &str) -> bool {
    presented.len() == SECRET_PREFIX.len() + SECRET_RANDOM_LEN
        && presented.starts_with(SECRET_PREFIX)
        && presented[SECRET_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_secrets_have_the_documented_shape_and_hash() {
        let org = OrganizationId::new();
        let (secret, new) = mint(&org, "ci");
        assert!(looks_like_secret(&secret), "{secret}");
        assert!(secret.starts_with(&new.prefix));
        assert_eq!(new.secret_hash, hash_secret(&secret));
        assert_ne!(new.secret_hash, secret);
    }

    #[test]
    fn malformed_secrets_are_recognised() {
        assert!(!looks_like_secret("bk_live_short"));
        assert!(!looks_like_secret(&format!("sk_live_{}", "a".repeat(40))));
        assert!(!looks_like_secret(&format!("bk_live_{}", "ä".repeat(20))));
    }
}
