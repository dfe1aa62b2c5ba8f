//! Helpers of the fault suites: the process-wide log capture (searched per request id), the
//! shop's knowledge base, chat calls that carry their own request id, and a second server on
//! an existing database and data folder (so it sees the same documents and vectors) with a
//! different configuration or a different vector index.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use api::{AppState, Config};
use serde_json::{json, Value};
use tests::{json_of, send_json, TestApp, CHAT};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";

/// The shop's knowledge base: (title, text).
pub const SHOP: [(&str, &str); 3] = [
    (
        "Refund policy",
        "You can return any unused item within 30 days of delivery. Refunds are paid to your original payment method within 5 business days after the return arrives at our warehouse. Sale items can be exchanged but not refunded.",
    ),
    (
        "Shipping",
        "Standard shipping within Germany takes 2 to 3 business days and costs 4.90 EUR. Orders over 60 EUR ship for free. Express delivery arrives the next business day for 12 EUR.",
    ),
    (
        "Opening hours",
        "Our Munich store on Sendlinger Strasse 12 is open Monday to Friday from 10:00 to 19:00 and on Saturday from 10:00 to 16:00. The store is closed on Sundays and public holidays.",
    ),
];

/// The shop's questions, the fact each answer must hold and the document it must cite.
pub const SHOP_QUESTIONS: [(&str, &str, &str); 3] = [
    ("How much is express delivery?", "12 EUR", "Shipping"),
    (
        "When is the Munich store open on Saturday?",
        "10:00 to 16:00",
        "Opening hours",
    ),
    (
        "When are refunds paid?",
        "within 5 business days",
        "Refund policy",
    ),
];

/// A document beyond the shop's three (added during an outage, or on another replica).
pub const GIFT_CARDS: &str =
    "Gift cards are valid for three years and can be redeemed online and in the Munich store.";

/// Words a customer must never see in an answer produced during a fault.
pub const FAULT_WORDING: [&str; 9] = [
    "error",
    "fallback",
    "fall back",
    "offline",
    "timeout",
    "timed out",
    "unavailable",
    "language model",
    "vector",
];

/// Asserts `answer` shows nothing of the fault behind it.
pub fn assert_no_fault_wording(answer: &str) {
    let lower = answer.to_lowercase();
    for word in FAULT_WORDING {
        assert!(
            !lower.contains(word),
            "the customer sees {word:?}: {answer}"
        );
    }
}

/// Every log line of this test process (INFO and up, with span fields such as the request
/// id). One subscriber per process: installed by the first caller.
pub fn logs() -> &'static Capture {
    static LOGS: OnceLock<Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(capture.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        capture
    })
}

/// The shared log buffer.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
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
    /// The lines logged inside the request whose id is `request_id`.
    pub fn of_request(&self, request_id: &str) -> Vec<String> {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).to_string();
        text.lines()
            .filter(|line| line.contains(request_id))
            .map(str::to_owned)
            .collect()
    }

    /// How many lines (of any request) contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        let text =
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).to_string();
        text.lines().filter(|line| line.contains(needle)).count()
    }

    /// Waits until more than `before` lines contain `needle`, or panics after 10 s.
    pub async fn wait_for_more(&self, needle: &str, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(needle) <= before {
            assert!(Instant::now() < deadline, "no new log line says {needle:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a line of request `request_id` contains `needle` (the streamed answer is
    /// logged as it ends, after the client may have read it), or panics after 10 s.
    pub async fn wait_for(&self, request_id: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self
                .of_request(request_id)
                .into_iter()
                .find(|l| l.contains(needle))
            {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line of request {request_id} says {needle:?}; its lines: {:#?}",
                self.of_request(request_id)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A fresh request id naming what a step does (searched for in the logs).
pub fn request_id(step: &str) -> String {
    format!("fault-{step}-{}", engine::ids::fresh_suffix())
}

/// Uploads the shop's documents and waits until they are indexed.
pub async fn upload_shop(app: &TestApp) {
    let mut ids = Vec::new();
    for (title, text) in SHOP {
        let (status, body) = send_json(
            app.post(KNOWLEDGE)
                .json(&json!({"title": title, "text": text})),
        )
        .await;
        assert!((200..300).contains(&status), "{status} {body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
            assert_eq!(status, 200, "{body}");
            if body["status"] == "ready" {
                break;
            }
            assert_ne!(body["status"], "failed", "{body}");
            assert!(Instant::now() < deadline, "document {id} still processing");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Where a chat goes: a base URL and a key of the organization `org`.
pub struct Target<'a> {
    pub base_url: &'a str,
    pub client: &'a reqwest::Client,
    pub key: &'a str,
    pub org: &'a str,
}

impl<'a> Target<'a> {
    /// The default organization of `app`, on `app`.
    pub fn of(app: &'a TestApp) -> Self {
        Target {
            base_url: &app.base_url,
            client: &app.client,
            key: &app.api_key,
            org: &app.org_id,
        }
    }

    /// The same organization on `server`.
    pub fn on(server: &'a Server, app: &'a TestApp) -> Self {
        Target {
            base_url: &server.base_url,
            client: &server.client,
            key: &app.api_key,
            org: &app.org_id,
        }
    }

    /// A chat request for `message` as `customer`, carrying `request_id`.
    pub fn chat_request(
        &self,
        customer: &str,
        message: &str,
        request_id: &str,
        stream: bool,
    ) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{CHAT}", self.base_url))
            .bearer_auth(self.key)
            .header("x-request-id", request_id)
            .json(&json!({
                "message": message,
                "customer_id": customer,
                "organization_id": self.org,
                "stream": stream,
            }))
    }

    /// A JSON chat; asserts 200 and returns the body and how long it took.
    pub async fn chat(&self, customer: &str, message: &str, request_id: &str) -> (Value, Duration) {
        let started = Instant::now();
        let (status, body) = json_of(
            self.chat_request(customer, message, request_id, false)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{body}");
        (body, took)
    }

    /// A streamed chat; asserts 200 and returns the (event, data) pairs and how long the
    /// whole stream took.
    pub async fn stream(
        &self,
        customer: &str,
        message: &str,
        request_id: &str,
    ) -> (Vec<(String, Value)>, Duration) {
        let started = Instant::now();
        let response = self
            .chat_request(customer, message, request_id, true)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body = response.text().await.unwrap();
        let took = started.elapsed();
        (tests::parse_sse(&body), took)
    }
}

/// The text of a chat answer.
pub fn text(reply: &Value) -> &str {
    reply["response"].as_str().unwrap_or_default()
}

/// The titles of a chat answer's citations.
pub fn citation_titles(reply: &Value) -> Vec<String> {
    reply["citations"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A second server on `app`'s database and data folder; stops when dropped.
pub struct Server {
    pub base_url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Starts a server on `app`'s data with its configuration adjusted by `configure`, and its
    /// state by `map_state` (after it was built, before it serves).
    pub async fn start(
        app: &TestApp,
        configure: impl FnOnce(&mut Config),
        map_state: impl AsyncFnOnce(AppState) -> AppState,
    ) -> Server {
        let mut config = Config::with_database(app.db.url.clone());
        config.data_dir = app.db.dir.path().to_path_buf();
        configure(&mut config);
        let state = AppState::build(config)
            .await
            .unwrap_or_else(|e| panic!("building the app state: {e:#}"));
        let state = map_state(state).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(api::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Server {
            base_url: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
