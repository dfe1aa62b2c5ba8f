//! Request bodies: compressed bodies, deeply nested JSON, fields at and past their limits, and
//! bodies past the server's body limit.

use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend, CHAT};

use super::support::{
    assert_healthy, chat_body, file_form, gzip_bomb, RssWatch, KNOWLEDGE, MEMORY_BOUND_MIB,
};

/// The server never inflates a request body: a gzip bomb (512 MiB of zeros in about half a
/// megabyte) is refused with 415 before anything reads it, on the chat and the upload routes.
async fn compressed_bodies_are_refused_before_inflating(backend: Backend) {
    let app = spawn_app(backend).await;
    let bomb = gzip_bomb(512);
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let watch = RssWatch::start();
    for (path, content_type) in [(CHAT, "application/json"), (KNOWLEDGE, "application/json")] {
        for coding in ["gzip", "deflate", "br", "gzip, identity"] {
            let response = app
                .post(path)
                .header("content-type", content_type)
                .header("content-encoding", coding)
                .body(bomb.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 415, "{path} {coding}");
            assert_eq!(response.headers()["accept-encoding"], "identity");
            let body: Value = response.json().await.unwrap();
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains("Content-Encoding") && detail.contains("uncompressed"),
                "{detail}"
            );
        }
    }
    let growth = watch.growth_mib().await;
    assert!(growth < MEMORY_BOUND_MIB, "memory grew by {growth} MiB");

    // `identity` is no encoding at all: the body is read as sent.
    let (status, body) = send_json(
        app.post(CHAT)
            .header("content-encoding", "identity")
            .json(&chat_body(&app, "Hello")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_healthy(&app).await;
}

/// JSON nested 100,000 deep is refused with 400 by the parser's depth limit wherever JSON
/// arrives (a free-form `metadata` field, product rows, an uploaded `.json` file, a multipart
/// `metadata` part), without a stack overflow; nesting under the limit is accepted.
async fn deeply_nested_json_is_refused_with_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));

    let raw = |path: &str, body: String| {
        app.post(path)
            .header("content-type", "application/json")
            .body(body)
    };
    // A whole body of brackets is refused at the first one: a chat request is an object.
    let (status, body) = send_json(raw(CHAT, deep.clone())).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("invalid type"),
        "{body}"
    );
    let in_metadata = format!(
        r#"{{"message":"hi","customer_id":"c","organization_id":"{}","metadata":{{"x":{deep}}}}}"#,
        app.org_id
    );
    let (status, body) = send_json(raw(CHAT, in_metadata)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("recursion limit"),
        "{body}"
    );
    let products = format!(r#"{{"products":[{{"name":"x","spec":{deep}}}]}}"#);
    let (status, body) = send_json(raw(KNOWLEDGE, products)).await;
    assert_eq!(status, 400, "{body}");

    // A nested .json upload is an unreadable document, listed as failed with the reason.
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(file_form(
        deep.clone().into_bytes(),
        "deep.json",
        "application/json",
    )))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "failed", "{body}");
    assert!(
        body["failure_reason"]
            .as_str()
            .unwrap()
            .contains("recursion limit"),
        "{body}"
    );
    let form = file_form(
        b"Opening hours: 9 to 5.".to_vec(),
        "hours.txt",
        "text/plain",
    )
    .text("metadata", deep);
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(form)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"], "metadata must be a JSON object");

    // 100 levels is under the limit: accepted.
    let mut nested = json!("bottom");
    for _ in 0..100 {
        nested = json!([nested]);
    }
    let mut request = chat_body(&app, "Hello there");
    request["metadata"] = json!({ "nested": nested });
    let (status, reply) = send_json(app.post(CHAT).json(&request)).await;
    assert_eq!(status, 200, "{reply}");
    assert_healthy(&app).await;
}

/// Fields at their documented limit are accepted, one past it is refused with 422 naming the
/// field; a body past `BLAIGENT_MAX_BODY_BYTES` gets 413.
async fn field_limits_name_the_field_and_the_limit_itself_works(backend: Backend) {
    let app = spawn_app(backend).await;
    let org = app.org_id.clone();
    // 4000 characters of a two-byte letter: the limit counts characters, not bytes.
    let at_limit = "ü".repeat(4_000);
    let (status, body) = send_json(app.post(CHAT).json(&json!({
        "message": at_limit, "customer_id": "c".repeat(128), "organization_id": org,
    })))
    .await;
    assert_eq!(status, 200, "exactly at the limits: {body}");

    let metadata_at_limit = |len: usize| {
        // {"k":"vvv..."} is 8 bytes plus the value.
        json!({ "k": "v".repeat(len - 8) })
    };
    let many_keys: serde_json::Map<String, Value> =
        (0..5_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"message": "ü".repeat(4_001), "customer_id": "c", "organization_id": org}),
            422,
            "message: must be at most 4000 characters",
        ),
        (
            json!({"message": "hi", "customer_id": "c".repeat(129), "organization_id": org}),
            422,
            "customer_id: must be at most 128 characters",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org,
                   "metadata": metadata_at_limit(16 * 1024)}),
            200,
            "",
        ),
        (
            json!({"message": "hi", "customer_id": "c", "organization_id": org,
                   "metadata": metadata_at_limit(16 * 1024 + 1)}),
            422,
            "metadata: must be at most 16384 bytes",
        ),
        (
            // Many small keys: bounded by the same byte limit.
            json!({"message": "hi", "customer_id": "c", "organization_id": org,
                   "metadata": many_keys}),
            422,
            "metadata: must be at most 16384 bytes",
        ),
    ];
    for (request, expected, needle) in cases {
        let (status, body) = send_json(app.post(CHAT).json(&request)).await;
        assert_eq!(status, expected, "{needle}: {body}");
        if expected != 200 {
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.starts_with(needle), "{detail}");
        }
    }

    // Past the 1 MiB body limit: 413 with a detail, before the JSON is parsed.
    let huge =
        json!({"message": "x".repeat(2 * 1024 * 1024), "customer_id": "c", "organization_id": org});
    let response = app.post(CHAT).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    // The unread rest of the body makes the connection unusable: the client is told not to
    // pool it, so its next request opens a fresh one instead of failing on a reset socket.
    assert_eq!(
        response.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "a 413 closes the connection"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    assert_healthy(&app).await;
}

both_backends!(
    compressed_bodies_are_refused_before_inflating,
    deeply_nested_json_is_refused_with_400,
    field_limits_name_the_field_and_the_limit_itself_works,
);
