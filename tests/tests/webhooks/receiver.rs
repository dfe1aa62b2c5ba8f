//! A webhook receiver on `127.0.0.1:0`: records every request (headers and raw body) and
//! answers with scripted statuses (e.g. 500 three times, then 200), or hangs while told to.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tests::{send_json, TestApp};
use tokio::sync::Notify;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Captured {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn event_id(&self) -> String {
        self.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn event(&self) -> String {
        self.json()["event"].as_str().unwrap_or_default().to_owned()
    }
}

#[derive(Default)]
struct Inner {
    seen: Mutex<Vec<Captured>>,
    script: Mutex<VecDeque<u16>>,
    default_status: AtomicU16,
    hang: AtomicBool,
    arrived: Notify,
}

/// A running receiver.
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let status = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| inner.default_status.load(Ordering::SeqCst));
    inner.seen.lock().unwrap().push(Captured {
        headers,
        body: body.to_vec(),
        status,
    });
    inner.arrived.notify_waiters();
    if inner.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let status = StatusCode::from_u16(status).unwrap();
    (status, format!("receiver answered {}", status.as_u16()))
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        inner.default_status.store(200, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, inner, server }
    }

    /// Answers the next requests with `statuses`, in order, then with the default.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.inner
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    /// Answers every request without a scripted status with `status`.
    pub fn answer_always(&self, status: u16) {
        self.inner.default_status.store(status, Ordering::SeqCst);
    }

    /// While set, the receiver records each request and then never answers in time.
    pub fn hang(&self, hang: bool) {
        self.inner.hang.store(hang, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.inner.seen.lock().unwrap().clone()
    }

    /// Requests answered 2xx, de-duplicated by event id (what a careful receiver processes).
    pub fn processed_event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for request in self.requests() {
            if (200..300).contains(&request.status) && !ids.contains(&request.event_id()) {
                ids.push(request.event_id());
            }
        }
        ids
    }

    /// Waits until `done` holds for the requests so far, failing the test after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Captured]) -> bool,
    ) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.inner.arrived.notified();
            let seen = self.requests();
            if done(&seen) {
                return seen;
            }
            let now = tokio::time::Instant::now();
            assert!(
                now < deadline,
                "the receiver did not get what was expected in {within:?}; got {} requests: {:?}",
                seen.len(),
                seen.iter()
                    .map(|c| (c.event(), c.status))
                    .collect::<Vec<_>>()
            );
            let _ = tokio::time::timeout((deadline - now).min(Duration::from_millis(100)), arrived)
                .await;
        }
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<Captured> {
        self.wait_until(Duration::from_secs(20), |seen| seen.len() >= n)
            .await
    }
}

/// Settings for tests: loopback allowed, retries after milliseconds, fast polling.
pub fn fast_webhooks(config: &mut api::Config) {
    use engine::webhooks::RetrySchedule;
    let ms = Duration::from_millis;
    let w = &mut config.webhooks;
    w.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
    w.timeout = Duration::from_secs(2);
    w.schedule = RetrySchedule::new(vec![ms(50), ms(100), ms(150), ms(200), ms(300)], 0.0);
    w.poll_interval = ms(25);
    w.max_in_flight = 8;
    w.per_endpoint_concurrency = 4;
}

/// Creates an endpoint through the API; returns its id and secret.
pub async fn create_webhook(app: &TestApp, url: &str, events: Value) -> (String, String) {
    let (status, body) = send_json(
        app.post("/api/v1/dashboard/webhooks")
            .json(&json!({"url": url, "events": events, "description": "test receiver"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}
