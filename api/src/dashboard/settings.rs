//! Dashboard settings, from the environment:
//!
//! - `BLAIGENT_DASHBOARD_SECURE_COOKIE` — `auto` (default: the cookie is `Secure` when the
//!   request arrived over https, i.e. `X-Forwarded-Proto: https` from the TLS proxy), `always`
//!   or `never`.
//! - `BLAIGENT_DASHBOARD_SESSION_HOURS` — how long a session lasts without activity (default
//!   12; sliding: each request moves the end forward).

use anyhow::{bail, Context};

/// When the session cookie carries the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieSecure {
    #[default]
    Auto,
    Always,
    Never,
}

/// The dashboard's settings.
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    pub cookie_secure: CookieSecure,
    pub session_ttl_ms: i64,
}

/// Default idle lifetime of a session: a working day.
const DEFAULT_SESSION_HOURS: i64 = 12;

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            cookie_secure: CookieSecure::Auto,
            session_ttl_ms: DEFAULT_SESSION_HOURS * 3600 * 1000,
        }
    }
}

impl DashboardSettings {
    /// Reads the settings through `get` (the environment in production).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<DashboardSettings> {
        let mut settings = DashboardSettings::default();
        if let Some(raw) = get("BLAIGENT_DASHBOARD_SECURE_COOKIE") {
            settings.cookie_secure = match raw.trim().to_ascii_lowercase().as_str() {
                "auto" | "" => CookieSecure::Auto,
                "always" | "true" | "1" => CookieSecure::Always,
                "never" | "false" | "0" => CookieSecure::Never,
                other => bail!(
                    "BLAIGENT_DASHBOARD_SECURE_COOKIE must be auto, always or never, not '{other}'"
                ),
            };
        }
        if let Some(raw) = get("BLAIGENT_DASHBOARD_SESSION_HOURS") {
            let hours: i64 = raw
                .trim()
                .parse()
                .context("BLAIGENT_DASHBOARD_SESSION_HOURS must be a whole number of hours")?;
            if !(1..=24 * 30).contains(&hours) {
                bail!("BLAIGENT_DASHBOARD_SESSION_HOURS must be between 1 and 720");
            }
            settings.session_ttl_ms = hours * 3600 * 1000;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_and_checked() {
        let s = DashboardSettings::from_env(|n| match n {
            "BLAIGENT_DASHBOARD_SECURE_COOKIE" => Some("always".into()),
            "BLAIGENT_DASHBOARD_SESSION_HOURS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.cookie_secure, CookieSecure::Always);
        assert_eq!(s.session_ttl_ms, 2 * 3600 * 1000);
        assert!(DashboardSettings::from_env(|_| Some("sometimes".into())).is_err());
    }
}
