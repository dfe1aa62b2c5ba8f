//! Customer records: one per organization and caller-side `customer_id`. A record's id never
//! changes, so the lookup every turn makes is cached in process.

use super::cache::customer_key;
use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::{CustomerRecordId, OrganizationId};

impl Store {
    /// Returns the record of the organization's customer `external_id`, creating it on first
    /// contact. Safe under concurrency: a racing insert is ignored and the winner is read back.
    pub async fn ensure_customer(
        &self,
        org: &OrganizationId,
        external_id: &str,
    ) -> Result<CustomerRecordId> {
        let cache_key = customer_key(org.as_str(), external_id);
        let cache = &self.caches().customers;
        if let Some(id) = cache.get(&cache_key) {
            return Ok(id);
        }
        let read_from = cache.generation();
        if let Some(id) = self.customer_by_external_id(org, external_id).await? {
            cache.insert_since(read_from, cache_key, id.clone());
            return Ok(id);
        }
        let now = now_ms();
        sqlx::query(
            "insert into customers (id, organization_id, external_id, created_at, updated_at) \
             values ($1, $2, $3, $4, $5) on conflict (organization_id, external_id) do nothing",
        )
        .bind(CustomerRecordId::new().as_str())
        .bind(org.as_str())
        .bind(external_id)
        .bind(now)
        .bind(now)
        .execute(self.writer())
        .await?;
        let id = self
            .customer_by_external_id(org, external_id)
            .await?
            .ok_or_else(|| Error::internal("the customer record vanished after it was created"))?;
        cache.insert_since(read_from, cache_key, id.clone());
        Ok(id)
    }

    /// Looks up the record id of the organization's customer `external_id`.
    pub async fn customer_by_external_id(
        &self,
        org: &OrganizationId,
        external_id: &str,
    ) -> Result<Option<CustomerRecordId>> {
        let row: Option<(String,)> = sqlx::query_as(
            "select id from customers where organization_id = $1 and external_id = $2",
        )
        .bind(org.as_str())
        .bind(external_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| CustomerRecordId::from_trusted(id)))
    }
}
