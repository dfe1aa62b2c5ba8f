//! Shared set-up of the action-hook tests: a server whose SSRF guard allows loopback (as a
//! deployment would allow its own backend's network), the loopback backend, and the four
//! actions of the issue (order lookup, cancel order, refund with a limit, booking).

use serde_json::{json, Value};
use tests::action_backend::ActionBackend;
use tests::openai_mock::OpenAiMock;
use tests::{send_json, spawn_app_with, Backend, TestApp, CHAT};

pub const ACTIONS: &str = "/api/v1/dashboard/actions";
pub const EXECUTIONS: &str = "/api/v1/platform/actions/executions";
pub const SECRET: &str = "acsec_test_signing_secret";

fn allow_loopback(config: &mut api::Config) {
    config.webhooks.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A server (loopback allowed for action URLs) and a backend.
pub async fn start(backend: Backend) -> (TestApp, ActionBackend) {
    let app = spawn_app_with(backend, allow_loopback).await;
    (app, ActionBackend::start().await)
}

/// A server whose agent has a (mock) language model.
pub async fn start_with_model(backend: Backend, mock: &OpenAiMock) -> TestApp {
    let base_url = mock.base_url.clone();
    spawn_app_with(backend, move |config| {
        allow_loopback(config);
        config.llm = Some(engine::llm::openai::OpenAiSettings {
            base_url: base_url.clone(),
            model: "mock-model".into(),
            api_key: Some("test-key".into()),
            timeout: std::time::Duration::from_secs(5),
        });
    })
    .await
}

/// Registers an action, asserting 201.
pub async fn create(app: &TestApp, action: Value) -> Value {
    let (status, body) = send_json(app.post(ACTIONS).json(&action)).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// One chat turn with optional session and metadata; asserts 200 and returns the body.
pub async fn chat_with(
    app: &TestApp,
    customer: &str,
    message: &str,
    session: Option<&str>,
    metadata: Option<&Value>,
) -> Value {
    let mut body = json!({
        "message": message,
        "customer_id": customer,
        "organization_id": app.org_id,
    });
    if let Some(session) = session {
        body["session_id"] = json!(session);
    }
    if let Some(metadata) = metadata {
        body["metadata"] = metadata.clone();
    }
    let (status, reply) = send_json(app.post(CHAT).json(&body)).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

fn order_id() -> Value {
    json!({"type": "string", "title": "order number", "pattern": "^[A-Z][0-9]{4}$"})
}

/// Order lookup (read).
pub fn order_status(be: &ActionBackend) -> Value {
    json!({
        "name": "order_status",
        "description": "Look up the status of an order",
        "parameters": {"type": "object", "properties": {"order_id": order_id()}, "required": ["order_id"]},
        "url": be.url("/orders/status"),
        "kind": "read",
        "intents": ["order_tracking"],
        "examples": ["where is my order", "track my parcel", "has my package shipped"],
        "response_template": "Your order {{order_id}} is {{result.status}} (expected {{result.eta}})."
    })
}

/// Order cancellation (write, confirmed).
pub fn cancel_order(be: &ActionBackend) -> Value {
    json!({
        "name": "cancel_order",
        "description": "Cancel an order",
        "parameters": {"type": "object", "properties": {"order_id": order_id()}, "required": ["order_id"]},
        "url": be.url("/orders/cancel"),
        "kind": "write",
        "intents": ["cancel_order"],
        "examples": ["cancel my order", "I don't want my order anymore"],
        "response_template": "Order {{order_id}} is {{result.status}}."
    })
}

/// Refund with a limit of 100 (write, signed, bearer token, `reason` sensitive).
pub fn refund(be: &ActionBackend) -> Value {
    json!({
        "name": "refund",
        "description": "Refund an order",
        "parameters": {"type": "object", "properties": {
            "order_id": order_id(),
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "reason": {"type": "string", "enum": ["damaged", "late", "wrong_item"]}
        }, "required": ["order_id", "amount"]},
        "url": be.url("/refunds"),
        "kind": "write",
        "auth": {"bearer_token": "backend-token", "signing_secret": SECRET},
        "limits": [{"parameter": "amount", "max": 100}],
        "sensitive_fields": ["reason"],
        "intents": ["refund_request"],
        "examples": ["I want my money back", "refund my order"],
        "response_template": "Refund {{result.refund_id}} of {{amount}} for order {{order_id}} is on its way."
    })
}

/// Table booking with a date (write).
pub fn booking(be: &ActionBackend) -> Value {
    json!({
        "name": "book_table",
        "description": "Book a table",
        "parameters": {"type": "object", "properties": {
            "date": {"type": "string", "format": "date"},
            "guests": {"type": "integer", "minimum": 1, "maximum": 12, "x-question": "For how many people?"}
        }, "required": ["date", "guests"]},
        "url": be.url("/bookings"),
        "kind": "write",
        "intents": ["booking"],
        "examples": ["book a table", "I'd like a reservation"]
    })
}
