//! Server configuration, resolved once at start: command-line flags win over environment
//! variables (`BLAIGENT_*`, handled by clap), which win over an optional TOML file
//! (`--config` / `BLAIGENT_CONFIG`), which wins over the built-in defaults. Everything is
//! validated here, with messages that name the setting; secrets never reach `Debug` output.
//!
//! To add a setting: a field in [`Config`] (with its default in [`Config::with_database`]), an
//! optional field in [`FileConfig`], a flag in [`ConfigArgs`] when it deserves one, and one
//! line in [`Config::load`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use engine::store::orgs::Plan;
use serde::Deserialize;

mod settings_table;
use settings_table::SettingsTable;

/// One mebibyte: the default body limit.
const MIB: usize = 1024 * 1024;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Requests per minute per plan (an organization's own `rate_limit_per_min` wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    per_plan: HashMap<Plan, u32>,
}

impl Default for RateLimits {
    /// The published limits: free and starter 60/min, growth 300/min. Scale and enterprise are
    /// normally set per organization; these are their fallbacks when it is not.
    fn default() -> Self {
        let per_plan = HashMap::from([
            (Plan::Free, 60),
            (Plan::Starter, 60),
            (Plan::Growth, 300),
            (Plan::Scale, 1_200),
            (Plan::Enterprise, 6_000),
        ]);
        Self { per_plan }
    }
}

impl RateLimits {
    /// Returns the per-minute limit of `plan`.
    pub fn for_plan(&self, plan: Plan) -> u32 {
        self.per_plan.get(&plan).copied().unwrap_or(60)
    }

    /// Sets the per-minute limit of `plan`.
    pub fn set(&mut self, plan: Plan, per_min: u32) {
        self.per_plan.insert(plan, per_min);
    }

    /// Applies overrides written as `plan=N,plan=N` (e.g. `free=5,growth=1000`).
    pub fn apply_overrides(&mut self, raw: &str) -> anyhow::Result<()> {
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (plan, n) = part
                .split_once('=')
                .with_context(|| format!("rate limit override '{part}' must look like plan=N"))?;
            let plan = Plan::parse(plan.trim()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let n: u32 = n.trim().parse().with_context(|| {
                format!("rate limit override '{part}': N must be a whole number")
            })?;
            if n == 0 {
                bail!("rate limit override '{part}': N must be at least 1");
            }
            self.set(plan, n);
        }
        Ok(())
    }
}

/// The resolved configuration of a server or CLI run.
#[derive(Clone)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Folder for the SQLite database and other local state.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; may hold a password, so it is redacted in `Debug`.
    pub database_url: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a rotated key keeps working, in seconds.
    pub key_rotation_grace_secs: u64,
    /// Per-plan rate limits.
    pub rate_limits: RateLimits,
    /// Least time between two `last_used_at` writes of one key, in seconds.
    pub key_touch_interval_secs: u64,
    /// `tracing` filter, e.g. `info` or `api=debug,sqlx=warn`.
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Webhook delivery: timeouts, retry ladder, limits, SSRF allowlist (`BLAIGENT_WEBHOOK_*`).
    pub webhooks: engine::webhooks::WebhookSettings,
    /// Embed widget: demo page, token lifetime, per-visitor/IP limits (`BLAIGENT_DEMO`,
    /// `BLAIGENT_WIDGET_*`).
    pub widget: crate::routes::widget::settings::WidgetSettings,
    /// Knowledge base: vector index, upload limit, fetch allowlist (see `ingest::config`).
    pub knowledge: ingest::KnowledgeConfig,
    /// Optional language model (`BLAIGENT_LLM_BASE_URL`, `BLAIGENT_LLM_MODEL`,
    /// `BLAIGENT_LLM_API_KEY`, `BLAIGENT_LLM_TIMEOUT_SECS`); `None`: the offline responder.
    pub llm: Option<engine::llm::openai::OpenAiSettings>,
    /// Auto-resolve of idle conversations (`BLAIGENT_AUTO_RESOLVE_AFTER_SECS`,
    /// `BLAIGENT_AUTO_RESOLVE_INTERVAL_SECS`).
    pub auto_resolve: engine::service::lifecycle::AutoResolveSettings,
    /// Provider channels: credential key, public URL, send queue (`BLAIGENT_CHANNEL_*`).
    pub channels: engine::channels::ChannelSettings,
    /// Where rate-limit buckets live (`BLAIGENT_RATE_LIMITER`: auto, memory, database, redis).
    pub rate_limiter: crate::rate_limit::LimiterChoice,
    /// The Redis of the `redis` rate limiter (`BLAIGENT_REDIS_URL`); may hold a password.
    pub redis_url: Option<String>,
    /// Bound on concurrent chat turns (`BLAIGENT_MAX_INFLIGHT`, `BLAIGENT_MAX_QUEUE`, ...).
    pub overload: crate::overload::OverloadSettings,
    /// Background fine-tuning of the encoder per intent set (`BLAIGENT_INTENT_TUNING`, on by
    /// default for `serve`; off in [`Config::with_database`], which tests use).
    pub intent_tuning: Option<engine::intent::tuner::TunerSettings>,
    /// Edge limits: header and request timeouts, connection cap
    /// (`BLAIGENT_HEADER_READ_TIMEOUT_SECS`, `BLAIGENT_REQUEST_TIMEOUT_SECS`,
    /// `BLAIGENT_MAX_CONNECTIONS`).
    pub limits: crate::limits::LimitSettings,
    /// How often the analytics deltas are folded into the rollup (PostgreSQL; not a setting:
    /// tests lengthen it to look at the deltas before a fold).
    pub analytics_fold_interval: std::time::Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("key_rotation_grace_secs", &self.key_rotation_grace_secs)
            .field("rate_limits", &self.rate_limits)
            .field("key_touch_interval_secs", &self.key_touch_interval_secs)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("webhooks", &self.webhooks)
            .field("widget", &self.widget)
            .field("knowledge", &self.knowledge)
            .field("llm", &self.llm)
            .field("auto_resolve", &self.auto_resolve)
            .field("channels", &self.channels)
            .field("rate_limiter", &self.rate_limiter)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("overload", &self.overload)
            .field("limits", &self.limits)
            .field("intent_tuning", &self.intent_tuning)
            .field("analytics_fold_interval", &self.analytics_fold_interval)
            .finish()
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

impl Config {
    /// The defaults, pointed at `database_url` (tests and embedding use this).
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: database_url.into(),
            max_body_bytes: MIB,
            key_rotation_grace_secs: 24 * 60 * 60,
            rate_limits: RateLimits::default(),
            key_touch_interval_secs: 60,
            log_filter: "info,sqlx=warn".into(),
            log_format: LogFormat::Pretty,
            webhooks: engine::webhooks::WebhookSettings::default(),
            widget: crate::routes::widget::settings::WidgetSettings::default(),
            knowledge: ingest::KnowledgeConfig::default(),
            llm: None,
            auto_resolve: engine::service::lifecycle::AutoResolveSettings::default(),
            channels: engine::channels::ChannelSettings::default(),
            rate_limiter: crate::rate_limit::LimiterChoice::default(),
            redis_url: None,
            overload: crate::overload::OverloadSettings::default(),
            limits: crate::limits::LimitSettings::default(),
            intent_tuning: None,
            analytics_fold_interval: engine::service::analytics::FOLD_INTERVAL,
        }
    }

    /// Resolves flags and environment (`args`), the optional file and the defaults.
    pub fn load(args: &ConfigArgs) -> anyhow::Result<Config> {
        Self::load_with_env(args, |name| std::env::var(name).ok())
    }

    /// [`Config::load`] reading the settings that have no flag through `env` instead of the
    /// process environment (the deployment test loads the example file this way). The file's
    /// `[settings]` table fills in what `env` does not set.
    pub fn load_with_env(
        args: &ConfigArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Config> {
        let mut file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let settings = SettingsTable::new(
            file.settings.take(),
            args.config.as_deref().unwrap_or(Path::new("")),
        )?;
        // Asks the table first even when the environment wins, so the key counts as read.
        let env = |name: &str| {
            let from_file = settings.get(name);
            env(name).or(from_file)
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = match args.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}/blaigent.db", data_dir.display()),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!(
                "BLAIGENT_DATABASE_URL must start with sqlite:// or postgres:// (got '{}')",
                redact_url(&database_url)
            );
        }
        let mut config = Config::with_database(database_url);
        config.data_dir = data_dir;
        let bind = args.bind.clone().or(file.bind);
        if let Some(bind) = bind {
            config.bind = bind.parse().with_context(|| {
                format!("BLAIGENT_BIND must be an address like 127.0.0.1:8080 (got '{bind}')")
            })?;
        }
        if let Some(n) = args.max_body_bytes.or(file.max_body_bytes) {
            if !(1024..=1024 * MIB).contains(&n) {
                bail!("BLAIGENT_MAX_BODY_BYTES must be between 1024 and 1073741824 (got {n})");
            }
            config.max_body_bytes = n;
        }
        if let Some(n) = args
            .key_rotation_grace_secs
            .or(file.key_rotation_grace_secs)
        {
            if n > 90 * 24 * 60 * 60 {
                bail!("BLAIGENT_KEY_ROTATION_GRACE_SECS must be at most 90 days (got {n})");
            }
            config.key_rotation_grace_secs = n;
        }
        if let Some(limits) = &file.rate_limits {
            for (plan, n) in limits {
                let plan = Plan::parse(plan).map_err(|e| anyhow::anyhow!("rate_limits: {e}"))?;
                if *n == 0 {
                    bail!("rate_limits.{plan} must be at least 1");
                }
                config.rate_limits.set(plan, *n);
            }
        }
        if let Some(raw) = &args.rate_limit_overrides {
            config
                .rate_limits
                .apply_overrides(raw)
                .context("BLAIGENT_RATE_LIMIT_OVERRIDES")?;
        }
        if let Some(filter) = args.log.clone().or(file.log) {
            tracing_subscriber::EnvFilter::try_new(&filter)
                .with_context(|| format!("BLAIGENT_LOG is not a valid filter: '{filter}'"))?;
            config.log_filter = filter;
        }
        if let Some(format) = args.log_format.or(file.log_format) {
            config.log_format = format;
        }
        config
            .webhooks
            .apply_env(env)
            .map_err(|e| anyhow::anyhow!(e))?;
        config.widget.apply_env(env)?;
        config.knowledge = ingest::KnowledgeConfig::from_env().map_err(|e| anyhow::anyhow!(e))?;
        config
            .auto_resolve
            .apply_env(env)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        config.rate_limiter = match env("BLAIGENT_RATE_LIMITER").or(file.rate_limiter) {
            Some(raw) => crate::rate_limit::LimiterChoice::parse(&raw)?,
            None => crate::rate_limit::LimiterChoice::Auto,
        };
        config.redis_url = env("BLAIGENT_REDIS_URL")
            .or(file.redis_url)
            .filter(|url| !url.trim().is_empty());
        if config.rate_limiter == crate::rate_limit::LimiterChoice::Redis {
            match &config.redis_url {
                Some(url) if url.starts_with("redis://") => {}
                Some(url) => bail!(
                    "BLAIGENT_REDIS_URL must start with redis:// (got '{}')",
                    redact_url(url)
                ),
                None => bail!("BLAIGENT_RATE_LIMITER=redis needs BLAIGENT_REDIS_URL"),
            }
        }
        config.overload.apply_env(env)?;
        config.limits.apply_env(env)?;
        config
            .channels
            .apply_env(env)
            .map_err(|e| anyhow::anyhow!(e))?;
        config.intent_tuning =
            engine::intent::tuner::TunerSettings::from_env(env).map_err(|e| anyhow::anyhow!(e))?;
        config.llm = engine::llm::openai::OpenAiSettings::from_env()
            .map_err(|e| anyhow::anyhow!(e.message().to_owned()))?;
        settings.check_all_used()?;
        Ok(config)
    }
}

/// Settings given as flags or environment variables (shared by every subcommand).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, env = "BLAIGENT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "BLAIGENT_BIND", global = true)]
    pub bind: Option<String>,
    /// Data folder [default: ./data].
    #[arg(long, env = "BLAIGENT_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://<data dir>/blaigent.db].
    #[arg(
        long,
        env = "BLAIGENT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Largest request body in bytes [default: 1048576].
    #[arg(long, env = "BLAIGENT_MAX_BODY_BYTES", global = true)]
    pub max_body_bytes: Option<usize>,
    /// Seconds a rotated key keeps working [default: 86400].
    #[arg(long, env = "BLAIGENT_KEY_ROTATION_GRACE_SECS", global = true)]
    pub key_rotation_grace_secs: Option<u64>,
    /// Per-plan requests per minute, e.g. `free=5,growth=1000`.
    #[arg(long, env = "BLAIGENT_RATE_LIMIT_OVERRIDES", global = true)]
    pub rate_limit_overrides: Option<String>,
    /// Log filter [default: info,sqlx=warn].
    #[arg(long, env = "BLAIGENT_LOG", global = true)]
    pub log: Option<String>,
    /// Log format [default: pretty].
    #[arg(long, env = "BLAIGENT_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// The optional TOML file; every key is optional and unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub key_rotation_grace_secs: Option<u64>,
    /// `[rate_limits]` table: `free = 60`, `growth = 300`, ...
    pub rate_limits: Option<HashMap<String, u32>>,
    pub log: Option<String>,
    pub log_format: Option<LogFormat>,
    /// `memory`, `database` or `redis` (`BLAIGENT_RATE_LIMITER` wins).
    pub rate_limiter: Option<String>,
    /// `redis://host:6379` for the `redis` limiter (`BLAIGENT_REDIS_URL` wins).
    pub redis_url: Option<String>,
    /// `[settings]` table: any other `BLAIGENT_*` variable, lowercase, without the prefix
    /// (see [`settings_table`]).
    pub settings: Option<HashMap<String, toml::Value>>,
}

impl FileConfig {
    fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the configuration file {} is not valid", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_database_lives_in_the_data_dir() {
        let args = ConfigArgs {
            data_dir: Some(PathBuf::from("/tmp/x")),
            ..ConfigArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.database_url, "sqlite:///tmp/x/blaigent.db");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn passwords_never_appear_in_debug_output() {
        let config = Config::with_database("postgres://app:hunter2@db/blaigent");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        let args = ConfigArgs {
            bind: Some("nowhere".into()),
            ..ConfigArgs::default()
        };
        let err = Config::load(&args).unwrap_err().to_string();
        assert!(err.contains("BLAIGENT_BIND"), "{err}");
        let args = ConfigArgs {
            rate_limit_overrides: Some("gold=5".into()),
            ..ConfigArgs::default()
        };
        let err = format!("{:#}", Config::load(&args).unwrap_err());
        assert!(err.contains("BLAIGENT_RATE_LIMIT_OVERRIDES"), "{err}");
    }

    #[test]
    fn overrides_change_only_the_named_plans() {
        let mut limits = RateLimits::default();
        limits.apply_overrides("free=5, growth=1000").unwrap();
        assert_eq!(limits.for_plan(Plan::Free), 5);
        assert_eq!(limits.for_plan(Plan::Growth), 1000);
        assert_eq!(limits.for_plan(Plan::Starter), 60);
    }
}
