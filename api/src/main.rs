//! The `blaigent` binary: a shim over [`api::cli`].

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::main().await
}
