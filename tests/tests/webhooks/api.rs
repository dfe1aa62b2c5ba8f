//! The subscription API: create (secret shown once), list, get, update, delete, validation
//! and the SSRF guard, and the OpenAPI description.

use serde_json::json;
use tests::{both_backends, send_json, spawn_app_with, Backend};

use super::receiver::fast_webhooks;

const WEBHOOKS: &str = "/api/v1/dashboard/webhooks";

async fn endpoints_can_be_created_listed_updated_and_deleted(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let (status, created) = send_json(app.post(WEBHOOKS).json(&json!({
        "url": "http://127.0.0.1:9/hook",
        "events": ["message.received", "message.received", "handoff.requested"],
        "description": "CRM",
    })))
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("whk_"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        created["events"],
        json!(["message.received", "handoff.requested"])
    );
    assert_eq!(created["enabled"], true);

    let (status, one) = send_json(app.get(&format!("{WEBHOOKS}/{id}"))).await;
    assert_eq!(status, 200);
    assert!(
        one.get("secret").is_none(),
        "the secret is shown only once: {one}"
    );
    assert_eq!(one["description"], "CRM");
    let (status, list) = send_json(app.get(WEBHOOKS)).await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("whsec_"));

    let (status, updated) = send_json(
        app.patch(&format!("{WEBHOOKS}/{id}"))
            .json(&json!({"events": ["*"], "description": "all"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["events"], json!(["*"]));
    assert_eq!(updated["url"], "http://127.0.0.1:9/hook");

    let response = app
        .delete(&format!("{WEBHOOKS}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = send_json(app.get(&format!("{WEBHOOKS}/{id}"))).await;
    assert_eq!(status, 404, "{body}");
}

async fn bad_urls_private_addresses_and_unknown_events_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url:"),
        (json!({"url": "http://10.0.0.7/hook"}), "url:"),
        (
            json!({"url": "http://169.254.169.254/latest/meta-data"}),
            "url:",
        ),
        (json!({"url": "http://127.0.0.2:8080/hook"}), "url:"),
        (json!({"url": "http://[::1]/hook"}), "url:"),
        (json!({"url": "https://user:pw@example.com/"}), "url:"),
        (
            json!({"url": "https://example.com/", "events": ["message.deleted"]}),
            "events:",
        ),
        (
            json!({"url": "https://example.com/", "events": []}),
            "events:",
        ),
        (
            json!({"url": "https://example.com/", "description": "x".repeat(501)}),
            "description:",
        ),
    ] {
        let (status, response) = send_json(app.post(WEBHOOKS).json(&body)).await;
        assert_eq!(status, 422, "{body} -> {response}");
        assert!(
            response["detail"].as_str().unwrap().starts_with(field),
            "{response}"
        );
    }
    let (status, response) = send_json(app.post(WEBHOOKS).json(&json!({"events": ["*"]}))).await;
    assert_eq!(status, 422, "{response}");
    let (status, _) = send_json(app.get(&format!("{WEBHOOKS}/whk_doesnotexist"))).await;
    assert_eq!(status, 404);
    let (status, _) = send_json(app.get(&format!("{WEBHOOKS}/not-an-id"))).await;
    assert_eq!(status, 404);
    let (status, body) = send_json(app.get(&format!("{WEBHOOKS}/events?limit=0"))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = send_json(app.get(&format!("{WEBHOOKS}/events?cursor=garbage"))).await;
    assert_eq!(status, 400, "{body}");
    let response = app.client.get(app.url(WEBHOOKS)).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

async fn the_openapi_document_describes_the_webhook_routes(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let (status, doc) = send_json(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/dashboard/webhooks",
        "/api/v1/dashboard/webhooks/{id}",
        "/api/v1/dashboard/webhooks/{id}/rotate-secret",
        "/api/v1/dashboard/webhooks/{id}/test",
        "/api/v1/dashboard/webhooks/{id}/deliveries",
        "/api/v1/dashboard/webhooks/{id}/replay",
        "/api/v1/dashboard/webhooks/events",
        "/api/v1/dashboard/webhooks/events/{event_id}/replay",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

both_backends!(
    endpoints_can_be_created_listed_updated_and_deleted,
    bad_urls_private_addresses_and_unknown_events_are_refused,
    the_openapi_document_describes_the_webhook_routes,
);
