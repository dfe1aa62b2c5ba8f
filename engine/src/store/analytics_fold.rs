//! Folding the analytics deltas (migration 0014): on PostgreSQL the triggers on
//! `conversations` append signed rows to `analytics_daily_delta` instead of updating the one
//! `analytics_daily` row that every turn of an organization's day would otherwise wait on.
//! [`Store::fold_analytics_deltas`] moves the appended rows into `analytics_daily`, summed per
//! key, in a single statement: a reader of the view `analytics_daily_all` sees either the
//! deltas or their folded sum, never both and never neither. Two replicas folding at once
//! each move different rows (a row deleted by one is skipped by the other).
//!
//! On SQLite the triggers update `analytics_daily` directly (one writer, nothing to wait on),
//! so there is never anything to fold.

use super::{Dialect, Store};
use crate::error::Result;

/// The sixteen additive columns, in table order.
const FIGURES: [&str; 16] = [
    "conversations",
    "messages",
    "resolved",
    "ai_resolved",
    "human_resolved",
    "handed_off",
    "reopened",
    "csat_count",
    "csat_sum",
    "csat_ai_count",
    "csat_ai_sum",
    "csat_human_count",
    "csat_human_sum",
    "with_first_response",
    "with_resolution",
    "with_human_first_response",
];

/// The fold: delete every visible delta and add its per-key sums to the rollup.
fn fold_sql() -> String {
    let key = "organization_id, day, channel, has_intent, intent";
    let figures = FIGURES.join(", ");
    let sums = FIGURES
        .iter()
        .map(|f| format!("sum({f})"))
        .collect::<Vec<_>>()
        .join(", ");
    let updates = FIGURES
        .iter()
        .map(|f| format!("{f} = analytics_daily.{f} + excluded.{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "with moved as (delete from analytics_daily_delta returning *) \
         insert into analytics_daily ({key}, {figures}, created_at, updated_at) \
         select {key}, {sums}, min(created_at), max(updated_at) from moved group by {key} \
         on conflict ({key}) do update set {updates}, updated_at = excluded.updated_at"
    )
}

impl Store {
    /// Moves the appended analytics deltas into the rollup; returns how many rollup rows were
    /// written (0 when there was nothing to fold, and always on SQLite).
    #[tracing::instrument(skip_all)]
    pub async fn fold_analytics_deltas(&self) -> Result<u64> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(0);
        }
        let done = sqlx::query(&fold_sql()).execute(self.writer()).await?;
        Ok(done.rows_affected())
    }

    /// How many delta rows wait to be folded (for tests and diagnostics).
    pub async fn pending_analytics_deltas(&self) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("select cast(count(*) as bigint) from analytics_daily_delta")
                .fetch_one(self.pool())
                .await?;
        Ok(n)
    }
}
