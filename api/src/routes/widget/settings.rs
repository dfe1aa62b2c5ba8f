//! The widget's settings (`BLAIGENT_DEMO`, `BLAIGENT_WIDGET_*`), held in
//! [`crate::config::Config::widget`].

use anyhow::{bail, Context};

/// How the widget endpoints behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetSettings {
    /// Serve `GET /demo` (a page embedding the widget for a local organization) and allow the
    /// server's own origin to use the widget. Off by default (`BLAIGENT_DEMO=1` turns it on).
    pub demo: bool,
    /// Lifetime of a visitor session token, seconds (`BLAIGENT_WIDGET_TOKEN_TTL_SECS`).
    pub token_ttl_secs: u64,
    /// Chat messages per minute per visitor (`BLAIGENT_WIDGET_VISITOR_PER_MIN`).
    pub visitor_per_min: u32,
    /// Session starts and chat messages per minute per client IP
    /// (`BLAIGENT_WIDGET_IP_PER_MIN`).
    pub ip_per_min: u32,
    /// Thread polls per minute per client IP (`BLAIGENT_WIDGET_POLL_PER_MIN`); an open widget
    /// polls every 4 s, i.e. 15 a minute.
    pub poll_per_min: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry (set it only behind a proxy
    /// that writes that header; `BLAIGENT_WIDGET_TRUST_PROXY=1`).
    pub trust_proxy: bool,
}

impl Default for WidgetSettings {
    /// One hour tokens; 20 messages a minute per visitor is far above a typing human and far
    /// below a script; 60 per IP leaves room for an office behind one address.
    fn default() -> Self {
        Self {
            demo: false,
            token_ttl_secs: engine::widget::token::DEFAULT_TTL_SECS,
            visitor_per_min: 20,
            ip_per_min: 60,
            poll_per_min: 240,
            trust_proxy: false,
        }
    }
}

impl WidgetSettings {
    /// Applies the `BLAIGENT_DEMO` and `BLAIGENT_WIDGET_*` variables read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(raw) = var("BLAIGENT_DEMO") {
            self.demo = flag("BLAIGENT_DEMO", &raw)?;
        }
        if let Some(raw) = var("BLAIGENT_WIDGET_TRUST_PROXY") {
            self.trust_proxy = flag("BLAIGENT_WIDGET_TRUST_PROXY", &raw)?;
        }
        if let Some(raw) = var("BLAIGENT_WIDGET_TOKEN_TTL_SECS") {
            let n: u64 = number("BLAIGENT_WIDGET_TOKEN_TTL_SECS", &raw)?;
            if !(1..=7 * 24 * 60 * 60).contains(&n) {
                bail!("BLAIGENT_WIDGET_TOKEN_TTL_SECS must be between 1 and 604800 (got {n})");
            }
            self.token_ttl_secs = n;
        }
        for (name, target) in [
            ("BLAIGENT_WIDGET_VISITOR_PER_MIN", &mut self.visitor_per_min),
            ("BLAIGENT_WIDGET_IP_PER_MIN", &mut self.ip_per_min),
            ("BLAIGENT_WIDGET_POLL_PER_MIN", &mut self.poll_per_min),
        ] {
            if let Some(raw) = var(name) {
                let n: u32 = number(name, &raw)?;
                if n == 0 {
                    bail!("{name} must be at least 1");
                }
                *target = n;
            }
        }
        Ok(())
    }
}

fn flag(name: &str, raw: &str) -> anyhow::Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => bail!("{name} must be 1 or 0 (got '{other}')"),
    }
}

fn number<T: std::str::FromStr>(name: &str, raw: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    raw.trim()
        .parse()
        .with_context(|| format!("{name} must be a whole number (got '{raw}')"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_the_defaults_and_bad_values_name_the_variable() {
        let mut settings = WidgetSettings::default();
        settings
            .apply_env(|name| match name {
                "BLAIGENT_DEMO" => Some("1".into()),
                "BLAIGENT_WIDGET_VISITOR_PER_MIN" => Some("3".into()),
                _ => None,
            })
            .unwrap();
        assert!(settings.demo);
        assert_eq!(settings.visitor_per_min, 3);
        assert_eq!(settings.ip_per_min, 60);
        let err = WidgetSettings::default()
            .apply_env(|name| (name == "BLAIGENT_WIDGET_IP_PER_MIN").then(|| "0".into()))
            .unwrap_err();
        assert!(
            err.to_string().contains("BLAIGENT_WIDGET_IP_PER_MIN"),
            "{err}"
        );
    }
}
