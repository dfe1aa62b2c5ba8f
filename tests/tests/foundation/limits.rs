//! Rate limits (per organization, by plan) and the free plan's monthly conversation quota.

use std::time::Instant;

use engine::store::orgs::Plan;
use serde_json::json;
use tests::{both_backends, json_of, send_json, spawn_app, Backend, CHAT};

fn header(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

async fn the_starter_plan_allows_60_requests_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, key) = app.create_org(Plan::Starter, None, None).await;
    let url = app.url("/api/v1/platform/conversations");
    let started = Instant::now();
    let mut allowed = 0u64;
    let refused = loop {
        let response = app.client.get(&url).bearer_auth(&key).send().await.unwrap();
        assert_eq!(header(&response, "x-ratelimit-limit"), 60);
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        if allowed == 0 {
            assert_eq!(header(&response, "x-ratelimit-remaining"), 59);
        }
        allowed += 1;
        assert!(allowed <= 200, "the limit never applied");
    };
    // The bucket refills one request per second while the loop runs.
    let elapsed = started.elapsed().as_secs();
    assert!(
        (60..=61 + elapsed).contains(&allowed),
        "{allowed} requests allowed in {elapsed} s"
    );
    assert!(header(&refused, "retry-after") >= 1);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
    assert!(header(&refused, "x-ratelimit-reset") >= 1);
    let (_, body) = json_of(refused).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("60 requests per minute"),
        "{body}"
    );

    // Another organization is unaffected.
    let (status, _) = send_json(app.get("/api/v1/platform/conversations")).await;
    assert_eq!(status, 200);
}

async fn a_configured_plan_limit_applies_to_every_endpoint(backend: Backend) {
    let app = spawn_app_with_limit(backend).await;
    let (org, key) = app.create_org(Plan::Growth, None, None).await;
    for i in 0..3 {
        let response = app
            .client
            .post(app.url(CHAT))
            .bearer_auth(&key)
            .json(&json!({"message": "hi", "customer_id": "c", "organization_id": org}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(header(&response, "x-ratelimit-limit"), 3);
    }
    let response = app
        .client
        .get(app.url("/api/v1/dashboard/agent-config"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

async fn spawn_app_with_limit(backend: Backend) -> tests::TestApp {
    tests::spawn_app_with(backend, |config| {
        config
            .rate_limits
            .apply_overrides("growth=3")
            .expect("a valid override");
    })
    .await
}

async fn the_free_plan_quota_refuses_new_conversations_but_not_old_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let (org, key) = app.create_org(Plan::Free, None, Some(3)).await;
    let chat = |session: Option<&str>| {
        let mut body = json!({"message": "hi", "customer_id": "c", "organization_id": org});
        if let Some(s) = session {
            body["session_id"] = json!(s);
        }
        app.client.post(app.url(CHAT)).bearer_auth(&key).json(&body)
    };
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (status, body) = send_json(chat(None)).await;
        assert_eq!(status, 200, "{body}");
        sessions.push(body["session_id"].as_str().unwrap().to_owned());
    }
    let response = chat(None).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(header(&response, "retry-after") >= 1);
    let (_, body) = json_of(response).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("monthly conversation quota"), "{detail}");

    let (status, body) = send_json(chat(Some(&sessions[0]))).await;
    assert_eq!(status, 200, "continuing must still work: {body}");
    let (_, page) = send_json(
        app.client
            .get(app.url("/api/v1/platform/conversations"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(page["conversations"].as_array().unwrap().len(), 3);
}

both_backends!(
    the_starter_plan_allows_60_requests_a_minute,
    a_configured_plan_limit_applies_to_every_endpoint,
    the_free_plan_quota_refuses_new_conversations_but_not_old_ones,
);
