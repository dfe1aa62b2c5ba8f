//! How deliveries behave, with defaults and `BLAIGENT_WEBHOOK_*` overrides.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BLAIGENT_WEBHOOK_DISPATCHER` | `on` | `off` runs an API-only replica that never delivers |
//! | `BLAIGENT_WEBHOOK_TIMEOUT` | `10s` | longest wait for an endpoint's response |
//! | `BLAIGENT_WEBHOOK_RETRY_SCHEDULE` | `30s,2m,10m,1h,6h,12h,24h` | waits after attempt 1, 2, ... |
//! | `BLAIGENT_WEBHOOK_DISABLE_AFTER` | `72h` | failing continuously this long disables an endpoint |
//! | `BLAIGENT_WEBHOOK_SECRET_GRACE` | `24h` | the old secret keeps signing this long after a rotation |
//! | `BLAIGENT_WEBHOOK_PER_ENDPOINT_CONCURRENCY` | `8` | requests in flight per endpoint and process |
//! | `BLAIGENT_WEBHOOK_MAX_IN_FLIGHT` | `128` | requests in flight per process |
//! | `BLAIGENT_WEBHOOK_POLL_INTERVAL` | `1s` | fallback look for due retries and other replicas' events |
//! | `BLAIGENT_WEBHOOK_ALLOW_NETWORKS` | (none) | CIDRs exempt from the SSRF guard, e.g. `10.0.0.0/8` |
//!
//! Durations are written `500ms`, `30s`, `2m`, `1h` or `1d`.

use std::time::Duration;

use ipnet::IpNet;

use super::{RetrySchedule, UrlGuard};
use crate::ssrf::parse_network;

/// How deliveries behave; the server fills it from its configuration.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether this process runs a dispatcher.
    pub dispatch: bool,
    /// Longest wait for an endpoint's response.
    pub timeout: Duration,
    /// When failed deliveries are retried.
    pub schedule: RetrySchedule,
    /// Most requests in flight to one endpoint from one process.
    pub per_endpoint_concurrency: usize,
    /// Most requests in flight from one process in all.
    pub max_in_flight: usize,
    /// How often the dispatcher looks for due deliveries when nothing wakes it (retries that
    /// come due, events written by other replicas).
    pub poll_interval: Duration,
    /// An endpoint failing continuously for this long is disabled.
    pub disable_after: Duration,
    /// How long the previous secret keeps signing after a rotation.
    pub rotation_grace: Duration,
    /// Networks deliveries may reach even though they are not public.
    pub allow_networks: Vec<IpNet>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            dispatch: true,
            timeout: Duration::from_secs(10),
            schedule: RetrySchedule::default(),
            per_endpoint_concurrency: 8,
            max_in_flight: 128,
            poll_interval: Duration::from_secs(1),
            disable_after: Duration::from_secs(72 * 60 * 60),
            rotation_grace: Duration::from_secs(24 * 60 * 60),
            allow_networks: Vec::new(),
        }
    }
}

impl WebhookSettings {
    /// The URL guard these settings describe.
    pub fn guard(&self) -> UrlGuard {
        UrlGuard::new(self.allow_networks.clone())
    }

    /// How long a claimed delivery stays locked: long enough to wait its turn behind the
    /// endpoint's concurrency limit and then time out, plus one timeout of slack, so a live
    /// dispatcher never loses a claim; after that the delivery is taken over (its dispatcher
    /// died).
    pub fn lease(&self) -> Duration {
        let rounds = self.max_in_flight / self.per_endpoint_concurrency.max(1) + 2;
        self.timeout * u32::try_from(rounds).unwrap_or(u32::MAX)
    }

    /// Applies the `BLAIGENT_WEBHOOK_*` variables that `get` returns; the error names the
    /// variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(raw) = var("BLAIGENT_WEBHOOK_DISPATCHER") {
            self.dispatch = match raw.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(format!(
                        "BLAIGENT_WEBHOOK_DISPATCHER must be on or off (got '{raw}')"
                    ))
                }
            };
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_TIMEOUT") {
            self.timeout = named("BLAIGENT_WEBHOOK_TIMEOUT", parse_duration(&raw))?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_RETRY_SCHEDULE") {
            let delays = raw
                .split(',')
                .map(|d| parse_duration(d.trim()))
                .collect::<Result<Vec<_>, _>>();
            let delays = named("BLAIGENT_WEBHOOK_RETRY_SCHEDULE", delays)?;
            self.schedule = RetrySchedule::new(delays, super::schedule::DEFAULT_JITTER);
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_DISABLE_AFTER") {
            self.disable_after = named("BLAIGENT_WEBHOOK_DISABLE_AFTER", parse_duration(&raw))?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_SECRET_GRACE") {
            self.rotation_grace = named("BLAIGENT_WEBHOOK_SECRET_GRACE", parse_duration(&raw))?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_POLL_INTERVAL") {
            self.poll_interval = named("BLAIGENT_WEBHOOK_POLL_INTERVAL", parse_duration(&raw))?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_PER_ENDPOINT_CONCURRENCY") {
            self.per_endpoint_concurrency = named(
                "BLAIGENT_WEBHOOK_PER_ENDPOINT_CONCURRENCY",
                parse_count(&raw),
            )?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_MAX_IN_FLIGHT") {
            self.max_in_flight = named("BLAIGENT_WEBHOOK_MAX_IN_FLIGHT", parse_count(&raw))?;
        }
        if let Some(raw) = var("BLAIGENT_WEBHOOK_ALLOW_NETWORKS") {
            let nets = raw
                .split(',')
                .map(parse_network)
                .collect::<Result<Vec<_>, _>>();
            self.allow_networks = named("BLAIGENT_WEBHOOK_ALLOW_NETWORKS", nets)?;
        }
        Ok(())
    }
}

fn named<T>(name: &str, result: Result<T, String>) -> Result<T, String> {
    result.map_err(|why| format!("{name}: {why}"))
}

/// Parses `500ms`, `30s`, `2m`, `1h` or `1d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let digits = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration like 500ms, 30s, 2m, 1h or 1d"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "'{raw}' is not a duration like 500ms, 30s, 2m, 1h or 1d"
            ))
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

fn parse_count(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{raw}' must be a whole number of at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_are_parsed_and_bad_ones_name_the_variable() {
        let mut settings = WebhookSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_WEBHOOK_TIMEOUT" => Some("250ms".into()),
                "BLAIGENT_WEBHOOK_RETRY_SCHEDULE" => Some("10ms, 20ms".into()),
                "BLAIGENT_WEBHOOK_ALLOW_NETWORKS" => Some("127.0.0.1,10.0.0.0/8".into()),
                "BLAIGENT_WEBHOOK_DISPATCHER" => Some("off".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(settings.timeout, Duration::from_millis(250));
        assert_eq!(settings.schedule.max_attempts(), 3);
        assert_eq!(settings.allow_networks.len(), 2);
        assert!(!settings.dispatch);
        let err = WebhookSettings::default()
            .apply_env(|name| (name == "BLAIGENT_WEBHOOK_TIMEOUT").then(|| "soon".into()))
            .unwrap_err();
        assert!(err.starts_with("BLAIGENT_WEBHOOK_TIMEOUT"), "{err}");
    }

    #[test]
    fn the_default_lease_outlasts_a_full_queue_of_timeouts() {
        let settings = WebhookSettings::default();
        let worst_wait =
            settings.timeout * (settings.max_in_flight / settings.per_endpoint_concurrency) as u32;
        assert!(settings.lease() > worst_wait + settings.timeout);
    }
}
