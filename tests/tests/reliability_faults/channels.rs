//! SIGKILL during channel sends: the real `blaigent` process (as a child, the
//! `blaigent_node` binary of this package) answers an inbound SMS; its reply is queued in the
//! channel outbox and the send is in flight (the provider stand-in holds the request) when
//! the process is killed with SIGKILL. A new process on the same data sends the reply once the
//! dead process's claim expires: the customer gets it exactly once, not lost, not doubled.
//! A human reply written in the inbox just before a kill is sent once by the next process too.
//! And when the provider had already accepted the reply before the kill (its answer never
//! arrived), the next process finds it in Twilio's message list and does not send it again.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::channel_helpers::{sms_payload, ACCOUNT_SID, AUTH_TOKEN, HANDOFF_NUMBER, OUR_NUMBER};
use tests::provider_mock::{Behavior, ProviderMock, Recorded};
use tests::{both_backends, Backend, TestDatabase};

use super::node::{api, create_org, Node, WAIT};

/// The provider timeout of the child; a claimed send's lease is three times this.
const PROVIDER_TIMEOUT: &str = "2s";

/// The child's channel settings: the provider stand-in on loopback, short timeouts and retries.
const CHANNEL_ENV: [(&str, &str); 4] = [
    ("BLAIGENT_CHANNEL_ALLOW_NETWORKS", "127.0.0.0/8"),
    ("BLAIGENT_CHANNEL_TIMEOUT", PROVIDER_TIMEOUT),
    ("BLAIGENT_CHANNEL_POLL_INTERVAL", "100ms"),
    ("BLAIGENT_CHANNEL_RETRY_SCHEDULE", "200ms,200ms,200ms,200ms"),
];

/// The provider requests carrying `text` as their SMS body.
fn with_body<'a>(requests: &'a [Recorded], text: &str) -> Vec<&'a Recorded> {
    requests
        .iter()
        .filter(|r| r.field("Body") == Some(text))
        .collect()
}

/// Posts an inbound SMS to the channel's messaging URL as Twilio would (signed).
async fn inbound_sms(node: &Node, channel: &Value, sid: &str, from: &str, text: &str) {
    // The URL is built from the request's host: the node's, whichever process answers.
    let messaging = channel["inbound_urls"]["messaging"].as_str().unwrap();
    let path = &messaging[messaging.find("/api/").expect("a path")..];
    let url = format!("{}{path}", node.base_url);
    let params = sms_payload(sid, from, text);
    let signature = engine::channels::twilio::signature(AUTH_TOKEN, &url, &params);
    let response = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&params).unwrap())
        .send()
        .await
        .expect("the webhook is answered");
    assert_eq!(response.status().as_u16(), 200);
}

/// The outbox rows of the channel (newest first) once none is pending any more.
async fn settled_outbox(node: &Node, key: &str, channel: &str) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = api(
            node,
            key,
            reqwest::Method::GET,
            &format!("/api/v1/dashboard/channels/{channel}/outbox"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() && items.iter().all(|i| i["status"] == "sent") {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never settled: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates the Twilio channel pointed at `mock`; returns the API's answer.
async fn create_channel(node: &Node, key: &str, mock: &ProviderMock) -> Value {
    let (status, channel) = api(
        node,
        key,
        reqwest::Method::POST,
        "/api/v1/dashboard/channels",
        Some(json!({
            "provider": "twilio",
            "name": "Support line",
            "address": OUR_NUMBER,
            "settings": {
                "account_id": ACCOUNT_SID,
                "api_base_url": mock.base_url,
                "handoff_number": HANDOFF_NUMBER,
            },
            "credentials": {"auth_token": AUTH_TOKEN},
        })),
    )
    .await;
    assert_eq!(status, 201, "{channel}");
    channel
}

/// A process killed while the agent's reply to `customer` was with the provider (which
/// answers per `provider`), and the process started after it on the same data.
struct AfterKill {
    db: TestDatabase,
    key: String,
    mock: ProviderMock,
    node: Node,
    channel_id: String,
    /// The first request the provider received: the reply.
    first: tests::provider_mock::Recorded,
}

/// An inbound SMS from `customer` is answered; when the reply reaches the provider (which
/// behaves as `provider`), the process is SIGKILLed and a new one started; the provider
/// accepts everything from then on.
async fn kill_while_replying(backend: Backend, provider: Behavior, customer: &str) -> AfterKill {
    let db = TestDatabase::create(backend).await.expect("a database");
    let (_org, key) = create_org(&db).await;
    let mock = ProviderMock::start().await;
    mock.set(provider);
    let node = Node::start(&db, &CHANNEL_ENV).await;
    let channel = create_channel(&node, &key, &mock).await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let sid = format!("SM{:0>32}", customer.trim_start_matches('+'));
    inbound_sms(&node, &channel, &sid, customer, "Hello!").await;
    let first = mock
        .wait_until(WAIT, "the reply to reach the provider", |r| !r.is_empty())
        .await
        .remove(0);
    assert_eq!(first.field("To"), Some(customer));
    node.kill().await;
    mock.set(Behavior::Accept);
    let node = Node::start(&db, &CHANNEL_ENV).await;
    AfterKill {
        db,
        key,
        mock,
        node,
        channel_id,
        first,
    }
}

async fn a_reply_in_flight_when_the_process_is_killed_is_sent_once_after_restart(backend: Backend) {
    // 1. The agent's reply is in flight (the provider holds the request) when SIGKILL lands.
    let AfterKill {
        db,
        key,
        mock,
        node,
        channel_id,
        first,
    } = kill_while_replying(backend, Behavior::Hang, "+15551230077").await;
    let reply = first.field("Body").expect("an SMS body").to_owned();
    let outbox = settled_outbox(&node, &key, &channel_id).await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    let requests = mock.requests();
    let sends = with_body(&requests, &reply);
    let delivered: Vec<_> = sends.iter().filter(|r| r.status == 201).collect();
    assert_eq!(delivered.len(), 1, "delivered exactly once: {sends:#?}");
    assert_eq!(
        sends.len(),
        2,
        "the cut-off attempt and one resend: {sends:#?}"
    );

    // 2. A human reply written just before a kill (queued or not yet) is sent once.
    let conversations = api(
        &node,
        &key,
        reqwest::Method::GET,
        // The only conversation of this fresh organization.
        "/api/v1/platform/conversations",
        None,
    )
    .await
    .1;
    let conversation = conversations["conversations"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a conversation: {conversations}"))
        .to_owned();
    mock.set(Behavior::Hang);
    let human = "Hi, this is Sam from support: your parcel left our warehouse today.";
    let (status, body) = api(
        &node,
        &key,
        reqwest::Method::POST,
        &format!("/api/v1/platform/conversations/{conversation}/assign"),
        Some(json!({"assignee": "sam@shop.example"})),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let (status, body) = api(
        &node,
        &key,
        reqwest::Method::POST,
        &format!("/api/v1/platform/conversations/{conversation}/messages"),
        Some(json!({"text": human, "author": "sam@shop.example"})),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    mock.wait_until(WAIT, "the human reply to reach the provider", |r| {
        !with_body(r, human).is_empty()
    })
    .await;
    node.kill().await;
    mock.set(Behavior::Accept);
    let node = Node::start(&db, &CHANNEL_ENV).await;
    let outbox = settled_outbox(&node, &key, &channel_id).await;
    assert_eq!(outbox.len(), 2, "{outbox:#?}");
    let requests = mock.requests();
    let sends = with_body(&requests, human);
    assert_eq!(
        sends.iter().filter(|r| r.status == 201).count(),
        1,
        "the human reply is delivered exactly once: {sends:#?}"
    );
    assert_eq!(
        with_body(&requests, &reply)
            .iter()
            .filter(|r| r.status == 201)
            .count(),
        1,
        "the first reply is not sent again"
    );
    node.kill().await;
}

/// Twilio accepted the reply, but the process was killed before its answer arrived. The next
/// process asks Twilio's message list before sending again, finds the reply there, and
/// records it as sent: the customer gets it once.
async fn a_reply_twilio_accepted_just_before_the_kill_is_not_sent_again(backend: Backend) {
    let AfterKill {
        db: _db,
        key,
        mock,
        node,
        channel_id,
        first: accepted,
    } = kill_while_replying(backend, Behavior::AcceptSilently, "+15551230078").await;
    let reply = accepted.field("Body").expect("an SMS body").to_owned();
    let outbox = settled_outbox(&node, &key, &channel_id).await;
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    let requests = mock.requests();
    assert_eq!(
        with_body(&requests, &reply).len(),
        1,
        "sent exactly once: {requests:#?}"
    );
    assert_eq!(
        outbox[0]["provider_message_id"].as_str(),
        accepted.message_id.as_deref(),
        "the send is recorded with the id Twilio gave it"
    );
    let lookups = mock.lookups();
    assert!(
        lookups.iter().any(|l| l.path.ends_with("/Messages.json")),
        "Twilio's message list was asked: {lookups:#?}"
    );
    node.kill().await;
}

both_backends!(
    a_reply_in_flight_when_the_process_is_killed_is_sent_once_after_restart,
    a_reply_twilio_accepted_just_before_the_kill_is_not_sent_again,
);
