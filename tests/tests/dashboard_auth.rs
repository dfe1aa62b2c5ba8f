//! The dashboard's sign-in, sessions, CSRF protection, sign-in limits, roles and audit log
//! (issue 11), on SQLite and PostgreSQL, over loopback HTTP the way a browser talks to it:
//! form posts, cookies, the CSRF token from the page, and the JSON API with the session
//! cookie.

// Test code: a panic is how a scenario reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine::ids::OrganizationId;
use engine::service::users;
use engine::store::users::Role;
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend, TestApp};

const PASSWORD: &str = "correct horse battery";

/// A browser-like client that does not follow redirects (tests look at them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A signed-in session: the cookie header value and the page's CSRF token.
#[derive(Debug, Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

async fn add_user(app: &TestApp, email: &str, role: Role) {
    let org = OrganizationId::parse(&app.org_id).unwrap();
    users::create_user(&app.state.store, &org, email, "", role, PASSWORD)
        .await
        .unwrap();
}

/// The value of cookie `name` set by a response, with its attributes.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The `value` attribute following `marker` in an HTML page.
fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let rest = &html[at..];
    let start = rest.find(&format!("{attr}=\"")).unwrap() + attr.len() + 2;
    let end = rest[start..].find('"').unwrap();
    rest[start..start + end].to_owned()
}

/// Opens the sign-in form: its double-submit cookie and hidden token.
async fn login_form(app: &TestApp) -> (String, String) {
    let res = browser()
        .get(app.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = cookie_value(&set_cookie(&res, "blaigent_login_csrf").unwrap());
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in to Blaigent"));
    let token = attr_after(&html, "name=\"_csrf\"", "value");
    assert_eq!(cookie, token);
    (cookie, token)
}

/// Posts the sign-in form; returns the response.
async fn post_login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let (cookie, token) = login_form(app).await;
    browser()
        .post(app.url("/dashboard/login"))
        .header(COOKIE, format!("blaigent_login_csrf={cookie}"))
        .form(&[("email", email), ("password", password), ("_csrf", &token)])
        .send()
        .await
        .unwrap()
}

/// Signs in and reads the CSRF token from the first page.
async fn sign_in(app: &TestApp, email: &str) -> Session {
    let res = post_login(app, email, PASSWORD).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let cookie = format!(
        "blaigent_session={}",
        cookie_value(&set_cookie(&res, "blaigent_session").unwrap())
    );
    let location = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = browser()
        .get(app.url(&location))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = attr_after(&html, "name=\"csrf-token\"", "content");
    Session { cookie, csrf }
}

async fn page(app: &TestApp, session: &Session, path: &str) -> (u16, String) {
    let res = browser()
        .get(app.url(path))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Calls the JSON API with the session cookie (and the CSRF header when `csrf` is given).
async fn api(
    app: &TestApp,
    session: &Session,
    method: reqwest::Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = browser()
        .request(method, app.url(path))
        .header(COOKIE, &session.cookie);
    if let Some(token) = csrf {
        req = req.header("X-CSRF-Token", token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    send_json(req).await
}

async fn sign_in_and_out(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "Owner@Shop.Example", Role::Owner).await;

    // Pages need a session: a visitor is sent to the sign-in form.
    let res = browser()
        .get(app.url("/dashboard/team"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()[LOCATION],
        "/dashboard/login?next=/dashboard/team"
    );

    // The e-mail is matched case-insensitively; the cookie is HttpOnly and SameSite=Strict.
    let res = post_login(&app, "owner@shop.example", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/dashboard");
    let cookie = set_cookie(&res, "blaigent_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/;"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    // Behind a TLS proxy the cookie is Secure.
    let (login_cookie, token) = login_form(&app).await;
    let res = browser()
        .post(app.url("/dashboard/login"))
        .header(COOKIE, format!("blaigent_login_csrf={login_cookie}"))
        .header("X-Forwarded-Proto", "https")
        .form(&[
            ("email", "owner@shop.example"),
            ("password", PASSWORD),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(set_cookie(&res, "blaigent_session")
        .unwrap()
        .contains("; Secure"));

    let session = sign_in(&app, "owner@shop.example").await;
    let (status, html) = page(&app, &session, "/dashboard/team").await;
    assert_eq!(status, 200);
    assert!(html.contains("owner@shop.example"));
    let (status, body) = api(
        &app,
        &session,
        reqwest::Method::GET,
        "/api/v1/dashboard/agent-config",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Sign-out ends the session on the server, not just in the browser.
    let res = browser()
        .post(app.url("/dashboard/logout"))
        .header(COOKIE, &session.cookie)
        .form(&[("_csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(set_cookie(&res, "blaigent_session")
        .unwrap()
        .contains("Max-Age=0"));
    let res = browser()
        .get(app.url("/dashboard"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (status, body) = api(
        &app,
        &session,
        reqwest::Method::GET,
        "/api/v1/dashboard/agent-config",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("sign in again"));
}

async fn bad_password(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "owner@shop.example", Role::Owner).await;

    let res = post_login(&app, "owner@shop.example", "wrong password!").await;
    assert_eq!(res.status(), 401);
    assert!(set_cookie(&res, "blaigent_session").is_none());
    let wrong_password = res.text().await.unwrap();
    assert!(wrong_password.contains("Wrong e-mail or password."));

    // An unknown address gets the very same answer: nothing tells which accounts exist.
    let res = post_login(&app, "nobody@shop.example", PASSWORD).await;
    assert_eq!(res.status(), 401);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Wrong e-mail or password."));

    // A forged session cookie is no session.
    let forged = Session {
        cookie: "blaigent_session=0000".into(),
        csrf: String::new(),
    };
    let (status, _) = api(
        &app,
        &forged,
        reqwest::Method::GET,
        "/api/v1/dashboard/agent-config",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
}

async fn sign_in_is_rate_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "owner@shop.example", Role::Owner).await;
    add_user(&app, "admin@shop.example", Role::Admin).await;

    for _ in 0..5 {
        let res = post_login(&app, "owner@shop.example", "guess guess guess").await;
        assert_eq!(res.status(), 401);
    }
    // The sixth attempt is refused even with the right password.
    let res = post_login(&app, "owner@shop.example", PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(set_cookie(&res, "blaigent_session").is_none());
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-in attempts"));

    // Another account from the same address is not locked out by the first one's failures.
    sign_in(&app, "admin@shop.example").await;

    // One address spraying many accounts hits the per-IP limit (20 failures).
    for i in 0..15 {
        let res = post_login(&app, &format!("spray{i}@shop.example"), "guess guess guess").await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    let res = post_login(&app, "admin@shop.example", PASSWORD).await;
    assert_eq!(res.status(), 429);
}

async fn csrf_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "owner@shop.example", Role::Owner).await;

    // The sign-in form without its double-submit cookie.
    let (_, token) = login_form(&app).await;
    let res = browser()
        .post(app.url("/dashboard/login"))
        .form(&[
            ("email", "owner@shop.example"),
            ("password", PASSWORD),
            ("_csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(set_cookie(&res, "blaigent_session").is_none());

    let session = sign_in(&app, "owner@shop.example").await;
    let patch = Some(json!({"name": "Mallory"}));
    let path = "/api/v1/dashboard/agent-config";
    let (status, body) = api(
        &app,
        &session,
        reqwest::Method::PATCH,
        path,
        None,
        patch.clone(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("X-CSRF-Token"));
    let (status, _) = api(
        &app,
        &session,
        reqwest::Method::PATCH,
        path,
        Some("forged"),
        patch.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let (_, config) = api(&app, &session, reqwest::Method::GET, path, None, None).await;
    assert_ne!(config["name"], "Mallory");
    let (status, body) = api(
        &app,
        &session,
        reqwest::Method::PATCH,
        path,
        Some(&session.csrf),
        patch,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Mallory");

    // A page form without the token (a cross-site form post) changes nothing.
    let res = browser()
        .post(app.url("/dashboard/team"))
        .header(COOKIE, &session.cookie)
        .form(&[("email", "eve@evil.example"), ("role", "owner")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (_, html) = page(&app, &session, "/dashboard/team").await;
    assert!(!html.contains("eve@evil.example"));
    let res = browser()
        .post(app.url("/dashboard/logout"))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, _) = page(&app, &session, "/dashboard/team").await;
    assert_eq!(status, 200, "the session survived the forged sign-out");
}

async fn roles_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "owner@shop.example", Role::Owner).await;
    add_user(&app, "admin@shop.example", Role::Admin).await;
    add_user(&app, "agent@shop.example", Role::Agent).await;
    let keys = "/api/v1/dashboard/api-keys";
    use reqwest::Method as M;

    // An agent: inbox and conversations only, on pages and in the API.
    let agent = sign_in(&app, "agent@shop.example").await;
    let (status, html) = page(&app, &agent, "/dashboard/api-keys").await;
    assert_eq!(status, 403);
    assert!(html.contains("Your role (agent) cannot open this page"));
    assert!(!html.contains("bk_live_"));
    let (status, body) = api(&app, &agent, M::GET, keys, None, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.get("api_keys").is_none());
    let (status, _) = api(
        &app,
        &agent,
        M::POST,
        keys,
        Some(&agent.csrf),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);
    for path in [
        "/dashboard/agent",
        "/dashboard/knowledge",
        "/dashboard/team",
        "/dashboard/audit",
        "/dashboard/actions",
        "/dashboard/channels",
        "/dashboard/webhooks",
    ] {
        assert_eq!(page(&app, &agent, path).await.0, 403, "{path}");
    }
    for path in ["/dashboard/inbox", "/dashboard/conversations"] {
        assert_eq!(page(&app, &agent, path).await.0, 200, "{path}");
    }
    let (status, body) = api(&app, &agent, M::GET, "/api/v1/platform/inbox", None, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api(
        &app,
        &agent,
        M::GET,
        "/api/v1/platform/conversations",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = api(
        &app,
        &agent,
        M::PATCH,
        "/api/v1/dashboard/agent-config",
        Some(&agent.csrf),
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = api(
        &app,
        &agent,
        M::GET,
        "/api/v1/dashboard/webhooks",
        None,
        None,
    )
    .await;
    assert_eq!(status, 403);
    // Its navigation shows only what it may open.
    let (_, html) = page(&app, &agent, "/dashboard/inbox").await;
    assert!(!html.contains("href=\"/dashboard/api-keys\""));

    // An admin: configuration yes, keys and team no.
    let admin = sign_in(&app, "admin@shop.example").await;
    assert_eq!(page(&app, &admin, "/dashboard/api-keys").await.0, 403);
    assert_eq!(page(&app, &admin, "/dashboard/team").await.0, 403);
    assert_eq!(api(&app, &admin, M::GET, keys, None, None).await.0, 403);
    let (status, html) = page(&app, &admin, "/dashboard/agent").await;
    assert_eq!(status, 200);
    // The test server runs without background intent tuning, and the page says so.
    assert!(
        html.contains("Encoder fine-tuned on these intents: off"),
        "{html}"
    );
    let (status, _) = api(
        &app,
        &admin,
        M::PATCH,
        "/api/v1/dashboard/agent-config",
        Some(&admin.csrf),
        Some(json!({"name": "Ava"})),
    )
    .await;
    assert_eq!(status, 200);

    // An owner: keys too; the secret is in the creating response only.
    let owner = sign_in(&app, "owner@shop.example").await;
    let (status, created) = api(
        &app,
        &owner,
        M::POST,
        keys,
        Some(&owner.csrf),
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["api_key"].as_str().unwrap().starts_with("bk_live_"));
    let (status, html) = page(&app, &owner, "/dashboard/api-keys").await;
    assert_eq!(status, 200);
    assert!(html.contains(">ci<"));
    assert!(!html.contains(created["api_key"].as_str().unwrap()));
    let id = created["id"].as_str().unwrap();
    let (status, revoked) = api(
        &app,
        &owner,
        M::DELETE,
        &format!("{keys}/{id}"),
        Some(&owner.csrf),
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");

    // API keys keep full rights, as before.
    let (status, body) = send_json(app.get(keys)).await;
    assert_eq!(status, 200, "{body}");

    // A session acts on its own organization only.
    let (other_org, _) = app
        .create_org(engine::store::orgs::Plan::Starter, None, None)
        .await;
    let (status, _) = api(
        &app,
        &owner,
        M::POST,
        "/api/v1/agents/customer-service/chat",
        Some(&owner.csrf),
        Some(json!({"message": "hi", "customer_id": "c1", "organization_id": other_org})),
    )
    .await;
    assert_eq!(status, 403);
}

async fn team_invitations_and_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    add_user(&app, "owner@shop.example", Role::Owner).await;
    let owner = sign_in(&app, "owner@shop.example").await;

    // Invite an agent; the link is shown once.
    let res = browser()
        .post(app.url("/dashboard/team"))
        .header(COOKIE, &owner.cookie)
        .form(&[
            ("_csrf", owner.csrf.as_str()),
            ("email", "New@Shop.Example"),
            ("role", "agent"),
            ("display_name", "<b>Nia</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("&lt;b&gt;Nia&lt;/b&gt;"), "names are escaped");
    let start = html.find("/dashboard/invite/").unwrap();
    let end = start + html[start..].find('<').unwrap();
    let invite_path = html[start..end].to_owned();
    let (status, team) = page(&app, &owner, "/dashboard/team").await;
    assert_eq!(status, 200);
    assert!(team.contains("invited"));
    assert!(!team.contains(&invite_path), "the link is shown only once");

    // Accept it: set a password, then sign in as the agent.
    let res = browser().get(app.url(&invite_path)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = cookie_value(&set_cookie(&res, "blaigent_login_csrf").unwrap());
    let res = browser()
        .post(app.url(&invite_path))
        .header(COOKIE, format!("blaigent_login_csrf={cookie}"))
        .form(&[("_csrf", cookie.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let agent = sign_in(&app, "new@shop.example").await;
    assert_eq!(page(&app, &agent, "/dashboard/team").await.0, 403);
    // The link cannot be used twice.
    assert_eq!(
        browser()
            .get(app.url(&invite_path))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The last owner cannot demote themself.
    let owner_id = {
        let org = OrganizationId::parse(&app.org_id).unwrap();
        app.state.store.users(&org).await.unwrap()[0].id.clone()
    };
    let res = browser()
        .post(app.url(&format!("/dashboard/team/{owner_id}/role")))
        .header(COOKIE, &owner.cookie)
        .form(&[("_csrf", owner.csrf.as_str()), ("role", "agent")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // Configuration changes are audited with who made them, by session or by key.
    let (status, _) = api(
        &app,
        &owner,
        reqwest::Method::PATCH,
        "/api/v1/dashboard/agent-config",
        Some(&owner.csrf),
        Some(json!({"tone": "friendly"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send_json(
        app.patch("/api/v1/dashboard/agent-config")
            .json(&json!({"name": "Key bot"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, html) = page(&app, &owner, "/dashboard/audit").await;
    assert_eq!(status, 200);
    assert!(html.contains("PATCH /api/v1/dashboard/agent-config"));
    assert!(html.contains("owner@shop.example"));
    assert!(html.contains("api key key_"));
    assert!(html.contains("invited new@shop.example as agent"));
    // A refused change is not a change.
    assert!(!html.contains("POST /api/v1/dashboard/api-keys"));
    assert_eq!(page(&app, &agent, "/dashboard/audit").await.0, 403);
}

both_backends!(
    sign_in_and_out,
    bad_password,
    sign_in_is_rate_limited,
    csrf_is_refused,
    roles_are_enforced,
    team_invitations_and_audit_log,
);
