//! A loopback stand-in for the channel providers' REST APIs (Twilio Messages, Meta Graph,
//! Mailgun messages): it records every request (method, path, headers, body, parsed form) and
//! answers either with success or with a configured failure, so tests can stage a provider
//! outage and its recovery.
//!
//! The success body carries each provider's message id field at once: `sid` (Twilio), `id`
//! and `message` (Mailgun), `messages[0].id` (Meta).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

/// What the mock answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// 201 with a fresh message id.
    Accept,
    /// This status and body (e.g. 503, or Twilio's `{"code": 21211, ...}` with 400).
    Fail { status: u16, body: String },
    /// Records the request (with status 0) and never answers: a send in flight when the
    /// sender dies.
    Hang,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body parsed as a form, when it is one (repeated names kept, in order).
    pub form: Vec<(String, String)>,
    /// What the mock answered.
    pub status: u16,
}

impl Recorded {
    /// The first form value named `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every form value named `name`.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Debug)]
struct Shared {
    behavior: Mutex<Behavior>,
    requests: Mutex<Vec<Recorded>>,
    counter: AtomicUsize,
}

/// A running mock; stops when dropped.
#[derive(Debug)]
pub struct ProviderMock {
    /// `http://127.0.0.1:PORT`: the `api_base_url` to configure.
    pub base_url: String,
    shared: Arc<Shared>,
    _server: crate::loopback::LoopbackServer,
}

impl ProviderMock {
    /// Starts the mock on `127.0.0.1:0`, accepting everything.
    pub async fn start() -> ProviderMock {
        let shared = Arc::new(Shared {
            behavior: Mutex::new(Behavior::Accept),
            requests: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        let server = crate::loopback::LoopbackServer::start(app, "the provider mock").await;
        ProviderMock {
            base_url: server.base_url(),
            shared,
            _server: server,
        }
    }

    /// Changes what the mock answers from now on.
    pub fn set(&self, behavior: Behavior) {
        *self
            .shared
            .behavior
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behavior;
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The requests the mock accepted (answered 2xx), oldest first.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Waits until `pred` holds over the recorded requests, or panics after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let started = Instant::now();
        loop {
            let requests = self.requests();
            if pred(&requests) {
                return requests;
            }
            if started.elapsed() > timeout {
                panic!("timed out waiting for {what}; received: {requests:#?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behavior = shared
        .behavior
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let (status, answer) = match behavior {
        Behavior::Accept => (
            StatusCode::CREATED,
            json!({
                "sid": format!("SM{n:032}"),
                "id": format!("<{n}@mock.provider>"),
                "message": "Queued. Thank you.",
                "messages": [{"id": format!("wamid.MOCK{n}")}],
                "status": "queued",
            })
            .to_string(),
        ),
        Behavior::Fail { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
        Behavior::Hang => {
            let form =
                serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default();
            shared
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Recorded {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                    form,
                    status: 0,
                });
            return std::future::pending::<Response>().await;
        }
    };
    let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default();
    shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            headers,
            body: body.to_vec(),
            form,
            status: status.as_u16(),
        });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}
