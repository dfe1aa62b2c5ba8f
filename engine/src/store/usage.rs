//! Monthly usage counters: how many conversations an organization started in a calendar
//! month (UTC). The free plan's quota is enforced against them.

use super::{now_ms, Store};
use crate::error::{Error, Result};
use crate::ids::OrganizationId;
use sqlx::{Any, Transaction};

/// The calendar month (UTC) of a unix-millisecond timestamp, as `YYYY-MM`.
pub fn month_period(at_ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}", at.year(), u8::from(at.month()))
}

/// Seconds from `at_ms` until the next calendar month (UTC) starts, at least 1.
pub fn secs_until_next_month(at_ms: i64) -> u64 {
    let at = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (year, month) = match at.month() {
        time::Month::December => (at.year() + 1, time::Month::January),
        m => (at.year(), m.next()),
    };
    let next = time::Date::from_calendar_date(year, month, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(at.unix_timestamp() + 86_400);
    (next - at.unix_timestamp()).max(1) as u64
}

impl Store {
    /// Returns how many conversations the organization started in `period` (`YYYY-MM`).
    pub async fn conversations_in_period(&self, org: &OrganizationId, period: &str) -> Result<i64> {
        let row: Option<(i64,)> = sqlx::query_as(
            "select conversations from usage_counters where organization_id = $1 and period = $2",
        )
        .bind(org.as_str())
        .bind(period)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map_or(0, |(n,)| n))
    }

    /// Counts one new conversation in `period` inside `tx`, refusing (429) when `quota` is set
    /// and already used up. The check and the increment are one statement, so concurrent
    /// requests can never overshoot the quota.
    pub async fn count_new_conversation(
        tx: &mut Transaction<'static, Any>,
        org: &OrganizationId,
        period: &str,
        quota: Option<i64>,
    ) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "insert into usage_counters (organization_id, period, conversations, created_at, \
             updated_at) values ($1, $2, 0, $3, $3) \
             on conflict (organization_id, period) do nothing",
        )
        .bind(org.as_str())
        .bind(period)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        // Without a quota the bound is i64::MAX, so the same statement serves both cases.
        let done = sqlx::query(
            "update usage_counters set conversations = conversations + 1, updated_at = $1 \
             where organization_id = $2 and period = $3 and conversations < $4",
        )
        .bind(now)
        .bind(org.as_str())
        .bind(period)
        .bind(quota.unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(quota_exhausted(quota.unwrap_or(0), now));
        }
        Ok(())
    }
}

/// The 429 a client sees when the monthly conversation quota is used up.
pub fn quota_exhausted(quota: i64, now: i64) -> Error {
    Error::rate_limited(
        secs_until_next_month(now),
        format!(
            "the monthly conversation quota of this organization's plan ({quota} new \
             conversations per calendar month) is used up; existing conversations can continue, \
             new ones can start next month or after upgrading the plan"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months_in_utc() {
        // 2026-11-30T23:59:59Z and 2026-12-01T00:00:00Z.
        assert_eq!(month_period(1_796_083_199_000), "2026-11");
        assert_eq!(month_period(1_796_083_200_000), "2026-12");
    }

    #[test]
    fn the_quota_resets_at_the_start_of_the_next_month() {
        assert_eq!(secs_until_next_month(1_796_083_199_000), 1);
        // From 31 December to 1 January crosses the year.
        assert_eq!(month_period(1_798_761_599_000), "2026-12");
        assert_eq!(secs_until_next_month(1_798_761_599_000), 1);
    }
}
