//! A loopback stand-in for the channel providers' REST APIs (Twilio Messages, Meta Graph,
//! Mailgun messages): it records every request (method, path, headers, body, parsed form) and
//! answers either with success or with a configured failure, so tests can stage a provider
//! outage and its recovery.
//!
//! The success body carries each provider's message id field at once: `sid` (Twilio), `id`
//! and `message` (Mailgun), `messages[0].id` (Meta).
//!
//! `GET` requests are the server asking what was delivered (after an attempt whose answer
//! never came): Twilio's Messages list (`.../Messages.json?To=&From=`) and Mailgun's event log
//! (`.../events?recipient=`) are answered from the sends accepted so far, in each provider's
//! format; they are kept apart from the sends ([`ProviderMock::lookups`]).

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
    /// Accepts the message (recorded as 201, listed by lookups) and never answers: the
    /// provider has it, the sender never learns.
    AcceptSilently,
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
    /// The provider's id of an accepted message (`SM...` for Twilio, `<n@mock.provider>`
    /// for Mailgun, `wamid.MOCKn` for Meta: the one for the path's provider).
    pub message_id: Option<String>,
    /// When the request arrived.
    pub received_at: time::OffsetDateTime,
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
    lookups: Mutex<Vec<Recorded>>,
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
            lookups: Mutex::new(Vec::new()),
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

    /// The lookups received so far (`GET` requests asking what was delivered), oldest first.
    pub fn lookups(&self) -> Vec<Recorded> {
        self.shared
            .lookups
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
    let form = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body).unwrap_or_default();
    let mut recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
        form,
        status: 0,
        message_id: None,
        received_at: time::OffsetDateTime::now_utc(),
    };
    if method == Method::GET {
        return lookup(&shared, recorded, uri.query().unwrap_or_default());
    }
    let behavior = shared
        .behavior
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let ids = MessageIds::numbered(n);
    let (status, answer) = match behavior {
        Behavior::Accept => (StatusCode::CREATED, ids.success_body()),
        Behavior::Fail { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        ),
        Behavior::Hang | Behavior::AcceptSilently => {
            if matches!(behavior, Behavior::AcceptSilently) {
                recorded.status = StatusCode::CREATED.as_u16();
                recorded.message_id = Some(ids.for_path(&recorded.path));
            }
            push(&shared.requests, recorded);
            return std::future::pending::<Response>().await;
        }
    };
    recorded.status = status.as_u16();
    if status.is_success() {
        recorded.message_id = Some(ids.for_path(&recorded.path));
    }
    push(&shared.requests, recorded);
    json_response(status, answer)
}

/// The ids the mock gives its `n`th message, one per provider.
struct MessageIds {
    twilio: String,
    mailgun: String,
    meta: String,
}

impl MessageIds {
    fn numbered(n: usize) -> MessageIds {
        MessageIds {
            twilio: format!("SM{n:032}"),
            mailgun: format!("<{n}@mock.provider>"),
            meta: format!("wamid.MOCK{n}"),
        }
    }

    /// A success body every provider's client can read its id from.
    fn success_body(&self) -> String {
        json!({
            "sid": self.twilio,
            "id": self.mailgun,
            "message": "Queued. Thank you.",
            "messages": [{"id": self.meta}],
            "status": "queued",
        })
        .to_string()
    }

    /// The id of the provider `path` belongs to.
    fn for_path(&self, path: &str) -> String {
        if path.ends_with("/Messages.json") {
            self.twilio.clone()
        } else if path.ends_with("/messages") && path.starts_with("/v3/") {
            self.mailgun.clone()
        } else {
            self.meta.clone()
        }
    }
}

fn push(list: &Mutex<Vec<Recorded>>, recorded: Recorded) {
    list.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(recorded);
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Answers a lookup from the accepted sends, as Twilio's Messages list or Mailgun's event log.
fn lookup(shared: &Shared, recorded: Recorded, query: &str) -> Response {
    let params = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let path = recorded.path.clone();
    push(&shared.lookups, recorded);
    let accepted: Vec<Recorded> = shared
        .requests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|r| r.status == StatusCode::CREATED.as_u16() && r.message_id.is_some())
        .cloned()
        .collect();
    if path.ends_with("/Messages.json") {
        let (to, from) = (param("To"), param("From"));
        let messages: Vec<_> = accepted
            .iter()
            .rev()
            .filter(|r| {
                r.path == path && r.field("To") == Some(&to) && r.field("From") == Some(&from)
            })
            .map(|r| {
                json!({
                    "sid": r.message_id,
                    "to": to,
                    "from": from,
                    "body": r.field("Body"),
                    "direction": "outbound-api",
                    "status": "queued",
                    "date_sent": null,
                    "date_created": r
                        .received_at
                        .format(&time::format_description::well_known::Rfc2822)
                        .unwrap_or_default(),
                })
            })
            .collect();
        return json_response(
            StatusCode::OK,
            json!({"messages": messages, "page": 0, "page_size": messages.len()}).to_string(),
        );
    }
    if path.ends_with("/events") {
        let recipient = param("recipient");
        let messages_path = format!("{}/messages", path.trim_end_matches("/events"));
        let items: Vec<_> = accepted
            .iter()
            .filter(|r| r.path == messages_path && r.field("to") == Some(&recipient))
            .map(|r| {
                let variables: serde_json::Map<String, serde_json::Value> = r
                    .form
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix("v:")?.to_owned(), json!(v))))
                    .collect();
                json!({
                    "event": "accepted",
                    "recipient": recipient,
                    "user-variables": variables,
                    "message": {"headers": {
                        "message-id": r.message_id.as_deref().map(|id| id.trim_matches(['<', '>'])),
                    }},
                })
            })
            .collect();
        return json_response(
            StatusCode::OK,
            json!({"items": items, "paging": {}}).to_string(),
        );
    }
    json_response(
        StatusCode::NOT_FOUND,
        json!({"error": {"message": "no such lookup"}}).to_string(),
    )
}
