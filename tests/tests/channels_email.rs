#![allow(clippy::unwrap_used, clippy::expect_used)]
//! E-mail through Mailgun end to end, against the real server and a loopback messages API:
//! a full exchange whose reply is threaded (`In-Reply-To`, `References`, `Re:`) and quotes the
//! customer below the answer, the follow-up in the same conversation, a duplicate delivery,
//! forged / stale / replayed signatures, an attachment, an outage then recovery, and a handoff
//! whose human reply goes out threaded.
//!
//! Inbound requests are multipart forms with the fields of Mailgun's inbound-route `forward()`
//! POST, signed as Mailgun signs them (HMAC-SHA256 of timestamp + token).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tests::channel_helpers::{
    conversations_of, messages_of, outbox, outbox_when_newest_is, spawn_channel_app,
};
use tests::provider_mock::{Behavior, ProviderMock, Recorded};
use tests::{both_backends, send_json, Backend, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const API_KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const SIGNING_KEY: &str = "mailgun-test-signing-key";
const DOMAIN: &str = "mg.shop.example";
const SUPPORT: &str = "support@shop.example";
const CUSTOMER: &str = "dana@customer.example";
const FIRST_ID: &str = "<CAF=first.1042@mail.customer.example>";

async fn create_mailgun_channel(app: &TestApp, mock: &ProviderMock) -> Value {
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": "mailgun",
        "name": "Support mail",
        "address": SUPPORT,
        "settings": {"account_id": DOMAIN, "from_name": "Shop Support", "api_base_url": mock.base_url},
        "credentials": {"api_key": API_KEY, "signing_key": SIGNING_KEY},
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn route_url(channel: &Value) -> String {
    channel["inbound_urls"]["inbound_route"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A fresh 50-character token, as Mailgun generates one per request.
fn token() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{:050}",
        N.fetch_add(1, Ordering::SeqCst) + now_secs() as usize * 1000
    )
}

/// One e-mail as an inbound route forwards it.
struct Mail<'a> {
    message_id: &'a str,
    text: &'a str,
    subject: &'a str,
    in_reply_to: Option<&'a str>,
    references: Option<&'a str>,
    attachment: Option<(&'a str, &'a str)>,
}

impl<'a> Mail<'a> {
    fn new(message_id: &'a str, text: &'a str) -> Self {
        Mail {
            message_id,
            text,
            subject: "Where is my order?",
            in_reply_to: None,
            references: None,
            attachment: None,
        }
    }
}

/// The signature fields: (timestamp, token, signature) under `key`.
fn signed(key: &str, timestamp: i64, token: &str) -> (String, String, String) {
    let ts = timestamp.to_string();
    let sig = engine::channels::mailgun::signature::sign(key, &ts, token);
    (ts, token.to_owned(), sig)
}

async fn post_mail(
    app: &TestApp,
    url: &str,
    mail: &Mail<'_>,
    signature: (String, String, String),
) -> (u16, Value) {
    let (timestamp, token, sig) = signature;
    let mut headers = vec![
        json!(["Received", "by mxa.mailgun.org with SMTP"]),
        json!(["From", format!("Dana Smith <{CUSTOMER}>")]),
        json!(["Subject", mail.subject]),
        json!(["Message-Id", mail.message_id]),
    ];
    let mut form = reqwest::multipart::Form::new()
        .text("recipient", SUPPORT)
        .text("sender", CUSTOMER)
        .text("from", format!("Dana Smith <{CUSTOMER}>"))
        .text("From", format!("Dana Smith <{CUSTOMER}>"))
        .text("To", SUPPORT)
        .text("subject", mail.subject.to_owned())
        .text("Subject", mail.subject.to_owned())
        .text(
            "body-plain",
            format!("{}\n\n-- \nSent from my phone", mail.text),
        )
        .text("stripped-text", mail.text.to_owned())
        .text("stripped-signature", "Sent from my phone")
        .text("Message-Id", mail.message_id.to_owned());
    if let Some(id) = mail.in_reply_to {
        form = form.text("In-Reply-To", id.to_owned());
        headers.push(json!(["In-Reply-To", id]));
    }
    if let Some(refs) = mail.references {
        form = form.text("References", refs.to_owned());
        headers.push(json!(["References", refs]));
    }
    if let Some((name, content_type)) = mail.attachment {
        form = form.text("attachment-count", "1").part(
            "attachment-1",
            // 2 MiB: more than the server-wide body limit, well within an e-mail's.
            reqwest::multipart::Part::bytes(
                [b"%PDF-1.4 ".to_vec(), vec![b'x'; 2 * 1024 * 1024]].concat(),
            )
            .file_name(name.to_owned())
            .mime_str(content_type)
            .unwrap(),
        );
    }
    let form = form
        .text("message-headers", Value::Array(headers).to_string())
        .text("timestamp", timestamp)
        .text("token", token)
        .text("signature", sig);
    send_json(app.client.post(url).multipart(form)).await
}

async fn post_signed(app: &TestApp, url: &str, mail: &Mail<'_>) -> (u16, Value) {
    post_mail(app, url, mail, signed(SIGNING_KEY, now_secs(), &token())).await
}

async fn email_exchange_threaded_quoted_duplicate_and_signature_failures(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_mailgun_channel(&app, &mock).await;
    assert!(!channel.to_string().contains(API_KEY), "{channel}");
    let url = route_url(&channel);
    assert!(
        url.starts_with(&app.base_url) && url.ends_with("/mailgun"),
        "{url}"
    );

    let first = Mail::new(FIRST_ID, "Hello!");
    let (status, body) = post_signed(&app, &url, &first).await;
    assert_eq!(status, 200, "{body}");
    let sent = mock
        .wait_until(WAIT, "the e-mail reply", |r| !r.is_empty())
        .await;
    let reply = &sent[0];
    assert_eq!(reply.method, "POST");
    assert_eq!(reply.path, format!("/v3/{DOMAIN}/messages"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{API_KEY}"));
    assert_eq!(
        reply
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Basic {basic}")
    );
    assert_eq!(
        reply.field("from"),
        Some(format!("Shop Support <{SUPPORT}>").as_str())
    );
    assert_eq!(reply.field("to"), Some(CUSTOMER));
    assert_eq!(reply.field("subject"), Some("Re: Where is my order?"));
    assert_eq!(reply.field("h:In-Reply-To"), Some(FIRST_ID));
    assert_eq!(reply.field("h:References"), Some(FIRST_ID));
    // Greeting, the answer in full sentences, sign-off, then the customer's text quoted.
    let text = reply.field("text").unwrap();
    assert!(text.starts_with("Hello Dana Smith,\n\n"), "{text}");
    assert!(text.contains("Hi! How can I help you today?"), "{text}");
    assert!(text.contains("\n\nBest regards,\n"), "{text}");
    assert!(
        text.ends_with(&format!(" Dana Smith <{CUSTOMER}> wrote:\n> Hello!")),
        "{text}"
    );
    let (answer, quote) = text.split_once("\n\nOn ").unwrap();
    assert!(!answer.contains("> Hello!") && quote.contains("> Hello!"));

    // The same e-mail delivered again (re-signed): answered once.
    let (status, body) = post_signed(&app, &url, &first).await;
    assert_eq!(
        (status, body["duplicate"].clone()),
        (200, json!(true)),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 1, "the duplicate was answered twice");

    // Forged, stale and replayed signatures are refused; nothing is stored or sent.
    let forged = Mail::new("<forged.1@mail.customer.example>", "Refund me now");
    let (status, body) = post_mail(
        &app,
        &url,
        &forged,
        signed("not-the-key", now_secs(), &token()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    let (status, _) = post_mail(
        &app,
        &url,
        &forged,
        signed(SIGNING_KEY, now_secs() - 3600, &token()),
    )
    .await;
    assert_eq!(status, 403, "a stale timestamp was accepted");
    let reused = signed(SIGNING_KEY, now_secs(), &token());
    let (status, _) = post_mail(
        &app,
        &url,
        &Mail::new("<replay.1@mail.customer.example>", "Hello!"),
        reused.clone(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_mail(&app, &url, &forged, reused).await;
    assert_eq!(status, 403, "a replayed token was accepted");
    mock.wait_until(WAIT, "the reply to the replay probe", |r| r.len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 2);
    assert!(mock
        .requests()
        .iter()
        .all(|r| !r.field("text").unwrap().contains("Refund me now")));

    // The customer answers our reply: same conversation, the thread grows.
    // Our reply's Message-Id is the id Mailgun answered with (the mock's first id).
    let our_id = "<1@mock.provider>";
    let references = format!("{FIRST_ID} {our_id}");
    let follow_up = Mail {
        subject: "Re: Where is my order?",
        in_reply_to: Some(our_id),
        references: Some(&references),
        ..Mail::new(
            "<CAF=second.1042@mail.customer.example>",
            "Thanks, that helps.",
        )
    };
    let (status, body) = post_signed(&app, &url, &follow_up).await;
    assert_eq!(status, 200, "{body}");
    let sent = mock
        .wait_until(WAIT, "the second reply", |r| r.len() >= 3)
        .await;
    let second = &sent[2];
    assert_eq!(second.field("subject"), Some("Re: Where is my order?"));
    assert_eq!(
        second.field("h:In-Reply-To"),
        Some("<CAF=second.1042@mail.customer.example>")
    );
    assert_eq!(
        second.field("h:References"),
        Some(format!("{FIRST_ID} {our_id} <CAF=second.1042@mail.customer.example>").as_str())
    );
    assert!(second
        .field("text")
        .unwrap()
        .ends_with("> Thanks, that helps."));

    let conversations = conversations_of(&app, &format!("email:{CUSTOMER}")).await;
    let threaded: Vec<&Value> = conversations
        .iter()
        .filter(|c| c["message_count"] == 4)
        .collect();
    assert_eq!(threaded.len(), 1, "{conversations:?}");
    assert_eq!(threaded[0]["channel"], "email");
    let messages = messages_of(&app, threaded[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["text"], "Hello!");
    assert_eq!(messages[2]["text"], "Thanks, that helps.");
    assert_eq!(
        messages[1]["metadata"]["delivery"]["status"], "sent",
        "{:?}",
        messages[1]
    );
    assert_eq!(
        messages[1]["metadata"]["delivery"]["provider_message_id"],
        "<1@mock.provider>"
    );
}

async fn email_attachment_outage_recovery_and_handoff(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_mailgun_channel(&app, &mock).await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let url = route_url(&channel);
    mock.set(Behavior::Fail {
        status: 503,
        body: "Service Unavailable".into(),
    });

    // An e-mail with an attachment while Mailgun is down.
    let mail = Mail {
        attachment: Some(("receipt.pdf", "application/pdf")),
        ..Mail::new(
            "<CAF=att.7@mail.customer.example>",
            "My receipt is attached.",
        )
    };
    let (status, body) = post_signed(&app, &url, &mail).await;
    assert_eq!(status, 200, "{body}");
    mock.wait_until(WAIT, "two failed attempts", |r| r.len() >= 2)
        .await;
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        matches!(rows[0]["status"].as_str(), Some("failed" | "sending")),
        "{rows:?}"
    );
    assert_eq!(rows[0]["last_status_code"], 503, "{rows:?}");

    // Recovery: the reply goes out once, still threaded.
    mock.set(Behavior::Accept);
    let all = mock
        .wait_until(WAIT, "a successful send", |r| {
            r.iter().any(|x| x.status == 201)
        })
        .await;
    let accepted: Vec<&Recorded> = all.iter().filter(|r| r.status == 201).collect();
    assert_eq!(
        accepted[0].field("h:In-Reply-To"),
        Some("<CAF=att.7@mail.customer.example>")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.accepted().len(), 1, "sent more than once");
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows[0]["status"], "sent", "{rows:?}");
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 3, "{rows:?}");
    let conversations = conversations_of(&app, &format!("email:{CUSTOMER}")).await;
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        messages[0]["text"],
        "My receipt is attached.\n[attachment: receipt.pdf]"
    );

    // A new e-mail asking for a person: handed off; the human's reply goes out threaded.
    let mut ask = Mail::new(
        "<CAF=human.9@mail.customer.example>",
        "I want to talk to a human",
    );
    ask.subject = "Damaged parcel";
    let (status, _) = post_signed(&app, &url, &ask).await;
    assert_eq!(status, 200);
    mock.wait_until(WAIT, "the handoff reply", |r| {
        r.iter().filter(|x| x.status == 201).count() >= 2
    })
    .await;
    let conversations = conversations_of(&app, &format!("email:{CUSTOMER}")).await;
    let handed: Vec<&Value> = conversations
        .iter()
        .filter(|c| c["status"] == "pending_human")
        .collect();
    assert_eq!(handed.len(), 1, "{conversations:?}");
    let id = handed[0]["id"].as_str().unwrap();
    let (status, body) = send_json(
        app.post(&format!("/api/v1/platform/conversations/{id}/messages"))
            .json(
                &json!({"text": "Hi Dana, Sam here. A replacement ships today.", "author": "Sam"}),
            ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sent = mock
        .wait_until(WAIT, "the human reply", |r| {
            r.iter().filter(|x| x.status == 201).count() >= 3
        })
        .await;
    let human = sent.iter().filter(|x| x.status == 201).nth(2).unwrap();
    assert_eq!(human.field("to"), Some(CUSTOMER));
    assert_eq!(human.field("subject"), Some("Re: Damaged parcel"));
    assert_eq!(
        human.field("h:In-Reply-To"),
        Some("<CAF=human.9@mail.customer.example>")
    );
    assert_eq!(
        human.field("text"),
        Some("Hi Dana, Sam here. A replacement ships today.")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.accepted().len(), 3, "the human reply was sent twice");
}

/// Mailgun accepts the reply but its answer never arrives (the attempt times out). The next
/// attempt asks Mailgun's event log for the send's id first, finds it, and records the send
/// as delivered instead of mailing the customer a second copy.
async fn an_unanswered_send_is_found_in_mailgun_and_not_sent_twice(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_mailgun_channel(&app, &mock).await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let url = route_url(&channel);
    mock.set(Behavior::AcceptSilently);
    let mail = Mail::new("<CAF=doubt.1@mail.customer.example>", "Hello!");
    let (status, body) = post_signed(&app, &url, &mail).await;
    assert_eq!(status, 200, "{body}");
    mock.wait_until(WAIT, "the reply to reach Mailgun", |r| !r.is_empty())
        .await;
    mock.set(Behavior::Accept);

    let rows = outbox_when_newest_is(&app, &channel_id, "sent", WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sends = mock.requests();
    assert_eq!(sends.len(), 1, "sent more than once: {sends:#?}");
    assert_eq!(
        sends[0].field("v:blaigent-send-id"),
        rows[0]["id"].as_str(),
        "the send carries its id for the lookup"
    );
    let lookups = mock.lookups();
    assert!(
        lookups.iter().any(|l| l.path.ends_with("/events")),
        "Mailgun's event log was asked: {lookups:#?}"
    );
    assert_eq!(
        rows[0]["provider_message_id"], "<1@mock.provider>",
        "{rows:?}"
    );
    assert_eq!(rows[0]["in_doubt"], false, "{rows:?}");
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 2, "{rows:?}");
}

both_backends!(
    email_exchange_threaded_quoted_duplicate_and_signature_failures,
    email_attachment_outage_recovery_and_handoff,
    an_unanswered_send_is_found_in_mailgun_and_not_sent_twice,
);
