#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Twilio channels end to end, against the real server and a loopback Twilio REST API:
//! SMS (a full exchange, a duplicate delivery, a signature failure), WhatsApp (media, a
//! provider outage then recovery, a permanent error code), handoff with the human's inbox
//! reply going out by SMS, and a scripted voice call whose every answer is valid TwiML.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use tests::channel_helpers::*;
use tests::provider_mock::{Behavior, ProviderMock};
use tests::{both_backends, send_json, Backend};

const WAIT: Duration = Duration::from_secs(15);

fn messaging_url(channel: &serde_json::Value) -> String {
    channel["inbound_urls"]["messaging"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn sms_full_exchange_duplicate_and_signature_failure(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    // Credentials are write-only.
    assert!(!channel.to_string().contains(AUTH_TOKEN), "{channel}");
    assert_eq!(channel["credentials_set"], json!(["auth_token"]));
    let url = messaging_url(&channel);
    assert!(
        url.starts_with(&app.base_url) && url.ends_with("/twilio/messages"),
        "{url}"
    );

    let customer = "+15551230001";
    let payload = sms_payload("SM0000000000000000000000000000a001", customer, "Hello!");
    let (status, body) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200, "{body}");
    let doc = parse_twiml(&body);
    assert_eq!(
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .count(),
        0,
        "{body}"
    );

    let sent = mock
        .wait_until(WAIT, "the SMS reply", |r| !r.is_empty())
        .await;
    let reply = &sent[0];
    assert_eq!(reply.method, "POST");
    assert_eq!(
        reply.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    );
    assert_eq!(reply.field("To"), Some(customer));
    assert_eq!(reply.field("From"), Some(OUR_NUMBER));
    assert_eq!(reply.field("Body"), Some("Hi! How can I help you today?"));
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(
        reply
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Basic {basic}")
    );

    // Twilio retries the same delivery: answered, not run again, not sent again.
    let (status, _) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.requests().len(), 1, "the duplicate was answered twice");
    let conversations = conversations_of(&app, &format!("phone:{customer}")).await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["channel"], "sms");
    assert_eq!(conversations[0]["message_count"], 2);

    // A forged request (wrong token) is refused and changes nothing.
    let forged = sms_payload(
        "SM0000000000000000000000000000a002",
        customer,
        "Refund me now",
    );
    let (status, body) = post_twilio(&app, &url, &forged, "not-the-token").await;
    assert_eq!(status, 403, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("signature"),
        "{detail}"
    );
    // A missing signature too.
    let response = app
        .client
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&forged).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.requests().len(), 1);
    let conversations = conversations_of(&app, &format!("phone:{customer}")).await;
    assert_eq!(conversations[0]["message_count"], 2);

    // The next message continues the same conversation.
    let next = sms_payload(
        "SM0000000000000000000000000000a003",
        customer,
        "**Thanks** a lot",
    );
    let (status, _) = post_twilio(&app, &url, &next, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    let sent = mock
        .wait_until(WAIT, "the second reply", |r| r.len() >= 2)
        .await;
    let body = sent[1].field("Body").unwrap();
    assert!(
        !body.contains("**") && body.chars().count() <= 306,
        "{body}"
    );
    let conversations = conversations_of(&app, &format!("phone:{customer}")).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["message_count"], 4);

    // The agent's stored message records the delivery.
    let id = conversations[0]["id"].as_str().unwrap();
    let messages = messages_of(&app, id).await;
    let first_reply = &messages[1];
    assert_eq!(first_reply["role"], "agent");
    assert_eq!(
        first_reply["metadata"]["delivery"]["status"], "sent",
        "{first_reply}"
    );
    assert!(first_reply["metadata"]["delivery"]["provider_message_id"]
        .as_str()
        .unwrap()
        .starts_with("SM"));
}

async fn whatsapp_media_outage_then_recovery_and_error_codes(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let url = messaging_url(&channel);
    mock.set(Behavior::Fail {
        status: 503,
        body: r#"{"code": 20503, "message": "Service unavailable", "status": 503}"#.into(),
    });

    let customer = "whatsapp:+15551230002";
    let payload = pairs(&[
        ("SmsMessageSid", "MM0000000000000000000000000000b001"),
        ("NumMedia", "1"),
        ("ProfileName", "Dana"),
        ("MessageType", "image"),
        ("SmsSid", "MM0000000000000000000000000000b001"),
        ("WaId", "15551230002"),
        ("SmsStatus", "received"),
        ("Body", ""),
        ("To", &format!("whatsapp:{OUR_NUMBER}")),
        ("NumSegments", "1"),
        ("MessageSid", "MM0000000000000000000000000000b001"),
        ("AccountSid", ACCOUNT_SID),
        ("From", customer),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        ),
        ("MediaContentType0", "image/jpeg"),
        ("ApiVersion", "2010-04-01"),
    ]);
    let (status, body) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200, "{body}");

    // The provider is down: the send is retried, and kept.
    mock.wait_until(WAIT, "two failed attempts", |r| r.len() >= 2)
        .await;
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        matches!(rows[0]["status"].as_str(), Some("failed" | "sending")),
        "{rows:?}"
    );

    // It recovers: the reply goes out once, to the WhatsApp number, from ours.
    mock.set(Behavior::Accept);
    let all = mock
        .wait_until(WAIT, "a successful send", |r| {
            r.iter().any(|x| x.status == 201)
        })
        .await;
    let accepted: Vec<_> = all.iter().filter(|r| r.status == 201).collect();
    assert_eq!(accepted[0].field("To"), Some(customer));
    assert_eq!(
        accepted[0].field("From"),
        Some(format!("whatsapp:{OUR_NUMBER}").as_str())
    );
    assert!(!accepted[0].field("Body").unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(mock.accepted().len(), 1, "sent more than once");
    let rows = outbox(&app, &channel_id).await;
    assert_eq!(rows[0]["status"], "sent", "{rows:?}");
    assert!(rows[0]["attempts"].as_i64().unwrap() >= 3, "{rows:?}");

    // The media link is on the customer's stored message.
    let conversations = conversations_of(&app, "phone:+15551230002").await;
    assert_eq!(conversations[0]["channel"], "whatsapp");
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["text"], "[sent an attachment: image/jpeg]");
    assert_eq!(
        messages[0]["metadata"]["media"][0]["url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    );

    // A permanent error (an invalid number) is not retried; Twilio's code is recorded.
    mock.set(Behavior::Fail {
        status: 400,
        body: r#"{"code": 21211, "message": "The 'To' number is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#.into(),
    });
    let before = mock.requests().len();
    let next = sms_payload(
        "SM0000000000000000000000000000b002",
        "+15551230099",
        "Hello!",
    );
    let (status, _) = post_twilio(&app, &url, &next, AUTH_TOKEN).await;
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
    assert_eq!(rows[0]["last_error_code"], "21211");
    assert_eq!(rows[0]["last_status_code"], 400);
    let conversations = conversations_of(&app, "phone:+15551230099").await;
    let messages = messages_of(&app, conversations[0]["id"].as_str().unwrap()).await;
    assert_eq!(messages[1]["metadata"]["delivery"]["error_code"], "21211");
}

async fn handoff_then_the_human_reply_goes_out_by_sms(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let url = messaging_url(&channel);
    let customer = "+15551230003";
    let payload = sms_payload(
        "SM0000000000000000000000000000c001",
        customer,
        "I want to talk to a human",
    );
    let (status, _) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    mock.wait_until(WAIT, "the handoff reply", |r| !r.is_empty())
        .await;
    let conversations = conversations_of(&app, &format!("phone:{customer}")).await;
    assert_eq!(
        conversations[0]["status"], "pending_human",
        "{conversations:?}"
    );
    let id = conversations[0]["id"].as_str().unwrap();

    let (status, body) = send_json(
        app.post(&format!("/api/v1/platform/conversations/{id}/messages"))
            .json(&json!({"text": "Hi, this is Sam from support. Your refund is on its way.", "author": "Sam"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let sent = mock
        .wait_until(WAIT, "the human reply", |r| r.len() >= 2)
        .await;
    assert_eq!(sent[1].field("To"), Some(customer));
    assert_eq!(
        sent[1].field("Body"),
        Some("Hi, this is Sam from support. Your refund is on its way.")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.requests().len(), 2, "the human reply was sent twice");
}

async fn a_scripted_call_produces_valid_twiml_at_every_step(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let voice_url = channel["inbound_urls"]["voice"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_url = channel["inbound_urls"]["voice_status_callback"]
        .as_str()
        .unwrap()
        .to_owned();
    let caller = "+15551230004";
    let call = |extra: &[(&str, &str)]| {
        let mut p = pairs(&[
            ("AccountSid", ACCOUNT_SID),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", "CA00000000000000000000000000000001"),
            ("CallStatus", "in-progress"),
            ("Called", OUR_NUMBER),
            ("Caller", caller),
            ("Direction", "inbound"),
            ("From", caller),
            ("To", OUR_NUMBER),
        ]);
        // Fields given here replace the defaults above (Twilio sends each field once).
        p.retain(|(k, _)| !extra.iter().any(|(name, _)| name == k));
        p.extend(pairs(extra));
        p
    };

    // 1. The call comes in: a greeting inside a speech gather.
    let (status, xml) = post_twilio(
        &app,
        &voice_url,
        &call(&[("CallStatus", "ringing")]),
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let doc = parse_twiml(&xml);
    let gather = doc
        .descendants()
        .find(|n| n.has_tag_name("Gather"))
        .expect("a Gather");
    assert_eq!(gather.attribute("input"), Some("speech"));
    assert_eq!(gather.attribute("language"), Some("en-US"));
    let first_action = gather.attribute("action").unwrap().to_owned();
    assert!(
        first_action.ends_with("/twilio/voice/gather?turn=1"),
        "{first_action}"
    );
    let say = gather
        .children()
        .find(|n| n.has_tag_name("Say"))
        .expect("a Say");
    assert_eq!(say.text(), Some("Hi! How can I help you today?"));
    assert_eq!(say.attribute("voice"), Some("Polly.Joanna"));

    // 2. First gather: the caller's speech is a turn; the answer is spoken in the next gather.
    let (status, xml) = post_twilio(
        &app,
        &first_action,
        &call(&[("SpeechResult", "Hello there"), ("Confidence", "0.92")]),
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let doc = parse_twiml(&xml);
    let gather = doc
        .descendants()
        .find(|n| n.has_tag_name("Gather"))
        .expect("a Gather");
    let second_action = gather.attribute("action").unwrap().to_owned();
    assert!(second_action.ends_with("gather?turn=2"), "{second_action}");
    let spoken = gather
        .children()
        .find(|n| n.has_tag_name("Say"))
        .unwrap()
        .text()
        .unwrap()
        .to_owned();
    assert!(
        !spoken.is_empty() && !spoken.contains("http") && !spoken.contains("**"),
        "{spoken}"
    );

    // 3. Second gather: the caller asks for a person; the answer ends with a Dial.
    let (status, xml) = post_twilio(
        &app,
        &second_action,
        &call(&[
            ("SpeechResult", "I want to speak to a human please"),
            ("Confidence", "0.88"),
        ]),
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    let doc = parse_twiml(&xml);
    let verbs: Vec<&str> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(verbs, vec!["Say", "Dial"], "{xml}");
    let dial = doc.descendants().find(|n| n.has_tag_name("Dial")).unwrap();
    assert_eq!(dial.text(), Some(HANDOFF_NUMBER));

    // The call is one voice conversation with both turns.
    let conversations = conversations_of(&app, &format!("phone:{caller}")).await;
    assert_eq!(conversations.len(), 1, "{conversations:?}");
    assert_eq!(conversations[0]["channel"], "voice");
    assert_eq!(conversations[0]["message_count"], 4);

    // A forged gather is refused.
    let (status, _) = post_twilio(
        &app,
        &second_action,
        &call(&[("SpeechResult", "x")]),
        "wrong",
    )
    .await;
    assert_eq!(status, 403);

    // 4. Hang-up: the status callback closes the conversation.
    let (status, xml) = post_twilio(
        &app,
        &status_url,
        &call(&[("CallStatus", "completed"), ("CallDuration", "42")]),
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{xml}");
    parse_twiml(&xml);
    let conversations = conversations_of(&app, &format!("phone:{caller}")).await;
    assert_eq!(conversations[0]["status"], "closed", "{conversations:?}");
    // Voice never used the messaging API.
    assert!(mock.requests().is_empty());
}

async fn channel_configuration_is_per_organization_and_validated(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let id = channel["id"].as_str().unwrap();
    assert!(id.starts_with("chan_"));

    // Listing and reading never show credentials.
    let (status, list) = send_json(app.get("/api/v1/dashboard/channels")).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(AUTH_TOKEN));

    // Rotating the token: the old one no longer verifies webhooks.
    let (status, updated) = send_json(
        app.patch(&format!("/api/v1/dashboard/channels/{id}"))
            .json(&json!({"credentials": {"auth_token": "rotated-token"}, "name": "Main line"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Main line");
    assert_eq!(updated["settings"]["account_id"], ACCOUNT_SID);
    let url = messaging_url(&updated);
    let payload = sms_payload(
        "SM0000000000000000000000000000d001",
        "+15551230005",
        "Hello!",
    );
    let (status, _) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 403);
    let (status, _) = post_twilio(&app, &url, &payload, "rotated-token").await;
    assert_eq!(status, 200);

    // Bad input names the field.
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": "carrier-pigeon", "address": "+1555"
    })))
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("provider"),
        "{body}"
    );
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": "twilio", "address": OUR_NUMBER,
        "settings": {"api_base_url": "http://169.254.169.254/latest"}
    })))
    .await;
    assert_eq!(status, 422, "{body}");

    // Another organization sees nothing of it.
    let (_, other_key) = app
        .create_org(engine::store::orgs::Plan::Scale, Some(1000), None)
        .await;
    let response = app
        .client
        .get(app.url(&format!("/api/v1/dashboard/channels/{id}")))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // Deleted: its webhooks are gone too.
    let response = app
        .delete(&format!("/api/v1/dashboard/channels/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let payload = sms_payload(
        "SM0000000000000000000000000000d002",
        "+15551230005",
        "Hello!",
    );
    let (status, _) = post_twilio(&app, &url, &payload, "rotated-token").await;
    assert_eq!(status, 404);
}

both_backends!(
    sms_full_exchange_duplicate_and_signature_failure,
    whatsapp_media_outage_then_recovery_and_error_codes,
    handoff_then_the_human_reply_goes_out_by_sms,
    a_scripted_call_produces_valid_twiml_at_every_step,
    channel_configuration_is_per_organization_and_validated,
);
