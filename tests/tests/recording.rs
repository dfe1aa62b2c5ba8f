//! Turn recording and replay (issue 9), on both databases: the recording switch through the
//! dashboard API, three recorded turns read back through the platform API, organizations that
//! do not record or do not own the conversation, then `blaigent-eval replay` (its library
//! function) against the very database: an unchanged setup replays without a change, a deleted
//! knowledge document is reported as a retrieval change, and the saved regression case passes
//! the conversations suite.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use engine::store::orgs::Plan;
use evals::replay::{self, ReplayOptions};
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend, TestApp, CHAT};

const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";
const RECORDING: &str = "/api/v1/dashboard/recording";

const REFUNDS: &str = "You can return any unused item within 30 days of delivery. Refunds are \
    paid to your original payment method within 5 business days after the return arrives at \
    our warehouse.";
const SHIPPING: &str = "Standard shipping within Germany takes 2 to 3 business days and costs \
    4.90 EUR. Orders over 60 EUR ship for free.";

/// Uploads a text document and waits until it is indexed; returns its id.
async fn upload(app: &TestApp, title: &str, text: &str) -> String {
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"title": title, "text": text})),
    )
    .await;
    assert!([200, 201, 202].contains(&status), "{status} {body}");
    let id = body["id"].as_str().expect("a document id").to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] == "ready" {
            return id;
        }
        assert_ne!(body["status"], "failed", "{body}");
        assert!(Instant::now() < deadline, "document {id} still processing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `messages` as one conversation of `key`'s organization; returns its id and replies.
async fn converse(app: &TestApp, org: &str, key: &str, messages: &[&str]) -> (String, Vec<Value>) {
    let mut session: Option<String> = None;
    let mut replies = Vec::new();
    for message in messages {
        let mut body =
            json!({"message": message, "customer_id": "cust-rec-1", "organization_id": org});
        if let Some(s) = &session {
            body["session_id"] = Value::from(s.as_str());
        }
        let (status, reply) =
            send_json(app.client.post(app.url(CHAT)).bearer_auth(key).json(&body)).await;
        assert_eq!(status, 200, "{reply}");
        session = reply["session_id"].as_str().map(str::to_owned);
        replies.push(reply);
    }
    (session.expect("a session id"), replies)
}

async fn recording_of(app: &TestApp, key: &str, conversation: &str) -> (u16, Value) {
    send_json(
        app.client
            .get(app.url(&format!(
                "/api/v1/platform/conversations/{conversation}/recording"
            )))
            .bearer_auth(key),
    )
    .await
}

async fn recording_and_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let refunds = upload(&app, "Refund policy", REFUNDS).await;
    upload(&app, "Shipping", SHIPPING).await;

    // Off by default: a turn records nothing.
    let (status, body) = send_json(app.get(RECORDING)).await;
    assert_eq!((status, &body["enabled"]), (200, &json!(false)), "{body}");
    let (quiet, _) = converse(&app, &app.org_id, &app.api_key, &["Hello there"]).await;
    let (status, body) = recording_of(&app, &app.api_key, &quiet).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["turns"], json!([]), "{body}");

    // The switch: a bad body is refused naming the problem, a good one is saved.
    let (status, body) = send_json(
        app.client
            .put(app.url(RECORDING))
            .bearer_auth(&app.api_key)
            .json(&json!({"enabled": "yes"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send_json(
        app.client
            .put(app.url(RECORDING))
            .bearer_auth(&app.api_key)
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!((status, &body["enabled"]), (200, &json!(true)), "{body}");
    let (_, body) = send_json(app.get(RECORDING)).await;
    assert_eq!(body["enabled"], json!(true), "{body}");

    // Three recorded turns, the second answered from the knowledge base.
    let messages = [
        "Hello there",
        "How many days do I have to return an item?",
        "Thanks, bye",
    ];
    let (conversation, replies) = converse(&app, &app.org_id, &app.api_key, &messages).await;
    let (status, body) = recording_of(&app, &app.api_key, &conversation).await;
    assert_eq!(status, 200, "{body}");
    let turns = body["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 3, "{body}");
    for (i, turn) in turns.iter().enumerate() {
        let trace = &turn["trace"];
        assert!(
            turn["id"].as_str().unwrap_or_default().starts_with("rec_"),
            "{turn}"
        );
        assert_eq!(trace["message"], json!(messages[i]), "{trace}");
        assert_eq!(trace["response"], replies[i]["response"], "{trace}");
        assert_eq!(trace["intent"], replies[i]["intent"], "{trace}");
        assert_eq!(trace["language"], json!("en"), "{trace}");
    }
    let knowledge_turn = &turns[1]["trace"];
    let retrieved: Vec<&str> = knowledge_turn["retrieved"]
        .as_array()
        .expect("retrieved passages")
        .iter()
        .filter_map(|p| p["document_id"].as_str())
        .collect();
    assert!(retrieved.contains(&refunds.as_str()), "{knowledge_turn}");
    assert!(
        knowledge_turn["retrieved"][0]["score"].is_number(),
        "{knowledge_turn}"
    );
    assert_eq!(
        knowledge_turn["cited_documents"][0],
        json!(refunds),
        "{knowledge_turn}"
    );
    assert!(
        replies[1]["response"]
            .as_str()
            .unwrap_or_default()
            .contains("30 days"),
        "{}",
        replies[1]
    );

    // Another organization neither sees this recording nor records its own turns.
    let (other_org, other_key) = app.create_org(Plan::Scale, Some(1_000_000), None).await;
    let (status, body) = recording_of(&app, &other_key, &conversation).await;
    assert_eq!(status, 404, "{body}");
    let (theirs, _) = converse(&app, &other_org, &other_key, &["Hello there"]).await;
    let (status, body) = recording_of(&app, &other_key, &theirs).await;
    assert_eq!((status, &body["turns"]), (200, &json!([])), "{body}");

    // Replay against the unchanged setup: nothing changed, exit status 0.
    let options = ReplayOptions {
        database_url: app.db.url.clone(),
        conversation: conversation.clone(),
        organization: None,
        data_dir: app.db.dir.path().to_path_buf(),
    };
    let report = replay::replay(&options).await.expect("replay");
    assert_eq!(report.turns.len(), 3);
    assert_eq!(report.organization_id, app.org_id);
    assert!(!report.changed(), "{}", report.markdown());
    assert_eq!(report.exit_code(), 0);

    // The saved regression case runs in the conversations suite and passes.
    let file = app.db.dir.path().join("regression.json");
    replay::save_case(&report, &app.db.url, &file)
        .await
        .expect("save");
    let set = evals::suites::conversations::load(&file).expect("the suite loads the case");
    assert_eq!(set.cases[0].turns.len(), 3);
    let suite =
        evals::suites::conversations::run(&set, replay::shared_embedder().expect("embedder"))
            .await
            .expect("the suite runs");
    assert_eq!(
        suite.metric("conversations.task_success_rate"),
        Some(1.0),
        "{}",
        suite.markdown()
    );

    // A changed setup: without the refund document, retrieval (and the answer) change.
    let (status, body) = send_json(app.delete(&format!("{KNOWLEDGE}/{refunds}"))).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let report = replay::replay(&options)
        .await
        .expect("replay after the change");
    assert!(report.changed());
    assert_eq!(report.exit_code(), 1);
    let stages: Vec<&str> = report.turns[1]
        .changes
        .iter()
        .map(|c| c.stage.as_str())
        .collect();
    assert!(stages.contains(&"retrieval"), "{}", report.markdown());
    assert!(report.turns[0].changes.is_empty(), "{}", report.markdown());
    assert!(
        report.markdown().contains("| retrieval |"),
        "{}",
        report.markdown()
    );
}

both_backends!(recording_and_replay);
