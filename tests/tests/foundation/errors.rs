//! Bad input is always a JSON client error that names the problem, never a 500.

use serde_json::{json, Value};
use tests::{both_backends, json_of, send_json, spawn_app, Backend, CHAT};

async fn malformed_and_invalid_chat_bodies_name_the_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = app.org_id.clone();
    let raw = |body: &str| {
        app.post(CHAT)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let (status, body) = send_json(raw("{\"message\": \"hi\",")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );

    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"message": 5, "customer_id": "c", "organization_id": org}),
            422,
            "message",
        ),
        (
            json!({"customer_id": "c", "organization_id": org}),
            422,
            "message",
        ),
        (
            json!({"message": "hi", "organization_id": org}),
            422,
            "customer_id",
        ),
        (
            json!({"message": "hi", "customer_id": "c"}),
            422,
            "organization_id",
        ),
        (
            json!({"message": "   ", "customer_id": "c", "organization_id": org}),
            422,
            "message",
        ),
        (
            json!({"message": "a".repeat(4001), "customer_id": "c", "organization_id": org}),
            422,
            "message",
        ),
        (
            json!({"message": "hi", "customer_id": "c".repeat(129), "organization_id": org}),
            422,
            "customer_id",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org, "channel": "fax"}),
            422,
            "channel",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org, "language": "english"}),
            422,
            "language",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org, "metadata": [1]}),
            422,
            "metadata",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org, "metadata": {"x": "y".repeat(20_000)}}),
            422,
            "metadata",
        ),
        (json!("just a string"), 422, "struct ChatRequest"),
    ];
    for (request, status, needle) in cases {
        let (got, body) = send_json(app.post(CHAT).json(&request)).await;
        assert_eq!(got, status, "{request}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{needle} not named: {body}");
    }

    let (status, body) = send_json(
        app.post(CHAT)
            .header("content-type", "text/plain")
            .body("hi"),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("application/json"));
}

async fn bodies_over_the_limit_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = json!({
        "message": "x".repeat(1_100_000),
        "customer_id": "c",
        "organization_id": app.org_id,
    });
    let (status, body) = send_json(app.post(CHAT).json(&big)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].is_string());
}

async fn unknown_routes_and_methods_answer_json_with_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/nope").send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let (status, body) = json_of(response).await;
    assert_eq!(status, 404);
    assert!(body["detail"].as_str().unwrap().contains("/api/v1/nope"));

    let (status, body) = send_json(app.get(CHAT)).await;
    assert_eq!(status, 405, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("GET"), "{body}");

    // A caller's request id is kept, so logs on both sides line up.
    let response = app
        .get("/api/v1/platform/conversations")
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
}

both_backends!(
    malformed_and_invalid_chat_bodies_name_the_problem,
    bodies_over_the_limit_are_413,
    unknown_routes_and_methods_answer_json_with_a_request_id,
);
