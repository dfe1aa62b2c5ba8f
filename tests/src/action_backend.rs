//! A loopback stand-in for an organization's backend, for the action-hook tests and the
//! evaluation harness: order lookup (`/orders/status`), order cancellation
//! (`/orders/cancel`), refunds (`/refunds`, idempotent by `Idempotency-Key`) and bookings
//! (`/bookings`, with a date). Every request is recorded with its headers and raw body (to
//! check signatures); it can be told to fail with 500 (always, or the first N calls), to
//! answer slower than any timeout, or to hold a call (do its work, never answer).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Orders the backend knows: id -> status.
pub const ORDERS: [(&str, &str); 3] = [
    ("A1234", "shipped"),
    ("B5678", "processing"),
    ("C9012", "delivered"),
];

/// How the backend behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Every call answers 500 with a stack-trace-like body.
    Fail,
    /// The next N calls answer 500, then normal.
    FailTimes(u32),
    /// Waits this long before answering normally.
    Sleep(Duration),
    /// Does the work (a refund is made under its key) and never answers: the connection stays
    /// open and silent until the caller goes away (an answer lost when its caller dies).
    Hold,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// Header names in lowercase.
    pub headers: BTreeMap<String, String>,
    pub raw_body: Vec<u8>,
    pub body: Value,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<Recorded>>,
    /// Idempotency key -> refund id: a repeated key returns the same refund.
    refunds: Mutex<HashMap<String, String>>,
}

/// A running backend; stops when dropped.
#[derive(Debug)]
pub struct ActionBackend {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    shared: Arc<Shared>,
    _server: crate::loopback::LoopbackServer,
}

impl ActionBackend {
    /// Starts the backend on `127.0.0.1:0`.
    pub async fn start() -> ActionBackend {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Normal),
            requests: Mutex::new(Vec::new()),
            refunds: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/{*path}", post(handle).put(handle).patch(handle))
            .with_state(shared.clone());
        let server = crate::loopback::LoopbackServer::start(app, "the action backend").await;
        ActionBackend {
            base_url: server.base_url(),
            shared,
            _server: server,
        }
    }

    /// The URL of `path` (`/orders/status`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Changes the behaviour from now on.
    pub fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// How many distinct refunds were made (a retried key counts once).
    pub fn refunds_made(&self) -> usize {
        self.shared
            .refunds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = format!("/{path}");
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Recorded {
            path: path.clone(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            raw_body: raw.to_vec(),
            body: body.clone(),
        });
    let mode = {
        let mut mode = shared.mode.lock().unwrap_or_else(|p| p.into_inner());
        let current = mode.clone();
        if let Mode::FailTimes(n) = current {
            *mode = if n <= 1 {
                Mode::Normal
            } else {
                Mode::FailTimes(n - 1)
            };
        }
        current
    };
    match mode {
        Mode::Fail | Mode::FailTimes(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Traceback (most recent call last): database connection refused at db.py:42",
            )
                .into_response()
        }
        Mode::Sleep(delay) => tokio::time::sleep(delay).await,
        Mode::Hold | Mode::Normal => {}
    }
    let params = &body["parameters"];
    let order_id = params["order_id"].as_str().unwrap_or_default().to_string();
    let known = ORDERS.iter().find(|(id, _)| *id == order_id);
    let response = match path.as_str() {
        "/orders/status" => match known {
            Some((id, status)) => {
                Json(json!({"order_id": id, "status": status, "eta": "2026-12-03"})).into_response()
            }
            None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such order"}))).into_response(),
        },
        "/orders/cancel" => match known {
            Some((id, _)) => Json(json!({"order_id": id, "status": "cancelled"})).into_response(),
            None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such order"}))).into_response(),
        },
        "/refunds" => {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let mut refunds = shared.refunds.lock().unwrap_or_else(|p| p.into_inner());
            let next = format!("R{}", refunds.len() + 1);
            let id = refunds.entry(key).or_insert(next).clone();
            Json(json!({"refund_id": id, "order_id": order_id, "amount": params["amount"], "status": "refunded"}))
                .into_response()
        }
        "/bookings" => Json(json!({
            "booking_id": "BK-1",
            "date": params["date"],
            "message": format!("Your table is booked for {}.", params["date"].as_str().unwrap_or("that day"))
        }))
        .into_response(),
        _ => (StatusCode::NOT_FOUND, Json(json!({"error": "unknown path"}))).into_response(),
    };
    if mode == Mode::Hold {
        std::future::pending::<()>().await;
    }
    response
}
