//! Helpers for channel tests: a server whose channel queue retries fast and may reach the
//! loopback provider mock, a Twilio channel pointed at that mock, and signed Twilio webhook
//! requests in the form Twilio sends them.

use std::time::Duration;

use engine::webhooks::RetrySchedule;
use serde_json::{json, Value};

use crate::provider_mock::ProviderMock;
use crate::{send_json, spawn_app_with, Backend, TestApp};

/// The Twilio auth token of the test channel.
pub const AUTH_TOKEN: &str = "twilio-test-auth-token";
/// The Twilio Account SID of the test channel.
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
/// The organization's Twilio number.
pub const OUR_NUMBER: &str = "+14155550100";
/// Where voice handoffs are dialled.
pub const HANDOFF_NUMBER: &str = "+14155550199";

/// A server whose channel sends retry every 100 ms, may reach loopback, and poll every 50 ms.
pub async fn spawn_channel_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.channels.allow_networks = vec!["127.0.0.0/8"
            .parse()
            .unwrap_or_else(|e| panic!("a network: {e}"))];
        config.channels.schedule = RetrySchedule::new(vec![Duration::from_millis(100); 6], 0.0);
        config.channels.poll_interval = Duration::from_millis(50);
        config.channels.timeout = Duration::from_secs(5);
    })
    .await
}

/// Creates a Twilio channel pointed at `mock`; returns the API's response.
pub async fn create_twilio_channel(app: &TestApp, mock: &ProviderMock) -> Value {
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": "twilio",
        "name": "Support line",
        "address": OUR_NUMBER,
        "settings": {
            "account_id": ACCOUNT_SID,
            "api_base_url": mock.base_url,
            "handoff_number": HANDOFF_NUMBER,
        },
        "credentials": {"auth_token": AUTH_TOKEN},
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The pairs of a form, owned.
pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An inbound SMS as Twilio posts it (field set of a real messaging webhook).
pub fn sms_payload(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    pairs(&[
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", OUR_NUMBER),
        ("ToZip", "94105"),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// POSTs `params` to `url` signed with `token` as Twilio does; returns status and body text.
pub async fn post_twilio(
    app: &TestApp,
    url: &str,
    params: &[(String, String)],
    token: &str,
) -> (u16, String) {
    let signature = engine::channels::twilio::signature(token, url, params);
    let response = app
        .client
        .post(url)
        .header("X-Twilio-Signature", signature)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(params).unwrap_or_else(|e| panic!("a form: {e}")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("sending a Twilio webhook: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Parses TwiML, panicking with the document when it is not well-formed XML with a
/// `<Response>` root.
pub fn parse_twiml(xml: &str) -> roxmltree::Document<'_> {
    let doc =
        roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("invalid XML ({e}): {xml}"));
    assert_eq!(doc.root_element().tag_name().name(), "Response", "{xml}");
    doc
}

/// The organization's conversations of `customer_id`.
pub async fn conversations_of(app: &TestApp, customer_id: &str) -> Vec<Value> {
    let (status, body) = send_json(app.get(&format!(
        "/api/v1/platform/conversations?customer_id={}",
        customer_id.replace('+', "%2B").replace(':', "%3A")
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The messages of a conversation.
pub async fn messages_of(app: &TestApp, conversation: &str) -> Vec<Value> {
    let (status, body) = send_json(app.get(&format!(
        "/api/v1/platform/conversations/{conversation}/messages"
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// The channel's outbox, newest first.
pub async fn outbox(app: &TestApp, channel: &str) -> Vec<Value> {
    let (status, body) =
        send_json(app.get(&format!("/api/v1/dashboard/channels/{channel}/outbox"))).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The channel's outbox once its newest send has `status`; panics after `timeout`.
pub async fn outbox_when_newest_is(
    app: &TestApp,
    channel: &str,
    status: &str,
    timeout: Duration,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let rows = outbox(app, channel).await;
        if rows.first().is_some_and(|r| r["status"] == status) {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the newest send never became {status}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
