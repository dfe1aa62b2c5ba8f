#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One customer across channels: a phone number linked to the organization's customer id
//! makes SMS turns that customer's, so what they said by SMS is known on the web chat (and
//! the other way round); identities are validated and stay inside their organization.

use std::time::Duration;

use serde_json::json;
use tests::channel_helpers::*;
use tests::provider_mock::ProviderMock;
use tests::{both_backends, send_json, Backend};

async fn an_order_number_given_by_sms_is_known_on_the_web_chat(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let url = channel["inbound_urls"]["messaging"]
        .as_str()
        .unwrap()
        .to_owned();

    // The organization links the customer's phone to its own customer id.
    let (status, linked) = send_json(
        app.post("/api/v1/platform/customers/cust_dana/identities")
            .json(&json!({"kind": "phone", "value": "+1 (555) 123-0042"})),
    )
    .await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["value"], "+15551230042");
    assert_eq!(linked["customer_id"], "cust_dana");

    // By SMS the customer gives the order number (from the Twilio-formatted number).
    let payload = sms_payload(
        "SM0000000000000000000000000000e001",
        "+15551230042",
        "Hi, my name is Dana, my order number is 99812 and it has not arrived",
    );
    let (status, _) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    mock.wait_until(Duration::from_secs(15), "the SMS reply", |r| !r.is_empty())
        .await;
    let sms = conversations_of(&app, "cust_dana").await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert_eq!(sms[0]["channel"], "sms");

    // On the web chat, as the organization's customer id, the agent already knows it.
    let (status, reply) = app.chat("cust_dana", "What's my order number?", None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["response"], "Your order number is 99812.", "{reply}");
    assert_eq!(conversations_of(&app, "cust_dana").await.len(), 2);

    // The fact is the customer's, whichever channel taught it.
    let (status, memory) = send_json(app.get("/api/v1/platform/customers/cust_dana/memory")).await;
    assert_eq!(status, 200, "{memory}");
    assert!(memory.to_string().contains("99812"), "{memory}");

    let (status, list) =
        send_json(app.get("/api/v1/platform/customers/cust_dana/identities")).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

async fn an_unlinked_number_is_its_own_customer_until_linked(backend: Backend) {
    let app = spawn_channel_app(backend).await;
    let mock = ProviderMock::start().await;
    let channel = create_twilio_channel(&app, &mock).await;
    let url = channel["inbound_urls"]["messaging"]
        .as_str()
        .unwrap()
        .to_owned();
    let payload = sms_payload(
        "SM0000000000000000000000000000f001",
        "+15551230077",
        "Hello!",
    );
    let (status, _) = post_twilio(&app, &url, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(conversations_of(&app, "phone:+15551230077").await.len(), 1);

    // Linked later: new turns from that number belong to the organization's customer.
    let (status, _) = send_json(
        app.post("/api/v1/platform/customers/cust_lee/identities")
            .json(&json!({"kind": "phone", "value": "+15551230077"})),
    )
    .await;
    assert_eq!(status, 201);
    let next = sms_payload(
        "SM0000000000000000000000000000f002",
        "+15551230077",
        "Hello again",
    );
    let (status, _) = post_twilio(&app, &url, &next, AUTH_TOKEN).await;
    assert_eq!(status, 200);
    let lee = conversations_of(&app, "cust_lee").await;
    assert_eq!(lee.len(), 1, "{lee:?}");
    assert_eq!(lee[0]["channel"], "sms");

    // Invalid identities name the field.
    let (status, body) = send_json(
        app.post("/api/v1/platform/customers/cust_lee/identities")
            .json(&json!({"kind": "fax", "value": "+15551230077"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("kind"),
        "{body}"
    );
    let (status, body) = send_json(
        app.post("/api/v1/platform/customers/cust_lee/identities")
            .json(&json!({"kind": "email", "value": "not an address"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // Another organization cannot read them.
    let (_, other_key) = app
        .create_org(engine::store::orgs::Plan::Scale, Some(1000), None)
        .await;
    let response = app
        .client
        .get(app.url("/api/v1/platform/customers/cust_lee/identities"))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

both_backends!(
    an_order_number_given_by_sms_is_known_on_the_web_chat,
    an_unlinked_number_is_its_own_customer_until_linked,
);
