//! Organizations: creating one issues its first API key.

use serde::Serialize;

use super::keys::{self, IssuedKey};
use crate::error::{Error, Result};
use crate::store::orgs::{NewOrganization, Organization, Plan};
use crate::store::Store;

/// Longest organization name.
pub const MAX_ORG_NAME_CHARS: usize = 200;

/// A new organization and its first key (the secret is shown once).
#[derive(Debug, Clone, Serialize)]
pub struct CreatedOrganization {
    pub organization: Organization,
    pub key: IssuedKey,
}

/// Creates an organization with its first API key.
#[tracing::instrument(skip_all, fields(plan = %new.plan))]
pub async fn create_org(store: &Store, new: NewOrganization) -> Result<CreatedOrganization> {
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        return Err(Error::unprocessable("name: must not be empty"));
    }
    if name.chars().count() > MAX_ORG_NAME_CHARS {
        return Err(Error::unprocessable(format!(
            "name: must be at most {MAX_ORG_NAME_CHARS} characters"
        )));
    }
    for (field, value) in [
        ("rate_limit_per_min", new.rate_limit_per_min),
        ("monthly_conversation_quota", new.monthly_conversation_quota),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(Error::unprocessable(format!(
                "{field}: must not be negative"
            )));
        }
    }
    let organization = store
        .insert_organization(&NewOrganization { name, ..new })
        .await?;
    let key = keys::create_key(store, &organization.id, "default").await?;
    Ok(CreatedOrganization { organization, key })
}

/// Lists every organization (an operator command; there is no HTTP endpoint for it).
pub async fn list_orgs(store: &Store) -> Result<Vec<Organization>> {
    store.organizations().await
}

/// Parses a plan name as given on a command line.
pub fn parse_plan(raw: &str) -> Result<Plan> {
    Plan::parse(raw)
}
