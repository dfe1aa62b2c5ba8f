#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Meta channels end to end, against the real server and a loopback Graph API: WhatsApp
//! Cloud API (the subscription handshake, a full exchange, a duplicate delivery, signature
//! failures, status updates and other numbers ignored, media, an outage then recovery, a
//! permanent error code) and Instagram DMs (a story reply asking for a human, the handoff,
//! the human's inbox reply going out through the Send API, echoes ignored).
//!
//! Inbound payloads are the recorded shapes of Meta's webhook reference
//! (`tests/fixtures/channels/*.json`), signed as Meta signs them.

use std::time::Duration;

use serde_json::{json, Value};
use tests::channel_helpers::{
    conversations_of, messages_of, outbox, outbox_when_newest_is, spawn_channel_app,
};
use tests::provider_mock::{Behavior, ProviderMock, Recorded};
use tests::{both_backends, send_json, Backend, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const APP_SECRET: &str = "meta-test-app-secret";
const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAtest-access-token";
const VERIFY_TOKEN: &str = "meta-test-verify-token";
/// The business's WhatsApp phone number id (as in the fixtures).
const PHONE_NUMBER_ID: &str = "106540352242922";
/// The business's Instagram account id (as in the fixtures).
const IG_ACCOUNT: &str = "17841405822304914";
/// The customer in the WhatsApp fixtures.
const WA_CUSTOMER: &str = "16505551234";
/// The customer in the Instagram fixtures (an Instagram-scoped id).
const IG_CUSTOMER: &str = "1254459154682919";

fn fixture(name: &str) -> Value {
    let raw = match name {
        "whatsapp_text" => include_str!("../fixtures/channels/whatsapp_text.json"),
        "whatsapp_image" => include_str!("../fixtures/channels/whatsapp_image.json"),
        "whatsapp_status" => include_str!("../fixtures/channels/whatsapp_status.json"),
        "instagram_story_reply" => include_str!("../fixtures/channels/instagram_story_reply.json"),
        "instagram_echo" => include_str!("../fixtures/channels/instagram_echo.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(raw).unwrap()
}

/// The WhatsApp text fixture with another message id and text.
fn whatsapp_text(id: &str, text: &str) -> Value {
    let mut payload = fixture("whatsapp_text");
    let message = payload
        .pointer_mut("/entry/0/changes/0/value/messages/0")
        .unwrap();
    message["id"] = json!(id);
    message["text"]["body"] = json!(text);
    payload
}

async fn create_meta_channel(app: &TestApp, mock: &ProviderMock, provider: &str) -> Value {
    let account = if provider == "meta_whatsapp" {
        PHONE_NUMBER_ID
    } else {
        IG_ACCOUNT
    };
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": provider,
        "name": "Meta",
        "address": "+15550783881",
        "settings": {"account_id": account, "api_base_url": mock.base_url},
        "credentials": {
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
        },
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn webhook_url(channel: &Value) -> String {
    channel["inbound_urls"]["webhook"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// POSTs `payload` to `url` signed with `secret` as Meta does (`None`: no signature header).
async fn post_meta(
    app: &TestApp,
    url: &str,
    payload: &Value,
    secret: Option<&str>,
) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let mut request = app
        .client
        .post(url)
        .header("Content-Type", "application/json");
    if let Some(secret) = secret {
        request = request.header(
            "X-Hub-Signature-256",
            engine::channels::meta::signature::sign(secret, &body),
        );
    }
    send_json(request.body(body)).await
}

fn graph_body(request: &Recorded) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

async fn whatsapp_handshake_exchange_duplicate_and_signature_failure(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_meta_channel(&app, &mock, "meta_whatsapp").await;
    let body = channel.to_string();
    assert!(
        !body.contains(APP_SECRET) && !body.contains(ACCESS_TOKEN),
        "{body}"
    );
    let url = webhook_url(&channel);
    assert!(
        url.starts_with(&app.base_url) && url.ends_with("/meta"),
        "{url}"
    );

    // The subscription handshake echoes the challenge only for the configured token.
    let handshake = |token: &str| {
        format!("{url}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}")
    };
    let response = app
        .client
        .get(handshake(VERIFY_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let response = app.client.get(handshake("guess")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // A text message: answered through the Graph API, from the channel's number.
    let payload = whatsapp_text("wamid.TEST0001", "Hello!");
    let (status, body) = post_meta(&app, &url, &payload, Some(APP_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["processed"], 1, "{body}");
    let sent = mock
        .wait_until(WAIT, "the WhatsApp reply", |r| !r.is_empty())
        .await;
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        sent[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {ACCESS_TOKEN}")
    );
    assert_eq!(
        graph_body(&sent[0]),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": WA_CUSTOMER,
            "type": "text",
            "text": {"preview_url": false, "body": "Hi! How can I help you today?"}
        })
    );

    // Meta retries the same delivery: answered once, not sent again.
    let (status, body) = post_meta(&app, &url, &payload, Some(APP_SECRET)).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicates"], 1, "{body}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 1, "the duplicate was answered twice");
    let customer = format!("phone:+{WA_CUSTOMER}");
    let conversations = conversations_of(&app, &customer).await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["channel"], "whatsapp");
    assert_eq!(conversations[0]["message_count"], 2);

    // Forged, unsigned and tampered deliveries are refused and change nothing.
    let forged = whatsapp_text("wamid.TEST0002", "Refund me now");
    let (status, body) = post_meta(&app, &url, &forged, Some("not-the-secret")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    let (status, _) = post_meta(&app, &url, &forged, None).await;
    assert_eq!(status, 403);
    let signed = serde_json::to_vec(&payload).unwrap();
    let tampered = String::from_utf8(signed.clone())
        .unwrap()
        .replace("Hello!", "Refund!");
    let response = app
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header(
            "X-Hub-Signature-256",
            engine::channels::meta::signature::sign(APP_SECRET, &signed),
        )
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // Status receipts and messages to another number of the same Meta app are not answered.
    let (status, body) = post_meta(&app, &url, &fixture("whatsapp_status"), Some(APP_SECRET)).await;
    assert_eq!(
        (status, body["processed"].clone()),
        (200, json!(0)),
        "{body}"
    );
    let mut elsewhere = whatsapp_text("wamid.TEST0003", "Hello!");
    elsewhere["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999");
    let (status, body) = post_meta(&app, &url, &elsewhere, Some(APP_SECRET)).await;
    assert_eq!(
        (status, body["processed"].clone()),
        (200, json!(0)),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 1);
    let conversations = conversations_of(&app, &customer).await;
    assert_eq!(conversations[0]["message_count"], 2);

    // The agent's stored reply records the delivery and Meta's message id.
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["text"], "Hello!");
    assert_eq!(
        messages[1]["metadata"]["delivery"]["status"], "sent",
        "{:?}",
        messages[1]
    );
    assert!(messages[1]["metadata"]["delivery"]["provider_message_id"]
        .as_str()
        .unwrap()
        .starts_with("wamid."));
}

async fn whatsapp_media_outage_then_recovery_and_error_codes(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_meta_channel(&app, &mock, "meta_whatsapp").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let url = webhook_url(&channel);
    // The Graph API is down.
    mock.set(Behavior::Fail {
        status: 503,
        body: r#"{"error":{"message":"(#131016) Service unavailable","type":"OAuthException","code":131016,"fbtrace_id":"AbC"}}"#.into(),
    });

    let (status, body) = post_meta(&app, &url, &fixture("whatsapp_image"), Some(APP_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    mock.wait_until(WAIT, "two failed attempts", |r| r.len() >= 2)
        .await;
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        matches!(rows[0]["status"].as_str(), Some("failed" | "sending")),
        "{rows:?}"
    );

    // It recovers: the reply goes out once.
    mock.set(Behavior::Accept);
    let all = mock
        .wait_until(WAIT, "a successful send", |r| {
            r.iter().any(|x| x.status == 201)
        })
        .await;
    let accepted: Vec<&Recorded> = all.iter().filter(|r| r.status == 201).collect();
    let body = graph_body(accepted[0]);
    assert_eq!(body["to"], WA_CUSTOMER);
    assert!(!body["text"]["body"].as_str().unwrap().is_empty(), "{body}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.accepted().len(), 1, "sent more than once");
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows[0]["status"], "sent", "{rows:?}");
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 3, "{rows:?}");

    // The caption is what the agent read; the media id is kept on the customer's message.
    let conversations = conversations_of(&app, &format!("phone:+{WA_CUSTOMER}")).await;
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["text"], "The box arrived broken");
    assert_eq!(
        messages[0]["metadata"]["media"][0]["url"],
        "meta-media:1003383421387256"
    );
    assert_eq!(
        messages[0]["metadata"]["media"][0]["content_type"],
        "image/jpeg"
    );

    // A closed 24-hour window is permanent: not retried, Meta's code recorded.
    mock.set(Behavior::Fail {
        status: 400,
        body: r#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},"fbtrace_id":"AbD"}}"#.into(),
    });
    let before = mock.requests().len();
    let late = whatsapp_text("wamid.TEST0101", "Are you there?");
    let (status, _) = post_meta(&app, &url, &late, Some(APP_SECRET)).await;
    assert_eq!(status, 200);
    mock.wait_until(WAIT, "the refused send", |r| r.len() > before)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        mock.requests().len(),
        before + 1,
        "a permanent error was retried"
    );
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows[0]["status"], "dead", "{rows:?}");
    assert_eq!(rows[0]["last_error_code"], "131047");
    assert_eq!(rows[0]["last_status_code"], 400);
    assert!(
        rows[0]["last_error"].as_str().unwrap().contains("24 hours"),
        "{rows:?}"
    );
}

async fn instagram_story_reply_handoff_and_human_reply(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_meta_channel(&app, &mock, "meta_instagram").await;
    let url = webhook_url(&channel);

    // The business's own messages come back as echoes: never answered.
    let (status, body) = post_meta(&app, &url, &fixture("instagram_echo"), Some(APP_SECRET)).await;
    assert_eq!(
        (status, body["processed"].clone()),
        (200, json!(0)),
        "{body}"
    );

    // A story reply asking for a person.
    let mut payload = fixture("instagram_story_reply");
    payload["entry"][0]["messaging"][0]["message"]["text"] = json!("I want to talk to a human");
    let (status, body) = post_meta(&app, &url, &payload, Some(APP_SECRET)).await;
    assert_eq!(
        (status, body["processed"].clone()),
        (200, json!(1)),
        "{body}"
    );
    let sent = mock
        .wait_until(WAIT, "the handoff reply", |r| !r.is_empty())
        .await;
    assert_eq!(sent[0].path, "/v21.0/me/messages");
    let first = graph_body(&sent[0]);
    assert_eq!(first["recipient"]["id"], IG_CUSTOMER);
    let text = first["message"]["text"].as_str().unwrap();
    assert!(!text.is_empty() && text.len() < 1000, "{first}");

    let customer = format!("instagram:{IG_CUSTOMER}");
    let conversations = conversations_of(&app, &customer).await;
    assert_eq!(conversations[0]["channel"], "instagram");
    assert_eq!(
        conversations[0]["status"], "pending_human",
        "{conversations:?}"
    );
    let id = conversations[0]["id"].as_str().unwrap();

    // The human's inbox reply goes out on Instagram, once.
    let (status, body) = send_json(
        app.post(&format!("/api/v1/platform/conversations/{id}/messages"))
            .json(&json!({"text": "Hi, Sam here: yes, it is in stock in all sizes.", "author": "Sam"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sent = mock
        .wait_until(WAIT, "the human reply", |r| r.len() >= 2)
        .await;
    assert_eq!(
        graph_body(&sent[1]),
        json!({
            "recipient": {"id": IG_CUSTOMER},
            "message": {"text": "Hi, Sam here: yes, it is in stock in all sizes."}
        })
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.requests().len(), 2, "the human reply was sent twice");

    // A WhatsApp payload at the Instagram channel's URL is not this channel's.
    let (status, body) = post_meta(
        &app,
        &url,
        &whatsapp_text("wamid.X", "Hello!"),
        Some(APP_SECRET),
    )
    .await;
    assert_eq!(
        (status, body["processed"].clone()),
        (200, json!(0)),
        "{body}"
    );
}

/// The Graph API accepts the reply but its answer never arrives (the attempt times out).
/// Meta offers no way to ask what was delivered, so the reply is not sent a second time: the
/// send ends `unconfirmed` and the message's delivery says so.
async fn an_unanswered_whatsapp_send_is_not_repeated(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_meta_channel(&app, &mock, "meta_whatsapp").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let url = webhook_url(&channel);
    mock.set(Behavior::AcceptSilently);
    let (status, body) = post_meta(&app, &url, &fixture("whatsapp_text"), Some(APP_SECRET)).await;
    assert_eq!(status, 200, "{body}");
    mock.wait_until(WAIT, "the reply to reach the Graph API", |r| !r.is_empty())
        .await;
    mock.set(Behavior::Accept);

    let rows = outbox_when_newest_is(&app, &channel_id, "unconfirmed", WAIT).await;
    assert_eq!(rows[0]["in_doubt"], true, "{rows:?}");
    assert!(
        rows[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("not sent again"),
        "{rows:?}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 1, "the reply was sent twice");
    let conversations = conversations_of(&app, &format!("phone:+{WA_CUSTOMER}")).await;
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        messages[1]["metadata"]["delivery"]["status"], "unconfirmed",
        "{messages:?}"
    );
}

both_backends!(
    whatsapp_handshake_exchange_duplicate_and_signature_failure,
    whatsapp_media_outage_then_recovery_and_error_codes,
    instagram_story_reply_handoff_and_human_reply,
    an_unanswered_whatsapp_send_is_not_repeated,
);
