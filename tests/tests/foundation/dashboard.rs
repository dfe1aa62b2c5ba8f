//! Agent configuration and API-key management.

use std::time::Duration;

use serde_json::json;
use tests::{both_backends, send_json, spawn_app, spawn_app_with, Backend};

async fn the_agent_config_is_patched_and_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, defaults) = send_json(app.get("/api/v1/dashboard/agent-config")).await;
    assert_eq!(status, 200);
    assert_eq!(defaults["tone"], "friendly");

    let (status, updated) = send_json(app.patch("/api/v1/dashboard/agent-config").json(&json!({
        "name": "Ava",
        "tone": "professional",
        "greeting": "Welcome to Acme!",
        "guardrails": {"blocked_topics": ["politics"], "instructions": "Never promise refunds."},
        "brand": {"accent_color": "#0ea5e9", "avatar_url": "https://cdn.acme.example/ava.png"},
    })))
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Ava");
    assert_eq!(updated["guardrails"]["blocked_topics"], json!(["politics"]));
    // Fields the patch did not name keep their values.
    assert_eq!(
        updated["guardrails"]["redact_pii"],
        defaults["guardrails"]["redact_pii"]
    );
    assert_eq!(updated["goal"], defaults["goal"]);

    let (_, read_back) = send_json(app.get("/api/v1/dashboard/agent-config")).await;
    assert_eq!(read_back, updated);

    for (patch, field) in [
        (json!({"nickname": "x"}), "nickname"),
        (json!({"brand": {"shade": "#000000"}}), "shade"),
        (json!({"tone": "sarcastic"}), "tone"),
        (json!({"name": 5}), "name"),
        (json!({"name": "x".repeat(81)}), "name"),
        (
            json!({"brand": {"accent_color": "blue"}}),
            "brand.accent_color",
        ),
        (
            json!({"brand": {"avatar_url": "javascript:alert(1)"}}),
            "brand.avatar_url",
        ),
        (
            json!({"guardrails": {"redact_pii": ["dna"]}}),
            "guardrails.redact_pii",
        ),
    ] {
        let (status, body) =
            send_json(app.patch("/api/v1/dashboard/agent-config").json(&patch)).await;
        assert_eq!(status, 422, "{patch}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{patch}: {body}"
        );
    }
    // Nothing invalid was stored.
    let (_, after) = send_json(app.get("/api/v1/dashboard/agent-config")).await;
    assert_eq!(after, updated);
}

async fn keys_are_listed_without_secrets(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, created) = send_json(
        app.post("/api/v1/dashboard/api-keys")
            .json(&json!({"name": "backend"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["api_key"].as_str().unwrap();
    assert!(
        secret.starts_with("bk_live_") && secret.len() == 48,
        "{secret}"
    );
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let response = app.get("/api/v1/dashboard/api-keys").send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(secret), "a listing leaked a secret");
    assert!(!text.contains(&app.api_key), "a listing leaked a secret");
    let listing: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = listing["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["name"], "backend");
    assert_eq!(keys[0]["status"], "active");

    // The new key works, and an empty POST body is fine too.
    let (status, _) = send_json(
        app.client
            .post(app.url("/api/v1/dashboard/api-keys"))
            .bearer_auth(secret),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send_json(
        app.post("/api/v1/dashboard/api-keys")
            .json(&json!({"name": "x", "scopes": ["all"]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = send_json(app.delete("/api/v1/dashboard/api-keys/key_nope")).await;
    assert_eq!(status, 404);
}

async fn a_rotated_key_works_until_its_grace_period_ends(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.key_rotation_grace_secs = 2).await;
    let (_, keys) = send_json(app.get("/api/v1/dashboard/api-keys")).await;
    let old_id = keys["api_keys"][0]["id"].as_str().unwrap().to_owned();

    let (status, rotated) =
        send_json(app.post(&format!("/api/v1/dashboard/api-keys/{old_id}/rotate"))).await;
    assert_eq!(status, 201, "{rotated}");
    let new_secret = rotated["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, app.api_key);

    let with = |secret: &str| {
        app.client
            .get(app.url("/api/v1/platform/conversations"))
            .bearer_auth(secret)
    };
    assert_eq!(
        send_json(with(&app.api_key)).await.0,
        200,
        "old key inside grace"
    );
    assert_eq!(send_json(with(&new_secret)).await.0, 200, "new key");
    let (_, listing) = send_json(
        app.client
            .get(app.url("/api/v1/dashboard/api-keys"))
            .bearer_auth(&new_secret),
    )
    .await;
    let old = listing["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(old["status"], "expiring");
    assert_eq!(old["replaced_by"], rotated["id"]);

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (status, body) = send_json(with(&app.api_key)).await;
    assert_eq!(status, 401, "old key after grace: {body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    assert_eq!(send_json(with(&new_secret)).await.0, 200);

    // An expired key cannot be rotated again.
    let (status, _) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/dashboard/api-keys/{old_id}/rotate")))
            .bearer_auth(&new_secret),
    )
    .await;
    assert_eq!(status, 409);
}

both_backends!(
    the_agent_config_is_patched_and_validated,
    keys_are_listed_without_secrets,
    a_rotated_key_works_until_its_grace_period_ends,
);
