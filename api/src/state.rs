//! The state every handler shares. Built in one place ([`AppState::build`]) so the binary, the
//! tests and the benchmarks start the same server. Other capabilities add their handles here
//! as new fields (set in `build`).

use std::sync::Arc;

use anyhow::Context;
use engine::agent::Agent;
use engine::service::chat::TurnHandler;
use engine::store::Store;

use crate::auth::KeyUsage;
use crate::config::Config;
use crate::rate_limit::RateLimiter;

/// Shared, cheaply cloned handles.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub agent: Arc<Agent>,
    /// What answers chat turns: the agent, or a stand-in for benchmarks of the plumbing.
    pub turns: Arc<dyn TurnHandler>,
    /// Every rate-limit bucket: organizations' API limits, the widget's per-address and
    /// per-visitor limits, the dashboard's per-user limit (shared by replicas when the limiter
    /// is).
    pub limiter: Arc<RateLimiter>,
    pub key_usage: Arc<KeyUsage>,
    /// The knowledge base (documents, ingestion jobs, retrieval).
    pub knowledge: Arc<ingest::Knowledge>,
    /// Provider channels (Twilio, Meta, Mailgun): credentials, inbound, the send queue.
    pub channels: engine::channels::Channels,
    /// The dashboard's settings and sign-in limiter.
    pub dashboard: Arc<crate::dashboard::DashboardState>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Connects to the database, applies migrations and builds the agent.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        let store = Store::connect(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to {}",
                    crate::config::redact_url(&config.database_url)
                )
            })?;
        store.migrate().await.context("migrating the database")?;
        let knowledge = ingest::Knowledge::open(
            store.clone(),
            ingest::shared_embedder().context("loading the embedding model")?,
            &config.data_dir,
            config.knowledge.clone(),
        )
        .await
        .context("opening the knowledge base")?;
        let agent = Arc::new(crate::agent_setup::build_agent(
            &config, &store, &knowledge,
        )?);
        let limiter = Arc::new(RateLimiter::for_config(&store, &config)?);
        let channels = engine::channels::Channels::new(
            store.clone(),
            config.channels.clone(),
            &config.data_dir,
        )
        .context("setting up channels")?;
        Ok(AppState {
            channels,
            knowledge: Arc::new(knowledge),
            config: Arc::new(config),
            store,
            turns: agent.clone(),
            agent,
            limiter,
            key_usage: Arc::new(KeyUsage::new()),
            dashboard: Arc::new(crate::dashboard::DashboardState::from_env()?),
        })
    }

    /// Replaces what answers chat turns (benchmarks use a no-op to measure the plumbing).
    pub fn with_turn_handler(mut self, turns: Arc<dyn TurnHandler>) -> Self {
        self.turns = turns;
        self
    }
}
