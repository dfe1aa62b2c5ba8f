//! The real server as a child process, for the suites that kill it with SIGKILL: the
//! `blaigent_node` binary of this package (the same shim as `api`'s `main.rs`), started with
//! `serve` on a test database and data folder, and found through the address it logs. Also
//! the real CLI creating an organization on that database, and a small JSON request helper.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::{json_of, TestDatabase};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the suites wait for anything a process does: starting, delivering, ingesting.
pub(super) const WAIT: Duration = Duration::from_secs(60);

/// A running `blaigent serve` child process.
pub(super) struct Node {
    child: Child,
    pub(super) base_url: String,
}

impl Node {
    /// Starts `blaigent serve` on `db` with the settings in `env` on top of the common ones,
    /// and waits until it listens.
    pub(super) async fn start(db: &TestDatabase, env: &[(&str, &str)]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_blaigent_node"));
        command
            .arg("serve")
            .env("BLAIGENT_DATABASE_URL", &db.url)
            .env("BLAIGENT_DATA_DIR", db.dir.path())
            .env("BLAIGENT_BIND", "127.0.0.1:0")
            .env("BLAIGENT_LOG", "info,sqlx=warn")
            .env("BLAIGENT_LOG_FORMAT", "json")
            // The offline responder and the embedded vector index, whatever the shell has.
            .env_remove("BLAIGENT_LLM_BASE_URL")
            .env_remove("BLAIGENT_QDRANT_URL")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the blaigent_node binary runs");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        // Shown with BLAIGENT_TEST_NODE_LOG=1 while debugging a test.
        let show = std::env::var_os("BLAIGENT_TEST_NODE_LOG").is_some();
        let deadline = Instant::now() + WAIT;
        let address = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .expect("the server listens in time")
                .expect("reading its log")
                .expect("the server exited before listening");
            if show {
                eprintln!("[node starting] {line}");
            }
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "listening" {
                break entry["address"].as_str().expect("an address").to_owned();
            }
        };
        // The log is read to its end, so the child never blocks on a full pipe.
        let base_url = format!("http://{address}");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if show {
                    eprintln!("[node {address}] {line}");
                }
            }
        });
        Node { child, base_url }
    }

    /// SIGKILL: no shutdown, no flush, nothing in flight finishes.
    pub(super) async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaping the child");
    }
}

/// Creates an organization with the real CLI on `db`; returns its id and key.
pub(super) async fn create_org(db: &TestDatabase) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_blaigent_node"))
        .args(["org", "create", "--name", "Faults", "--plan", "scale"])
        .args(["--rate-limit-per-min", "100000", "--json"])
        .env("BLAIGENT_DATABASE_URL", &db.url)
        .env("BLAIGENT_DATA_DIR", db.dir.path())
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    (
        created["organization_id"].as_str().unwrap().to_owned(),
        created["api_key"].as_str().unwrap().to_owned(),
    )
}

/// Sends `method path` with `key` (and `body` as JSON) to `node`; returns the status and the
/// JSON answer.
pub(super) async fn api(
    node: &Node,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method, format!("{}{path}", node.base_url))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_of(request.send().await.expect("the server answers")).await
}
