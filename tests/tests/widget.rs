//! The embed widget's endpoints (issue 10), on SQLite and PostgreSQL, over loopback HTTP like
//! a browser would call them: origin checks and CORS, visitor sessions, signed customers,
//! token expiry, rate limits, the script's caching headers and the demo page.

// Test code: a panic is how a scenario reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ORIGIN};
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, spawn_app_with, Backend, TestApp};

const SHOP: &str = "https://shop.example";
const EVIL: &str = "https://evil.example";

/// Configures the default organization's widget: name, accent and one allowed origin.
async fn configure(app: &TestApp) {
    let (status, body) = send_json(app.patch("/api/v1/dashboard/agent-config").json(&json!({
        "name": "Ava",
        "greeting": "Hi, I'm Ava. Ask me anything about Acme.",
        "brand": {"accent_color": "#0ea5e9"},
        "allowed_origins": [SHOP],
    })))
    .await;
    assert_eq!(status, 200, "{body}");
}

fn widget(app: &TestApp, path: &str) -> String {
    app.url(&format!("/api/v1/widget/{}{path}", app.org_id))
}

/// Starts a visitor session from `origin` with `body`.
async fn start_session(app: &TestApp, origin: &str, body: Value) -> (u16, Value) {
    send_json(
        app.client
            .post(widget(app, "/sessions"))
            .header(ORIGIN, origin)
            .json(&body),
    )
    .await
}

async fn chat(app: &TestApp, origin: &str, token: &str, body: Value) -> (u16, Value) {
    send_json(
        app.client
            .post(widget(app, "/chat"))
            .header(ORIGIN, origin)
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn the_public_config_reaches_allowed_origins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    configure(&app).await;

    let response = app
        .client
        .get(widget(&app, "/config"))
        .header(ORIGIN, SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SHOP);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["agent_name"], "Ava");
    assert_eq!(body["accent_color"], "#0ea5e9");
    assert_eq!(body["greeting"], "Hi, I'm Ava. Ask me anything about Acme.");
    assert_eq!(body["language"], "en");
    // Exactly the public fields: no key, no secret, no allowlist, no guardrails.
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accent_color",
            "agent_name",
            "avatar_url",
            "greeting",
            "language",
            "organization_id"
        ]
    );
    assert!(!body.to_string().contains(&app.api_key));

    // Another site is refused, and gets no CORS header its page could use.
    let refused = app
        .client
        .get(widget(&app, "/config"))
        .header(ORIGIN, EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("allowed_origins"),
        "{body}"
    );

    // Preflights: allowed origin 204 with CORS headers, another origin 403 without.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, widget(&app, "/chat"))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight(SHOP).await.unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(ok.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SHOP);
    assert!(ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let no = preflight(EVIL).await.unwrap();
    assert_eq!(no.status(), 403);
    assert!(no.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // An unknown organization is a 404.
    let (status, _) = send_json(
        app.client
            .get(app.url("/api/v1/widget/org_doesnotexist/config"))
            .header(ORIGIN, SHOP),
    )
    .await;
    assert_eq!(status, 404);
}

async fn a_visitor_chats_with_a_token_and_keeps_their_thread(backend: Backend) {
    let app = spawn_app(backend).await;
    configure(&app).await;

    let (status, session) = start_session(&app, SHOP, json!({})).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let visitor = session["visitor_id"].as_str().unwrap().to_owned();
    assert!(visitor.starts_with("visitor_"), "{visitor}");
    assert_eq!(session["customer_id"], visitor.as_str());

    let (status, reply) = chat(&app, SHOP, &token, json!({"message": "Hello there"})).await;
    assert_eq!(status, 200, "{reply}");
    assert!(!reply["response"].as_str().unwrap().is_empty());
    let conversation = reply["session_id"].as_str().unwrap().to_owned();
    assert!(conversation.starts_with("conv_"));

    // With `Accept: text/event-stream` the reply streams: pieces, then `final`.
    let streamed = app
        .client
        .post(widget(&app, "/chat"))
        .header(ORIGIN, SHOP)
        .header("accept", "text/event-stream")
        .bearer_auth(&token)
        .json(&json!({"message": "Thanks, one more question", "session_id": conversation}))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(streamed.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SHOP);
    let events = streamed.text().await.unwrap();
    let final_data = events
        .split("\n\n")
        .find_map(|block| block.strip_prefix("event: final\ndata: "))
        .unwrap_or_else(|| panic!("no final event in {events}"));
    let final_reply: Value = serde_json::from_str(final_data).unwrap();
    assert_eq!(final_reply["session_id"], conversation.as_str());
    assert!(!final_reply["response"].as_str().unwrap().is_empty());

    // A later page load: same visitor id, new token, same thread.
    let (_, again) = start_session(&app, SHOP, json!({"visitor_id": visitor})).await;
    assert_eq!(again["customer_id"], visitor.as_str());
    let token2 = again["token"].as_str().unwrap();
    let (status, thread) = send_json(
        app.client
            .get(widget(
                &app,
                &format!("/messages?session_id={conversation}"),
            ))
            .header(ORIGIN, SHOP)
            .bearer_auth(token2),
    )
    .await;
    assert_eq!(status, 200, "{thread}");
    assert_eq!(thread["status"], "open");
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{thread}");
    assert_eq!(messages[0]["role"], "customer");
    assert_eq!(messages[0]["text"], "Hello there");
    assert_eq!(messages[1]["role"], "agent");
    assert_eq!(messages[1]["text"], reply["response"]);
    assert_eq!(messages[2]["text"], "Thanks, one more question");
    assert_eq!(messages[3]["text"], final_reply["response"]);
    // `after` returns only what is newer.
    let after = messages[2]["created_at"].as_i64().unwrap();
    let (_, newer) = send_json(
        app.client
            .get(widget(
                &app,
                &format!("/messages?session_id={conversation}&after={after}"),
            ))
            .header(ORIGIN, SHOP)
            .bearer_auth(token2),
    )
    .await;
    let newer = newer["messages"].as_array().unwrap();
    assert_eq!(newer.len(), 1, "{newer:?}");
    assert_eq!(newer[0]["role"], "agent");

    // Another visitor cannot read it, nor continue it.
    let (_, stranger) = start_session(&app, SHOP, json!({})).await;
    let stranger_token = stranger["token"].as_str().unwrap();
    let (status, _) = send_json(
        app.client
            .get(widget(
                &app,
                &format!("/messages?session_id={conversation}"),
            ))
            .header(ORIGIN, SHOP)
            .bearer_auth(stranger_token),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = chat(
        &app,
        SHOP,
        stranger_token,
        json!({"message": "hi", "session_id": conversation}),
    )
    .await;
    assert_eq!(status, 404);

    // Ratings: the visitor rates their own conversation (1-5); a stranger cannot.
    let rate = |token: String, rating: i64| {
        let body = json!({"session_id": conversation, "rating": rating});
        let request = app
            .client
            .post(widget(&app, "/csat"))
            .header(ORIGIN, SHOP)
            .bearer_auth(token)
            .json(&body);
        send_json(request)
    };
    let (status, rated) = rate(token2.to_owned(), 5).await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(rated["rating"], 5);
    assert_eq!(rated["replaced"], false);
    let (status, _) = rate(token2.to_owned(), 6).await;
    assert_eq!(status, 422);
    let (status, _) = rate(stranger_token.to_owned(), 1).await;
    assert_eq!(status, 404);

    // The REST API sees the widget conversation under the visitor's customer id.
    let (_, listed) =
        send_json(app.get(&format!("/api/v1/platform/conversations/{conversation}"))).await;
    assert_eq!(listed["customer_id"], visitor.as_str(), "{listed}");
    assert_eq!(listed["channel"], "web");

    // Refusals: no token, a forged token, the token used from another origin, a made-up
    // visitor id, a session from a refused origin.
    let (status, _) = send_json(
        app.client
            .post(widget(&app, "/chat"))
            .header(ORIGIN, SHOP)
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_eq!(status, 401);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, body) = chat(&app, SHOP, &forged, json!({"message": "hi"})).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = chat(&app, EVIL, &token, json!({"message": "hi"})).await;
    assert_eq!(status, 403);
    let (status, body) = start_session(&app, SHOP, json!({"visitor_id": "cust_42"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = start_session(&app, EVIL, json!({})).await;
    assert_eq!(status, 403);
}

async fn signed_customers_need_a_valid_signature(backend: Backend) {
    let app = spawn_app(backend).await;
    configure(&app).await;
    let body = json!({"customer_id": "cust_42", "customer_signature": "00"});
    // No secret yet: signed ids cannot be verified.
    let (status, refused) = start_session(&app, SHOP, body).await;
    assert_eq!(status, 401, "{refused}");

    let (status, created) = send_json(app.post("/api/v1/dashboard/widget/secret")).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("wsec_"), "{secret}");
    // The secret is shown once: the public config never carries it.
    let (_, config) = send_json(app.client.get(widget(&app, "/config")).header(ORIGIN, SHOP)).await;
    assert!(!config.to_string().contains(&secret));

    let signature = engine::widget::signature::sign(&secret, "cust_42");
    let (status, session) = start_session(
        &app,
        SHOP,
        json!({"customer_id": "cust_42", "customer_signature": signature}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["customer_id"], "cust_42");
    assert_eq!(session["visitor_id"], Value::Null);

    // Someone else's id with this signature, no signature, a wrong secret: all refused.
    for body in [
        json!({"customer_id": "cust_43", "customer_signature": signature}),
        json!({"customer_id": "cust_42"}),
        json!({"customer_id": "cust_42", "customer_signature":
            engine::widget::signature::sign("wsec_guess", "cust_42")}),
    ] {
        let (status, refused) = start_session(&app, SHOP, body.clone()).await;
        assert_eq!(status, 401, "{body}: {refused}");
    }

    // Rotation: the old signature stops working.
    let (_, rotated) = send_json(app.post("/api/v1/dashboard/widget/secret")).await;
    assert_ne!(rotated["secret"], created["secret"]);
    let (status, _) = start_session(
        &app,
        SHOP,
        json!({"customer_id": "cust_42", "customer_signature": signature}),
    )
    .await;
    assert_eq!(status, 401);
    // The dashboard endpoint itself needs the API key.
    let (status, _) = send_json(app.client.post(app.url("/api/v1/dashboard/widget/secret"))).await;
    assert_eq!(status, 401);
}

async fn tokens_expire(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.widget.token_ttl_secs = 1).await;
    configure(&app).await;
    let (_, session) = start_session(&app, SHOP, json!({})).await;
    let token = session["token"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, body) = chat(&app, SHOP, token, json!({"message": "hello"})).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

async fn visitors_and_addresses_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.widget.visitor_per_min = 2;
        c.widget.ip_per_min = 6;
    })
    .await;
    configure(&app).await;
    let (_, session) = start_session(&app, SHOP, json!({})).await; // IP: 1
    let token = session["token"].as_str().unwrap();
    for i in 0..2 {
        let (status, body) = chat(&app, SHOP, token, json!({"message": "hello"})).await; // IP: 2, 3
        assert_eq!(status, 200, "message {i}: {body}");
    }
    let response = app
        .client
        .post(widget(&app, "/chat"))
        .header(ORIGIN, SHOP)
        .bearer_auth(token)
        .json(&json!({"message": "hello"}))
        .send()
        .await
        .unwrap(); // IP: 4
    assert_eq!(response.status(), 429);
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The 429 still carries CORS headers, so the widget can read it and say so.
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], SHOP);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("per-visitor"),
        "{body}"
    );

    // The address's budget: 6 per minute across sessions and chats.
    let (status, _) = start_session(&app, SHOP, json!({})).await; // 5
    assert_eq!(status, 200);
    let (status, _) = start_session(&app, SHOP, json!({})).await; // 6
    assert_eq!(status, 200);
    let (status, body) = start_session(&app, SHOP, json!({})).await; // 7
    assert_eq!(status, 429, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("per-IP"),
        "{body}"
    );
}

async fn the_script_is_cached_by_version_and_the_demo_is_opt_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let stable = app
        .client
        .get(app.url("/static/widget.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(stable.status(), 200);
    let headers = stable.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let source = stable.text().await.unwrap();
    assert!(source.contains("attachShadow"));

    let versioned = app
        .client
        .get(app.url("/static/widget.v1.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(versioned.status(), 200);
    assert_eq!(
        versioned.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(versioned.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(versioned.text().await.unwrap(), source);

    let revalidated = app
        .client
        .get(app.url("/static/widget.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    let (status, _) = send_json(app.client.get(app.url("/demo"))).await;
    assert_eq!(status, 404, "the demo page is off by default");

    let demo_app = spawn_app_with(backend, |c| c.widget.demo = true).await;
    let page = demo_app
        .client
        .get(demo_app.url(&format!("/demo?org={}", demo_app.org_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("data-org=\"{}\"", demo_app.org_id)),
        "{html}"
    );
    assert!(html.contains("/static/widget.v1.js"));
    // In demo mode the server's own origin may use the widget, even with an empty allowlist.
    let own = demo_app.base_url.clone();
    let (status, body) = send_json(
        demo_app
            .client
            .post(demo_app.url(&format!("/api/v1/widget/{}/sessions", demo_app.org_id)))
            .header(ORIGIN, own)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

both_backends!(
    the_public_config_reaches_allowed_origins_only,
    a_visitor_chats_with_a_token_and_keeps_their_thread,
    signed_customers_need_a_valid_signature,
    tokens_expire,
    visitors_and_addresses_are_rate_limited,
    the_script_is_cached_by_version_and_the_demo_is_opt_in,
);
