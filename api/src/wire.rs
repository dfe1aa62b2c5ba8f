//! Small helpers shared by the wire types of the route modules.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats a stored unix-millisecond timestamp as RFC 3339 in UTC (`2026-03-11T14:22:00.123Z`).
pub fn timestamp(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// [`timestamp`] for optional columns.
pub fn opt_timestamp(ms: Option<i64>) -> Option<String> {
    ms.map(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_in_utc() {
        assert_eq!(timestamp(1_773_238_920_000), "2026-03-11T14:22:00Z");
        assert_eq!(timestamp(1_773_238_920_123), "2026-03-11T14:22:00.123Z");
    }
}
