//! SIGKILL during a refund: the real `blaigent` process (a child, see `node.rs`) calls an
//! organization's refund backend once the customer has said yes; the backend (the loopback
//! `ActionBackend` of the action-hook tests, told to hold) reads the call and never answers,
//! and the process is killed with SIGKILL while the call is in flight. A new process starts on
//! the same database and data folder; the customer, whose "yes" got no answer, says it again
//! in the same conversation, and the backend now answers. What must hold: every refund call
//! carries the same `Idempotency-Key` (so a backend that honours the key refunds once), the
//! customer gets the refund's confirmation, and the audit log shows that one refund under
//! that key.
//!
//! Why it holds: the conversation's pending confirmation, which holds the key, is deleted only
//! once the backend has answered (`engine/src/actions/dialogue.rs`, `ActionEngine::resume`), so
//! the kill leaves it in place and the second "yes" confirms the same call again. (Before that
//! fix the confirmation went first: the second "yes" was an ordinary message, and asking for
//! the refund again was confirmed under a fresh key.)

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tests::action_backend::{ActionBackend, Mode, Recorded};
use tests::{both_backends, json_of, Backend, TestDatabase, CHAT};

use super::node::{api, create_org, Node, WAIT};

/// The refund action's definition, shared with the action-hook suite.
#[path = "../actions/support.rs"]
#[allow(dead_code)]
mod action_support;

/// The child may call its backend on loopback (the SSRF guard's allowlist covers actions).
const ACTION_ENV: [(&str, &str); 1] = [("BLAIGENT_WEBHOOK_ALLOW_NETWORKS", "127.0.0.1/32")];

const CUSTOMER: &str = "cust_refund";
const REQUEST: &str = "Please refund 40 for order A1234, the box was damaged";
const REFUNDED: &str = "Refund R1 of 40 for order A1234 is on its way.";

/// One chat turn as `CUSTOMER` in `session` (a new conversation without one). An error when
/// no answer arrives (the process died under the request).
async fn chat(
    base_url: &str,
    key: &str,
    org: &str,
    message: &str,
    session: Option<&str>,
) -> reqwest::Result<(u16, Value)> {
    let mut body = json!({"message": message, "customer_id": CUSTOMER, "organization_id": org});
    if let Some(session) = session {
        body["session_id"] = json!(session);
    }
    let response = reqwest::Client::new()
        .post(format!("{base_url}{CHAT}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await?;
    Ok(json_of(response).await)
}

/// Waits until the backend has received `count` refund calls; returns them.
async fn refund_calls(be: &ActionBackend, count: usize) -> Vec<Recorded> {
    let deadline = Instant::now() + WAIT;
    loop {
        let calls = be.requests_to("/refunds");
        if calls.len() >= count {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "{count} refund call(s) expected, {} arrived",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_refund_in_flight_at_a_kill_is_made_once_under_one_idempotency_key(backend: Backend) {
    let db = TestDatabase::create(backend).await.expect("a database");
    let (org, key) = create_org(&db).await;
    let be = ActionBackend::start().await;
    let node = Node::start(&db, &ACTION_ENV).await;
    let mut refund = action_support::refund(&be);
    // The held call must still be in flight when the kill lands, however busy the machine.
    refund["timeout_ms"] = json!(30_000);
    let (status, created) = api(
        &node,
        &key,
        Method::POST,
        action_support::ACTIONS,
        Some(refund),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    // 1. Every slot in one message: the agent asks for a yes before refunding.
    let (status, ask) = chat(&node.base_url, &key, &org, REQUEST, None)
        .await
        .expect("the first turn is answered");
    assert_eq!(status, 200, "{ask}");
    assert_eq!(ask["actions"][0]["name"], "refund", "{ask}");
    assert_eq!(
        ask["actions"][0]["status"], "awaiting_confirmation",
        "{ask}"
    );
    let confirm = ask["response"].as_str().unwrap();
    assert!(
        confirm.starts_with("Just to confirm: I'm about to refund an order")
            && confirm.contains("A1234")
            && confirm.contains("40"),
        "{confirm}"
    );
    let session = ask["session_id"].as_str().unwrap().to_owned();
    assert!(be.requests().is_empty(), "nothing is called before the yes");

    // 2. The customer says yes; the refund call reaches the backend, which holds it; SIGKILL.
    be.set(Mode::Hold);
    let in_flight = tokio::spawn({
        let (base_url, key, org, session) = (
            node.base_url.clone(),
            key.clone(),
            org.clone(),
            session.clone(),
        );
        async move { chat(&base_url, &key, &org, "yes", Some(&session)).await }
    });
    let held = refund_calls(&be, 1).await.remove(0);
    let idempotency_key = held.headers["idempotency-key"].clone();
    assert!(!idempotency_key.is_empty(), "the call carries a key");
    assert_eq!(held.body["parameters"]["order_id"], "A1234");
    assert_eq!(held.body["parameters"]["amount"], 40);
    assert_eq!(held.body["parameters"]["reason"], "damaged");
    assert_eq!(held.body["conversation_id"], session.as_str());
    node.kill().await;
    be.set(Mode::Normal);
    // The customer's "yes" is never answered: the connection dies with the process.
    let lost = tokio::time::timeout(WAIT, in_flight)
        .await
        .expect("the request ends with the process")
        .expect("the chat task");
    assert!(lost.is_err(), "no answer from a killed process: {lost:?}");
    assert_eq!(be.requests().len(), 1, "one call before the kill");
    assert_eq!(
        be.refunds_made(),
        1,
        "the backend refunded; its answer was lost"
    );

    // 3. A new process on the same data; the customer says yes again in the same conversation.
    let node = Node::start(&db, &ACTION_ENV).await;
    let (status, done) = chat(&node.base_url, &key, &org, "yes", Some(&session))
        .await
        .expect("the second process answers");
    assert_eq!(status, 200, "{done}");
    let calls = be.requests_to("/refunds");
    let keys: Vec<&str> = calls
        .iter()
        .map(|c| c.headers["idempotency-key"].as_str())
        .collect();
    eprintln!(
        "{backend:?}: after the restart the customer's yes got {:?} ({}); refund calls' keys: {keys:?}",
        done["response"], done["actions"]
    );
    assert_eq!(
        done["actions"][0]["status"], "succeeded",
        "the refund is made after the restart: {done}; refund calls' keys: {keys:?}"
    );
    assert_eq!(done["response"], REFUNDED, "{done}");
    assert_eq!(done["session_id"], session.as_str(), "{done}");

    // The backend: the refund call again, with the same key and parameters; one refund made.
    assert_eq!(calls.len(), 2, "the held call and its repeat: {keys:?}");
    assert!(
        keys.iter().all(|k| *k == idempotency_key),
        "one key for the refund, {idempotency_key}: {keys:?}"
    );
    assert_eq!(calls[1].body["parameters"], held.body["parameters"]);
    assert_eq!(calls[1].body["idempotency_key"], idempotency_key.as_str());
    assert_eq!(
        be.refunds_made(),
        1,
        "a backend honouring the key refunds once"
    );

    // The operator: the audit log holds the refund, succeeded, under that key (the killed
    // attempt, if it is there at all, under the same key), the reason redacted.
    let (status, log) = api(
        &node,
        &key,
        Method::GET,
        &format!("{}?conversation_id={session}", action_support::EXECUTIONS),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let rows = log["executions"].as_array().unwrap();
    let succeeded: Vec<&Value> = rows.iter().filter(|r| r["status"] == "succeeded").collect();
    assert_eq!(succeeded.len(), 1, "one refund in the log: {log}");
    let line = succeeded[0];
    assert_eq!(line["action"], "refund", "{line}");
    assert_eq!(line["http_status"], 200, "{line}");
    assert_eq!(line["customer_id"], CUSTOMER, "{line}");
    assert_eq!(line["parameters"]["order_id"], "A1234", "{line}");
    assert_eq!(line["parameters"]["reason"], "[redacted]", "{line}");
    for row in rows {
        assert_eq!(row["idempotency_key"], idempotency_key.as_str(), "{row}");
    }
    node.kill().await;
}

both_backends!(a_refund_in_flight_at_a_kill_is_made_once_under_one_idempotency_key);
