//! The server's life: health, the API description, the CLI, restarts.

use std::collections::BTreeSet;

use api::cli::{run, Cli};
use clap::Parser;
use tests::{both_backends, send_json, spawn_app, Backend};

async fn data_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, reply) = app.chat("cust_1", "Where is my order?", None).await;
    assert_eq!(status, 200);
    let id = reply["conversation_id"].as_str().unwrap().to_owned();
    let old_url = app.base_url.clone();

    let app = app.restart().await;
    assert_ne!(app.base_url, old_url, "a new server on a new port");
    let (status, thread) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{id}/messages"))).await;
    assert_eq!(status, 200, "{thread}");
    assert_eq!(thread["messages"][0]["text"], "Where is my order?");
    let (status, reply) = app.chat("cust_1", "still there?", Some(&id)).await;
    assert_eq!(status, 200, "{reply}");
}

async fn health_and_readiness_answer_without_a_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = send_json(app.client.get(app.url("/healthz"))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = send_json(app.client.get(app.url("/readyz"))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
}

async fn the_openapi_document_lists_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, doc) = send_json(app.client.get(app.url("/api/v1/openapi.json"))).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let listed: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    for route in [
        "POST /api/v1/agents/customer-service/chat",
        "GET /api/v1/platform/conversations",
        "GET /api/v1/platform/conversations/{id}",
        "GET /api/v1/platform/conversations/{id}/messages",
        "GET /api/v1/dashboard/agent-config",
        "PATCH /api/v1/dashboard/agent-config",
        "POST /api/v1/dashboard/api-keys",
        "GET /api/v1/dashboard/api-keys",
        "DELETE /api/v1/dashboard/api-keys/{id}",
        "POST /api/v1/dashboard/api-keys/{id}/rotate",
        "GET /healthz",
        "GET /readyz",
        "GET /api/v1/openapi.json",
    ] {
        assert!(listed.contains(route), "{route} missing from {listed:?}");
    }
    // Every documented route is served (no stale entries): none answers 404 "no route".
    for route in &listed {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "x_unknown");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = send_json(
            app.client
                .request(method, app.url(&path))
                .bearer_auth(&app.api_key),
        )
        .await;
        let no_route = status == 404
            && body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no route"));
        assert!(!no_route, "{route} is documented but not served");
    }
}

async fn the_cli_creates_organizations_that_the_server_accepts(backend: Backend) {
    let app = spawn_app(backend).await;
    let cli = Cli::try_parse_from([
        "blaigent",
        "--database-url",
        &app.db.url,
        "org",
        "create",
        "--name",
        "Acme CLI",
        "--plan",
        "growth",
        "--json",
    ])
    .unwrap();
    run(cli).await.unwrap();
    let orgs = engine::service::orgs::list_orgs(&app.state.store)
        .await
        .unwrap();
    let acme = orgs.iter().find(|o| o.name == "Acme CLI").unwrap();
    assert_eq!(acme.plan.as_str(), "growth");
    let keys = engine::service::keys::list_keys(&app.state.store, &acme.id)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
}

both_backends!(
    data_survives_a_restart,
    health_and_readiness_answer_without_a_key,
    the_openapi_document_lists_every_route,
    the_cli_creates_organizations_that_the_server_accepts,
);
