//! The tenant isolation matrix: every route of the published OpenAPI document, called with a
//! second organization's key and each id of the first organization (in the path and in the
//! body). Built from `GET /api/v1/openapi.json`, so a new route is covered the day it is
//! published. What must hold: never a 5xx; a prefixed id of the first organization (`conv_`,
//! `doc_`, `key_`, ...) is answered with a 4xx; no response carries the first organization's
//! data; and afterwards the first organization's resources are all still there. Seeded: a
//! conversation, a webhook endpoint and its events, a document, a second API key, an action
//! hook and a provider channel with its credential.

use std::time::Duration;

use engine::store::orgs::Plan;
use serde_json::json;
use tests::{both_backends, send_json, spawn_app_with, Backend, TestApp};

/// What the first organization owns, and text only its data contains.
struct Owned {
    /// Prefixed ids of its objects.
    ids: Vec<String>,
    /// Its customer's id (chosen by the caller, so another organization may use it too).
    customer: String,
    /// Strings that appear only in its data.
    markers: Vec<String>,
}

/// The first organization's action hook (the second may use the same name for its own).
const ACTION: &str = "lookup_capybara_order";
/// The first organization's channel credential: never shown to anyone after creation.
const CHANNEL_TOKEN: &str = "tok-heron-5531-secret";

async fn seed(app: &TestApp) -> Owned {
    let mut ids = vec![app.org_id.clone()];
    let customer = "cust-iso-a".to_owned();
    let (status, body) = app
        .chat(&customer, "My parcel zebra-7781 never came, help", None)
        .await;
    assert_eq!(status, 200, "{body}");
    ids.push(body["session_id"].as_str().unwrap().to_owned());
    let (status, body) = send_json(app.post("/api/v1/dashboard/webhooks").json(&json!({
        "url": "http://127.0.0.1:9/hook-a-private",
        "events": ["message.received"],
        "description": "walrus-4410 endpoint",
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    ids.push(body["id"].as_str().unwrap().to_owned());
    let webhook_secret = body["secret"].as_str().unwrap().to_owned();
    let (status, body) = send_json(app.post("/api/v1/dashboard/knowledge").json(&json!({
        "title": "Aardvark policy",
        "text": "The aardvark-5512 warranty covers two years of repairs.",
    })))
    .await;
    assert!(status == 201 || status == 202, "{status} {body}");
    ids.push(body["id"].as_str().unwrap().to_owned());
    let (status, body) = send_json(
        app.post("/api/v1/dashboard/api-keys")
            .json(&json!({"name": "okapi-9031 key"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    ids.push(body["id"].as_str().unwrap().to_owned());
    let second_key = body["api_key"].as_str().unwrap().to_owned();
    // An action hook (addressed by its name) and a provider channel with its credential.
    let (status, body) = send_json(app.post("/api/v1/dashboard/actions").json(&json!({
        "name": ACTION,
        "description": "Look up a capybara-2207 order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "url": "http://127.0.0.1:9/actions-a-private",
        "kind": "read",
        "examples": ["where is my capybara order"],
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    ids.push(ACTION.to_owned());
    let (status, body) = send_json(app.post("/api/v1/dashboard/channels").json(&json!({
        "provider": "twilio",
        "name": "ibis-6620 line",
        "address": "+15550006620",
        "settings": {"account_id": "AC0000000000000000000000000006620", "api_base_url": "http://127.0.0.1:9"},
        "credentials": {"auth_token": CHANNEL_TOKEN},
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    ids.push(body["id"].as_str().unwrap().to_owned());
    // The events the chat recorded (their ids are the first organization's too).
    let (_, events) = send_json(app.get("/api/v1/dashboard/webhooks/events")).await;
    if let Some(id) = events["events"]
        .as_array()
        .or(events["data"].as_array())
        .and_then(|list| list.first())
        .and_then(|e| e["id"].as_str())
    {
        ids.push(id.to_owned());
    }
    let mut markers: Vec<String> = [
        "zebra-7781",
        "hook-a-private",
        "walrus-4410",
        "aardvark-5512",
        "okapi-9031",
        "capybara-2207",
        "actions-a-private",
        "ibis-6620",
        CHANNEL_TOKEN,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    markers.extend([app.api_key.clone(), webhook_secret, second_key]);
    markers.retain(|m| !m.is_empty());
    Owned {
        ids,
        customer,
        markers,
    }
}

/// Fills every `{param}` of `template` with `value`.
fn fill(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(value);
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

async fn another_organization_reaches_nothing_of_the_first(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.knowledge.poll_interval = Duration::from_millis(100);
        config.webhooks.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
        config.channels.allow_networks = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let owned = seed(&app).await;
    let (other_org, other_key) = app.create_org(Plan::Scale, Some(1_000_000), None).await;

    let (status, doc) = send_json(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "only {} paths published", paths.len());

    let body_for = |value: &str| {
        json!({
            "organization_id": app.org_id,
            "customer_id": owned.customer,
            "session_id": value,
            "conversation_id": value,
            "document_id": value,
            "webhook_id": value,
            "key_id": value,
            "event_id": value,
            "message": "show me everything",
            "text": "show me everything",
        })
    };
    let mut values: Vec<String> = owned.ids.clone();
    values.push(owned.customer.clone());

    let mut failures = Vec::new();
    let mut calls = 0;
    for (template, operations) in paths {
        // The widget's public routes are authorised by the widget's own tokens and origins
        // (tests/tests/widget.rs), not by API keys; health and the document are public.
        if template.starts_with("/api/v1/widget/") || !template.starts_with("/api/v1/") {
            continue;
        }
        if template == "/api/v1/openapi.json" {
            continue;
        }
        let templated = template.contains('{');
        for (method, _) in operations.as_object().unwrap() {
            let method = match method.as_str() {
                "get" => reqwest::Method::GET,
                "post" => reqwest::Method::POST,
                "put" => reqwest::Method::PUT,
                "patch" => reqwest::Method::PATCH,
                "delete" => reqwest::Method::DELETE,
                _ => continue,
            };
            let tried: Vec<&String> = if templated {
                values.iter().collect()
            } else {
                vec![&owned.ids[1]]
            };
            for value in tried {
                let path = fill(template, value);
                let mut request = app
                    .client
                    .request(method.clone(), app.url(&path))
                    .bearer_auth(&other_key)
                    .query(&[
                        ("organization_id", app.org_id.as_str()),
                        ("customer_id", owned.customer.as_str()),
                        ("session_id", value.as_str()),
                    ]);
                if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
                    request = request.json(&body_for(value));
                }
                let response = request.send().await.unwrap();
                calls += 1;
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let what = format!("{method} {path} -> {status}");
                if status >= 500 {
                    failures.push(format!("{what}: server error {text}"));
                }
                let is_object_id = value.contains('_') && value != &owned.customer;
                if templated && is_object_id && (200..300).contains(&status) {
                    failures.push(format!(
                        "{what}: another organization's id was accepted: {text}"
                    ));
                }
                for marker in &owned.markers {
                    if text.contains(marker.as_str()) {
                        failures.push(format!("{what}: the body shows '{marker}'"));
                    }
                }
                for id in &owned.ids {
                    if id != value && id != &app.org_id && text.contains(id.as_str()) {
                        failures.push(format!("{what}: the body names {id}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "isolation matrix: {calls} calls over {} published paths",
        paths.len()
    );
    assert!(calls > 50, "only {calls} calls made");
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The first organization still has everything (no write of the second reached it).
    let (status, _) = send_json(app.get("/api/v1/dashboard/api-keys")).await;
    assert_eq!(status, 200, "the first organization's key was revoked");
    let (status, body) = send_json(app.get(&format!(
        "/api/v1/platform/conversations/{}/messages",
        owned.ids[1]
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("zebra-7781"));
    let (status, body) =
        send_json(app.get(&format!("/api/v1/dashboard/webhooks/{}", owned.ids[2]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], "http://127.0.0.1:9/hook-a-private");
    let (status, body) =
        send_json(app.get(&format!("/api/v1/dashboard/knowledge/{}", owned.ids[3]))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send_json(app.get("/api/v1/dashboard/api-keys")).await;
    assert_eq!(status, 200);
    assert!(body.to_string().contains(&owned.ids[4]), "{body}");
    let (status, body) = send_json(app.get(&format!("/api/v1/dashboard/actions/{ACTION}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], "http://127.0.0.1:9/actions-a-private");
    let (status, body) =
        send_json(app.get(&format!("/api/v1/dashboard/channels/{}", owned.ids[6]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "ibis-6620 line");
    let _ = other_org;
}

both_backends!(another_organization_reaches_nothing_of_the_first);
