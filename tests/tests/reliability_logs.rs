//! What the logs hold (issue 12): secrets never in logs, never in responses after creation,
//! and every line of a request (even one written after its handler returned) inside the
//! request's span. The scenarios run with every log line of the process (DEBUG and up, JSON,
//! the shipper's format) captured in memory, then the capture is searched. A binary of its
//! own: the capture is process-wide, installed once and shared by this file's tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use tests::{send_json, spawn_app, spawn_app_with, Backend, TestApp, CHAT};

/// Every log line of the process.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The process's capture, installed as the global subscriber on first use.
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(capture.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            capture
        })
        .clone()
}

/// One backend per binary run, as the capture is shared: SQLite by default, PostgreSQL with
/// BLAIGENT_RELIABILITY_BACKEND=postgres.
fn backend() -> Backend {
    match std::env::var("BLAIGENT_RELIABILITY_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

const SHOP: &str = "https://shop.example";
const CARD: &str = "4111 1111 1111 1111";
const EMAIL: &str = "jane.doe.7731@example.com";
const PHONE: &str = "+1 415 555 0199";

async fn created_secret(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
    field: &str,
) -> (String, String) {
    let (status, created) = send_json(app.post(path).json(&body)).await;
    assert!(status == 200 || status == 201, "{path}: {status} {created}");
    (
        created["id"].as_str().unwrap_or_default().to_owned(),
        created[field].as_str().unwrap().to_owned(),
    )
}

async fn the_scenario_leaves_no_secret_or_personal_data_in_logs(backend: Backend) {
    let capture = capture();
    let app = spawn_app_with(backend, receiver::fast_webhooks).await;
    let mut secrets = vec![app.api_key.clone()];

    // Keys: a new one, then a rotation.
    let (key_id, key) = created_secret(
        &app,
        "/api/v1/dashboard/api-keys",
        json!({"name": "backend"}),
        "api_key",
    )
    .await;
    secrets.push(key.clone());
    let (status, rotated) = send_json(
        app.post(&format!("/api/v1/dashboard/api-keys/{key_id}/rotate"))
            .json(&json!({})),
    )
    .await;
    assert!(status == 200 || status == 201, "{rotated}");
    secrets.push(rotated["api_key"].as_str().unwrap().to_owned());

    // A webhook with its secret, rotated once, delivering the chat's events.
    let hook = receiver::Receiver::start().await;
    let (hook_id, hook_secret) = created_secret(
        &app,
        "/api/v1/dashboard/webhooks",
        json!({"url": hook.url, "events": ["message.received", "message.sent"]}),
        "secret",
    )
    .await;
    secrets.push(hook_secret);
    let (status, rotated) = send_json(
        app.post(&format!(
            "/api/v1/dashboard/webhooks/{hook_id}/rotate-secret"
        ))
        .json(&json!({})),
    )
    .await;
    assert!(status == 200 || status == 201, "{rotated}");
    secrets.push(rotated["secret"].as_str().unwrap().to_owned());

    // The widget: its signing secret and a visitor token used for a chat.
    let (status, body) = send_json(
        app.patch("/api/v1/dashboard/agent-config")
            .json(&json!({"allowed_origins": [SHOP]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send_json(app.post("/api/v1/dashboard/widget/secret")).await;
    assert_eq!(status, 201, "{body}");
    secrets.push(body["secret"].as_str().unwrap().to_owned());
    let widget = |path: &str| app.url(&format!("/api/v1/widget/{}{path}", app.org_id));
    let (status, session) = send_json(
        app.client
            .post(widget("/sessions"))
            .header("origin", SHOP)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    let (status, body) = send_json(
        app.client
            .post(widget("/chat"))
            .header("origin", SHOP)
            .bearer_auth(&token)
            .json(&json!({"message": format!("My card is {CARD}, mail me at {EMAIL}")})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The REST chat with personal data, twice in one conversation.
    let message = format!("Charge card {CARD} again and call {PHONE} or write to {EMAIL}");
    let (status, body) = app.chat("cust-logs", &message, None).await;
    assert_eq!(status, 200, "{body}");
    let session = body["session_id"].as_str().unwrap().to_owned();
    let (status, body) = app.chat("cust-logs", &message, Some(&session)).await;
    assert_eq!(status, 200, "{body}");
    hook.wait_for(4).await;
    // A request with a wrong key and one with a secret in the query string are logged too.
    let _ = app
        .client
        .get(app.url(&format!(
            "/api/v1/platform/conversations?token={}",
            secrets[1]
        )))
        .bearer_auth("bk_live_not-a-real-key-but-secret-ish")
        .send()
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // After creation, no response shows a secret again.
    for path in [
        "/api/v1/dashboard/api-keys".to_owned(),
        "/api/v1/dashboard/webhooks".to_owned(),
        format!("/api/v1/dashboard/webhooks/{hook_id}"),
        format!("/api/v1/dashboard/webhooks/{hook_id}/deliveries"),
        "/api/v1/dashboard/webhooks/events".to_owned(),
        "/api/v1/dashboard/agent-config".to_owned(),
    ] {
        let (status, body) = send_json(app.get(&path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        let text = body.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{path} shows a secret: {text}"
            );
        }
    }
    let (_, config) = send_json(app.client.get(widget("/config")).header("origin", SHOP)).await;
    for secret in &secrets {
        assert!(!config.to_string().contains(secret.as_str()));
    }

    let logs = capture.text();
    // The capture works: the scenario's requests are in it.
    assert!(logs.contains(&app.org_id), "nothing captured");
    assert!(
        logs.contains("/api/v1/dashboard/webhooks"),
        "nothing captured"
    );
    let compact_card = CARD.replace(' ', "");
    let compact_phone = "4155550199";
    let mut found = Vec::new();
    for (what, needle) in secrets.iter().map(|s| ("a secret", s.as_str())).chain([
        ("the card number", CARD),
        ("the card number", compact_card.as_str()),
        ("the e-mail address", EMAIL),
        ("the phone number", PHONE),
        ("the phone number", compact_phone),
    ]) {
        if let Some(at) = logs.find(needle) {
            let line_start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            found.push(format!(
                "{what} ({needle}) in: {}",
                &logs[line_start..line_end]
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_personal_data_stay_out_of_logs() {
    the_scenario_leaves_no_secret_or_personal_data_in_logs(backend()).await;
}

/// A streamed turn runs after its handler has returned the stream; the lines it logs still
/// carry the request's id (the one the client got in `X-Request-Id`) and organization.
async fn a_streamed_turn_logs_inside_its_request(backend: Backend) {
    let capture = capture();
    let app = spawn_app(backend).await;
    let response = app
        .post(CHAT)
        .header("accept", "text/event-stream")
        .json(&json!({
            "message": "What are your opening hours?",
            "customer_id": "cust-stream-logs",
            "organization_id": app.org_id,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    let events = tests::parse_sse(&body);
    let (last, reply) = events.last().unwrap();
    assert_eq!(last, "final", "{body}");
    let conversation = reply["session_id"].as_str().unwrap();

    // The agent logs "turn handled" from inside the turn; find this conversation's line (the
    // other test of this binary logs turns too) and the spans it was written in.
    let logs = capture.text();
    let spans = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "turn handled")
        .map(|line| line["spans"].as_array().cloned().unwrap_or_default())
        .find(|spans| spans.iter().any(|s| s["conversation"] == conversation))
        .unwrap_or_else(|| panic!("no \"turn handled\" line for {conversation}"));
    let request = spans
        .iter()
        .find(|s| s["name"] == "request")
        .unwrap_or_else(|| panic!("the turn logged outside its request's span: {spans:?}"));
    assert_eq!(request["request_id"], request_id.as_str(), "{request}");
    assert_eq!(request["org"], app.org_id.as_str(), "{request}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_turns_log_with_their_request_id() {
    a_streamed_turn_logs_inside_its_request(backend()).await;
}
