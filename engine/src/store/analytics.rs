//! Analytics aggregates: every figure of the summary is computed by the database with
//! `count`/`sum` over the organization's conversations started in a period (index
//! `conversations_org_channel_created` / `conversations_org_created`), never by loading rows.
//! Medians read only the middle one or two values of the sorted durations (`limit`/`offset`
//! after a count), which both databases do the same way.
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
    }
}

/// A tally with the key it was grouped by (a channel, or a UTC day number).
#[derive(Debug, Clone, sqlx::FromRow)]
struct KeyedTally {
    bucket: String,
    #[sqlx(flatten)]
    tally: Tally,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct DayTally {
    day: i64,
    #[sqlx(flatten)]
    tally: Tally,
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
/// NUMERIC for `sum(bigint)`.
const TALLY_COLUMNS: &str = "cast(count(*) as bigint) as conversations, \
    cast(coalesce(sum(c.message_count), 0) as bigint) as messages, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') then 1 else 0 end), 0) as bigint) as resolved, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end), 0) as bigint) as ai_resolved, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end), 0) as bigint) as human_resolved, \
    cast(coalesce(sum(case when c.handoff_count > 0 then 1 else 0 end), 0) as bigint) as handed_off, \
    cast(coalesce(sum(case when c.reopen_count > 0 then 1 else 0 end), 0) as bigint) as reopened, \
    cast(coalesce(sum(case when s.rating is not null then 1 else 0 end), 0) as bigint) as csat_count, \
    cast(coalesce(sum(s.rating), 0) as bigint) as csat_sum, \
    cast(coalesce(sum(case when s.rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then 1 else 0 end), 0) as bigint) as csat_ai_count, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' then s.rating else 0 end), 0) as bigint) as csat_ai_sum, \
    cast(coalesce(sum(case when s.rating is not null and c.status in ('resolved', 'closed') and c.resolved_by = 'human' then 1 else 0 end), 0) as bigint) as csat_human_count, \
    cast(coalesce(sum(case when c.status in ('resolved', 'closed') and c.resolved_by = 'human' then s.rating else 0 end), 0) as bigint) as csat_human_sum";

/// The conversations of a [`Scope`] (binds `$1`..`$4`).
const SCOPE: &str = "from conversations c left join csat_responses s on s.conversation_id = c.id \
    where c.organization_id = $1 and c.created_at >= $2 and c.created_at < $3 \
    and ($4 is null or c.channel = $4)";

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

impl Store {
    /// Tallies the scope's conversations per channel (only channels that have some).
    pub async fn tally_by_channel(&self, scope: &Scope) -> Result<Vec<(String, Tally)>> {
        let sql = format!(
            "select c.channel as bucket, {TALLY_COLUMNS} {SCOPE} group by c.channel order by c.channel"
        );
        let rows: Vec<KeyedTally> = sqlx::query_as(&sql)
            .bind(scope.organization_id.as_str())
            .bind(scope.from)
            .bind(scope.to)
            .bind(scope.channel.map(Channel::as_str))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|r| (r.bucket, r.tally)).collect())
    }

    /// Tallies the scope's conversations per UTC day of their start (day number since the
    /// epoch; only days that have some), oldest first.
    pub async fn tally_by_day(&self, scope: &Scope) -> Result<Vec<(i64, Tally)>> {
        let sql = format!(
            "select cast(c.created_at / {DAY_MS} as bigint) as day, {TALLY_COLUMNS} {SCOPE} \
             group by cast(c.created_at / {DAY_MS} as bigint) order by 1"
        );
        let rows: Vec<DayTally> = sqlx::query_as(&sql)
            .bind(scope.organization_id.as_str())
            .bind(scope.from)
            .bind(scope.to)
            .bind(scope.channel.map(Channel::as_str))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|r| (r.day, r.tally)).collect())
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

    /// The median of `duration` over the scope's conversations, in milliseconds (`None` when
    /// no conversation has it). With an even count it is the mean of the two middle values.
    pub async fn median_ms(&self, scope: &Scope, duration: Duration) -> Result<Option<f64>> {
        let (value, exists) = duration.sql();
        let filter = "from conversations c where c.organization_id = $1 \
            and c.created_at >= $2 and c.created_at < $3 and ($4 is null or c.channel = $4)";
        let count_sql = format!("select cast(count(*) as bigint) {filter} and {exists}");
        let (count,): (i64,) = sqlx::query_as(&count_sql)
            .bind(scope.organization_id.as_str())
            .bind(scope.from)
            .bind(scope.to)
            .bind(scope.channel.map(Channel::as_str))
            .fetch_one(self.pool())
            .await?;
        if count == 0 {
            return Ok(None);
        }
        let (offset, take) = if count % 2 == 1 {
            (count / 2, 1)
        } else {
            (count / 2 - 1, 2)
        };
        let middle_sql = format!(
            "select cast({value} as bigint) as d {filter} and {exists} \
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
