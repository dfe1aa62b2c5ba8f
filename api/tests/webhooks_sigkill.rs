//! Webhook durability across a hard crash: the real `blaigent` binary is killed with SIGKILL
//! while deliveries are in flight and others are pending, then started again on the same
//! SQLite file; every event reaches the receiver, with its original id.
//!
//! (The in-process scenarios, on both databases, live in `tests/tests/webhooks/`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_blaigent");

#[derive(Default)]
struct Seen {
    /// (event id, answered 200)
    requests: Mutex<Vec<(String, bool)>>,
    hang: AtomicBool,
}

async fn receive(State(seen): State<Arc<Seen>>, body: Bytes) -> &'static str {
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hang = seen.hang.load(Ordering::SeqCst);
    seen.requests.lock().unwrap().push((id, !hang));
    if hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    "ok"
}

fn server(dir: &std::path::Path, db: &str, port: u16) -> Child {
    Command::new(BIN)
        .arg("serve")
        .env("BLAIGENT_DATA_DIR", dir)
        .env("BLAIGENT_DATABASE_URL", db)
        .env("BLAIGENT_BIND", format!("127.0.0.1:{port}"))
        .env("BLAIGENT_LOG", "warn")
        .env("BLAIGENT_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")
        .env("BLAIGENT_WEBHOOK_TIMEOUT", "2s")
        .env("BLAIGENT_WEBHOOK_RETRY_SCHEDULE", "100ms,200ms,400ms")
        .env("BLAIGENT_WEBHOOK_POLL_INTERVAL", "50ms")
        // Lease = 2 s x (4 / 4 + 2) = 6 s: how long a claim of the killed process stays locked.
        .env("BLAIGENT_WEBHOOK_MAX_IN_FLIGHT", "4")
        .env("BLAIGENT_WEBHOOK_PER_ENDPOINT_CONCURRENCY", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_sigkill_of_the_server_and_are_delivered_after_restart() {
    let dir = tempfile_dir();
    let db = format!("sqlite://{}/blaigent.db", dir.display());
    let created = Command::new(BIN)
        .args([
            "org", "create", "--name", "Acme", "--plan", "scale", "--json",
        ])
        .env("BLAIGENT_DATA_DIR", &dir)
        .env("BLAIGENT_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let org: Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = org["api_key"].as_str().unwrap();

    let seen = Arc::new(Seen::default());
    seen.hang.store(true, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = server(&dir, &db, port);
    wait_ready(&client, &base).await;
    let response = client
        .post(format!("{base}/api/v1/dashboard/webhooks"))
        .bearer_auth(key)
        .json(&json!({"url": hook}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let webhook: Value = response.json().await.unwrap();
    // Six test pings: recording them needs no agent warm-up, which keeps this test short
    // (chat-turn events are covered in-process on both databases).
    for _ in 0..6 {
        let response = client
            .post(format!(
                "{base}/api/v1/dashboard/webhooks/{}/test",
                webhook["id"].as_str().unwrap()
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let events: Value = client
        .get(format!("{base}/api/v1/dashboard/webhooks/events"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded: BTreeSet<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded.len(), 6);

    // Deliveries are in flight (held by the receiver): kill -9 the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.requests.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    let before_restart = seen.requests.lock().unwrap().len();
    assert!(
        before_restart < 6,
        "everything was delivered before the kill; nothing to prove"
    );

    seen.hang.store(false, Ordering::SeqCst);
    let mut child = server(&dir, &db, port);
    wait_ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let delivered: BTreeSet<String> = seen
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(id, _)| id.clone())
            .collect();
        if delivered == recorded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the restart only {} of 6 events arrived",
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("blaigent-sigkill-{}", engine::ids::fresh_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
