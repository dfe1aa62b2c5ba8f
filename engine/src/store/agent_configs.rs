//! Each organization's agent configuration, stored as one JSON document. Every turn reads it,
//! so it is cached in process for [`super::cache::AGENT_CONFIG_TTL`]; a change through this
//! process is seen at once.

use super::{now_ms, Store};
use crate::config::AgentConfig;
use crate::error::{Result, ResultExt};
use crate::ids::OrganizationId;

impl Store {
    /// Returns the organization's stored configuration, or `None` when it never saved one.
    pub async fn agent_config(&self, org: &OrganizationId) -> Result<Option<AgentConfig>> {
        let cache = &self.caches().agent_configs;
        if let Some(config) = cache.get(org.as_str()) {
            return Ok(config);
        }
        let read_from = cache.generation();
        let config = self.stored_agent_config(org).await?;
        cache.insert_since(read_from, org.as_str().to_owned(), config.clone());
        Ok(config)
    }

    async fn stored_agent_config(&self, org: &OrganizationId) -> Result<Option<AgentConfig>> {
        let row: Option<(String,)> =
            sqlx::query_as("select config from agent_configs where organization_id = $1")
                .bind(org.as_str())
                .fetch_optional(self.pool())
                .await?;
        row.map(|(json,)| {
            serde_json::from_str(&json).or_internal("a stored agent configuration is unreadable")
        })
        .transpose()
    }

    /// Stores the organization's configuration, replacing any earlier one.
    pub async fn put_agent_config(&self, org: &OrganizationId, config: &AgentConfig) -> Result<()> {
        let json = serde_json::to_string(config).or_internal("encoding the agent configuration")?;
        let now = now_ms();
        sqlx::query(
            "insert into agent_configs (organization_id, config, created_at, updated_at) \
             values ($1, $2, $3, $4) \
             on conflict (organization_id) do update set config = $2, updated_at = $4",
        )
        .bind(org.as_str())
        .bind(json)
        .bind(now)
        .bind(now)
        .execute(self.writer())
        .await?;
        self.caches().agent_configs.remove(org.as_str());
        Ok(())
    }
}
