//! The memory API's operations, by the organization's own `customer_id`: read, replace,
//! upsert, forget (all) and delete one fact. A customer id unknown to the organization is
//! `NotFound` for reads and deletions (another organization's customers are invisible); writes
//! create the customer record, so memory can be seeded before the first conversation.

use super::{validate_key, validate_value, CustomerMemory, FactSource, NewFact};
use crate::error::{Error, Result};
use crate::ids::{CustomerRecordId, FactId, OrganizationId};
use crate::store::memory::{FactOrigin, ForgetOutcome};
use crate::store::Store;

/// Most facts accepted in one PUT or PATCH.
pub const MAX_FACTS_PER_REQUEST: usize = 100;

/// A fact as the API receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct FactInput {
    pub key: String,
    pub value: String,
    /// In [0, 1]; 1 when not given.
    pub confidence: Option<f32>,
}

async fn existing_customer(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
) -> Result<CustomerRecordId> {
    store
        .customer_by_external_id(org, customer_id)
        .await?
        .ok_or_else(|| Error::not_found("no customer with this customer_id in this organization"))
}

fn validate(facts: &[FactInput]) -> Result<Vec<NewFact>> {
    if facts.len() > MAX_FACTS_PER_REQUEST {
        return Err(Error::unprocessable(format!(
            "facts: at most {MAX_FACTS_PER_REQUEST} per request"
        )));
    }
    facts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            validate_key(&f.key)
                .and_then(|()| validate_value(&f.value))
                .map_err(|e| Error::unprocessable(format!("facts[{i}]: {}", e.message())))?;
            let confidence = f.confidence.unwrap_or(1.0);
            if !(0.0..=1.0).contains(&confidence) {
                return Err(Error::unprocessable(format!(
                    "facts[{i}].confidence: must be between 0 and 1"
                )));
            }
            Ok(NewFact {
                key: f.key.clone(),
                value: f.value.trim().to_string(),
                source: FactSource::Api,
                confidence,
            })
        })
        .collect()
}

/// Everything remembered about the customer.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn get_memory(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
) -> Result<CustomerMemory> {
    let customer = existing_customer(store, org, customer_id).await?;
    store.customer_memory(org, &customer).await
}

/// Replaces all facts with `facts`; returns the memory after the change.
#[tracing::instrument(skip_all, fields(org = %org, count = facts.len()))]
pub async fn replace_memory(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
    facts: &[FactInput],
) -> Result<CustomerMemory> {
    let facts = validate(facts)?;
    let customer = store.ensure_customer(org, customer_id).await?;
    store.replace_facts(org, &customer, &facts).await?;
    store.customer_memory(org, &customer).await
}

/// Upserts `facts` by key (see `Store::upsert_facts`); returns the memory after the change.
#[tracing::instrument(skip_all, fields(org = %org, count = facts.len()))]
pub async fn patch_memory(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
    facts: &[FactInput],
) -> Result<CustomerMemory> {
    let facts = validate(facts)?;
    let customer = store.ensure_customer(org, customer_id).await?;
    let origin = FactOrigin {
        conversation: None,
        channel: None,
    };
    store.upsert_facts(org, &customer, &facts, origin).await?;
    store.customer_memory(org, &customer).await
}

/// Forgets the customer: every fact and summary (the right to be forgotten).
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn forget(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
) -> Result<ForgetOutcome> {
    let customer = existing_customer(store, org, customer_id).await?;
    store.forget_customer(org, &customer).await
}

/// Deletes one fact.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn delete_fact(
    store: &Store,
    org: &OrganizationId,
    customer_id: &str,
    fact_id: &str,
) -> Result<()> {
    let fact = FactId::parse(fact_id).map_err(|_| Error::not_found("fact not found"))?;
    let customer = existing_customer(store, org, customer_id).await?;
    store.delete_fact(org, &customer, &fact).await
}
