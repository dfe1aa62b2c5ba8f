//! The analytics summary: conversations, messages, outcomes (AI-resolved, human-resolved,
//! unresolved), handoff and reopen rates, CSAT (overall and per resolver), median first
//! response and resolution times, top intents, a per-channel breakdown and a daily series.
//!
//! The database computes every count (see [`crate::store::analytics`]); this module only
//! turns additive tallies into rates. [`summary`] reads whole days from the daily rollup and
//! the rest live; [`summary_live`] reads everything live and must give the same summary (the
//! integration tests compare them). Every figure's definition is in `docs/lifecycle.md`.

use std::collections::BTreeMap;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::ids::OrganizationId;
use crate::store::analytics::{Cell, Duration, Scope, Source, Tally, DAY_MS};
use crate::store::{now_ms, Store};

/// The period when the caller gives none: the last 30 days.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;
/// The longest period a summary covers (its daily series has one point per day).
pub const MAX_PERIOD_DAYS: i64 = 366;
/// How many intents the summary lists.
pub const TOP_INTENTS: i64 = 10;

/// The summary's query.
#[derive(Debug, Clone, Default)]
pub struct SummaryQuery {
    /// RFC 3339 instant or `YYYY-MM-DD` (that day's start, UTC); inclusive.
    pub from: Option<String>,
    /// RFC 3339 instant (exclusive) or `YYYY-MM-DD` (that whole day included).
    pub to: Option<String>,
    pub channel: Option<Channel>,
    /// Only `day` is supported.
    pub granularity: Option<String>,
}

/// The analytics summary of one organization over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Start of the period (inclusive), RFC 3339.
    pub from: String,
    /// End of the period (exclusive), RFC 3339.
    pub to: String,
    pub channel: Option<String>,
    pub granularity: String,
    #[serde(flatten)]
    pub totals: Figures,
    pub median_first_response_secs: Option<f64>,
    pub median_time_to_resolution_secs: Option<f64>,
    pub median_human_first_response_secs: Option<f64>,
    pub top_intents: Vec<IntentFigure>,
    pub channels: Vec<ChannelFigures>,
    pub series: Vec<DayFigures>,
}

/// The figures of a set of conversations (the whole period, a channel or a day).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub conversations: i64,
    pub messages: i64,
    pub resolved: i64,
    pub resolution_rate: Option<f64>,
    pub ai_resolved: i64,
    pub human_resolved: i64,
    pub unresolved: i64,
    pub ai_resolution_rate: Option<f64>,
    pub handed_off: i64,
    pub handoff_rate: Option<f64>,
    pub reopened: i64,
    pub reopen_rate: Option<f64>,
    pub csat: Csat,
}

/// Satisfaction figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Csat {
    pub responses: i64,
    pub response_rate: Option<f64>,
    pub average: Option<f64>,
    pub ai_resolved_average: Option<f64>,
    pub human_resolved_average: Option<f64>,
}

/// One of the most frequent intents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentFigure {
    pub intent: String,
    pub conversations: i64,
    pub share: Option<f64>,
    pub ai_resolved: i64,
}

/// The figures of one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelFigures {
    pub channel: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures of one UTC day (by conversation start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub date: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Computes the organization's summary: whole days from the daily rollup, the partial days at
/// the period's edges and the medians from the conversations.
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn summary(store: &Store, org: &OrganizationId, query: &SummaryQuery) -> Result<Summary> {
    summary_from(store, org, query, Source::Rollup).await
}

/// Computes the organization's summary from the conversations alone, without the rollup: the
/// reference [`summary`] must equal (slower over long periods).
#[tracing::instrument(skip_all, fields(org = %org))]
pub async fn summary_live(
    store: &Store,
    org: &OrganizationId,
    query: &SummaryQuery,
) -> Result<Summary> {
    summary_from(store, org, query, Source::Live).await
}

async fn summary_from(
    store: &Store,
    org: &OrganizationId,
    query: &SummaryQuery,
    source: Source,
) -> Result<Summary> {
    let granularity = query.granularity.as_deref().unwrap_or("day");
    if granularity != "day" {
        return Err(Error::unprocessable("granularity: only 'day' is supported"));
    }
    let to = match &query.to {
        Some(raw) => parse_bound(raw, "to", true)?,
        None => now_ms(),
    };
    let from = match &query.from {
        Some(raw) => parse_bound(raw, "from", false)?,
        None => to - DEFAULT_PERIOD_DAYS * DAY_MS,
    };
    if from >= to {
        return Err(Error::unprocessable("from: must be before to"));
    }
    if to - from > MAX_PERIOD_DAYS * DAY_MS {
        return Err(Error::unprocessable(format!(
            "the period may span at most {MAX_PERIOD_DAYS} days"
        )));
    }
    let scope = Scope {
        organization_id: org.clone(),
        from,
        to,
        channel: query.channel,
    };
    // Independent reads run together: each takes its own pooled connection (a thread on
    // SQLite, a backend process on PostgreSQL), so the summary uses every core. The medians
    // need the counts of the tally, so they form the second round.
    let (cells, intents) = futures::try_join!(
        store.tally_cells(&scope, source),
        store.top_intents(&scope, TOP_INTENTS, source)
    )?;
    let Folded {
        totals,
        by_channel,
        by_day,
    } = fold_cells(&cells);
    let (first_response, resolution, human_first_response) = futures::try_join!(
        store.median_ms(
            &scope,
            Duration::FirstResponse,
            totals.with_duration(Duration::FirstResponse)
        ),
        store.median_ms(
            &scope,
            Duration::Resolution,
            totals.with_duration(Duration::Resolution)
        ),
        store.median_ms(
            &scope,
            Duration::HumanFirstResponse,
            totals.with_duration(Duration::HumanFirstResponse)
        ),
    )?;
    let secs = |ms: Option<f64>| ms.map(|ms| round(ms / 1000.0, 3));
    let median_first_response_secs = secs(first_response);
    let median_time_to_resolution_secs = secs(resolution);
    let median_human_first_response_secs = secs(human_first_response);

    Ok(Summary {
        from: rfc3339(from)?,
        to: rfc3339(to)?,
        channel: query.channel.map(|c| c.as_str().to_owned()),
        granularity: granularity.to_owned(),
        totals: figures(&totals),
        median_first_response_secs,
        median_time_to_resolution_secs,
        median_human_first_response_secs,
        top_intents: intents
            .into_iter()
            .map(|i| IntentFigure {
                share: ratio(i.conversations, totals.conversations),
                intent: i.intent,
                conversations: i.conversations,
                ai_resolved: i.ai_resolved,
            })
            .collect(),
        channels: by_channel
            .iter()
            .map(|(channel, tally)| ChannelFigures {
                channel: channel.clone(),
                figures: figures(tally),
            })
            .collect(),
        series: daily_series(from, to, &by_day)?,
    })
}

/// The tallies of a period: its totals, per channel (by name) and per day (oldest first).
struct Folded {
    totals: Tally,
    by_channel: Vec<(String, Tally)>,
    by_day: Vec<(i64, Tally)>,
}

/// Sums the (day, channel) cells into the period's totals, channels and days.
fn fold_cells(cells: &[Cell]) -> Folded {
    let mut totals = Tally::default();
    let mut by_channel: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut by_day: BTreeMap<i64, Tally> = BTreeMap::new();
    for cell in cells {
        totals.add(&cell.tally);
        by_channel
            .entry(cell.channel.as_str())
            .or_default()
            .add(&cell.tally);
        by_day.entry(cell.day).or_default().add(&cell.tally);
    }
    Folded {
        totals,
        by_channel: by_channel
            .into_iter()
            .map(|(channel, tally)| (channel.to_owned(), tally))
            .collect(),
        by_day: by_day.into_iter().collect(),
    }
}

/// One point per UTC day that overlaps the period, days without conversations included.
fn daily_series(from: i64, to: i64, by_day: &[(i64, Tally)]) -> Result<Vec<DayFigures>> {
    let first = from.div_euclid(DAY_MS);
    let last = (to - 1).div_euclid(DAY_MS);
    let mut series = Vec::new();
    let mut stored = by_day.iter().peekable();
    for day in first..=last {
        let tally = match stored.peek() {
            Some((d, tally)) if *d == day => {
                stored.next();
                tally.clone()
            }
            _ => Tally::default(),
        };
        series.push(DayFigures {
            date: date_of(day * DAY_MS)?,
            figures: figures(&tally),
        });
    }
    Ok(series)
}

/// Turns a tally into figures: rates over the conversations, averages from the sums.
pub fn figures(t: &Tally) -> Figures {
    Figures {
        conversations: t.conversations,
        messages: t.messages,
        resolved: t.resolved,
        resolution_rate: ratio(t.resolved, t.conversations),
        ai_resolved: t.ai_resolved,
        human_resolved: t.human_resolved,
        unresolved: t.conversations - t.resolved,
        ai_resolution_rate: ratio(t.ai_resolved, t.conversations),
        handed_off: t.handed_off,
        handoff_rate: ratio(t.handed_off, t.conversations),
        reopened: t.reopened,
        reopen_rate: ratio(t.reopened, t.conversations),
        csat: Csat {
            responses: t.csat_count,
            // Ratings of resolved conversations over resolved conversations (at most 1).
            response_rate: ratio(t.csat_ai_count + t.csat_human_count, t.resolved),
            average: average(t.csat_sum, t.csat_count),
            ai_resolved_average: average(t.csat_ai_sum, t.csat_ai_count),
            human_resolved_average: average(t.csat_human_sum, t.csat_human_count),
        },
    }
}

/// `part / whole` rounded to 4 decimals; `None` when `whole` is 0.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round(part as f64 / whole as f64, 4))
}

/// `sum / count` rounded to 2 decimals; `None` when `count` is 0.
fn average(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| round(sum as f64 / count as f64, 2))
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Parses a bound: an RFC 3339 instant, or a `YYYY-MM-DD` date (its start for `from`, the
/// next day's start for `to`, so `to=2026-11-28` includes the whole 28th).
fn parse_bound(raw: &str, field: &str, end: bool) -> Result<i64> {
    let raw = raw.trim();
    if let Ok(instant) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok((instant.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date = Date::parse(raw, format_description!("[year]-[month]-[day]")).map_err(|_| {
        Error::invalid(format!(
            "{field}: must be a date (2026-11-28) or an RFC 3339 instant (2026-11-28T10:00:00Z)"
        ))
    })?;
    let start = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc();
    let ms = start.unix_timestamp() * 1000;
    Ok(if end { ms + DAY_MS } else { ms })
}

fn rfc3339(ms: i64) -> Result<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| Error::invalid("the period is out of range"))
}

fn date_of(ms: i64) -> Result<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.date()
                .format(format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .ok_or_else(|| Error::invalid("the period is out of range"))
}

/// How often the server folds, by default, the rollup's appended deltas (PostgreSQL; see
/// [`crate::store::analytics_fold`]). Readers are exact either way; folding keeps the delta
/// table, which every summary also reads, to a few seconds of turns.
pub const FOLD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the background fold of the analytics deltas; stops when the handle is dropped.
pub fn spawn_delta_folder(
    store: Store,
    interval: std::time::Duration,
) -> super::lifecycle::AbortOnDrop {
    super::lifecycle::AbortOnDrop::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.fold_analytics_deltas().await {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(rows, "folded analytics deltas"),
                Err(e) => {
                    tracing::warn!(error = %e, "folding analytics deltas failed; retrying next interval");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_bound_covers_whole_days_and_instants_are_exact() {
        let from = parse_bound("2026-11-01", "from", false).unwrap();
        let to = parse_bound("2026-11-01", "to", true).unwrap();
        assert_eq!(to - from, DAY_MS);
        assert_eq!(
            parse_bound("2026-11-01T00:00:01Z", "from", false).unwrap(),
            from + 1000
        );
        let err = parse_bound("yesterday", "from", false).unwrap_err();
        assert!(err.message().starts_with("from:"), "{err}");
    }

    #[test]
    fn rates_are_empty_without_conversations_and_averages_come_from_sums() {
        let empty = figures(&Tally::default());
        assert_eq!(empty.resolution_rate, None);
        assert_eq!(empty.csat.average, None);
        let t = Tally {
            conversations: 3,
            resolved: 2,
            ai_resolved: 1,
            human_resolved: 1,
            csat_count: 2,
            csat_sum: 9,
            csat_ai_count: 1,
            csat_ai_sum: 5,
            csat_human_count: 1,
            csat_human_sum: 4,
            ..Tally::default()
        };
        let f = figures(&t);
        assert_eq!(f.resolution_rate, Some(0.6667));
        assert_eq!(f.unresolved, 1);
        assert_eq!(f.csat.average, Some(4.5));
        assert_eq!(f.csat.response_rate, Some(1.0));
    }

    #[test]
    fn the_daily_series_fills_days_without_conversations() {
        let day = 20_000;
        let stored = vec![(
            day + 1,
            Tally {
                conversations: 4,
                ..Tally::default()
            },
        )];
        let series = daily_series(day * DAY_MS, (day + 3) * DAY_MS, &stored).unwrap();
        let counts: Vec<i64> = series.iter().map(|d| d.figures.conversations).collect();
        assert_eq!(counts, [0, 4, 0]);
        assert_eq!(series[0].date, "2024-10-04");
    }
}
