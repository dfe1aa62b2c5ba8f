//! The database goes away and comes back. The server reaches PostgreSQL through a TCP proxy
//! this test runs, and the test cuts the proxy (every open connection and the listening
//! socket) rather than stopping the machine's PostgreSQL, which other suites use.

use std::time::Duration;

use engine::service::orgs;
use engine::store::orgs::{NewOrganization, Plan};
use serde_json::json;
use tests::tcp_proxy::TcpProxy;
use tests::{send_json, Backend, TestDatabase, CHAT};

use tests::replica::Replica;

/// Splits `postgres://user@host:port/name` into the upstream `host:port` and a function
/// giving the same URL through a proxy on `127.0.0.1:<port>`.
fn split_url(url: &str) -> (String, impl Fn(u16) -> String + '_) {
    let start = url.find("://").unwrap() + 3;
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let authority = &url[start..end];
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let upstream = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    let proxied =
        move |port: u16| format!("{}{user}127.0.0.1:{port}{}", &url[..start], &url[end..]);
    (upstream, proxied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_503_while_the_database_is_away_and_recovers_without_a_restart() {
    let db = TestDatabase::create(Backend::Postgres).await.unwrap();
    let db_url = db.url.clone();
    let (upstream, proxied) = split_url(&db_url);
    let proxy = TcpProxy::start(upstream).await;
    let proxied = proxied(proxy.port);
    let server = Replica::start(&proxied, |_| {}).await;
    let created = orgs::create_org(
        &server.state.store,
        NewOrganization {
            name: "Outage".into(),
            plan: Plan::Scale,
            rate_limit_per_min: Some(1_000_000),
            monthly_conversation_quota: None,
        },
    )
    .await
    .unwrap();
    let (org, key) = (
        created.organization.id.into_string(),
        created.key.secret.clone(),
    );
    let client = &server.client;

    // Written before the outage.
    let (status, body) = send_json(client.post(server.url(CHAT)).bearer_auth(&key).json(&json!({
        "message": "Where is my order 1234?", "customer_id": "cust-outage", "organization_id": org,
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let session = body["session_id"].as_str().unwrap().to_owned();
    let messages = format!("/api/v1/platform/conversations/{session}/messages");

    proxy.cut();
    let started = tokio::time::Instant::now();
    let response = client
        .get(server.url(&messages))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    // Bounded by the pool's acquire timeout, not hanging.
    eprintln!("outage: first 503 after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(30));
    let (status, body) = send_json(client.post(server.url(CHAT)).bearer_auth(&key).json(&json!({
        "message": "Hello?", "customer_id": "cust-outage", "organization_id": org, "session_id": session,
    })))
    .await;
    assert_eq!(status, 503, "{body}");
    let (status, body) = send_json(client.get(server.url("/readyz"))).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = send_json(client.get(server.url("/healthz"))).await;
    assert_eq!(status, 200, "the process itself stays up");

    proxy.restore().await;
    let restored = tokio::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = send_json(client.get(server.url("/readyz"))).await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "outage: ready again {:?} after the restore",
        restored.elapsed()
    );
    // Nothing written before is lost, and the conversation carries on.
    let (status, body) = send_json(client.get(server.url(&messages)).bearer_auth(&key)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 2, "{body}");
    let (status, body) = send_json(client.post(server.url(CHAT)).bearer_auth(&key).json(&json!({
        "message": "Hello again", "customer_id": "cust-outage", "organization_id": org, "session_id": session,
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = send_json(client.get(server.url(&messages)).bearer_auth(&key)).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 4, "{body}");
    server.stop().await;
    proxy.cut();
    drop(db);
}
