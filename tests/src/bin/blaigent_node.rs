//! The real `blaigent` command (the same shim as `api`'s `main.rs`), built in the `tests`
//! package so the fault suites can run it as a child process and SIGKILL it: Cargo hands
//! integration tests the paths of their own package's binaries only
//! (`env!("CARGO_BIN_EXE_blaigent_node")`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    api::cli::main().await
}
