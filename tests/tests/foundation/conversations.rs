//! Listing conversations: newest first, cursor pagination, filters.

use std::collections::HashSet;

use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend, TestApp, CHAT};

async fn start(app: &TestApp, customer: &str, channel: &str) -> String {
    let (status, body) = send_json(app.post(CHAT).json(&json!({
        "message": "hello",
        "customer_id": customer,
        "channel": channel,
        "organization_id": app.org_id,
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    body["conversation_id"].as_str().unwrap().to_owned()
}

async fn walk(app: &TestApp, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/platform/conversations?limit=2{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = send_json(app.get(&path)).await;
        assert_eq!(status, 200, "{page}");
        let items = page["conversations"].as_array().unwrap();
        assert!(items.len() <= 2);
        ids.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => break,
        }
        assert!(ids.len() < 100, "pagination does not terminate");
    }
    ids
}

async fn pages_are_newest_first_without_gaps_and_filters_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut started = Vec::new();
    for _ in 0..5 {
        started.push(start(&app, "alice", "web").await);
    }
    for _ in 0..3 {
        started.push(start(&app, "bob", "whatsapp").await);
    }

    let all = walk(&app, "").await;
    let newest_first: Vec<String> = started.iter().rev().cloned().collect();
    assert_eq!(all, newest_first);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 8);

    assert_eq!(walk(&app, "&channel=whatsapp").await, newest_first[..3]);
    assert_eq!(walk(&app, "&customer_id=alice").await, newest_first[3..]);
    assert_eq!(
        walk(&app, "&customer_id=alice&channel=whatsapp")
            .await
            .len(),
        0
    );
    assert_eq!(walk(&app, "&status=open").await.len(), 8);
    assert_eq!(walk(&app, "&status=pending_human").await.len(), 0);

    let (status, page) = send_json(app.get("/api/v1/platform/conversations")).await;
    assert_eq!(status, 200);
    assert_eq!(page["conversations"].as_array().unwrap().len(), 8);
    assert!(page["next_cursor"].is_null());
    let first = &page["conversations"][0];
    assert_eq!(first["customer_id"], "bob");
    assert_eq!(first["message_count"], 2);
}

async fn bad_listing_parameters_are_client_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, status, field) in [
        ("limit=0", 422, "limit"),
        ("limit=101", 422, "limit"),
        ("limit=ten", 400, "limit"),
        ("cursor=garbage", 400, "cursor"),
        ("status=bogus", 400, "status"),
        ("channel=fax", 400, "channel"),
    ] {
        let (got, body) =
            send_json(app.get(&format!("/api/v1/platform/conversations?{query}"))).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(field),
            "{query}: {body}"
        );
    }
}

both_backends!(
    pages_are_newest_first_without_gaps_and_filters_apply,
    bad_listing_parameters_are_client_errors,
);
