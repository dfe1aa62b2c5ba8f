//! The embed widget's keys, one row per organization (`widget_keys`): the server-side key that
//! signs visitor session tokens, and the site's customer-signing secret.

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::OrganizationId;

impl Store {
    /// Returns the organization's token-signing key, creating it on first use. Two replicas
    /// racing to create it both end up reading the one row that won (`on conflict do nothing`).
    pub async fn widget_token_key(&self, org: &OrganizationId) -> Result<String> {
        if let Some(key) = self.read_token_key(org).await? {
            return Ok(key);
        }
        let now = now_ms();
        sqlx::query(
            "insert into widget_keys (organization_id, token_key, created_at, updated_at) \
             values ($1, $2, $3, $3) on conflict (organization_id) do nothing",
        )
        .bind(org.as_str())
        .bind(crate::widget::token::new_key())
        .bind(now)
        .execute(self.pool())
        .await?;
        self.read_token_key(org)
            .await?
            .ok_or_else(|| Error::internal("the widget token key vanished after its creation"))
    }

    async fn read_token_key(&self, org: &OrganizationId) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("select token_key from widget_keys where organization_id = $1")
                .bind(org.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(key,)| key))
    }

    /// Returns the organization's customer-signing secret, if it created one.
    pub async fn widget_customer_secret(&self, org: &OrganizationId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("select customer_secret from widget_keys where organization_id = $1")
                .bind(org.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(secret,)| secret))
    }

    /// Replaces the organization's customer-signing secret (signatures made with the old one
    /// stop verifying at once).
    pub async fn set_widget_customer_secret(
        &self,
        org: &OrganizationId,
        secret: &str,
    ) -> Result<()> {
        // Make sure the row exists (it also holds the token key).
        self.widget_token_key(org).await?;
        let now = now_ms();
        sqlx::query(
            "update widget_keys set customer_secret = $2, customer_secret_rotated_at = $3, \
             updated_at = $3 where organization_id = $1",
        )
        .bind(org.as_str())
        .bind(secret)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
