//! Authentication and tenancy: every `/api/v1` request needs a valid key, and no key ever
//! reaches another organization's data.

use engine::store::orgs::Plan;
use serde_json::json;
use tests::{both_backends, send_json, spawn_app, Backend, CHAT};

async fn requests_without_a_valid_key_are_refused_with_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.url("/api/v1/platform/conversations");

    let missing = app.client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("Authorization"),
        "{body}"
    );

    for header in [
        "Bearer",
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "bk_live_x",
    ] {
        let (status, body) = send_json(app.client.get(&url).header("authorization", header)).await;
        assert_eq!(status, 401, "{header}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }

    // Well formed, but never issued.
    let unknown = format!("bk_live_{}", "A".repeat(40));
    let (status, body) = send_json(app.client.get(&url).bearer_auth(unknown)).await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "the API key is not valid");

    // The real key works.
    let (status, _) = send_json(app.get("/api/v1/platform/conversations")).await;
    assert_eq!(status, 200);
}

async fn a_revoked_key_stops_working_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, created) = send_json(
        app.post("/api/v1/dashboard/api-keys")
            .json(&json!({"name": "to-revoke"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["api_key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let probe = || {
        app.client
            .get(app.url("/api/v1/platform/conversations"))
            .bearer_auth(&secret)
    };
    assert_eq!(send_json(probe()).await.0, 200);

    let (status, revoked) =
        send_json(app.delete(&format!("/api/v1/dashboard/api-keys/{id}"))).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");

    let (status, body) = send_json(probe()).await;
    assert_eq!(status, 401);
    assert_eq!(body["detail"], "the API key has been revoked");
}

async fn another_organization_is_never_reachable(backend: Backend) {
    let app = spawn_app(backend).await;
    let (other_org, other_key) = app.create_org(Plan::Growth, None, None).await;

    // The other organization starts a conversation.
    let (status, theirs) = send_json(
        app.client
            .post(app.url(CHAT))
            .bearer_auth(&other_key)
            .json(&json!({"message": "hi", "customer_id": "c1", "organization_id": other_org})),
    )
    .await;
    assert_eq!(status, 200, "{theirs}");
    let their_conversation = theirs["conversation_id"].as_str().unwrap();

    // Naming their organization in our body: 403.
    let (status, body) = send_json(
        app.post(CHAT)
            .json(&json!({"message": "hi", "customer_id": "c1", "organization_id": other_org})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("organization_id"));

    // Their conversation id through our key: 404 everywhere.
    for path in [
        format!("/api/v1/platform/conversations/{their_conversation}"),
        format!("/api/v1/platform/conversations/{their_conversation}/messages"),
    ] {
        let (status, body) = send_json(app.get(&path)).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, body) = app.chat("c1", "continue", Some(their_conversation)).await;
    assert_eq!(status, 404, "{body}");

    // Their key ids are not ours to revoke or rotate.
    let (_, their_keys) = send_json(
        app.client
            .get(app.url("/api/v1/dashboard/api-keys"))
            .bearer_auth(&other_key),
    )
    .await;
    let their_key_id = their_keys["api_keys"][0]["id"].as_str().unwrap();
    let (status, _) =
        send_json(app.delete(&format!("/api/v1/dashboard/api-keys/{their_key_id}"))).await;
    assert_eq!(status, 404);
    let (status, _) =
        send_json(app.post(&format!("/api/v1/dashboard/api-keys/{their_key_id}/rotate"))).await;
    assert_eq!(status, 404);

    // And our listing does not show their conversation.
    let (_, ours) = send_json(app.get("/api/v1/platform/conversations")).await;
    assert_eq!(ours["conversations"].as_array().unwrap().len(), 0, "{ours}");
}

both_backends!(
    requests_without_a_valid_key_are_refused_with_401,
    a_revoked_key_stops_working_at_once,
    another_organization_is_never_reachable,
);
