//! Server-wide channel settings, with defaults and environment overrides.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BLAIGENT_CHANNEL_SECRET_KEY` | (generated in the data folder) | key sealing provider credentials; at least 32 characters; the same on every replica |
//! | `BLAIGENT_PUBLIC_URL` | (from the request's `Host`) | the server's public base URL, e.g. `https://support.example.com`: shown in inbound URLs and used to check Twilio signatures behind a proxy |
//! | `BLAIGENT_CHANNEL_DISPATCHER` | `on` | `off`: this replica never sends (another one does) |
//! | `BLAIGENT_CHANNEL_RETRY_SCHEDULE` | `10s,1m,5m,30m,2h,6h,24h` | waits after failed send 1, 2, ... |
//! | `BLAIGENT_CHANNEL_TIMEOUT` | `10s` | longest wait for a provider's API |
//! | `BLAIGENT_CHANNEL_POLL_INTERVAL` | `1s` | how often due retries and human replies are looked for |
//! | `BLAIGENT_CHANNEL_ALLOW_NETWORKS` | (none) | private networks provider base URLs may point at (staging, tests) |

use std::time::Duration;

use ipnet::IpNet;

use crate::ssrf::parse_network;
use crate::webhooks::settings::parse_duration;
use crate::webhooks::RetrySchedule;

/// The default retry ladder: about 33 hours in all, so a provider outage of a day loses nothing.
pub const DEFAULT_DELAYS: [Duration; 7] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(24 * 60 * 60),
];

/// How channels behave server-wide.
#[derive(Clone)]
pub struct ChannelSettings {
    pub secret_key: Option<String>,
    pub public_url: Option<String>,
    pub dispatch: bool,
    pub schedule: RetrySchedule,
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub allow_networks: Vec<IpNet>,
}

impl std::fmt::Debug for ChannelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSettings")
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("public_url", &self.public_url)
            .field("dispatch", &self.dispatch)
            .field("schedule", &self.schedule)
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("allow_networks", &self.allow_networks)
            .finish()
    }
}

impl Default for ChannelSettings {
    fn default() -> Self {
        ChannelSettings {
            secret_key: None,
            public_url: None,
            dispatch: true,
            schedule: RetrySchedule::new(DEFAULT_DELAYS.to_vec(), 0.2),
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            allow_networks: Vec::new(),
        }
    }
}

impl ChannelSettings {
    /// Applies the variables that `get` returns; the error names the variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let named = |name: &str, why: String| format!("{name}: {why}");
        if let Some(key) = var("BLAIGENT_CHANNEL_SECRET_KEY") {
            if key.chars().count() < super::crypto::MIN_KEY_CHARS {
                return Err(format!(
                    "BLAIGENT_CHANNEL_SECRET_KEY must be at least {} characters",
                    super::crypto::MIN_KEY_CHARS
                ));
            }
            self.secret_key = Some(key);
        }
        if let Some(url) = var("BLAIGENT_PUBLIC_URL") {
            let parsed = url::Url::parse(&url)
                .map_err(|e| named("BLAIGENT_PUBLIC_URL", format!("'{url}' is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(named("BLAIGENT_PUBLIC_URL", "must be http(s)".into()));
            }
            self.public_url = Some(url.trim_end_matches('/').to_owned());
        }
        if let Some(raw) = var("BLAIGENT_CHANNEL_DISPATCHER") {
            self.dispatch = match raw.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(named(
                        "BLAIGENT_CHANNEL_DISPATCHER",
                        "must be on or off".into(),
                    ))
                }
            };
        }
        if let Some(raw) = var("BLAIGENT_CHANNEL_RETRY_SCHEDULE") {
            let delays = raw
                .split(',')
                .map(|d| parse_duration(d.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| named("BLAIGENT_CHANNEL_RETRY_SCHEDULE", e))?;
            self.schedule = RetrySchedule::new(delays, 0.2);
        }
        if let Some(raw) = var("BLAIGENT_CHANNEL_TIMEOUT") {
            self.timeout =
                parse_duration(&raw).map_err(|e| named("BLAIGENT_CHANNEL_TIMEOUT", e))?;
        }
        if let Some(raw) = var("BLAIGENT_CHANNEL_POLL_INTERVAL") {
            self.poll_interval =
                parse_duration(&raw).map_err(|e| named("BLAIGENT_CHANNEL_POLL_INTERVAL", e))?;
        }
        if let Some(raw) = var("BLAIGENT_CHANNEL_ALLOW_NETWORKS") {
            self.allow_networks = raw
                .split(',')
                .map(parse_network)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| named("BLAIGENT_CHANNEL_ALLOW_NETWORKS", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_read_and_bad_values_name_the_variable() {
        let mut settings = ChannelSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_PUBLIC_URL" => Some("https://support.example.com/".into()),
                "BLAIGENT_CHANNEL_RETRY_SCHEDULE" => Some("50ms,100ms".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://support.example.com")
        );
        assert_eq!(settings.schedule.max_attempts(), 3);
        let err = ChannelSettings::default()
            .apply_env(|name| (name == "BLAIGENT_CHANNEL_SECRET_KEY").then(|| "short".into()))
            .unwrap_err();
        assert!(err.starts_with("BLAIGENT_CHANNEL_SECRET_KEY"), "{err}");
        let shown = format!(
            "{:?}",
            ChannelSettings {
                secret_key: Some("hunter2".repeat(9)),
                ..ChannelSettings::default()
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
