//! `blaigent serve`: opens the database (creating and migrating it on first start), binds the
//! address and serves until SIGINT/SIGTERM, letting in-flight requests finish.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;
use crate::{serve, shutdown_signal, telemetry, SHUTDOWN_GRACE};

pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init(&config);
    tracing::info!(config = ?config, "starting");
    let state = AppState::build(config).await?;
    if state.store.count_organizations().await? == 0 {
        // Printed, not logged: this is set-up help for the person who just started it.
        eprintln!(
            "No organization exists yet. Create one (its API key is printed once):\n  \
             blaigent org create --name \"Acme\" --plan starter --json\n\
             (with cargo: cargo run --release -p api --bin blaigent -- org create --name \"Acme\" --plan starter --json)"
        );
    }
    let bind = state.config.bind;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind} (is another server running there?)"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let store = state.store.clone();
    let shutdown = async {
        shutdown_signal().await;
        // In-flight requests get a bounded time to finish; a stuck client cannot hold the
        // process forever.
        tokio::spawn(async {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::warn!("in-flight requests did not finish in time; exiting");
            std::process::exit(1);
        });
    };
    serve(listener, state, shutdown)
        .await
        .context("serving HTTP")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
