//! When to retry a failed delivery: a fixed ladder of delays with random jitter, so endpoints
//! recovering from an outage are not hit by every queued delivery in the same second.

use std::time::Duration;

use rand::Rng;

/// The default ladder: 30 s, 2 min, 10 min, 1 h, 6 h, 12 h, 24 h; with the first attempt that
/// is eight tries spread over about 43 hours, so a receiver down for a full day still gets
/// everything.
pub const DEFAULT_DELAYS: [Duration; 7] = [
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(12 * 60 * 60),
    Duration::from_secs(24 * 60 * 60),
];

/// Each delay is stretched or shrunk by up to this fraction at random.
pub const DEFAULT_JITTER: f64 = 0.2;

/// A retry ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::new(DEFAULT_DELAYS.to_vec(), DEFAULT_JITTER)
    }
}

impl RetrySchedule {
    /// A ladder of `delays` (the wait after attempt 1, 2, ...) with `jitter` in `[0, 1)`.
    pub fn new(delays: Vec<Duration>, jitter: f64) -> Self {
        RetrySchedule {
            delays,
            jitter: jitter.clamp(0.0, 0.99),
        }
    }

    /// How many attempts a delivery gets in all.
    pub fn max_attempts(&self) -> usize {
        self.delays.len() + 1
    }

    /// Returns how long to wait after `attempts` failed attempts, or `None` when the ladder is
    /// exhausted and the delivery is dead.
    pub fn delay_after(&self, attempts: i64) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        let base = *self.delays.get(index)?;
        if self.jitter == 0.0 {
            return Some(base);
        }
        let factor = rand::thread_rng().gen_range(1.0 - self.jitter..=1.0 + self.jitter);
        Some(base.mul_f64(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ladder_retries_for_more_than_a_day_then_stops() {
        let schedule = RetrySchedule::new(DEFAULT_DELAYS.to_vec(), 0.0);
        let total: Duration = (1..=7).filter_map(|n| schedule.delay_after(n)).sum();
        assert!(total >= Duration::from_secs(24 * 60 * 60), "{total:?}");
        assert_eq!(schedule.delay_after(1), Some(Duration::from_secs(30)));
        assert_eq!(
            schedule.delay_after(7),
            Some(Duration::from_secs(24 * 60 * 60))
        );
        assert_eq!(schedule.delay_after(8), None);
        assert_eq!(schedule.max_attempts(), 8);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let schedule = RetrySchedule::default();
        for _ in 0..200 {
            let delay = schedule.delay_after(1).unwrap();
            assert!(
                delay >= Duration::from_secs(24) && delay <= Duration::from_secs(36),
                "{delay:?}"
            );
        }
    }
}
