//! Two `blaigent` servers on one PostgreSQL database, as two replicas behind a load balancer:
//! the rate limit, the widget's per-address limit, the dashboard's sign-in attempt limit and
//! the free-plan quota hold across both, a conversation continues on either, every webhook
//! event is delivered once and every ingestion job runs once.

use std::time::Duration;

use engine::ids::OrganizationId;
use engine::service::users;
use engine::store::orgs::Plan;
use engine::store::users::Role;
use serde_json::{json, Value};
use tests::{send_json, spawn_app_with, Backend, TestApp, CHAT};

use crate::receiver::{create_webhook, fast_webhooks, Receiver};
use tests::replica::Replica;

fn configure(config: &mut api::Config) {
    fast_webhooks(config);
    config.knowledge.poll_interval = Duration::from_millis(100);
}

/// The first replica (with the harness's default organization) and a second one.
async fn two_replicas() -> (TestApp, Replica) {
    let a = spawn_app_with(Backend::Postgres, configure).await;
    let b = Replica::start(&a.db.url, configure).await;
    (a, b)
}

async fn chat_on(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    org: &str,
    customer: &str,
    session: Option<&str>,
) -> (u16, Value) {
    let mut body =
        json!({"message": "Where is my order?", "customer_id": customer, "organization_id": org});
    if let Some(session) = session {
        body["session_id"] = Value::from(session);
    }
    send_json(
        client
            .post(format!("{base}{CHAT}"))
            .bearer_auth(key)
            .json(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_and_the_quota_hold_across_replicas() {
    let (a, b) = two_replicas().await;
    assert!(a.state.limiter.is_shared() && b.state.limiter.is_shared());

    // 10 requests a minute, asked alternately of both replicas: about 10 pass in all (one
    // more may refill while the loop runs), not 10 per replica.
    let (_, key) = a.create_org(Plan::Starter, Some(10), None).await;
    let bases = [a.base_url.clone(), b.base_url.clone()];
    let (mut allowed, mut refused) = (0, [0, 0]);
    for i in 0..30 {
        let response = a
            .client
            .get(format!("{}/api/v1/platform/conversations", bases[i % 2]))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => allowed += 1,
            429 => {
                refused[i % 2] += 1;
                assert!(response.headers().contains_key("retry-after"));
                assert_eq!(response.headers()["x-ratelimit-limit"], "10");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((10..=11).contains(&allowed), "{allowed} requests allowed");
    assert!(refused[0] > 0 && refused[1] > 0, "{refused:?}");

    // A free organization with a quota of 3 new conversations: the 4th is refused whichever
    // replica it reaches.
    let (org, key) = a.create_org(Plan::Free, Some(1_000), Some(3)).await;
    for i in 0..3 {
        let base = &bases[i % 2];
        let (status, body) = chat_on(&a.client, base, &key, &org, &format!("c{i}"), None).await;
        assert_eq!(status, 200, "{body}");
    }
    for base in &bases {
        let (status, body) = chat_on(&a.client, base, &key, &org, "c-late", None).await;
        assert_eq!(status, 429, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("quota"), "{body}");
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widgets_per_address_limit_holds_across_replicas() {
    let per_address = |config: &mut api::Config| {
        configure(config);
        config.widget.ip_per_min = 4;
    };
    let a = spawn_app_with(Backend::Postgres, per_address).await;
    let b = Replica::start(&a.db.url, per_address).await;
    let shop = "https://shop.example";
    let (status, body) = send_json(
        a.patch("/api/v1/dashboard/agent-config")
            .json(&json!({"allowed_origins": [shop]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // One visitor address opening sessions on both replicas in turn: 4 in all, not 4 each.
    let bases = [a.base_url.clone(), b.base_url.clone()];
    let (mut opened, mut refused) = (0, [0, 0]);
    for i in 0..12 {
        let (status, body) = send_json(
            a.client
                .post(format!(
                    "{}/api/v1/widget/{}/sessions",
                    bases[i % 2],
                    a.org_id
                ))
                .header("origin", shop)
                .json(&json!({})),
        )
        .await;
        match status {
            200 => opened += 1,
            429 => {
                refused[i % 2] += 1;
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains("per-IP limit of 4"), "{body}");
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(opened, 4, "sessions opened");
    assert!(refused[0] > 0 && refused[1] > 0, "{refused:?}");
    b.stop().await;
}

/// Posts the dashboard's sign-in form on the server at `base` (opening the form first for its
/// double-submit token); returns the status.
async fn sign_in_on(base: &str, email: &str, password: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{base}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let cookie = form
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("blaigent_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("the form sets its token cookie")
        .to_owned();
    client
        .post(format!("{base}/dashboard/login"))
        .header(
            reqwest::header::COOKIE,
            format!("blaigent_login_csrf={cookie}"),
        )
        .form(&[("email", email), ("password", password), ("_csrf", &cookie)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_on_one_replica_lock_the_account_on_the_other() {
    let (a, b) = two_replicas().await;
    let org = OrganizationId::parse(&a.org_id).unwrap();
    let password = "correct horse battery";
    users::create_user(
        &a.state.store,
        &org,
        "owner@shop.example",
        "",
        Role::Owner,
        password,
    )
    .await
    .unwrap();

    // Five wrong passwords, alternating between the replicas: the limit is five in all.
    let bases = [a.base_url.clone(), b.base_url.clone()];
    for i in 0..5 {
        let status = sign_in_on(&bases[i % 2], "owner@shop.example", "guess guess").await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // Both replicas now refuse even the right password.
    for base in &bases {
        assert_eq!(sign_in_on(base, "owner@shop.example", password).await, 429);
    }
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_continues_on_either_replica_and_events_are_delivered_once() {
    let (a, b) = two_replicas().await;
    let receiver = Receiver::start().await;
    create_webhook(&a, &receiver.url, json!(["message.received"])).await;

    // Three customers, each talking to both replicas in turn.
    let bases = [a.base_url.clone(), b.base_url.clone()];
    let mut sessions = Vec::new();
    for customer in ["ann", "bob", "cyd"] {
        let mut session: Option<String> = None;
        for turn in 0..4 {
            let (status, body) = chat_on(
                &a.client,
                &bases[turn % 2],
                &a.api_key,
                &a.org_id,
                customer,
                session.as_deref(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let id = body["session_id"].as_str().unwrap().to_owned();
            if let Some(previous) = &session {
                assert_eq!(previous, &id, "the conversation was not continued");
            }
            session = Some(id);
        }
        sessions.push(session.unwrap());
    }
    for session in &sessions {
        for base in &bases {
            let (status, body) = send_json(
                a.client
                    .get(format!(
                        "{base}/api/v1/platform/conversations/{session}/messages"
                    ))
                    .bearer_auth(&a.api_key),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            // Both replicas show the same transcript: the 4 customer messages (the agent
            // hands off to a human after two turns it cannot help with, then stays quiet).
            let messages = body["messages"].as_array().unwrap();
            let from_customer = messages.iter().filter(|m| m["role"] == "customer").count();
            assert_eq!(from_customer, 4, "{body}");
        }
    }

    // 3 customers x 4 turns = 12 `message.received` events, each POSTed once although both
    // replicas' dispatchers poll the same outbox.
    receiver.wait_for(12).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let requests = receiver.requests();
    let mut ids: Vec<String> = requests.iter().map(|r| r.event_id()).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(total, 12, "{total} deliveries for {} events", ids.len());
    assert_eq!(ids.len(), 12);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ingestion_job_runs_once_across_replicas() {
    let (a, b) = two_replicas().await;
    let bases = [a.base_url.clone(), b.base_url.clone()];
    let mut documents = Vec::new();
    for i in 0..8 {
        let (status, body) = send_json(
            a.client
                .post(format!("{}/api/v1/dashboard/knowledge", bases[i % 2]))
                .bearer_auth(&a.api_key)
                .json(&json!({
                    "title": format!("Note {i}"),
                    "text": format!("Store number {i} opens at {} in the morning and closes late.", 7 + i),
                })),
        )
        .await;
        assert!(status == 201 || status == 202, "{status} {body}");
        documents.push(body["id"].as_str().unwrap().to_owned());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for id in &documents {
        loop {
            let (_, body) = send_json(a.get(&format!("/api/v1/dashboard/knowledge/{id}"))).await;
            if body["status"] == "ready" {
                break;
            }
            assert_ne!(body["status"], "failed", "{body}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "not indexed: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Each job was claimed exactly once (a second claim would have counted a second attempt).
    let attempts: Vec<(String, i64)> =
        sqlx::query_as("select document_id, attempts from ingest_jobs order by document_id")
            .fetch_all(a.state.store.pool())
            .await
            .unwrap();
    assert_eq!(attempts.len(), documents.len(), "{attempts:?}");
    assert!(attempts.iter().all(|(_, n)| *n == 1), "{attempts:?}");
    b.stop().await;
}
