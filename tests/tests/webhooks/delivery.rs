//! Delivery behaviour: retries until success with stable ids, per-conversation order, the
//! delivery log, disabled endpoints, 410 Gone, endpoints failing too long, tenant isolation
//! and replays.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app_with, Backend, TestApp};

use super::receiver::{create_webhook, fast_webhooks, Captured, Receiver};

/// Every event id the organization recorded, oldest first.
async fn recorded_event_ids(app: &TestApp) -> Vec<String> {
    let (status, body) = send_json(app.get("/api/v1/dashboard/webhooks/events?limit=200")).await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    ids
}

async fn a_failing_endpoint_gets_every_event_exactly_once_with_stable_ids(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 500, 500, 503]);
    let (webhook, _) = create_webhook(&app, &receiver.url, json!(["*"])).await;
    for customer in ["a", "b", "c"] {
        let (status, _) = app.chat(customer, "Where is my order?", None).await;
        assert_eq!(status, 200);
    }
    let recorded = recorded_event_ids(&app).await;
    assert_eq!(recorded.len(), 6);
    receiver
        .wait_until(Duration::from_secs(20), |_| {
            receiver.processed_event_ids().len() == 6
        })
        .await;
    // Give a stray duplicate the chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = receiver.requests();

    let mut processed = receiver.processed_event_ids();
    processed.sort();
    let mut expected = recorded.clone();
    expected.sort();
    assert_eq!(processed, expected, "every recorded event arrives");
    let mut successes: HashMap<String, usize> = HashMap::new();
    for request in seen.iter().filter(|r| r.status == 200) {
        *successes.entry(request.event_id()).or_default() += 1;
    }
    assert!(
        successes.values().all(|n| *n == 1),
        "each event succeeded once: {successes:?}"
    );
    let failed: Vec<&Captured> = seen.iter().filter(|r| r.status >= 500).collect();
    assert_eq!(failed.len(), 4);
    for request in &failed {
        assert!(
            recorded.contains(&request.event_id()),
            "a retry keeps the event id"
        );
        assert_eq!(request.header("Blaigent-Event-Id"), request.event_id());
    }

    // Within each conversation, message.received is accepted before message.sent.
    let mut first_ok: HashMap<(String, String), usize> = HashMap::new();
    for (i, request) in seen.iter().enumerate().filter(|(_, r)| r.status == 200) {
        let conversation = request.json()["data"]["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();
        first_ok.entry((conversation, request.event())).or_insert(i);
    }
    for ((conversation, event), at) in &first_ok {
        if event == "message.sent" {
            let received = first_ok[&(conversation.clone(), "message.received".to_owned())];
            assert!(received < *at, "order broken in {conversation}");
        }
    }

    // The delivery log lists all ten attempts, newest first, across pages.
    let mut attempts: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/dashboard/webhooks/{webhook}/deliveries?limit=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = send_json(app.get(&path)).await;
        assert_eq!(status, 200, "{page}");
        attempts.extend(page["deliveries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(attempts.len(), 10, "{attempts:#?}");
    let failures: Vec<&Value> = attempts
        .iter()
        .filter(|a| a["succeeded"] == false)
        .collect();
    assert_eq!(failures.len(), 4);
    for failure in failures {
        assert!(
            failure["status_code"] == 500 || failure["status_code"] == 503,
            "{failure}"
        );
        assert!(failure["next_retry_at"].is_string(), "{failure}");
        assert!(failure["response_excerpt"]
            .as_str()
            .unwrap()
            .starts_with("receiver answered 5"));
        assert!(failure["latency_ms"].as_i64().unwrap() >= 0);
    }
    let success = attempts.iter().find(|a| a["succeeded"] == true).unwrap();
    assert_eq!(success["status_code"], 200);
    assert!(success["next_retry_at"].is_null());
    assert!(
        attempts.iter().any(|a| a["attempt"] == 2),
        "retries are numbered"
    );
}

async fn a_disabled_endpoint_gets_nothing(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let (control, off, switched) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    create_webhook(&app, &control.url, json!(["*"])).await;
    let (status, body) = send_json(app.post("/api/v1/dashboard/webhooks").json(&json!({
        "url": off.url, "enabled": false,
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["enabled"], false);
    let (switched_id, _) = create_webhook(&app, &switched.url, json!(["*"])).await;
    let (status, body) = send_json(
        app.patch(&format!("/api/v1/dashboard/webhooks/{switched_id}"))
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    for customer in ["x", "y"] {
        app.chat(customer, "Hello", None).await;
    }
    control.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        off.requests().is_empty(),
        "a disabled endpoint received a delivery"
    );
    assert!(
        switched.requests().is_empty(),
        "an endpoint disabled by PATCH received a delivery"
    );
}

async fn gone_and_long_failures_disable_the_endpoint_with_a_reason(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        fast_webhooks(c);
        c.webhooks.disable_after = Duration::from_millis(200);
        c.webhooks.schedule =
            engine::webhooks::RetrySchedule::new(vec![Duration::from_millis(100); 20], 0.0);
    })
    .await;
    let (gone, failing, control) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    gone.answer_always(410);
    failing.answer_always(500);
    let (gone_id, _) = create_webhook(&app, &gone.url, json!(["*"])).await;
    let (failing_id, _) = create_webhook(&app, &failing.url, json!(["*"])).await;
    create_webhook(&app, &control.url, json!(["*"])).await;
    app.chat("c1", "Hello", None).await;

    let disabled = |id: String| {
        let app = &app;
        async move {
            for _ in 0..200 {
                let (_, body) =
                    send_json(app.get(&format!("/api/v1/dashboard/webhooks/{id}"))).await;
                if body["enabled"] == false {
                    return body;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{id} was never disabled");
        }
    };
    let body = disabled(gone_id.clone()).await;
    assert!(
        body["disabled_reason"].as_str().unwrap().contains("410"),
        "{body}"
    );
    assert_eq!(gone.requests().len(), 1, "410 stops deliveries at once");
    let body = disabled(failing_id).await;
    let reason = body["disabled_reason"].as_str().unwrap();
    assert!(
        reason.contains("failing continuously") && reason.contains("HTTP 500"),
        "{reason}"
    );
    let attempts_when_disabled = failing.requests().len();
    assert!(attempts_when_disabled >= 2);

    // Nothing more reaches either endpoint; re-enabling clears the reason.
    app.chat("c2", "Hello again", None).await;
    control.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.requests().len(), 1);
    assert_eq!(failing.requests().len(), attempts_when_disabled);
    let (status, body) = send_json(
        app.patch(&format!("/api/v1/dashboard/webhooks/{gone_id}"))
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], true);
    assert!(body["disabled_reason"].is_null(), "{body}");
}

async fn an_organization_never_receives_another_organizations_events(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let (mine, theirs) = (Receiver::start().await, Receiver::start().await);
    let (my_webhook, _) = create_webhook(&app, &mine.url, json!(["*"])).await;
    let (other_org, other_key) = app
        .create_org(engine::store::orgs::Plan::Scale, Some(1_000_000), None)
        .await;
    let (status, created) = send_json(
        app.client
            .post(app.url("/api/v1/dashboard/webhooks"))
            .bearer_auth(&other_key)
            .json(&json!({"url": theirs.url})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = send_json(app.client.post(app.url(tests::CHAT)).bearer_auth(&other_key).json(&json!({
        "message": "Hi from the other org", "customer_id": "z", "organization_id": other_org,
    })))
    .await;
    assert_eq!(status, 200);
    app.chat("me", "Hi from mine", None).await;

    let mine_seen = mine.wait_for(2).await;
    let theirs_seen = theirs.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mine.requests().len(), 2);
    assert_eq!(theirs.requests().len(), 2);
    assert!(mine_seen
        .iter()
        .all(|r| r.json()["organization_id"] == app.org_id.as_str()));
    assert!(theirs_seen
        .iter()
        .all(|r| r.json()["organization_id"] == other_org.as_str()));

    // The other organization cannot see, test, replay or delete my endpoint.
    let other = |req: reqwest::RequestBuilder| req.bearer_auth(&other_key);
    let path = format!("/api/v1/dashboard/webhooks/{my_webhook}");
    for request in [
        other(app.client.get(app.url(&path))),
        other(app.client.delete(app.url(&path))),
        other(app.client.post(app.url(&format!("{path}/test")))),
        other(app.client.get(app.url(&format!("{path}/deliveries")))),
        other(app.client.post(app.url(&format!(
            "/api/v1/dashboard/webhooks/events/{}/replay",
            mine_seen[0].event_id()
        )))),
    ] {
        let (status, body) = send_json(request).await;
        assert_eq!(status, 404, "{body}");
    }
}

async fn replays_resend_the_same_event_and_time_ranges(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let (receiver, late) = (Receiver::start().await, Receiver::start().await);
    create_webhook(&app, &receiver.url, json!(["*"])).await;
    let before = time_now();
    app.chat("r", "Where is my order?", None).await;
    let first = receiver.wait_for(2).await;
    let event_id = first[0].event_id();

    let (status, body) = send_json(app.post(&format!(
        "/api/v1/dashboard/webhooks/events/{event_id}/replay"
    )))
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 1);
    let again = receiver.wait_for(3).await;
    assert_eq!(again[2].event_id(), event_id);
    assert_eq!(
        again[2].body, first[0].body,
        "a replay sends the same bytes"
    );

    // An endpoint created later gets a time range replayed to it.
    let (late_id, _) = create_webhook(&app, &late.url, json!(["message.sent"])).await;
    let after = time_now() + 1;
    let (status, body) = send_json(
        app.post(&format!("/api/v1/dashboard/webhooks/{late_id}/replay"))
            .json(&json!({"from": rfc3339(before - 1), "to": rfc3339(after)})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 1, "only the subscribed message.sent");
    let got = late.wait_for(1).await;
    assert_eq!(got[0].event(), "message.sent");
    assert_eq!(got[0].event_id(), first[1].event_id());

    let (status, body) = send_json(
        app.post(&format!("/api/v1/dashboard/webhooks/{late_id}/replay"))
            .json(&json!({"from": "yesterday", "to": rfc3339(after)})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("from:"),
        "{body}"
    );
    let (status, _) =
        send_json(app.post("/api/v1/dashboard/webhooks/events/evt_nope/replay")).await;
    assert_eq!(status, 404);
}

fn time_now() -> i64 {
    engine::store::now_ms() / 1000
}

fn rfc3339(secs: i64) -> String {
    engine::events::payload::rfc3339(secs * 1000).unwrap()
}

both_backends!(
    a_failing_endpoint_gets_every_event_exactly_once_with_stable_ids,
    a_disabled_endpoint_gets_nothing,
    gone_and_long_failures_disable_the_endpoint_with_a_reason,
    an_organization_never_receives_another_organizations_events,
    replays_resend_the_same_event_and_time_ranges,
);
