//! Lifecycle scenarios (issue 7), each on SQLite and on PostgreSQL: handoff (by request, by
//! rule, by API), the quiet agent while humans hold a conversation, human replies, resolve,
//! close, reopen, auto-resolve, CSAT, the inbox, and analytics checked against a
//! hand-computed fixture. Another organization's conversations never show. The analytics
//! rollup is checked against the live aggregates in `lifecycle/rollup.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::agent::{Reply, Turn};
use engine::service::chat::TurnHandler;
use engine::store::orgs::Plan;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tests::{
    both_backends, send_json, spawn_app, spawn_app_with, spawn_app_with_state, Backend, TestApp,
    CHAT,
};

mod lifecycle {
    pub mod rollup;
}

const ACK: &str = "A member of our team will reply here shortly.";

fn conv(id: &str, action: &str) -> String {
    format!("/api/v1/platform/conversations/{id}/{action}")
}

/// Starts a conversation for `customer` on `channel` and returns its id.
async fn start(app: &TestApp, customer: &str, channel: &str, message: &str) -> String {
    let (status, reply) = send_json(app.post(CHAT).json(&json!({
        "message": message,
        "customer_id": customer,
        "organization_id": app.org_id,
        "channel": channel,
    })))
    .await;
    assert_eq!(status, 200, "{reply}");
    reply["conversation_id"].as_str().unwrap().to_owned()
}

/// Turns off the "hand off after N unanswered turns" rule, so scenarios without a knowledge
/// base control every handoff themselves.
async fn no_automatic_handoff(app: &TestApp) {
    let (status, body) = send_json(app.patch("/api/v1/dashboard/agent-config").json(&json!({
        "guardrails": {"max_failed_turns": 0}
    })))
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    send_json(app.post(path).json(&body)).await
}

async fn thread(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = send_json(app.get(&conv(id, "messages"))).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().unwrap().clone()
}

async fn inbox(app: &TestApp, query: &str) -> Value {
    let (status, body) = send_json(app.get(&format!("/api/v1/platform/inbox{query}"))).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn events_of(app: &TestApp, id: &str) -> Vec<Value> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select payload from events where conversation_id = $1 order by created_at, id",
    )
    .bind(id)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|(p,)| serde_json::from_str(p).unwrap())
        .collect()
}

fn count_events(events: &[Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

async fn a_customer_asking_for_a_person_lands_in_the_inbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.chat("cust_ana", "Where is my order?", None).await;
    let id = first["conversation_id"].as_str().unwrap().to_owned();
    let (status, reply) = app
        .chat("cust_ana", "I want to talk to a human", Some(&id))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["handoff"], true, "{reply}");

    let page = inbox(&app, "").await;
    let items = page["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    let item = &items[0];
    assert_eq!(item["conversation_id"], id.as_str());
    assert_eq!(item["customer_id"], "cust_ana");
    assert_eq!(item["channel"], "web");
    assert_eq!(item["status"], "pending_human");
    assert!(item["handoff_reason"].as_str().is_some(), "{item}");
    assert_eq!(item["last_message"]["role"], "agent");
    assert!(item["waiting_secs"].as_i64().unwrap() >= 0);
    assert_eq!(item["assignee"], Value::Null);

    // The engine's handoff is logged and announced once.
    let (_, log) = send_json(app.get(&conv(&id, "transitions"))).await;
    assert_eq!(log["transitions"][0]["from"], "open");
    assert_eq!(log["transitions"][0]["to"], "pending_human");
    assert_eq!(log["transitions"][0]["actor"], "agent");
    assert_eq!(
        count_events(&events_of(&app, &id).await, "handoff.requested"),
        1
    );
}

async fn an_escalation_keyword_hands_off_by_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = send_json(app.patch("/api/v1/dashboard/agent-config").json(&json!({
        "guardrails": {"escalation_keywords": ["lawyer"]}
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, reply) = app
        .chat("cust_bo", "My lawyer says the refund is late", None)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["handoff"], true, "{reply}");
    let page = inbox(&app, "?status=pending_human").await;
    assert_eq!(
        page["conversations"][0]["conversation_id"],
        reply["conversation_id"]
    );
    assert!(
        page["conversations"][0]["handoff_reason"]
            .as_str()
            .unwrap()
            .contains("lawyer"),
        "{page}"
    );
}

async fn humans_take_over_and_the_agent_stays_quiet(backend: Backend) {
    let app = spawn_app(backend).await;
    no_automatic_handoff(&app).await;
    let id = start(&app, "cust_cy", "whatsapp", "Where is my order?").await;

    let (status, state) = post(
        &app,
        &conv(&id, "handoff"),
        json!({"reason": "VIP customer"}),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["status"], "pending_human");
    assert_eq!(state["handoff_reason"], "VIP customer");
    // Handing off twice is impossible.
    let (status, err) = post(&app, &conv(&id, "handoff"), json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["detail"].as_str().unwrap().contains("pending_human"),
        "{err}"
    );

    // The customer writes twice: acknowledged, recorded, and acknowledged only once.
    for text in ["Hello? Anyone there?", "Still waiting"] {
        let (status, reply) = app.chat("cust_cy", text, Some(&id)).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["response"], ACK);
        assert_eq!(reply["handoff"], true);
    }
    let messages = thread(&app, &id).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Hello? Anyone there?") && texts.contains(&"Still waiting"));
    assert_eq!(texts.iter().filter(|t| **t == ACK).count(), 1, "{texts:?}");

    let (status, state) = post(
        &app,
        &conv(&id, "assign"),
        json!({"assignee": "alice@shop.example"}),
    )
    .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(
        (state["status"].as_str(), state["assignee"].as_str()),
        (Some("human"), Some("alice@shop.example"))
    );
    let page = inbox(&app, "?assignee=alice@shop.example&channel=whatsapp").await;
    assert_eq!(page["conversations"][0]["status"], "human");
    assert_eq!(
        inbox(&app, "?assignee=bob").await["conversations"],
        json!([])
    );
    assert_eq!(
        inbox(&app, "?channel=web").await["conversations"],
        json!([])
    );

    let (status, sent) = post(
        &app,
        &conv(&id, "messages"),
        json!({"text": "Hi, I'm Alice. Your parcel left today.", "author": "alice@shop.example"}),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(sent["channel"], "whatsapp");
    let last = thread(&app, &id).await.pop().unwrap();
    assert_eq!(last["role"], "human");
    assert_eq!(last["text"], "Hi, I'm Alice. Your parcel left today.");
    assert_eq!(last["metadata"]["author"], "alice@shop.example");
    let events = events_of(&app, &id).await;
    let human_sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "message.sent" && e["data"]["sender"] == "human")
        .collect();
    assert_eq!(human_sent.len(), 1, "{events:?}");
    assert_eq!(human_sent[0]["data"]["channel"], "whatsapp");
    assert_eq!(human_sent[0]["data"]["message_id"], sent["message_id"]);

    // Back to the agent: it answers on its own again.
    let (status, state) = post(&app, &conv(&id, "return-to-agent"), json!({})).await;
    assert_eq!(
        (status, state["status"].as_str()),
        (200, Some("open")),
        "{state}"
    );
    assert_eq!(inbox(&app, "").await["conversations"], json!([]));
    let (_, reply) = app.chat("cust_cy", "Where is my order?", Some(&id)).await;
    assert_ne!(reply["response"], ACK);
    assert_eq!(reply["handoff"], false);
    // A human reply to an agent-handled conversation is refused.
    let (status, err) = post(
        &app,
        &conv(&id, "messages"),
        json!({"text": "x", "author": "a"}),
    )
    .await;
    assert_eq!(status, 409, "{err}");
}

async fn resolve_close_and_reopen_are_recorded_with_who_resolved(backend: Backend) {
    let app = spawn_app(backend).await;
    no_automatic_handoff(&app).await;
    let id = start(&app, "cust_di", "web", "Where is my order?").await;
    let (status, state) = post(&app, &conv(&id, "resolve"), json!({})).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(
        (state["status"].as_str(), state["resolved_by"].as_str()),
        (Some("resolved"), Some("agent"))
    );
    let (status, err) = post(&app, &conv(&id, "resolve"), json!({})).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["detail"].as_str().unwrap().contains("already resolved"),
        "{err}"
    );

    // The customer writes again: reopened, counted, the agent answers.
    let (status, reply) = app
        .chat("cust_di", "One more question about my order", Some(&id))
        .await;
    assert_eq!(status, 200, "{reply}");
    let (_, conversation) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{id}"))).await;
    assert_eq!(conversation["status"], "open");
    let (status, state) = post(&app, &conv(&id, "close"), json!({"resolved_by": "human"})).await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["status"], "closed");
    assert_eq!(state["resolved_by"], "human");
    assert_eq!(state["reopen_count"], 1);
    let (status, _) = post(&app, &conv(&id, "close"), json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = post(&app, &conv(&id, "handoff"), json!({})).await;
    assert_eq!(status, 409);

    let events = events_of(&app, &id).await;
    assert_eq!(count_events(&events, "conversation.resolved"), 1);
    let closed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "conversation.closed")
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["data"]["resolved_by"], "human");
    let (_, log) = send_json(app.get(&conv(&id, "transitions"))).await;
    let steps: Vec<(String, String, String)> = log["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap().into(),
                t["to"].as_str().unwrap().into(),
                t["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("open".into(), "resolved".into(), "api".into()),
            ("resolved".into(), "open".into(), "customer".into()),
            ("open".into(), "closed".into(), "api".into()),
        ]
    );
}

/// An agent that, while it works on a turn, has the conversation resolved through the API
/// (as a colleague in the inbox might), then answers.
struct ResolvedMidTurn {
    /// The server's base URL and API key, known once it started.
    api: Arc<Mutex<Option<(String, String)>>>,
}

impl TurnHandler for ResolvedMidTurn {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, engine::Result<Reply>> {
        Box::pin(async move {
            let api = self.api.lock().unwrap().clone();
            if let Some((base, key)) = api {
                let url = format!("{base}{}", conv(turn.conversation_id.as_str(), "resolve"));
                let response = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
            Ok(Reply {
                response: "Noted.".into(),
                intent: "other".into(),
                confidence: 0.5,
                language: "en".into(),
                stored_message: turn.message.clone(),
                ..Reply::default()
            })
        })
    }
}

async fn a_status_change_while_the_agent_works_is_not_overwritten(backend: Backend) {
    let api = Arc::new(Mutex::new(None));
    let agent = Arc::new(ResolvedMidTurn { api: api.clone() });
    let app = spawn_app_with_state(
        backend,
        |_| {},
        move |state| state.with_turn_handler(agent.clone()),
    )
    .await;
    let id = start(&app, "cust_mid", "web", "Where is my order?").await;
    *api.lock().unwrap() = Some((app.base_url.clone(), app.api_key.clone()));

    // The turn began on an open conversation; it was resolved before the turn was stored, so
    // the turn reopens it (it must not write "open" over the resolution unlogged).
    let (status, reply) = app.chat("cust_mid", "And the refund?", Some(&id)).await;
    assert_eq!(status, 200, "{reply}");
    let (_, conversation) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{id}"))).await;
    assert_eq!(conversation["status"], "open", "{conversation}");
    assert_eq!(conversation["message_count"], 4, "{conversation}");
    let (_, log) = send_json(app.get(&conv(&id, "transitions"))).await;
    let steps: Vec<(&str, &str, &str)> = log["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["from"].as_str().unwrap(),
                t["to"].as_str().unwrap(),
                t["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("open", "resolved", "api"),
            ("resolved", "open", "customer")
        ]
    );
    assert_eq!(thread(&app, &id).await.len(), 4);
}

async fn idle_conversations_are_resolved_automatically(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.auto_resolve.after = Some(Duration::from_secs(1));
        config.auto_resolve.interval = Duration::from_millis(200);
    })
    .await;
    no_automatic_handoff(&app).await;
    let idle = start(&app, "cust_ed", "web", "Where is my order?").await;
    let waiting = start(&app, "cust_fa", "web", "Where is my order?").await;
    let (status, _) = post(&app, &conv(&waiting, "handoff"), json!({})).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let (_, state) = send_json(app.get(&format!("/api/v1/platform/conversations/{idle}"))).await;
    assert_eq!(state["status"], "resolved", "{state}");
    let (_, log) = send_json(app.get(&conv(&idle, "transitions"))).await;
    assert_eq!(log["transitions"][0]["actor"], "system");
    assert_eq!(
        count_events(&events_of(&app, &idle).await, "conversation.resolved"),
        1
    );
    // A customer waiting for a person is never resolved behind their back.
    let (_, state) = send_json(app.get(&format!("/api/v1/platform/conversations/{waiting}"))).await;
    assert_eq!(state["status"], "pending_human", "{state}");
}

async fn csat_is_stored_once_and_a_second_rating_replaces_it(backend: Backend) {
    let app = spawn_app(backend).await;
    no_automatic_handoff(&app).await;
    let id = start(&app, "cust_gu", "web", "Where is my order?").await;
    let (status, first) = post(
        &app,
        &conv(&id, "csat"),
        json!({"rating": 4, "comment": "quick"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["rating"].as_i64(), first["replaced"].as_bool()),
        (Some(4), Some(false))
    );
    let (status, second) = post(&app, &conv(&id, "csat"), json!({"rating": 2})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        (second["rating"].as_i64(), second["replaced"].as_bool()),
        (Some(2), Some(true))
    );
    let (status, err) = post(&app, &conv(&id, "csat"), json!({"rating": 6})).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["detail"].as_str().unwrap().starts_with("rating"),
        "{err}"
    );
    let events = events_of(&app, &id).await;
    let csat: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "csat.submitted")
        .collect();
    assert_eq!(csat.len(), 2);
    assert_eq!(csat[1]["data"]["replaced"], true);
    let summary = summary(&app, "").await;
    assert_eq!(
        summary["csat"]["average"], 2.0,
        "one rating per conversation: {summary}"
    );
}

async fn summary(app: &TestApp, query: &str) -> Value {
    let (status, body) =
        send_json(app.get(&format!("/api/v1/platform/analytics/summary{query}"))).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn analytics_match_a_hand_computed_fixture(backend: Backend) {
    let app = spawn_app(backend).await;
    no_automatic_handoff(&app).await;
    // c1: resolved by the agent, rated 5.
    let c1 = start(&app, "cust_1", "web", "Where is my order?").await;
    assert_eq!(post(&app, &conv(&c1, "resolve"), json!({})).await.0, 200);
    assert_eq!(
        post(&app, &conv(&c1, "csat"), json!({"rating": 5})).await.0,
        200
    );
    // c2: handed off, assigned, answered and resolved by a human; rated 3 then 4.
    let c2 = start(&app, "cust_2", "web", "Where is my order?").await;
    assert_eq!(
        post(&app, &conv(&c2, "handoff"), json!({"reason": "refund"}))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&app, &conv(&c2, "assign"), json!({"assignee": "alice"}))
            .await
            .0,
        200
    );
    let reply = json!({"text": "Refund sent.", "author": "alice"});
    assert_eq!(post(&app, &conv(&c2, "messages"), reply).await.0, 201);
    assert_eq!(post(&app, &conv(&c2, "resolve"), json!({})).await.0, 200);
    assert_eq!(
        post(&app, &conv(&c2, "csat"), json!({"rating": 3})).await.0,
        200
    );
    assert_eq!(
        post(&app, &conv(&c2, "csat"), json!({"rating": 4})).await.0,
        200
    );
    // c3: WhatsApp, still open, unrated.
    let _c3 = start(&app, "cust_3", "whatsapp", "Where is my order?").await;
    // c4: resolved, reopened by the customer, resolved again by the agent; rated 2.
    let c4 = start(&app, "cust_4", "web", "Where is my order?").await;
    assert_eq!(post(&app, &conv(&c4, "resolve"), json!({})).await.0, 200);
    let (status, _) = app
        .chat("cust_4", "Actually, one more thing", Some(&c4))
        .await;
    assert_eq!(status, 200);
    assert_eq!(post(&app, &conv(&c4, "resolve"), json!({})).await.0, 200);
    assert_eq!(
        post(&app, &conv(&c4, "csat"), json!({"rating": 2})).await.0,
        200
    );

    // Another organization's busy day never shows.
    let (other_org, other_key) = app.create_org(Plan::Scale, Some(1_000_000), None).await;
    let (status, other) = send_json(
        app.client
            .post(app.url(CHAT))
            .bearer_auth(&other_key)
            .json(&json!({"message": "I want to talk to a human", "customer_id": "x", "organization_id": other_org})),
    )
    .await;
    assert_eq!(status, 200, "{other}");
    let other_id = other["conversation_id"].as_str().unwrap();

    let s = summary(&app, "").await;
    // Hand-computed: 4 conversations; messages 2 + (2 + 1 human) + 2 + (2 + 2) = 11.
    assert_eq!(s["conversations"], 4, "{s}");
    assert_eq!(s["messages"], 11);
    assert_eq!(s["resolved"], 3);
    assert_eq!(s["resolution_rate"], 0.75);
    assert_eq!(
        (
            s["ai_resolved"].as_i64(),
            s["human_resolved"].as_i64(),
            s["unresolved"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(s["handed_off"], 1);
    assert_eq!(s["handoff_rate"], 0.25);
    assert_eq!(s["reopened"], 1);
    assert_eq!(s["reopen_rate"], 0.25);
    assert_eq!(s["csat"]["responses"], 3);
    assert_eq!(s["csat"]["response_rate"], 1.0);
    assert_eq!(s["csat"]["average"], 3.67); // (5 + 4 + 2) / 3
    assert_eq!(s["csat"]["ai_resolved_average"], 3.5); // (5 + 2) / 2
    assert_eq!(s["csat"]["human_resolved_average"], 4.0);
    assert!(
        s["median_first_response_secs"].as_f64().unwrap() >= 0.0,
        "{s}"
    );
    assert!(
        s["median_time_to_resolution_secs"].as_f64().unwrap() >= 0.0,
        "{s}"
    );
    assert!(
        s["median_human_first_response_secs"].as_f64().unwrap() >= 0.0,
        "{s}"
    );
    let channels: Vec<(String, i64)> = s["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap().to_owned(),
                c["conversations"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        channels,
        [("web".to_owned(), 3), ("whatsapp".to_owned(), 1)]
    );
    let intents: i64 = s["top_intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["conversations"].as_i64().unwrap())
        .sum();
    assert_eq!(intents, 4, "every conversation has an intent: {s}");
    let today: i64 = s["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["conversations"].as_i64().unwrap())
        .sum();
    assert_eq!(today, 4);
    assert_eq!(
        s["series"].as_array().unwrap().len(),
        31,
        "30 days back from now span 31 UTC dates"
    );

    let whatsapp = summary(&app, "?channel=whatsapp").await;
    assert_eq!(
        (
            whatsapp["conversations"].as_i64(),
            whatsapp["resolved"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(whatsapp["resolution_rate"], 0.0);
    assert_eq!(whatsapp["csat"]["average"], Value::Null);
    let empty = summary(&app, "?from=2020-01-01&to=2020-01-02").await;
    assert_eq!(empty["conversations"], 0);
    assert_eq!(empty["series"].as_array().unwrap().len(), 2);
    let (status, err) =
        send_json(app.get("/api/v1/platform/analytics/summary?granularity=hour")).await;
    assert_eq!(status, 422, "{err}");

    // The other organization's conversation is invisible and untouchable.
    assert_eq!(inbox(&app, "").await["conversations"], json!([]));
    for action in [
        "handoff",
        "resolve",
        "close",
        "return-to-agent",
        "transitions",
    ] {
        let request = if action == "transitions" {
            app.get(&conv(other_id, action))
        } else {
            app.post(&conv(other_id, action)).json(&json!({}))
        };
        let (status, body) = send_json(request).await;
        assert_eq!(status, 404, "{action}: {body}");
    }
    let (status, _) = post(&app, &conv(other_id, "csat"), json!({"rating": 1})).await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &app,
        &conv(other_id, "assign"),
        json!({"assignee": "mallory"}),
    )
    .await;
    assert_eq!(status, 404);
}

both_backends!(
    a_customer_asking_for_a_person_lands_in_the_inbox,
    an_escalation_keyword_hands_off_by_rule,
    humans_take_over_and_the_agent_stays_quiet,
    resolve_close_and_reopen_are_recorded_with_who_resolved,
    a_status_change_while_the_agent_works_is_not_overwritten,
    idle_conversations_are_resolved_automatically,
    csat_is_stored_once_and_a_second_rating_replaces_it,
    analytics_match_a_hand_computed_fixture,
);
