//! Analytics aggregates: every figure of the summary is computed by the database with
//! `count`/`sum` over the organization's conversations started in a period, never by loading
//! rows. The summary reads one covering index (`conversations_org_analytics`, migration 0010:
//! the period range, then every column the aggregates read, the CSAT rating included), so each
//! query is an index-only scan; one grouped pass per (day, channel) yields the totals, the
//! per-channel figures and the daily series, and the counts the medians need.
//! Medians read only the middle one or two values of the sorted durations (`limit`/`offset`
//! after the count), which both databases do the same way.
//!
//! The definitions of the figures are in `docs/lifecycle.md`.

use super::Store;
use crate::channel::Channel;
use crate::error::Result;
use crate::ids::OrganizationId;

/// Which conversations a summary covers: those of `org` started in `[from, to)` (unix ms),
/// on `channel` when given.
#[derive(Debug, Clone)]
pub struct Scope {
    pub organization_id: OrganizationId,
    pub from: i64,
    pub to: i64,
    pub channel: Option<Channel>,
}

/// Additive counts over a set of conversations; averages are derived from the sums, so tallies
/// of several groups add up exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Tally {
    pub conversations: i64,
    pub messages: i64,
    /// Status `resolved` or `closed`.
    pub resolved: i64,
    pub ai_resolved: i64,
    pub human_resolved: i64,
    /// Handed to humans at least once.
    pub handed_off: i64,
    /// Reopened at least once.
    pub reopened: i64,
    pub csat_count: i64,
    pub csat_sum: i64,
    pub csat_ai_count: i64,
    pub csat_ai_sum: i64,
    pub csat_human_count: i64,
    pub csat_human_sum: i64,
    /// Conversations that have a first-response time ([`Duration::FirstResponse`]).
    pub with_first_response: i64,
    /// Conversations that have a resolution time ([`Duration::Resolution`]).
    pub with_resolution: i64,
    /// Conversations that have a human first-response time ([`Duration::HumanFirstResponse`]).
    pub with_human_first_response: i64,
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Tally) {
        self.conversations += other.conversations;
        self.messages += other.messages;
        self.resolved += other.resolved;
        self.ai_resolved += other.ai_resolved;
        self.human_resolved += other.human_resolved;
        self.handed_off += other.handed_off;
        self.reopened += other.reopened;
        self.csat_count += other.csat_count;
        self.csat_sum += other.csat_sum;
        self.csat_ai_count += other.csat_ai_count;
        self.csat_ai_sum += other.csat_ai_sum;
        self.csat_human_count += other.csat_human_count;
        self.csat_human_sum += other.csat_human_sum;
        self.with_first_response += other.with_first_response;
        self.with_resolution += other.with_resolution;
        self.with_human_first_response += other.with_human_first_response;
    }

    /// How many conversations have `duration` (the population of its median).
    pub fn with_duration(&self, duration: Duration) -> i64 {
        match duration {
            Duration::FirstResponse => self.with_first_response,
            Duration::Resolution => self.with_resolution,
            Duration::HumanFirstResponse => self.with_human_first_response,
        }
    }
}

/// The tally of the conversations of one channel started on one UTC day.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Cell {
    /// Day number since the epoch (UTC).
    pub day: i64,
    pub channel: String,
    #[sqlx(flatten)]
    pub tally: Tally,
}

/// One intent's share of the conversations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentCount {
    pub intent: String,
    pub conversations: i64,
    pub ai_resolved: i64,
}

/// A duration measured per conversation, whose median the summary reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    /// From the conversation's start to its first reply (agent or human).
    FirstResponse,
    /// From the conversation's start to its resolution (resolved or closed ones).
    Resolution,
    /// From the handoff to the first human reply (handed-off conversations a human answered).
    HumanFirstResponse,
}

impl Duration {
    /// The duration expression and the condition for it to exist; constants, not input.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Duration::FirstResponse => (
                "c.first_response_at - c.created_at",
                "c.first_response_at is not null",
            ),
            Duration::Resolution => (
                "c.resolved_at - c.created_at",
                "c.status in ('resolved', 'closed') and c.resolved_at is not null",
            ),
            Duration::HumanFirstResponse => (
                "c.human_replied_at - c.handoff_at",
                "c.human_replied_at is not null and c.handoff_at is not null \
                 and c.human_replied_at >= c.handoff_at",
            ),
        }
    }
}

/// The columns of a [`Tally`]. Sums of `case` expressions are cast because PostgreSQL returns
/// NUMERIC for `sum(bigint)`. Every column read here is in `conversations_org_analytics`.
const TALLY_COLUMNS: &str = "cast(count(*) as bigint) as conversations, \
    cast(coalesce(sum(c.message_count), 0) as bigint) as messages, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') then 1 else 0 end), 0) as bigint) as resolved, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end), 0) as bigint) as ai_resolved, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end), 0) as bigint) as human_resolved, \
    cast(coalesce(sum(case when c.handoff_count > 0 then 1 else 0 end), 0) as bigint) as handed_off, \
    cast(coalesce(sum(case when c.reopen_count > 0 then 1 else 0 end), 0) as bigint) as reopened, \
    cast(coalesce(sum(case when c.csat_rating is not null then 1 else 0 end), 0) as bigint) as csat_count, \
    cast(coalesce(sum(c.csat_rating), 0) as bigint) as csat_sum, \
    cast(coalesce(sum(case when c.csat_rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end), 0) as bigint) as csat_ai_count, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then c.csat_rating else 0 end), 0) as bigint) as csat_ai_sum, \
    cast(coalesce(sum(case when c.csat_rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end), 0) as bigint) as csat_human_count, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then c.csat_rating else 0 end), 0) as bigint) as csat_human_sum";

/// The conversations of a [`Scope`] (binds `$1`..`$4`).
const SCOPE: &str = "from conversations c \
    where c.organization_id = $1 and c.created_at >= $2 and c.created_at < $3 \
    and ($4 is null or c.channel = $4)";

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// `count` of each duration's population, named as the [`Tally`] fields.
fn duration_count_columns() -> String {
    [
        (Duration::FirstResponse, "with_first_response"),
        (Duration::Resolution, "with_resolution"),
        (Duration::HumanFirstResponse, "with_human_first_response"),
    ]
    .iter()
    .map(|(duration, name)| {
        let (_, exists) = duration.sql();
        format!("cast(coalesce(sum(case when {exists} then 1 else 0 end), 0) as bigint) as {name}")
    })
    .collect::<Vec<_>>()
    .join(", ")
}

impl Store {
    /// Tallies the scope's conversations per UTC day of their start and channel (only cells
    /// that have some), in one pass: the totals, the per-channel figures and the daily series
    /// are sums of these cells.
    pub async fn tally_cells(&self, scope: &Scope) -> Result<Vec<Cell>> {
        let sql = format!(
            "select cast(c.created_at / {DAY_MS} as bigint) as day, c.channel as channel, \
             {TALLY_COLUMNS}, {} {SCOPE} \
             group by cast(c.created_at / {DAY_MS} as bigint), c.channel order by 1, 2",
            duration_count_columns()
        );
        Ok(sqlx::query_as(&sql)
            .bind(scope.organization_id.as_str())
            .bind(scope.from)
            .bind(scope.to)
            .bind(scope.channel.map(Channel::as_str))
            .fetch_all(self.pool())
            .await?)
    }

    /// The `limit` most frequent conversation intents of the scope (ties by name).
    pub async fn top_intents(&self, scope: &Scope, limit: i64) -> Result<Vec<IntentCount>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "select c.intent, cast(count(*) as bigint), \
             cast(coalesce(sum(case when c.status in ('resolved', 'closed') \
                 and c.resolved_by = 'agent' then 1 else 0 end), 0) as bigint) \
             from conversations c \
             where c.organization_id = $1 and c.created_at >= $2 and c.created_at < $3 \
             and ($4 is null or c.channel = $4) and c.intent is not null \
             group by c.intent order by 2 desc, 1 limit $5",
        )
        .bind(scope.organization_id.as_str())
        .bind(scope.from)
        .bind(scope.to)
        .bind(scope.channel.map(Channel::as_str))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(intent, conversations, ai_resolved)| IntentCount {
                intent,
                conversations,
                ai_resolved,
            })
            .collect())
    }

    /// The median of `duration` over the scope's conversations, in milliseconds, given how
    /// many of them have it (`count`, from [`Tally::with_duration`]); `None` when none has it.
    /// With an even count it is the mean of the two middle values.
    pub async fn median_ms(
        &self,
        scope: &Scope,
        duration: Duration,
        count: i64,
    ) -> Result<Option<f64>> {
        if count <= 0 {
            return Ok(None);
        }
        let (value, exists) = duration.sql();
        let (offset, take) = if count % 2 == 1 {
            (count / 2, 1)
        } else {
            (count / 2 - 1, 2)
        };
        let middle_sql = format!(
            "select cast({value} as bigint) as d {SCOPE} and {exists} \
             order by d limit $5 offset $6"
        );
        let middle: Vec<(i64,)> = sqlx::query_as(&middle_sql)
            .bind(scope.organization_id.as_str())
            .bind(scope.from)
            .bind(scope.to)
            .bind(scope.channel.map(Channel::as_str))
            .bind(take)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        if middle.is_empty() {
            return Ok(None);
        }
        let sum: i64 = middle.iter().map(|(d,)| d).sum();
        Ok(Some(sum as f64 / middle.len() as f64))
    }
}
