//! API keys as stored: a public prefix for lookup and the SHA-256 of the secret, never the
//! secret itself. Rotation keeps the old key valid until `expires_at`; revocation is
//! immediate.

use serde::Serialize;

use super::orgs::Plan;
use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::{ApiKeyId, OrganizationId};

/// An API key as listed to its organization: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// The first characters of the secret, enough to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Set when the key was rotated: it stops working at this time.
    pub expires_at: Option<i64>,
    pub replaced_by: Option<ApiKeyId>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    organization_id: String,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
    replaced_by: Option<String>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: ApiKeyId::from_trusted(row.id),
            organization_id: OrganizationId::from_trusted(row.organization_id),
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            expires_at: row.expires_at,
            replaced_by: row.replaced_by.map(ApiKeyId::from_trusted),
        }
    }
}

/// A key candidate for authentication, joined with what the request pipeline needs to know
/// about its organization.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    pub key_id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub secret_hash: String,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub plan: Plan,
    pub rate_limit_per_min: Option<i64>,
    pub monthly_conversation_quota: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct KeyCredentialRow {
    id: String,
    organization_id: String,
    secret_hash: String,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
    plan: String,
    rate_limit_per_min: Option<i64>,
    monthly_conversation_quota: Option<i64>,
}

/// A key about to be stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
}

const KEY_COLUMNS: &str = "id, organization_id, name, prefix, created_at, last_used_at, \
                           revoked_at, expires_at, replaced_by";

impl Store {
    /// Stores a new key and returns it as listed.
    pub async fn insert_api_key(&self, new: &NewApiKey) -> Result<ApiKey> {
        let now = now_ms();
        sqlx::query(
            "insert into api_keys (id, organization_id, prefix, secret_hash, name, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(new.id.as_str())
        .bind(new.organization_id.as_str())
        .bind(&new.prefix)
        .bind(&new.secret_hash)
        .bind(&new.name)
        .bind(now)
        .execute(self.writer())
        .await?;
        self.caches().key_credentials.clear();
        Ok(ApiKey {
            id: new.id.clone(),
            organization_id: new.organization_id.clone(),
            name: new.name.clone(),
            prefix: new.prefix.clone(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at: None,
            replaced_by: None,
        })
    }

    /// Returns every key whose public prefix is `prefix`, with its organization's limits.
    /// Cached in process for [`super::cache::KEY_TTL`] (only prefixes that match a key, so
    /// guessed keys cannot fill the cache); every key or plan change made through this
    /// process empties the cache.
    pub async fn key_credentials_by_prefix(&self, prefix: &str) -> Result<Vec<KeyCredential>> {
        let cache = &self.caches().key_credentials;
        if let Some(found) = cache.get(prefix) {
            return Ok(found);
        }
        let read_from = cache.generation();
        let found = self.stored_key_credentials(prefix).await?;
        if !found.is_empty() {
            cache.insert_since(read_from, prefix.to_owned(), found.clone());
        }
        Ok(found)
    }

    async fn stored_key_credentials(&self, prefix: &str) -> Result<Vec<KeyCredential>> {
        let rows: Vec<KeyCredentialRow> = sqlx::query_as(
            "select k.id, k.organization_id, k.secret_hash, k.revoked_at, k.expires_at, o.plan, \
             o.rate_limit_per_min, o.monthly_conversation_quota \
             from api_keys k join organizations o on o.id = k.organization_id \
             where k.prefix = $1",
        )
        .bind(prefix)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(KeyCredential {
                    key_id: ApiKeyId::from_trusted(row.id),
                    organization_id: OrganizationId::from_trusted(row.organization_id),
                    secret_hash: row.secret_hash,
                    revoked_at: row.revoked_at,
                    expires_at: row.expires_at,
                    plan: Plan::parse(&row.plan).map_err(|e| {
                        Error::internal("an organization has an unknown plan").with_source(e)
                    })?,
                    rate_limit_per_min: row.rate_limit_per_min,
                    monthly_conversation_quota: row.monthly_conversation_quota,
                })
            })
            .collect()
    }

    /// Lists the organization's keys, newest first, revoked ones included.
    pub async fn api_keys(&self, org: &OrganizationId) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "select {KEY_COLUMNS} from api_keys where organization_id = $1 \
             order by created_at desc, id desc"
        );
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    /// Returns one of the organization's keys.
    pub async fn api_key(&self, org: &OrganizationId, id: &ApiKeyId) -> Result<Option<ApiKey>> {
        let sql =
            format!("select {KEY_COLUMNS} from api_keys where organization_id = $1 and id = $2");
        let row: Option<ApiKeyRow> = sqlx::query_as(&sql)
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(ApiKey::from))
    }

    /// Revokes the key now; returns `false` when the organization has no such key.
    pub async fn revoke_api_key(&self, org: &OrganizationId, id: &ApiKeyId) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "update api_keys set revoked_at = coalesce(revoked_at, $1), updated_at = $1 \
             where organization_id = $2 and id = $3",
        )
        .bind(now)
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(self.writer())
        .await?;
        self.caches().key_credentials.clear();
        Ok(done.rows_affected() > 0)
    }

    /// Stores `new` and marks `old` as replaced by it, valid until `old_expires_at`, in one
    /// transaction. Returns `false` (and stores nothing) when `old` is not an active key of
    /// the organization.
    pub async fn rotate_api_key(
        &self,
        old: &ApiKeyId,
        new: &NewApiKey,
        old_expires_at: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "update api_keys set expires_at = case when expires_at is null or expires_at > $1 \
             then $1 else expires_at end, replaced_by = $2, updated_at = $3 \
             where organization_id = $4 and id = $5 and revoked_at is null \
             and (expires_at is null or expires_at > $3)",
        )
        .bind(old_expires_at)
        .bind(new.id.as_str())
        .bind(now)
        .bind(new.organization_id.as_str())
        .bind(old.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "insert into api_keys (id, organization_id, prefix, secret_hash, name, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(new.id.as_str())
        .bind(new.organization_id.as_str())
        .bind(&new.prefix)
        .bind(&new.secret_hash)
        .bind(&new.name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.caches().key_credentials.clear();
        Ok(true)
    }

    /// Records that the key was used at `at` (callers throttle how often they call this).
    pub async fn touch_api_key(&self, id: &ApiKeyId, at: i64) -> Result<()> {
        sqlx::query("update api_keys set last_used_at = $1 where id = $2")
            .bind(at)
            .bind(id.as_str())
            .execute(self.writer())
            .await?;
        Ok(())
    }
}
