#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Action hooks end to end: registration, multi-turn slot filling, confirmation, policy
//! limits, backend failures, idempotency, signatures, tenant isolation, metadata, the test
//! mode and the audit log, against a loopback backend on both databases; the language-model
//! path (tool calls, malformed ones included) against the loopback OpenAI server.

mod actions {
    pub mod support;
}

use std::time::Duration;

use actions::support::*;
use serde_json::{json, Value};
use tests::action_backend::{ActionBackend, Mode};
use tests::{both_backends, send_json, Backend};

async fn registration_is_validated_and_secrets_are_write_only(backend: Backend) {
    let (app, be) = start(backend).await;
    // Invalid schema: refused with the reason.
    let mut bad = order_status(&be);
    bad["parameters"]["properties"]["order_id"]["pattern"] = json!("([A-Z");
    let (status, body) = send_json(app.post(ACTIONS).json(&bad)).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("parameters.order_id.pattern"),
        "{body}"
    );
    let mut bad = order_status(&be);
    bad["parameters"] = json!({"type": "object", "properties": {"x": {"$ref": "#/defs/x"}}});
    let (status, body) = send_json(app.post(ACTIONS).json(&bad)).await;
    assert_eq!(status, 422);
    assert!(body["detail"].as_str().unwrap().contains("$ref"), "{body}");
    // Private addresses are refused by the SSRF guard (only 127.0.0.1 is allowed in tests).
    for url in [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let mut bad = order_status(&be);
        bad["url"] = json!(url);
        let (status, body) = send_json(app.post(ACTIONS).json(&bad)).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("url:"),
            "{body}"
        );
    }
    // Created: the secret is never shown.
    let created = create(&app, refund(&be)).await;
    assert_eq!(created["auth"]["signing_secret_set"], true);
    assert!(!created.to_string().contains(SECRET));
    assert_eq!(
        created["requires_confirmation"], true,
        "writes confirm by default"
    );
    let (status, _) = send_json(app.post(ACTIONS).json(&refund(&be))).await;
    assert_eq!(status, 409, "names are unique");
    let (status, list) = send_json(app.get(ACTIONS)).await;
    assert_eq!(status, 200);
    assert_eq!(list["actions"].as_array().unwrap().len(), 1);
    assert_eq!(list["builtin"][0]["name"], "human_handoff");
    assert!(!list.to_string().contains(SECRET));
    // Update re-checks the whole action; the secret is kept unless replaced.
    let (status, body) = send_json(
        app.patch(&format!("{ACTIONS}/refund"))
            .json(&json!({"timeout_ms": 1500, "response_template": null})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timeout_ms"], 1500);
    assert_eq!(body["response_template"], Value::Null);
    assert_eq!(body["auth"]["signing_secret_set"], true);
    let (status, body) = send_json(
        app.patch(&format!("{ACTIONS}/refund"))
            .json(&json!({"limits": [{"parameter": "order_id", "max": 5}]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = send_json(app.delete(&format!("{ACTIONS}/refund"))).await;
    assert_eq!(status, 204);
    let (status, body) = send_json(app.get(&format!("{ACTIONS}/refund"))).await;
    assert_eq!(status, 404, "{body}");
}

async fn a_missing_order_number_is_asked_for_and_the_status_answered(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, order_status(&be)).await;
    let metadata = json!({"plan": "gold", "page": "/account"});
    let first = chat_with(&app, "cust_1", "Where is my order?", None, Some(&metadata)).await;
    let text = first["response"].as_str().unwrap();
    assert!(text.to_lowercase().contains("order number"), "{text}");
    assert_eq!(first["actions"][0]["status"], "needs_input");
    assert!(be.requests().is_empty());
    let session = first["session_id"].as_str().unwrap().to_string();
    // A wrong answer is explained and asked again; the right one is used.
    let second = chat_with(&app, "cust_1", "1234", Some(&session), Some(&metadata)).await;
    assert!(
        second["response"]
            .as_str()
            .unwrap()
            .contains("doesn't look like a valid order number"),
        "{second}"
    );
    let third = chat_with(&app, "cust_1", "A1234", Some(&session), Some(&metadata)).await;
    assert_eq!(
        third["response"], "Your order A1234 is shipped (expected 2026-12-03).",
        "{third}"
    );
    assert_eq!(third["intent"], "order_tracking");
    assert_eq!(third["actions"][0]["status"], "succeeded");
    let calls = be.requests_to("/orders/status");
    assert_eq!(calls.len(), 1);
    let sent = &calls[0].body;
    assert_eq!(sent["parameters"], json!({"order_id": "A1234"}));
    assert_eq!(
        sent["metadata"], metadata,
        "the request's metadata is forwarded"
    );
    assert_eq!(sent["organization_id"], app.org_id.as_str());
    assert_eq!(sent["customer_id"], "cust_1");
    assert_eq!(sent["conversation_id"], session.as_str());
    // Everything given in one message: answered at once.
    let direct = chat_with(
        &app,
        "cust_2",
        "Can you track order C9012 for me?",
        None,
        None,
    )
    .await;
    assert_eq!(
        direct["response"], "Your order C9012 is delivered (expected 2026-12-03).",
        "{direct}"
    );
}

async fn write_actions_wait_for_a_yes_and_a_no_or_change_of_mind_cancels(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, cancel_order(&be)).await;
    // Yes: executed once.
    let ask = chat_with(&app, "cust_1", "Please cancel my order B5678", None, None).await;
    let text = ask["response"].as_str().unwrap();
    assert!(
        text.contains("cancel an order") && text.contains("B5678") && text.contains("yes/no"),
        "{text}"
    );
    assert_eq!(ask["actions"][0]["status"], "awaiting_confirmation");
    assert!(be.requests().is_empty(), "nothing happens before the yes");
    let session = ask["session_id"].as_str().unwrap().to_string();
    let done = chat_with(&app, "cust_1", "yes", Some(&session), None).await;
    assert_eq!(done["actions"][0]["status"], "succeeded", "{done}");
    assert!(
        done["response"].as_str().unwrap().contains("cancelled"),
        "{done}"
    );
    assert_eq!(be.requests_to("/orders/cancel").len(), 1);
    // No: nothing is called.
    let ask = chat_with(&app, "cust_2", "cancel order C9012", None, None).await;
    let session = ask["session_id"].as_str().unwrap().to_string();
    let no = chat_with(&app, "cust_2", "no, don't", Some(&session), None).await;
    assert_eq!(no["actions"][0]["status"], "cancelled", "{no}");
    assert!(no["response"]
        .as_str()
        .unwrap()
        .starts_with("All right, I won't cancel an order"));
    let later = chat_with(&app, "cust_2", "yes", Some(&session), None).await;
    assert_ne!(
        later["actions"][0]["status"], "succeeded",
        "a late yes does nothing: {later}"
    );
    assert_eq!(be.requests_to("/orders/cancel").len(), 1);
    // New details: confirmed again with them, then only those are used.
    let ask = chat_with(&app, "cust_3", "cancel order A1234", None, None).await;
    let session = ask["session_id"].as_str().unwrap().to_string();
    let changed = chat_with(&app, "cust_3", "sorry, I meant C9012", Some(&session), None).await;
    assert_eq!(changed["actions"][0]["status"], "awaiting_confirmation");
    assert!(
        changed["response"].as_str().unwrap().contains("C9012"),
        "{changed}"
    );
    chat_with(&app, "cust_3", "yes please", Some(&session), None).await;
    let calls = be.requests_to("/orders/cancel");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].body["parameters"]["order_id"], "C9012");
    // Changing one's mind altogether.
    let ask = chat_with(&app, "cust_4", "cancel order A1234", None, None).await;
    let session = ask["session_id"].as_str().unwrap().to_string();
    let off = chat_with(
        &app,
        "cust_4",
        "actually I changed my mind",
        Some(&session),
        None,
    )
    .await;
    assert_eq!(off["actions"][0]["status"], "cancelled");
    assert_eq!(be.requests_to("/orders/cancel").len(), 2);
}

async fn a_refund_above_the_limit_hands_off_instead(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, refund(&be)).await;
    let reply = chat_with(
        &app,
        "cust_1",
        "I want a refund of 250 for order A1234",
        None,
        None,
    )
    .await;
    assert_eq!(reply["handoff"], true, "{reply}");
    assert!(reply["handoff_reason"]
        .as_str()
        .unwrap()
        .contains("above the limit of 100"));
    assert_eq!(reply["actions"][0]["status"], "refused");
    assert!(be.requests().is_empty(), "the backend is never called");
    let (_, log) = send_json(app.get(EXECUTIONS)).await;
    let line = &log["executions"][0];
    assert_eq!(line["status"], "refused");
    assert_eq!(line["action"], "refund");
    assert_eq!(line["parameters"]["amount"], 250);
    // The conversation waits for a human now.
    let session = reply["session_id"].as_str().unwrap();
    let (_, conversation) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{session}"))).await;
    assert_eq!(conversation["status"], "pending_human", "{conversation}");
}

async fn backend_errors_and_timeouts_get_a_plain_apology(backend: Backend) {
    let (app, be) = start(backend).await;
    let mut slow = order_status(&be);
    slow["timeout_ms"] = json!(300);
    create(&app, slow).await;
    be.set(Mode::Fail);
    let reply = chat_with(&app, "cust_1", "where is order A1234?", None, None).await;
    let text = reply["response"].as_str().unwrap();
    assert!(
        text.starts_with("I'm sorry, something went wrong on our side"),
        "{text}"
    );
    assert!(text.contains("try again") && text.contains("person"));
    assert!(!text.contains("Traceback") && !text.contains("500"));
    assert_eq!(reply["actions"][0]["status"], "failed");
    assert_eq!(be.requests().len(), 2, "a read is retried once");
    be.set(Mode::Sleep(Duration::from_millis(1500)));
    let reply = chat_with(&app, "cust_2", "where is order B5678?", None, None).await;
    let text = reply["response"].as_str().unwrap();
    assert!(
        text.starts_with("I'm sorry, our system did not respond in time"),
        "{text}"
    );
    let (_, log) = send_json(app.get(EXECUTIONS)).await;
    let statuses: Vec<&str> = log["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["timeout", "failed"]);
    assert_eq!(log["executions"][1]["http_status"], 500);
    assert_eq!(log["executions"][1]["attempts"], 2);
}

async fn retries_keep_the_idempotency_key_and_requests_are_signed(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, refund(&be)).await;
    be.set(Mode::FailTimes(1));
    let ask = chat_with(
        &app,
        "cust_1",
        "Please refund 40 for order A1234, the box was damaged",
        None,
        None,
    )
    .await;
    assert_eq!(
        ask["actions"][0]["status"], "awaiting_confirmation",
        "{ask}"
    );
    let session = ask["session_id"].as_str().unwrap().to_string();
    let done = chat_with(&app, "cust_1", "yes", Some(&session), None).await;
    assert_eq!(
        done["response"], "Refund R1 of 40 for order A1234 is on its way.",
        "{done}"
    );
    let calls = be.requests_to("/refunds");
    assert_eq!(calls.len(), 2, "the 500 was retried");
    let key = &calls[0].headers["idempotency-key"];
    assert!(!key.is_empty());
    assert_eq!(&calls[1].headers["idempotency-key"], key);
    assert_eq!(
        calls[0].raw_body, calls[1].raw_body,
        "the same bytes on every attempt"
    );
    assert_eq!(be.refunds_made(), 1);
    for call in &calls {
        let signature = &call.headers["blaigent-signature"];
        let timestamp = &call.headers["blaigent-timestamp"];
        let now = engine::store::now_ms() / 1000;
        assert!(engine::webhooks::signing::verify(
            SECRET,
            signature,
            timestamp,
            &call.raw_body,
            now,
            300
        ));
        assert!(!engine::webhooks::signing::verify(
            "other",
            signature,
            timestamp,
            &call.raw_body,
            now,
            300
        ));
        assert_eq!(call.headers["authorization"], "Bearer backend-token");
    }
    // The audit log redacts the sensitive field and names the key; the event is recorded.
    let (_, log) = send_json(app.get(&format!("{EXECUTIONS}?action=refund"))).await;
    let line = &log["executions"][0];
    assert_eq!(line["status"], "succeeded");
    assert_eq!(line["attempts"], 2);
    assert_eq!(line["idempotency_key"], key.as_str());
    assert_eq!(line["parameters"]["reason"], "[redacted]");
    assert_eq!(
        calls[0].body["parameters"]["reason"], "damaged",
        "the backend gets the value"
    );
    let (_, events) = send_json(app.get("/api/v1/dashboard/webhooks/events")).await;
    assert!(events.to_string().contains("action.executed"), "{events}");
    assert!(
        !events.to_string().contains("\"damaged\""),
        "redacted in events too"
    );
}

async fn another_organizations_actions_are_never_visible_or_callable(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, order_status(&be)).await;
    let (other_org, other_key) = app
        .create_org(engine::store::orgs::Plan::Scale, Some(1_000_000), None)
        .await;
    let as_other = |req: reqwest::RequestBuilder| req.bearer_auth(&other_key);
    let (status, list) = send_json(as_other(app.client.get(app.url(ACTIONS)))).await;
    assert_eq!(status, 200);
    assert_eq!(list["actions"], json!([]));
    for request in [
        app.client.get(app.url(&format!("{ACTIONS}/order_status"))),
        app.client
            .delete(app.url(&format!("{ACTIONS}/order_status"))),
        app.client
            .post(app.url(&format!("{ACTIONS}/order_status/test")))
            .json(&json!({"parameters": {"order_id": "A1234"}})),
    ] {
        let (status, body) = send_json(as_other(request)).await;
        assert_eq!(status, 404, "{body}");
    }
    let body = json!({"message": "where is my order A1234?", "customer_id": "c", "organization_id": other_org});
    let (status, _) = send_json(as_other(app.client.post(app.url(tests::CHAT))).json(&body)).await;
    assert_eq!(status, 200);
    assert!(
        be.requests().is_empty(),
        "the other organization's chat never calls this backend"
    );
    let (_, log) = send_json(as_other(app.client.get(app.url(EXECUTIONS)))).await;
    assert_eq!(log["executions"], json!([]));
    let (status, _) = send_json(app.get(&format!("{ACTIONS}/order_status"))).await;
    assert_eq!(status, 200, "still there for its owner");
}

async fn the_test_mode_shows_the_exchange(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, refund(&be)).await;
    let (status, body) = send_json(app.post(&format!("{ACTIONS}/refund/test")).json(
        &json!({"parameters": {"order_id": "A1234", "amount": 12.5}, "metadata": {"k": "v"}}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["response"]["status"], 200);
    assert_eq!(body["response"]["body"]["status"], "refunded");
    assert_eq!(body["request"]["body"]["parameters"]["amount"], 12.5);
    assert_eq!(body["request"]["body"]["test"], true);
    assert_eq!(body["request"]["headers"]["Authorization"], "Bearer ***");
    assert!(body["request"]["headers"]["Blaigent-Signature"]
        .as_str()
        .unwrap()
        .starts_with("sha256="));
    let (status, body) = send_json(
        app.post(&format!("{ACTIONS}/refund/test"))
            .json(&json!({"parameters": {"order_id": "nope", "amount": 5}})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("parameters.order_id"),
        "{body}"
    );
    let (_, log) = send_json(app.get(EXECUTIONS)).await;
    assert_eq!(log["executions"][0]["test"], true);
    assert_eq!(be.requests().len(), 1);
}

async fn a_booking_asks_for_the_date_and_uses_the_backends_message(backend: Backend) {
    let (app, be) = start(backend).await;
    create(&app, booking(&be)).await;
    let first = chat_with(
        &app,
        "cust_1",
        "I'd like to book a table for 4 people",
        None,
        None,
    )
    .await;
    let text = first["response"].as_str().unwrap();
    assert!(
        text.contains("date") && text.contains("2026-12-24"),
        "{text}"
    );
    let session = first["session_id"].as_str().unwrap().to_string();
    let confirm = chat_with(&app, "cust_1", "2026-12-31", Some(&session), None).await;
    assert_eq!(
        confirm["actions"][0]["status"], "awaiting_confirmation",
        "{confirm}"
    );
    assert!(confirm["response"].as_str().unwrap().contains("2026-12-31"));
    let done = chat_with(&app, "cust_1", "yes", Some(&session), None).await;
    assert_eq!(
        done["response"], "Your table is booked for 2026-12-31.",
        "{done}"
    );
    let calls = be.requests_to("/bookings");
    assert_eq!(
        calls[0].body["parameters"],
        json!({"guests": 4, "date": "2026-12-31"})
    );
}

both_backends!(
    a_booking_asks_for_the_date_and_uses_the_backends_message,
    registration_is_validated_and_secrets_are_write_only,
    a_missing_order_number_is_asked_for_and_the_status_answered,
    write_actions_wait_for_a_yes_and_a_no_or_change_of_mind_cancels,
    a_refund_above_the_limit_hands_off_instead,
    backend_errors_and_timeouts_get_a_plain_apology,
    retries_keep_the_idempotency_key_and_requests_are_signed,
    another_organizations_actions_are_never_visible_or_callable,
    the_test_mode_shows_the_exchange,
);

mod model_path {
    use super::*;
    use tests::openai_mock::{Behavior, OpenAiMock};

    fn call(name: &str, arguments: &str) -> Behavior {
        Behavior::ToolCall {
            name: name.into(),
            arguments: arguments.into(),
            text: "Here you go.".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tool_calls_run_actions_and_malformed_ones_are_never_executed() {
        let mock = OpenAiMock::start(call("order_status", r#"{"order_id": "B5678"}"#)).await;
        let be = ActionBackend::start().await;
        let app = start_with_model(Backend::Sqlite, &mock).await;
        create(&app, order_status(&be)).await;
        create(&app, refund(&be)).await;
        // A valid call: executed, answered from the template.
        let ok = chat_with(&app, "c1", "hm, that parcel of mine?", None, None).await;
        assert_eq!(
            ok["response"], "Your order B5678 is processing (expected 2026-12-03).",
            "{ok}"
        );
        let offered = &mock.requests()[0]["tools"];
        let names: Vec<&str> = offered
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["order_status", "refund", "human_handoff"]);
        assert_eq!(
            offered[0]["function"]["parameters"]["properties"]["order_id"]["pattern"],
            "^[A-Z][0-9]{4}$"
        );
        assert_eq!(be.requests().len(), 1);
        // Invalid JSON: caught, not executed.
        mock.set(call("refund", r#"{"order_id": "A1234", "amount": 20"#));
        let bad = chat_with(&app, "c2", "refund me please", None, None).await;
        assert!(
            bad["flags"]
                .as_array()
                .unwrap()
                .contains(&json!("tool_call_malformed")),
            "{bad}"
        );
        assert_eq!(bad["actions"][0]["status"], "refused");
        // A schema violation: the bad value is dropped and asked for, nothing executed.
        mock.set(call("refund", r#"{"order_id": "A1234", "amount": "lots"}"#));
        let invalid = chat_with(&app, "c3", "refund me please", None, None).await;
        assert!(
            invalid["flags"]
                .as_array()
                .unwrap()
                .contains(&json!("tool_call_invalid")),
            "{invalid}"
        );
        assert_eq!(invalid["actions"][0]["status"], "needs_input");
        assert!(
            invalid["response"].as_str().unwrap().contains("amount"),
            "{invalid}"
        );
        // An unknown tool: caught.
        mock.set(call("drop_database", "{}"));
        let unknown = chat_with(&app, "c4", "do something", None, None).await;
        assert!(unknown["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("tool_call_malformed")));
        assert_eq!(
            be.requests().len(),
            1,
            "only the valid call reached the backend"
        );
        // The model may hand off.
        mock.set(call("human_handoff", r#"{"reason": "asked"}"#));
        let handoff = chat_with(&app, "c5", "get me someone", None, None).await;
        assert_eq!(handoff["handoff"], true, "{handoff}");
    }
}

/// The documented verification snippets (docs/snippets, shown in docs/actions.md) accept a
/// request the server signed and refuse a tampered one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_python_and_javascript_snippets_verify_real_signatures() {
    let (app, be) = start(Backend::Sqlite).await;
    create(&app, refund(&be)).await;
    let (status, _) = send_json(
        app.post(&format!("{ACTIONS}/refund/test"))
            .json(&json!({"parameters": {"order_id": "A1234", "amount": 9.99}})),
    )
    .await;
    assert_eq!(status, 200);
    let call = be.requests_to("/refunds").remove(0);
    let dir = tempfile::tempdir().unwrap();
    let genuine = dir.path().join("genuine.json");
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&genuine, &call.raw_body).unwrap();
    let mut changed = call.raw_body.clone();
    let at = changed.iter().position(|b| *b == b'9').unwrap();
    changed[at] = b'8';
    std::fs::write(&tampered, &changed).unwrap();
    let snippets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/snippets");
    for (program, file) in [
        ("python3", "verify_action_signature.py"),
        ("node", "verify_action_signature.js"),
    ] {
        let run = |body: &std::path::Path, secret: &str| {
            std::process::Command::new(program)
                .arg(snippets.join(file))
                .arg(secret)
                .arg(&call.headers["blaigent-timestamp"])
                .arg(&call.headers["blaigent-signature"])
                .arg(body)
                .output()
                .unwrap_or_else(|e| panic!("running {program}: {e}"))
        };
        let ok = run(&genuine, SECRET);
        assert!(
            ok.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "valid");
        assert!(
            !run(&tampered, SECRET).status.success(),
            "{program} accepts a tampered body"
        );
        assert!(
            !run(&genuine, "wrong").status.success(),
            "{program} accepts a wrong secret"
        );
    }
}
