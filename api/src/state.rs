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
    pub limiter: Arc<RateLimiter>,
    pub key_usage: Arc<KeyUsage>,
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
        let agent = Arc::new(Agent::new());
        Ok(AppState {
            config: Arc::new(config),
            store,
            turns: agent.clone(),
            agent,
            limiter: Arc::new(RateLimiter::new()),
            key_usage: Arc::new(KeyUsage::new()),
        })
    }

    /// Replaces what answers chat turns (benchmarks use a no-op to measure the plumbing).
    pub fn with_turn_handler(mut self, turns: Arc<dyn TurnHandler>) -> Self {
        self.turns = turns;
        self
    }
}
