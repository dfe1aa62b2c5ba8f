//! `blaigent-eval`: a shim over [`evals::cli`].

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = evals::cli::run(evals::cli::Cli::parse())?;
    std::process::exit(code);
}
