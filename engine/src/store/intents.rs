//! An organization's changes to the default intent set (the `intents` table of
//! `0003_engine.sql`). The effective set is computed in [`crate::intent::service`]: defaults,
//! minus disabled labels, with custom rows replacing or adding intents.

use super::{now_ms, Store};
use crate::error::{Result, ResultExt};
use crate::ids::{IntentId, OrganizationId};

/// One stored change to the intent set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRow {
    pub label: String,
    pub description: String,
    pub examples: Vec<String>,
    /// True when the row removes a default intent.
    pub disabled: bool,
    pub updated_at: i64,
}

/// Cheap summary of an organization's rows, used to notice changes made by other replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntentsVersion {
    pub rows: i64,
    pub last_update: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    label: String,
    description: String,
    examples: String,
    disabled: i64,
    updated_at: i64,
}

impl Store {
    /// The organization's intent rows, by label.
    pub async fn intent_rows(&self, org: &OrganizationId) -> Result<Vec<IntentRow>> {
        let rows: Vec<Row> = sqlx::query_as(
            "select label, description, examples, disabled, updated_at from intents \
             where organization_id = $1 order by label",
        )
        .bind(org.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let examples: Vec<String> = serde_json::from_str(&row.examples)
                    .or_internal("stored intent examples are unreadable")?;
                Ok(IntentRow {
                    label: row.label,
                    description: row.description,
                    examples,
                    disabled: row.disabled != 0,
                    updated_at: row.updated_at,
                })
            })
            .collect()
    }

    /// Row count and latest update time of the organization's intent rows.
    pub async fn intents_version(&self, org: &OrganizationId) -> Result<IntentsVersion> {
        let (rows, last_update): (i64, Option<i64>) = sqlx::query_as(
            "select cast(count(*) as bigint), cast(max(updated_at) as bigint) from intents \
             where organization_id = $1",
        )
        .bind(org.as_str())
        .fetch_one(self.pool())
        .await?;
        Ok(IntentsVersion {
            rows,
            last_update: last_update.unwrap_or(0),
        })
    }

    /// Creates or replaces an intent (enabled, with these examples).
    pub async fn put_intent(
        &self,
        org: &OrganizationId,
        label: &str,
        description: &str,
        examples: &[String],
    ) -> Result<()> {
        let examples = serde_json::to_string(examples).or_internal("encoding intent examples")?;
        self.upsert_intent(org, label, description, &examples, false)
            .await
    }

    /// Records that a default intent is removed for this organization.
    pub async fn disable_intent(&self, org: &OrganizationId, label: &str) -> Result<()> {
        self.upsert_intent(org, label, "", "[]", true).await
    }

    async fn upsert_intent(
        &self,
        org: &OrganizationId,
        label: &str,
        description: &str,
        examples: &str,
        disabled: bool,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into intents \
             (id, organization_id, label, description, examples, disabled, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $7) \
             on conflict (organization_id, label) do update \
             set description = $4, examples = $5, disabled = $6, updated_at = $7",
        )
        .bind(IntentId::new().to_string())
        .bind(org.as_str())
        .bind(label)
        .bind(description)
        .bind(examples)
        .bind(i64::from(disabled))
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes the organization's row for `label`; returns whether one existed.
    pub async fn delete_intent_row(&self, org: &OrganizationId, label: &str) -> Result<bool> {
        let done = sqlx::query("delete from intents where organization_id = $1 and label = $2")
            .bind(org.as_str())
            .bind(label)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes every row of the organization: back to the shipped defaults.
    pub async fn reset_intents(&self, org: &OrganizationId) -> Result<u64> {
        let done = sqlx::query("delete from intents where organization_id = $1")
            .bind(org.as_str())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
