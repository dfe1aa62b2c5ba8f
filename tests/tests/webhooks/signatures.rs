//! Signed deliveries from a real chat turn: the payload has the brief's shape, and the
//! signature verifies in Rust and with the Python and JavaScript snippets of docs/webhooks.md
//! (run with `python3` and `node`), which also reject tampering, a wrong secret and stale
//! timestamps.

use std::process::Command;

use engine::webhooks::signing::{self, TOLERANCE_SECS};
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app_with, Backend, CHAT};

use super::receiver::{create_webhook, fast_webhooks, Captured, Receiver};

async fn message_events_fire_from_a_chat_turn_in_the_brief_shape(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let receiver = Receiver::start().await;
    create_webhook(&app, &receiver.url, json!(["*"])).await;

    let (status, reply) = send_json(app.post(CHAT).json(&json!({
        "message": "Where is my order?",
        "customer_id": "cust_12345",
        "channel": "whatsapp",
        "organization_id": app.org_id,
        "metadata": {"order_hint": "A-100"},
    })))
    .await;
    assert_eq!(status, 200, "{reply}");
    let seen = receiver.wait_for(2).await;
    let events: Vec<String> = seen.iter().map(Captured::event).collect();
    assert_eq!(events, ["message.received", "message.sent"]);

    let received = seen[0].json();
    assert!(
        received["id"].as_str().unwrap().starts_with("evt_"),
        "{received}"
    );
    assert_eq!(received["organization_id"], app.org_id.as_str());
    let timestamp = received["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.contains('T'),
        "{timestamp}"
    );
    let data = &received["data"];
    assert_eq!(data["conversation_id"], reply["session_id"]);
    assert_eq!(data["customer_id"], "cust_12345");
    assert_eq!(data["channel"], "whatsapp");
    assert_eq!(data["message"], "Where is my order?");
    assert_eq!(data["intent"], reply["intent"]);
    assert_eq!(data["agent_response"], reply["response"]);
    assert_eq!(data["metadata"]["order_hint"], "A-100");
    let sent = seen[1].json();
    assert_eq!(sent["data"]["message_id"], reply["message_id"]);
    assert_ne!(sent["id"], received["id"]);
    assert_eq!(
        seen[0].header("Blaigent-Event-Id"),
        received["id"].as_str().unwrap()
    );
    assert_eq!(seen[0].header("Blaigent-Event"), "message.received");
    assert_eq!(seen[0].header("content-type"), "application/json");

    // The event list shows the same events with the exact payloads.
    let (status, list) =
        send_json(app.get("/api/v1/dashboard/webhooks/events?event=message.sent")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["events"].as_array().unwrap().len(), 1);
    assert_eq!(list["events"][0]["payload"], sent);
}

async fn a_handoff_fires_handoff_requested_after_the_messages(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let receiver = Receiver::start().await;
    create_webhook(
        &app,
        &receiver.url,
        json!(["handoff.requested", "message.received"]),
    )
    .await;
    let (status, reply) = app
        .chat("cust_9", "I want to talk to a real person", None)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["handoff"], true, "{reply}");
    let seen = receiver.wait_for(2).await;
    let events: Vec<String> = seen.iter().map(Captured::event).collect();
    assert_eq!(events, ["message.received", "handoff.requested"]);
    let handoff = seen[1].json();
    assert_eq!(handoff["data"]["conversation_id"], reply["session_id"]);
    assert!(
        handoff["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("human"),
        "{handoff}"
    );
}

async fn webhook_signatures_verify_in_rust_python_and_node(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let receiver = Receiver::start().await;
    let (id, old_secret) = create_webhook(&app, &receiver.url, json!(["*"])).await;
    let (status, _) = app.chat("cust_1", "Hello there", None).await;
    assert_eq!(status, 200);
    let delivery = receiver.wait_for(1).await.remove(0);

    let signature = delivery.header("Blaigent-Signature");
    let timestamp = delivery.header("Blaigent-Timestamp");
    assert!(
        signature.starts_with("sha256=") && !signature.contains(','),
        "{signature}"
    );
    let now = now_secs();
    assert!(signing::verify(
        &old_secret,
        &signature,
        &timestamp,
        &delivery.body,
        now,
        TOLERANCE_SECS
    ));
    assert!(!signing::verify(
        &old_secret,
        &signature,
        &timestamp,
        b"{}",
        now,
        TOLERANCE_SECS
    ));

    // Rotation: the next delivery carries both signatures, each valid for its secret.
    let (status, rotated) =
        send_json(app.post(&format!("/api/v1/dashboard/webhooks/{id}/rotate-secret"))).await;
    assert_eq!(status, 201, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != old_secret);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (status, _) = send_json(app.post(&format!("/api/v1/dashboard/webhooks/{id}/test"))).await;
    assert_eq!(status, 202);
    let ping = receiver
        .wait_until(std::time::Duration::from_secs(20), |seen| {
            seen.iter().any(|c| c.event() == "ping")
        })
        .await
        .into_iter()
        .find(|c| c.event() == "ping")
        .unwrap();
    let both = ping.header("Blaigent-Signature");
    assert_eq!(both.matches("sha256=").count(), 2, "{both}");
    let ts = ping.header("Blaigent-Timestamp");
    assert!(signing::verify(
        &new_secret,
        &both,
        &ts,
        &ping.body,
        now_secs(),
        TOLERANCE_SECS
    ));
    assert!(signing::verify(
        &old_secret,
        &both,
        &ts,
        &ping.body,
        now_secs(),
        TOLERANCE_SECS
    ));

    // The documented snippets, on the captured deliveries.
    let stale_ts = now_secs() - TOLERANCE_SECS - 60;
    let cases = json!([
        case(
            &old_secret,
            &delivery.headers,
            &timestamp,
            &signature,
            &delivery.body,
            true
        ),
        case(
            &old_secret,
            &delivery.headers,
            &timestamp,
            &signature,
            b"{\"id\":\"forged\"}",
            false
        ),
        case(
            "whsec_wrong",
            &delivery.headers,
            &timestamp,
            &signature,
            &delivery.body,
            false
        ),
        case(
            &old_secret,
            &delivery.headers,
            &stale_ts.to_string(),
            &signing::signature_header(&[&old_secret], stale_ts, &delivery.body),
            &delivery.body,
            false
        ),
        case(&old_secret, &ping.headers, &ts, &both, &ping.body, true),
        case(&new_secret, &ping.headers, &ts, &both, &ping.body, true),
    ]);
    let expected: Vec<String> = cases
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            if c["expect"] == true {
                "valid".into()
            } else {
                "invalid".into()
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, cases.to_string()).unwrap();

    let python = dir.path().join("verify.py");
    std::fs::write(
        &python,
        format!("{}\n{PYTHON_DRIVER}", snippet("verify-python", "python")),
    )
    .unwrap();
    assert_eq!(
        run("python3", &python, &cases_path),
        expected,
        "python snippet"
    );

    let node = dir.path().join("verify.js");
    std::fs::write(
        &node,
        format!(
            "{}\n{NODE_DRIVER}",
            snippet("verify-javascript", "javascript")
        ),
    )
    .unwrap();
    assert_eq!(
        run("node", &node, &cases_path),
        expected,
        "javascript snippet"
    );
}

/// One verification case: the headers as a receiver sees them (original names, plus the two
/// that matter set to `timestamp` and `signature`) and the raw body.
fn case(
    secret: &str,
    headers: &http::HeaderMap,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    expect: bool,
) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        map.insert(
            name.as_str().to_owned(),
            json!(value.to_str().unwrap_or_default()),
        );
    }
    map.insert("blaigent-timestamp".into(), json!(timestamp));
    map.insert("blaigent-signature".into(), json!(signature));
    json!({"secret": secret, "headers": map, "body_hex": hex(body), "expect": expect})
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Python driver: Flask-like case-insensitive headers, raw bytes body.
const PYTHON_DRIVER: &str = r#"
import json, sys

class Headers(dict):
    def get(self, name, default=None):
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        return default

for c in json.load(open(sys.argv[1])):
    ok = verify_blaigent_webhook(c["secret"], Headers(c["headers"]), bytes.fromhex(c["body_hex"]))
    print("valid" if ok else "invalid")
"#;

/// The Node driver: lower-cased header names (as Node gives them), a raw `Buffer` body.
const NODE_DRIVER: &str = r#"
const cases = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
for (const c of cases) {
  const ok = verifyBlaigentWebhook(c.secret, c.headers, Buffer.from(c.body_hex, "hex"));
  console.log(ok ? "valid" : "invalid");
}
"#;

/// The code block following `<!-- snippet: name -->` in docs/webhooks.md.
fn snippet(name: &str, language: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/webhooks.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let marker = format!("<!-- snippet: {name} -->");
    let after = &doc[doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} missing"))
        + marker.len()..];
    let fence = format!("```{language}\n");
    let start = after.find(&fence).unwrap() + fence.len();
    let end = after[start..].find("\n```").unwrap();
    after[start..start + end].to_owned()
}

fn run(program: &str, script: &std::path::Path, cases: &std::path::Path) -> Vec<String> {
    let output = Command::new(program)
        .arg(script)
        .arg(cases)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn now_secs() -> i64 {
    engine::store::now_ms() / 1000
}

both_backends!(
    message_events_fire_from_a_chat_turn_in_the_brief_shape,
    a_handoff_fires_handoff_requested_after_the_messages,
    webhook_signatures_verify_in_rust_python_and_node,
);
