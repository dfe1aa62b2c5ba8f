//! SIGKILL during webhook delivery: the real `blaigent` process (a child, see `node.rs`)
//! delivers the events of chat turns to a receiver on loopback that holds the first POST
//! (reads it, never answers). While that POST is in flight the process is killed with
//! SIGKILL; the other events of the turns are queued and not yet attempted. A new process on
//! the same database and data folder delivers everything: the held event again once the dead
//! process's claim (its lease) runs out, with the same id and body and a valid signature, and
//! every other event exactly once, each conversation's events in order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use engine::webhooks::signing::{self, TOLERANCE_SECS};
use reqwest::Method;
use serde_json::{json, Value};
use tests::loopback::LoopbackServer;
use tests::{both_backends, Backend, TestDatabase, CHAT};

use super::node::{api, create_org, Node, WAIT};

/// The child's webhook settings. One request in flight per process, so while the receiver
/// holds one, every other event waits unattempted in the queue. A claim's lease is the
/// timeout times (in-flight limit / per-endpoint limit + 2): 10 s x 3 = 30 s. The timeout
/// must outlast the two chat turns between the held POST's arrival and the kill (on a busy
/// machine), or the dead process would have recorded a failed attempt first (the delivery log
/// check below would show it).
const WEBHOOK_ENV: [(&str, &str); 6] = [
    ("BLAIGENT_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32"),
    ("BLAIGENT_WEBHOOK_TIMEOUT", "10s"),
    ("BLAIGENT_WEBHOOK_MAX_IN_FLIGHT", "1"),
    ("BLAIGENT_WEBHOOK_PER_ENDPOINT_CONCURRENCY", "1"),
    ("BLAIGENT_WEBHOOK_POLL_INTERVAL", "100ms"),
    ("BLAIGENT_WEBHOOK_RETRY_SCHEDULE", "1s,1s,1s"),
];

/// The lease those settings give a claimed delivery.
const LEASE: Duration = Duration::from_secs(30);

/// The events a chat turn produces, and the endpoint's subscription.
const TURN_EVENTS: [&str; 2] = ["message.received", "message.sent"];

/// One POST as the receiver read it.
#[derive(Debug, Clone)]
struct Arrival {
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
    /// Held: read and never answered. Otherwise answered 200.
    held: bool,
}

impl Arrival {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON event")
    }

    fn event_id(&self) -> String {
        self.payload()["id"]
            .as_str()
            .expect("an event id")
            .to_owned()
    }

    /// Whether the signature verifies with `secret` now, as the docs tell a receiver to check.
    fn signed_with(&self, secret: &str) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        signing::verify(
            secret,
            self.header(signing::HEADER_SIGNATURE),
            self.header(signing::HEADER_TIMESTAMP),
            &self.body,
            i64::try_from(now).expect("seconds fit"),
            TOLERANCE_SECS,
        )
    }
}

/// What the receiver and its handler share.
#[derive(Default)]
struct Seen {
    arrivals: Mutex<Vec<Arrival>>,
    holding: AtomicBool,
}

/// A webhook endpoint on loopback that records every POST and, while told to hold, answers
/// none of them.
struct Receiver {
    seen: Arc<Seen>,
    server: LoopbackServer,
}

async fn receive(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let held = seen.holding.load(Ordering::SeqCst);
    seen.arrivals.lock().unwrap().push(Arrival {
        headers,
        body,
        at: Instant::now(),
        held,
    });
    if held {
        // The connection stays open and silent until the sender goes away.
        std::future::pending::<()>().await;
    }
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Receiver {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(seen.clone());
        let server = LoopbackServer::start(app, "webhook receiver").await;
        Receiver { seen, server }
    }

    fn url(&self) -> String {
        format!("{}/hook", self.server.base_url())
    }

    fn hold(&self, hold: bool) {
        self.seen.holding.store(hold, Ordering::SeqCst);
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.seen.arrivals.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the POSTs so far; returns them.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Arrival]) -> bool) -> Vec<Arrival> {
        let deadline = Instant::now() + WAIT;
        loop {
            let arrivals = self.arrivals();
            if done(&arrivals) {
                return arrivals;
            }
            let seen: Vec<(String, bool)> =
                arrivals.iter().map(|a| (a.event_id(), a.held)).collect();
            assert!(Instant::now() < deadline, "{what}: got {seen:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The ids of the events answered 200, once each.
fn answered_ids(arrivals: &[Arrival]) -> HashSet<String> {
    arrivals
        .iter()
        .filter(|a| !a.held)
        .map(Arrival::event_id)
        .collect()
}

/// Sends a chat turn as `customer`; returns the conversation id.
async fn chat(node: &Node, key: &str, org: &str, customer: &str, message: &str) -> String {
    let body = json!({"message": message, "customer_id": customer, "organization_id": org});
    let (status, reply) = api(node, key, Method::POST, CHAT, Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    reply["session_id"].as_str().expect("a session").to_owned()
}

async fn a_delivery_in_flight_at_a_kill_is_sent_again_after_restart_and_nothing_twice(
    backend: Backend,
) {
    let db = TestDatabase::create(backend).await.expect("a database");
    let (org, key) = create_org(&db).await;
    let receiver = Receiver::start().await;
    receiver.hold(true);
    let node = Node::start(&db, &WEBHOOK_ENV).await;
    let (status, webhook) = api(
        &node,
        &key,
        Method::POST,
        "/api/v1/dashboard/webhooks",
        Some(json!({"url": receiver.url(), "events": TURN_EVENTS, "description": "CRM sync"})),
    )
    .await;
    assert_eq!(status, 201, "{webhook}");
    let webhook_id = webhook["id"].as_str().unwrap();
    let secret = webhook["secret"].as_str().unwrap();

    // 1. The first turn's first event is POSTed and held; its `message.sent` waits behind it
    //    (order within a conversation), and two more turns queue four events (one request in
    //    flight per process).
    let first_conversation = chat(&node, &key, &org, "kill-a", "Where is my order?").await;
    let held = receiver
        .wait_until("the first event to arrive", |a| !a.is_empty())
        .await
        .remove(0);
    chat(&node, &key, &org, "kill-b", "Do you ship to Austria?").await;
    chat(&node, &key, &org, "kill-c", "Can I pay by invoice?").await;
    assert_eq!(held.payload()["event"], "message.received");
    assert_eq!(
        held.payload()["data"]["conversation_id"],
        first_conversation
    );
    assert!(held.signed_with(secret), "the first attempt is signed");

    // 2. SIGKILL while that POST is in flight; nothing else has been attempted yet.
    assert_eq!(receiver.arrivals().len(), 1, "only the held POST was sent");
    node.kill().await;
    receiver.hold(false);
    let node = Node::start(&db, &WEBHOOK_ENV).await;

    // 3. The new process delivers the six events of the three turns.
    let (status, listed) = api(
        &node,
        &key,
        Method::GET,
        "/api/v1/dashboard/webhooks/events",
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let events: HashSet<String> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 6, "two events per turn: {listed}");
    let arrivals = receiver
        .wait_until("every event to be answered", |a| answered_ids(a) == events)
        .await;

    // The held event came again: same id, same body byte for byte, attempt 2, signed, and
    // only once the dead process's lease had run out.
    let again: Vec<&Arrival> = arrivals
        .iter()
        .filter(|a| !a.held && a.event_id() == held.event_id())
        .collect();
    assert_eq!(again.len(), 1, "the held event is delivered once more");
    let again = again[0];
    assert_eq!(again.body, held.body, "the same body");
    assert_eq!(again.header(signing::HEADER_EVENT_ID), held.event_id());
    assert_eq!(again.header(signing::HEADER_ATTEMPT), "2");
    assert!(again.signed_with(secret), "the resent event is signed");
    let waited = again.at - held.at;
    eprintln!("{backend:?}: the held event was sent again {waited:?} after its first POST");
    assert!(
        waited >= LEASE / 2,
        "resent after {waited:?}, before the claim's lease of {LEASE:?} ran out"
    );

    // Every other event arrived once, at its first attempt, signed; each conversation's
    // message.received before its message.sent.
    let mut order: HashMap<String, Vec<String>> = HashMap::new();
    for arrival in arrivals.iter().filter(|a| !a.held) {
        let id = arrival.event_id();
        let copies = arrivals.iter().filter(|a| a.event_id() == id).count();
        if id != held.event_id() {
            assert_eq!(copies, 1, "{id} arrived {copies} times");
            assert_eq!(arrival.header(signing::HEADER_ATTEMPT), "1");
        }
        assert!(arrival.signed_with(secret), "{id} is signed");
        let payload = arrival.payload();
        let conversation = payload["data"]["conversation_id"].as_str().unwrap();
        order
            .entry(conversation.to_owned())
            .or_default()
            .push(payload["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(order.len(), 3, "three conversations: {order:?}");
    for (conversation, events) in &order {
        assert_eq!(events, &TURN_EVENTS, "{conversation} in order");
    }
    assert_eq!(arrivals.len(), 7, "six events, one of them twice");

    // The delivery log shows one successful attempt per event; the killed attempt left no
    // row, and the held event's row is its second attempt.
    let (status, log) = api(
        &node,
        &key,
        Method::GET,
        &format!("/api/v1/dashboard/webhooks/{webhook_id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let rows = log["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{log}");
    for row in rows {
        assert_eq!(row["succeeded"], true, "{row}");
        assert_eq!(row["status_code"], 200, "{row}");
        let expected = if row["event_id"] == held.event_id().as_str() {
            2
        } else {
            1
        };
        assert_eq!(row["attempt"], expected, "{row}");
    }
    node.kill().await;
}

both_backends!(a_delivery_in_flight_at_a_kill_is_sent_again_after_restart_and_nothing_twice);
