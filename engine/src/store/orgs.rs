//! Organizations (tenants): their plan and per-organization overrides.

use serde::{Deserialize, Serialize};

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::OrganizationId;

/// The commercial plan of an organization; it sets the default rate limit and quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Starter,
    Growth,
    Scale,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 5] = [
        Plan::Free,
        Plan::Starter,
        Plan::Growth,
        Plan::Scale,
        Plan::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Starter => "starter",
            Plan::Growth => "growth",
            Plan::Scale => "scale",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(raw: &str) -> Result<Plan> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == raw)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "plan must be one of free, starter, growth, scale, enterprise (got '{}')",
                    raw.chars().take(30).collect::<String>()
                ))
            })
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organization as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub plan: Plan,
    /// Requests per minute; overrides the plan's default when set.
    pub rate_limit_per_min: Option<i64>,
    /// New conversations per calendar month; overrides the plan's default when set.
    pub monthly_conversation_quota: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: String,
    name: String,
    plan: String,
    rate_limit_per_min: Option<i64>,
    monthly_conversation_quota: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = Error;
    fn try_from(row: OrganizationRow) -> Result<Self> {
        Ok(Organization {
            id: OrganizationId::from_trusted(row.id),
            name: row.name,
            plan: Plan::parse(&row.plan).map_err(|e| {
                Error::internal("an organization has an unknown plan").with_source(e)
            })?,
            rate_limit_per_min: row.rate_limit_per_min,
            monthly_conversation_quota: row.monthly_conversation_quota,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str =
    "id, name, plan, rate_limit_per_min, monthly_conversation_quota, created_at, updated_at";

/// What a new organization starts with.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub plan: Plan,
    pub rate_limit_per_min: Option<i64>,
    pub monthly_conversation_quota: Option<i64>,
}

impl Store {
    /// Inserts a new organization and returns it.
    pub async fn insert_organization(&self, new: &NewOrganization) -> Result<Organization> {
        let now = now_ms();
        let org = Organization {
            id: OrganizationId::new(),
            name: new.name.clone(),
            plan: new.plan,
            rate_limit_per_min: new.rate_limit_per_min,
            monthly_conversation_quota: new.monthly_conversation_quota,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "insert into organizations (id, name, plan, rate_limit_per_min, \
             monthly_conversation_quota, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org.id.as_str())
        .bind(&org.name)
        .bind(org.plan.as_str())
        .bind(org.rate_limit_per_min)
        .bind(org.monthly_conversation_quota)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(org)
    }

    /// Returns the organization, or `None` when it does not exist.
    pub async fn organization(&self, id: &OrganizationId) -> Result<Option<Organization>> {
        let sql = format!("select {COLUMNS} from organizations where id = $1");
        let row: Option<OrganizationRow> = sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(Organization::try_from).transpose()
    }

    /// Lists every organization, oldest first.
    pub async fn organizations(&self) -> Result<Vec<Organization>> {
        let sql = format!("select {COLUMNS} from organizations order by created_at, id");
        let rows: Vec<OrganizationRow> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(Organization::try_from).collect()
    }

    /// Counts the organizations (used at first start to decide whether to print set-up help).
    pub async fn count_organizations(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("select cast(count(*) as bigint) from organizations")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// Changes an organization's plan and overrides; returns `false` when it does not exist.
    pub async fn update_organization_limits(
        &self,
        id: &OrganizationId,
        plan: Plan,
        rate_limit_per_min: Option<i64>,
        monthly_conversation_quota: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update organizations set plan = $1, rate_limit_per_min = $2, \
             monthly_conversation_quota = $3, updated_at = $4 where id = $5",
        )
        .bind(plan.as_str())
        .bind(rate_limit_per_min)
        .bind(monthly_conversation_quota)
        .bind(now_ms())
        .bind(id.as_str())
        .execute(self.writer())
        .await?;
        // The plan and its overrides travel with every cached key.
        self.caches().key_credentials.clear();
        Ok(done.rows_affected() > 0)
    }
}
