//! The `blaigent` command line. `serve` runs the HTTP server; `org` and `key` manage
//! organizations and API keys directly in the database (same `BLAIGENT_DATABASE_URL` / data
//! folder as the server) through the same service functions as the HTTP API.
//!
//! To add a command group: a module here, a variant in [`Command`], one arm in [`run`].

pub mod key;
pub mod knowledge;
pub mod org;
pub mod serve;
pub mod user;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use engine::store::Store;

use crate::config::{Config, ConfigArgs};

/// Blaigent: a self-hostable customer-service AI agent platform.
#[derive(Debug, Parser)]
#[command(name = "blaigent", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Manage organizations.
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Manage an organization's API keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Manage an organization's knowledge base.
    #[command(subcommand)]
    Knowledge(knowledge::KnowledgeCommand),
    /// Manage an organization's dashboard team members.
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Parses the command line, runs it and turns failures into a message and exit code 1.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(config).await,
        Command::Org(command) => org::run(&open_store(&config).await?, command).await,
        Command::Key(command) => key::run(&open_store(&config).await?, &config, command).await,
        Command::Knowledge(command) => {
            knowledge::run(&open_store(&config).await?, &config, command).await
        }
        Command::User(command) => user::run(&open_store(&config).await?, command).await,
    }
}

/// Opens (and migrates) the database for a management command.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::config::redact_url(&config.database_url)
            )
        })?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
