//! The loopback backend of the `conversations` suite: a small shop on `127.0.0.1:0` answering
//! the actions of the data file (order status, cancel order, refund, booking) and recording
//! every call (action name from `Blaigent-Action`, parameters from the body) so each turn's
//! calls can be compared with the script.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

/// Orders the shop knows: id -> status.
const ORDERS: [(&str, &str); 4] = [
    ("A1234", "shipped"),
    ("B5678", "processing"),
    ("C9012", "delivered"),
    ("D3456", "shipped"),
];

/// One call as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub action: String,
    pub parameters: Map<String, Value>,
}

/// A running backend; stops when dropped.
#[derive(Debug)]
pub struct Backend {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Backend {
    /// Starts the backend.
    pub async fn start() -> Result<Backend> {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{*path}", post(handle))
            .with_state(calls.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the loopback action backend")?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Backend {
            base_url: format!("http://{address}"),
            calls,
            server,
        })
    }

    /// How many calls were received so far.
    pub fn count(&self) -> usize {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The calls received after the first `from`.
    pub fn since(&self, from: usize) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .skip(from)
            .cloned()
            .collect()
    }
}

async fn handle(
    State(calls): State<Arc<Mutex<Vec<Call>>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let parameters = body["parameters"].as_object().cloned().unwrap_or_default();
    calls.lock().unwrap_or_else(|p| p.into_inner()).push(Call {
        action: headers
            .get("blaigent-action")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        parameters: parameters.clone(),
    });
    let order = parameters
        .get("order_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let known = ORDERS.iter().find(|(id, _)| *id == order);
    let missing = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such order"})),
        )
            .into_response()
    };
    match path.as_str() {
        "orders/status" => match known {
            Some((id, status)) => Json(json!({"order_id": id, "status": status})).into_response(),
            None => missing(),
        },
        "orders/cancel" => match known {
            Some((id, _)) => Json(json!({"order_id": id, "status": "cancelled"})).into_response(),
            None => missing(),
        },
        "refunds" => Json(json!({"refund_id": "R1", "status": "refunded"})).into_response(),
        "bookings" => Json(json!({"booking_id": "BK-1", "status": "booked"})).into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown path"})),
        )
            .into_response(),
    }
}
