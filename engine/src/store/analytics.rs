//! Analytics aggregates: every figure of the summary is computed by the database with
//! `count`/`sum`, never by loading rows. The additive figures ([`Tally`]) come from two places
//! that give the same numbers:
//!
//! - the rollup `analytics_daily_all` (migrations 0013 and 0014): the tallies per organization,
//!   UTC day of conversation start, channel and intent, kept exact by triggers on
//!   `conversations` in the writing transaction (on PostgreSQL as appended deltas that
//!   [`super::analytics_fold`] folds in the background; the view sums both). Whole days of a
//!   period are summed from it, a few hundred rows for a quarter whatever the number of
//!   conversations;
//! - the live aggregates over `conversations`, through the covering index
//!   `conversations_org_analytics` (migration 0010): used for the partial days at the edges of a
//!   period (a period may start and end at any instant), and for a whole period with
//!   [`Source::Live`], which the tests compare against the rollup.
//!
//! Medians are not additive: they read only the middle one or two values of the sorted
//! durations (`limit`/`offset` after the count), which both databases do the same way.
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

/// Where the additive figures of a [`Scope`] are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Whole UTC days from the rollup, the partial days at the period's edges live.
    Rollup,
    /// Every conversation of the period from `conversations` (the reference the rollup must
    /// match).
    Live,
}

/// A scope cut along UTC days: the whole days `[days.0, days.1)` (day numbers, empty when
/// `days.0 >= days.1`) and the instants outside them, `[head.0, head.1)` and `[tail.0, tail.1)`
/// (unix ms, possibly empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub days: (i64, i64),
    pub head: (i64, i64),
    pub tail: (i64, i64),
}

impl Scope {
    /// Cuts the period into the whole UTC days it covers and the partial days at its edges;
    /// with [`Source::Live`] everything is an edge.
    pub fn split(&self, source: Source) -> Split {
        let first = self.from.div_euclid(DAY_MS) + i64::from(self.from.rem_euclid(DAY_MS) != 0);
        let last = self.to.div_euclid(DAY_MS);
        if source == Source::Live || first >= last {
            return Split {
                days: (0, 0),
                head: (self.from, self.to),
                tail: (self.to, self.to),
            };
        }
        Split {
            days: (first, last),
            head: (self.from, first * DAY_MS),
            tail: (last * DAY_MS, self.to),
        }
    }

    /// The same scope over `[from, to)`.
    fn within(&self, (from, to): (i64, i64)) -> Scope {
        Scope {
            from,
            to,
            ..self.clone()
        }
    }
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

/// The [`Tally`] columns summed from `analytics_daily_all a`, whose columns carry the same names.
const ROLLUP_COLUMNS: &str = "cast(coalesce(sum(a.conversations), 0) as bigint) as conversations, \
    cast(coalesce(sum(a.messages), 0) as bigint) as messages, \
    cast(coalesce(sum(a.resolved), 0) as bigint) as resolved, \
    cast(coalesce(sum(a.ai_resolved), 0) as bigint) as ai_resolved, \
    cast(coalesce(sum(a.human_resolved), 0) as bigint) as human_resolved, \
    cast(coalesce(sum(a.handed_off), 0) as bigint) as handed_off, \
    cast(coalesce(sum(a.reopened), 0) as bigint) as reopened, \
    cast(coalesce(sum(a.csat_count), 0) as bigint) as csat_count, \
    cast(coalesce(sum(a.csat_sum), 0) as bigint) as csat_sum, \
    cast(coalesce(sum(a.csat_ai_count), 0) as bigint) as csat_ai_count, \
    cast(coalesce(sum(a.csat_ai_sum), 0) as bigint) as csat_ai_sum, \
    cast(coalesce(sum(a.csat_human_count), 0) as bigint) as csat_human_count, \
    cast(coalesce(sum(a.csat_human_sum), 0) as bigint) as csat_human_sum, \
    cast(coalesce(sum(a.with_first_response), 0) as bigint) as with_first_response, \
    cast(coalesce(sum(a.with_resolution), 0) as bigint) as with_resolution, \
    cast(coalesce(sum(a.with_human_first_response), 0) as bigint) as with_human_first_response";

impl Store {
    /// Tallies the scope's conversations per UTC day of their start and channel (only cells
    /// that have some): the totals, the per-channel figures and the daily series are sums of
    /// these cells. With [`Source::Rollup`] whole days come from `analytics_daily_all` and the
    /// partial days at the edges from `conversations`; a day is never read from both.
    #[tracing::instrument(skip_all, fields(source = ?source))]
    pub async fn tally_cells(&self, scope: &Scope, source: Source) -> Result<Vec<Cell>> {
        let split = scope.split(source);
        let mut cells = self.rollup_cells(scope, split.days).await?;
        for edge in [split.head, split.tail] {
            if edge.0 < edge.1 {
                cells.extend(self.live_cells(&scope.within(edge)).await?);
            }
        }
        Ok(cells)
    }

    /// The cells of the whole days `[days.0, days.1)` from the rollup.
    async fn rollup_cells(&self, scope: &Scope, days: (i64, i64)) -> Result<Vec<Cell>> {
        if days.0 >= days.1 {
            return Ok(Vec::new());
        }
        let sql = format!(
            "select a.day as day, a.channel as channel, {ROLLUP_COLUMNS} \
             from analytics_daily_all a \
             where a.organization_id = $1 and a.day >= $2 and a.day < $3 \
             and ($4 is null or a.channel = $4) \
             group by a.day, a.channel having sum(a.conversations) > 0 order by 1, 2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(scope.organization_id.as_str())
            .bind(days.0)
            .bind(days.1)
            .bind(scope.channel.map(Channel::as_str))
            .fetch_all(self.pool())
            .await?)
    }

    /// The cells of the scope's conversations, aggregated from `conversations` in one pass.
    async fn live_cells(&self, scope: &Scope) -> Result<Vec<Cell>> {
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

    /// The `limit` most frequent conversation intents of the scope (ties by name, in the
    /// database's collation). One statement adds the rollup's whole days to the live edges, so
    /// the ranking and its tie order are the database's, as with [`Source::Live`].
    #[tracing::instrument(skip_all, fields(source = ?source))]
    pub async fn top_intents(
        &self,
        scope: &Scope,
        limit: i64,
        source: Source,
    ) -> Result<Vec<IntentCount>> {
        let split = scope.split(source);
        let live = "select c.intent as intent, 1 as n, \
             case when c.status in ('resolved', 'closed') and c.resolved_by = 'agent' \
                 then 1 else 0 end as ai \
             from conversations c where c.organization_id = $1 and c.intent is not null \
             and ($4 is null or c.channel = $4)";
        let sql = format!(
            "select t.intent, cast(sum(t.n) as bigint), cast(sum(t.ai) as bigint) from ( \
                 select a.intent as intent, a.conversations as n, a.ai_resolved as ai \
                 from analytics_daily_all a where a.organization_id = $1 and a.day >= $2 \
                 and a.day < $3 and ($4 is null or a.channel = $4) and a.has_intent = 1 \
             union all {live} and c.created_at >= $5 and c.created_at < $6 \
             union all {live} and c.created_at >= $7 and c.created_at < $8 \
             ) t group by t.intent having sum(t.n) > 0 order by 2 desc, 1 limit $9"
        );
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
            .bind(scope.organization_id.as_str())
            .bind(split.days.0)
            .bind(split.days.1)
            .bind(scope.channel.map(Channel::as_str))
            .bind(split.head.0)
            .bind(split.head.1)
            .bind(split.tail.0)
            .bind(split.tail.1)
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
        // The condition is wrapped in `case` so no planner can serve it from an index on
        // `status` (SQLite picked `conversations_org_status` for the resolution median and then
        // read every table row, 3 to 4 times slower): the period range on the covering index
        // `conversations_org_analytics` is always the cheaper path.
        let middle_sql = format!(
            "select cast({value} as bigint) as d {SCOPE} \
             and (case when {exists} then 1 else 0 end) = 1 \
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(from: i64, to: i64) -> Scope {
        Scope {
            organization_id: OrganizationId::from_trusted("org_test".into()),
            from,
            to,
            channel: None,
        }
    }

    #[test]
    fn a_period_of_whole_days_is_read_from_the_rollup_alone() {
        let split = scope(10 * DAY_MS, 13 * DAY_MS).split(Source::Rollup);
        assert_eq!(split.days, (10, 13));
        assert!(split.head.0 >= split.head.1 && split.tail.0 >= split.tail.1);
    }

    #[test]
    fn partial_days_at_the_edges_are_read_live() {
        let (from, to) = (10 * DAY_MS + 5, 13 * DAY_MS + 7);
        let split = scope(from, to).split(Source::Rollup);
        assert_eq!(split.days, (11, 13));
        assert_eq!(split.head, (from, 11 * DAY_MS));
        assert_eq!(split.tail, (13 * DAY_MS, to));
    }

    #[test]
    fn a_period_inside_one_day_or_the_live_source_reads_everything_live() {
        let inside = scope(10 * DAY_MS + 5, 11 * DAY_MS - 5).split(Source::Rollup);
        assert_eq!(inside.days.0, inside.days.1);
        assert_eq!(inside.head, (10 * DAY_MS + 5, 11 * DAY_MS - 5));
        let adjacent = scope(10 * DAY_MS + 5, 11 * DAY_MS + 5).split(Source::Rollup);
        assert_eq!(adjacent.days.0, adjacent.days.1);
        assert_eq!(adjacent.head, (10 * DAY_MS + 5, 11 * DAY_MS + 5));
        let live = scope(10 * DAY_MS, 13 * DAY_MS).split(Source::Live);
        assert_eq!(live.days.0, live.days.1);
        assert_eq!(live.head, (10 * DAY_MS, 13 * DAY_MS));
    }
}
