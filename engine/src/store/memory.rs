//! Customer memory: facts and conversation summaries (tables of `0003_engine.sql`).
//!
//! Every query is scoped by organization *and* customer record, so one organization can never
//! read or delete another's memory even with a guessed fact id.

use super::{now_ms, Store};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::ids::{ConversationId, CustomerRecordId, FactId, OrganizationId};
use crate::memory::{
    is_single_valued, validate_key, validate_value, ConversationSummary, CustomerMemory, Fact,
    FactSource, NewFact,
};

/// At most this many facts are recalled into a turn (the most recently updated).
const RECALL_FACTS: i64 = 100;
/// And this many conversation summaries.
const RECALL_SUMMARIES: i64 = 5;

#[derive(sqlx::FromRow)]
struct FactRow {
    id: String,
    key: String,
    value: String,
    source: String,
    confidence: f64,
    source_conversation_id: Option<String>,
    channel: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<FactRow> for Fact {
    fn from(row: FactRow) -> Self {
        Fact {
            id: FactId::from_trusted(row.id),
            key: row.key,
            value: row.value,
            source: FactSource::parse(&row.source).unwrap_or(FactSource::Api),
            confidence: row.confidence as f32,
            source_conversation_id: row.source_conversation_id.map(ConversationId::from_trusted),
            channel: row.channel,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    conversation_id: String,
    channel: String,
    summary: String,
    intents: String,
    created_at: i64,
    updated_at: i64,
}

/// Where a batch of facts was learned.
#[derive(Debug, Clone, Copy)]
pub struct FactOrigin<'a> {
    pub conversation: Option<&'a ConversationId>,
    pub channel: Option<Channel>,
}

/// How many rows a right-to-be-forgotten deletion removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ForgetOutcome {
    pub deleted_facts: u64,
    pub deleted_summaries: u64,
}

impl Store {
    /// Everything remembered about a customer: facts oldest first, summaries newest first.
    #[tracing::instrument(skip_all)]
    pub async fn customer_memory(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
    ) -> Result<CustomerMemory> {
        let mut facts: Vec<Fact> = sqlx::query_as::<_, FactRow>(
            "select id, key, value, source, confidence, source_conversation_id, channel, \
             created_at, updated_at from memory_facts \
             where organization_id = $1 and customer_id = $2 \
             order by updated_at desc, id desc limit $3",
        )
        .bind(org.as_str())
        .bind(customer.as_str())
        .bind(RECALL_FACTS)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Fact::from)
        .collect();
        facts.reverse();
        let summaries = sqlx::query_as::<_, SummaryRow>(
            "select conversation_id, channel, summary, intents, created_at, updated_at \
             from memory_summaries where organization_id = $1 and customer_id = $2 \
             order by updated_at desc, id desc limit $3",
        )
        .bind(org.as_str())
        .bind(customer.as_str())
        .bind(RECALL_SUMMARIES)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|row| ConversationSummary {
            conversation_id: ConversationId::from_trusted(row.conversation_id),
            channel: row.channel,
            summary: row.summary,
            intents: serde_json::from_str(&row.intents).unwrap_or_default(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
        .collect();
        Ok(CustomerMemory { facts, summaries })
    }

    /// Upserts facts by key: a single-valued key (name, email, phone) replaces its value; other
    /// keys add the value unless it is already remembered (then only its time is refreshed).
    /// Returns how many facts were written.
    #[tracing::instrument(skip_all, fields(count = facts.len()))]
    pub async fn upsert_facts(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
        facts: &[NewFact],
        origin: FactOrigin<'_>,
    ) -> Result<usize> {
        for fact in facts {
            validate_key(&fact.key)?;
            validate_value(&fact.value)?;
        }
        if facts.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        for fact in facts {
            let value = fact.value.trim();
            if is_single_valued(&fact.key) {
                sqlx::query(
                    "delete from memory_facts where organization_id = $1 and customer_id = $2 \
                     and key = $3 and value <> $4",
                )
                .bind(org.as_str())
                .bind(customer.as_str())
                .bind(&fact.key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            let updated = sqlx::query(
                "update memory_facts set updated_at = $1, source = $2, confidence = $3 \
                 where organization_id = $4 and customer_id = $5 and key = $6 and lower(value) = lower($7)",
            )
            .bind(now)
            .bind(fact.source.as_str())
            .bind(f64::from(fact.confidence))
            .bind(org.as_str())
            .bind(customer.as_str())
            .bind(&fact.key)
            .bind(value)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "insert into memory_facts (id, organization_id, customer_id, key, value, source, \
                     confidence, source_conversation_id, channel, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(FactId::new().as_str())
                .bind(org.as_str())
                .bind(customer.as_str())
                .bind(&fact.key)
                .bind(value)
                .bind(fact.source.as_str())
                .bind(f64::from(fact.confidence))
                .bind(origin.conversation.map(|c| c.as_str().to_string()))
                .bind(origin.channel.map(|c| c.as_str().to_string()))
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(facts.len())
    }

    /// Replaces all of a customer's facts with `facts` (summaries are kept).
    #[tracing::instrument(skip_all, fields(count = facts.len()))]
    pub async fn replace_facts(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
        facts: &[NewFact],
    ) -> Result<()> {
        for fact in facts {
            validate_key(&fact.key)?;
            validate_value(&fact.value)?;
        }
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query("delete from memory_facts where organization_id = $1 and customer_id = $2")
            .bind(org.as_str())
            .bind(customer.as_str())
            .execute(&mut *tx)
            .await?;
        for fact in facts {
            sqlx::query(
                "insert into memory_facts (id, organization_id, customer_id, key, value, source, \
                 confidence, source_conversation_id, channel, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, null, null, $8, $9)",
            )
            .bind(FactId::new().as_str())
            .bind(org.as_str())
            .bind(customer.as_str())
            .bind(&fact.key)
            .bind(fact.value.trim())
            .bind(fact.source.as_str())
            .bind(f64::from(fact.confidence))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one fact; `NotFound` when it is not this customer's.
    #[tracing::instrument(skip_all)]
    pub async fn delete_fact(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
        fact: &FactId,
    ) -> Result<()> {
        let deleted = sqlx::query(
            "delete from memory_facts where id = $1 and organization_id = $2 and customer_id = $3",
        )
        .bind(fact.as_str())
        .bind(org.as_str())
        .bind(customer.as_str())
        .execute(self.pool())
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found("fact not found"));
        }
        Ok(())
    }

    /// Forgets a customer: deletes every fact and conversation summary.
    #[tracing::instrument(skip_all)]
    pub async fn forget_customer(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
    ) -> Result<ForgetOutcome> {
        let mut tx = self.begin().await?;
        let deleted_facts =
            sqlx::query("delete from memory_facts where organization_id = $1 and customer_id = $2")
                .bind(org.as_str())
                .bind(customer.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deleted_summaries = sqlx::query(
            "delete from memory_summaries where organization_id = $1 and customer_id = $2",
        )
        .bind(org.as_str())
        .bind(customer.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(ForgetOutcome {
            deleted_facts,
            deleted_summaries,
        })
    }

    /// Writes (or rewrites) the summary of one conversation.
    #[tracing::instrument(skip_all)]
    pub async fn upsert_summary(
        &self,
        org: &OrganizationId,
        customer: &CustomerRecordId,
        conversation: &ConversationId,
        channel: Channel,
        summary: &str,
        intents: &[String],
    ) -> Result<()> {
        let now = now_ms();
        let intents = serde_json::to_string(intents)
            .map_err(|e| Error::internal("could not encode intents").with_source(e))?;
        sqlx::query(
            "insert into memory_summaries (id, organization_id, customer_id, conversation_id, \
             channel, summary, intents, created_at, updated_at) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             on conflict (conversation_id) do update set summary = excluded.summary, \
             intents = excluded.intents, updated_at = excluded.updated_at",
        )
        .bind(FactId::new().as_str().replacen("fact_", "sum_", 1))
        .bind(org.as_str())
        .bind(customer.as_str())
        .bind(conversation.as_str())
        .bind(channel.as_str())
        .bind(summary)
        .bind(intents)
        .bind(now)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
