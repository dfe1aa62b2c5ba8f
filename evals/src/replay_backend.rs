//! The replay action backend: a loopback server that answers each backend call of a replayed
//! turn with the recorded result of that action (status and JSON body), in order per action
//! name. The organization's actions are copied into the replay's scratch database with their
//! URL pointed here, so the real executor (body, headers, retries) runs unchanged and nothing
//! reaches the organization's own systems.
//!
//! A retry (`Blaigent-Attempt` above 1) gets the same answer again; a call with no recorded
//! result left gets `404 {"error": "no recorded result"}`, and the replay reports the extra
//! call as an `actions` change.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use engine::agent::trace::ActionCall;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Recorded results still to serve, and the last one served per action (for retries).
#[derive(Debug, Default)]
struct Queue {
    pending: HashMap<String, VecDeque<ActionCall>>,
    last: HashMap<String, ActionCall>,
}

/// A running replay backend; stops when dropped.
#[derive(Debug)]
pub struct ReplayBackend {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    queue: Arc<Mutex<Queue>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ReplayBackend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ReplayBackend {
    /// Starts the backend on `127.0.0.1:0`.
    pub async fn start() -> Result<ReplayBackend> {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let app = Router::new()
            .route("/replay/{action}", any(handle))
            .with_state(queue.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the replay action backend")?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ReplayBackend {
            base_url: format!("http://{address}"),
            queue,
            server,
        })
    }

    /// The URL the scratch copy of action `name` calls.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/replay/{name}", self.base_url)
    }

    /// The recorded calls of the next turn (replacing what is left).
    pub fn load(&self, calls: &[ActionCall]) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.pending.clear();
        for call in calls {
            queue
                .pending
                .entry(call.name.clone())
                .or_default()
                .push_back(call.clone());
        }
    }
}

/// The answer the recorded call gave.
fn answer(call: &ActionCall) -> Response {
    let status = match (call.http_status, call.status.as_str()) {
        (Some(code), _) => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        (None, "succeeded") => StatusCode::OK,
        // No HTTP status: the backend timed out or could not be reached.
        (None, _) => StatusCode::GATEWAY_TIMEOUT,
    };
    match &call.response {
        Value::Null => status.into_response(),
        body => (status, Json(body.clone())).into_response(),
    }
}

async fn handle(
    State(queue): State<Arc<Mutex<Queue>>>,
    axum::extract::Path(action): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let retry = headers
        .get("blaigent-attempt")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|attempt| attempt > 1);
    let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
    let call = if retry {
        queue.last.get(&action).cloned()
    } else {
        queue.pending.get_mut(&action).and_then(VecDeque::pop_front)
    };
    match call {
        Some(call) => {
            queue.last.insert(action, call.clone());
            answer(&call)
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no recorded result"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recorded_results_are_served_in_order_and_retries_repeat_the_last() {
        let backend = ReplayBackend::start().await.expect("backend");
        let call = |status: u16, body: Value| ActionCall {
            name: "order_status".into(),
            parameters: Default::default(),
            status: "succeeded".into(),
            http_status: Some(status),
            response: body,
        };
        backend.load(&[
            call(200, json!({"status": "shipped"})),
            call(503, json!({"error": "busy"})),
        ]);
        let client = reqwest::Client::new();
        let send = |attempt: &str| {
            client
                .post(backend.url_of("order_status"))
                .header("Blaigent-Attempt", attempt)
                .send()
        };
        let first = send("1").await.expect("first");
        assert_eq!(first.status(), 200);
        assert_eq!(
            first.json::<Value>().await.expect("json"),
            json!({"status": "shipped"})
        );
        assert_eq!(send("1").await.expect("second").status(), 503);
        assert_eq!(send("2").await.expect("retry").status(), 503);
        assert_eq!(send("1").await.expect("extra").status(), 404);
    }
}
