//! The SSRF matrix: every place the server fetches a URL an organization gives it (knowledge
//! URL ingestion, webhook endpoints, action backends, channel provider base URLs) refuses
//! loopback, private, link-local and metadata addresses in every spelling (IPv4-mapped IPv6,
//! decimal, hex and octal IPv4, `localhost.`, a host name that resolves to loopback) and
//! redirects to them, unless the address is allowlisted. A loopback "trap" listener proves
//! that nothing reached the target; a positive control proves the trap would notice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app_with, Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";
const WEBHOOKS: &str = "/api/v1/dashboard/webhooks";
const ACTIONS: &str = "/api/v1/dashboard/actions";
const CHANNELS: &str = "/api/v1/dashboard/channels";

/// A loopback HTTP listener that counts connections. `/redirect` answers a 302 to the
/// configured location; everything else a 404 (so an allowed fetch fails visibly).
struct Trap {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Trap {
    async fn start(ip: &str, redirect_to: Option<String>) -> Trap {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind the trap");
        let addr = listener.local_addr().expect("trap address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let redirect_to = redirect_to.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut read = 0;
                    while read < buf.len() {
                        match socket.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => read += n,
                        }
                        if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..read]);
                    let response = match (&redirect_to, head.starts_with("GET /redirect")) {
                        (Some(to), true) => format!(
                            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        ),
                        _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_owned(),
                    };
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Trap { addr, hits }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A host name other than `localhost` that this machine resolves to loopback only (the
/// machine's own name in /etc/hosts, usually), if there is one.
async fn name_resolving_to_loopback() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next() else { continue };
        if !ip.starts_with("127.") {
            continue;
        }
        for name in fields {
            if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") {
                continue;
            }
            let Ok(addrs) = tokio::net::lookup_host((name, 80)).await else {
                continue;
            };
            let addrs: Vec<_> = addrs.collect();
            if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
                return Some(name.to_owned());
            }
        }
    }
    None
}

/// Every dangerous target, aimed at `port` where a loopback trap listens.
async fn dangerous_urls(port: u16) -> Vec<String> {
    let mut urls: Vec<String> = [
        "http://127.0.0.1:{p}/x",
        "http://127.9.9.9:{p}/x",
        "http://[::1]:{p}/x",
        "http://localhost:{p}/x",
        "http://localhost.:{p}/x",
        "http://LOCALHOST:{p}/x",
        "http://app.localhost:{p}/x",
        "http://10.0.0.1:{p}/x",
        "http://172.16.0.1:{p}/x",
        "http://172.31.255.254:{p}/x",
        "http://192.168.1.1:{p}/x",
        "http://169.254.1.1:{p}/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:{p}/x",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[::ffff:7f00:1]:{p}/x",
        "http://[::127.0.0.1]:{p}/x",
        "http://[fec0::1]:{p}/x",
        "http://[fe80::1]:{p}/x",
        "http://[fc00::1]:{p}/x",
        "http://2130706433:{p}/x",
        "http://0x7f000001:{p}/x",
        "http://0177.0.0.1:{p}/x",
        "http://0x7f.1:{p}/x",
        "http://127.1:{p}/x",
        "http://0:{p}/x",
        "http://0.0.0.0:{p}/x",
        "https://169.254.169.254/",
    ]
    .iter()
    .map(|u| u.replace("{p}", &port.to_string()))
    .collect();
    if let Some(name) = name_resolving_to_loopback().await {
        urls.push(format!("http://{name}:{port}/x"));
    }
    urls
}

/// True for a URL whose host is a DNS name other than `localhost` (some surfaces resolve
/// names only when connecting).
fn is_dns_name(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
    }) else {
        return false;
    };
    !(host.starts_with('[')
        || host.parse::<std::net::Ipv4Addr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost"))
}

fn detail_of(body: &Value) -> String {
    body["detail"].as_str().unwrap_or_default().to_owned()
}

/// Polls a knowledge document until it leaves `processing`.
async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "processing" {
            return body;
        }
        assert!(Instant::now() < deadline, "document {id} never settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Knowledge: refused at registration (4xx with a detail), or accepted and then failed with a
/// reason naming the refusal. Never fetched.
async fn knowledge_refuses(app: &TestApp, url: &str) {
    let (status, body) = send_json(app.post(KNOWLEDGE).json(&json!({ "url": url }))).await;
    if (400..500).contains(&status) {
        assert!(!detail_of(&body).is_empty(), "{url}: {status} {body}");
        return;
    }
    assert_eq!(status, 201, "{url}: {body}");
    let doc = settled(app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed", "{url}: {doc}");
    let reason = doc["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("may not be fetched") || reason.contains("private"),
        "{url}: the reason must name the refusal: {doc}"
    );
}

fn action(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "description": "Look up an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "url": url,
        "kind": "read",
    })
}

fn channel(url: &str) -> Value {
    json!({
        "provider": "twilio",
        "name": "Support line",
        "address": "+14155550100",
        "settings": {"account_id": "AC00000000000000000000000000000001", "api_base_url": url},
        "credentials": {"auth_token": "test-auth-token-0123456789"},
    })
}

/// Asserts a 4xx `{"detail": ...}` refusal.
async fn refused_at_registration(what: &str, url: &str, request: reqwest::RequestBuilder) {
    let (status, body) = send_json(request).await;
    assert!(
        (400..500).contains(&status),
        "{what} {url} must be refused, got {status} {body}"
    );
    assert!(!detail_of(&body).is_empty(), "{what} {url}: {body}");
}

/// Without any allowlist, every surface refuses every dangerous target and the trap on
/// 127.0.0.1 sees no connection.
async fn every_surface_refuses_every_dangerous_target(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.knowledge.poll_interval = Duration::from_millis(100);
    })
    .await;
    let trap = Trap::start("127.0.0.1", None).await;
    let urls = dangerous_urls(trap.port()).await;
    for (i, url) in urls.iter().enumerate() {
        knowledge_refuses(&app, url).await;
        refused_at_registration(
            "webhook",
            url,
            app.post(WEBHOOKS)
                .json(&json!({"url": url, "events": ["*"]})),
        )
        .await;
        refused_at_registration(
            "action",
            url,
            app.post(ACTIONS).json(&action(&format!("lookup_{i}"), url)),
        )
        .await;
        if !is_dns_name(url) {
            refused_at_registration("channel", url, app.post(CHANNELS).json(&channel(url))).await;
        }
    }
    // Updates are guarded like creation.
    let (status, hook) = send_json(
        app.post(WEBHOOKS)
            .json(&json!({"url": "https://hooks.example.com/in", "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_str().expect("id");
    let (status, created) = send_json(
        app.post(ACTIONS)
            .json(&action("lookup_public", "https://93.184.216.34/orders")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    for url in &urls {
        refused_at_registration(
            "webhook update",
            url,
            app.patch(&format!("{WEBHOOKS}/{hook_id}"))
                .json(&json!({ "url": url })),
        )
        .await;
        refused_at_registration(
            "action update",
            url,
            app.patch(&format!("{ACTIONS}/lookup_public"))
                .json(&json!({ "url": url })),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(trap.hits(), 0, "a refused target was contacted");
}

/// With exactly 127.0.0.1/32 allowlisted: the allowlisted trap is reached (the control that
/// makes the other assertions meaningful), a neighbouring loopback address is still refused,
/// and a redirect from the allowed server to a private address is not followed.
async fn the_allowlist_opens_exactly_its_network_and_redirects_stay_guarded(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.knowledge.fetch_allowlist = vec!["127.0.0.1/32".parse().expect("cidr")];
        config.knowledge.poll_interval = Duration::from_millis(100);
        config.webhooks.allow_networks = vec!["127.0.0.1/32".parse().expect("cidr")];
        config.webhooks.schedule =
            engine::webhooks::RetrySchedule::new(vec![Duration::from_millis(50); 2], 0.0);
        config.webhooks.poll_interval = Duration::from_millis(25);
        config.channels.allow_networks = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    // The private target: another loopback address, outside the allowlist.
    let inner = Trap::start("127.0.0.2", None).await;
    let inner_port = inner.port();

    // Control: the allowlisted address is fetched (and answers 404).
    let allowed = Trap::start("127.0.0.1", None).await;
    let url = format!("http://127.0.0.1:{}/page", allowed.port());
    let (status, body) = send_json(app.post(KNOWLEDGE).json(&json!({ "url": url }))).await;
    assert_eq!(status, 201, "{body}");
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["failure_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("404"),
        "{doc}"
    );
    assert!(allowed.hits() > 0, "the allowlisted trap was never reached");
    for (what, request) in [
        (
            "webhook",
            app.post(WEBHOOKS)
                .json(&json!({"url": url, "events": ["*"]})),
        ),
        ("action", app.post(ACTIONS).json(&action("lookup_ok", &url))),
        ("channel", app.post(CHANNELS).json(&channel(&url))),
    ] {
        let (status, body) = send_json(request).await;
        assert_eq!(status, 201, "{what} to the allowlisted address: {body}");
    }

    // The neighbour 127.0.0.2 in every spelling stays refused everywhere.
    for (i, url) in [
        format!("http://127.0.0.2:{inner_port}/x"),
        format!("http://2130706434:{inner_port}/x"),
        format!("http://0x7f000002:{inner_port}/x"),
        format!("http://[::ffff:127.0.0.2]:{inner_port}/x"),
    ]
    .iter()
    .enumerate()
    {
        knowledge_refuses(&app, url).await;
        refused_at_registration(
            "webhook",
            url,
            app.post(WEBHOOKS)
                .json(&json!({"url": url, "events": ["*"]})),
        )
        .await;
        refused_at_registration(
            "action",
            url,
            app.post(ACTIONS).json(&action(&format!("near_{i}"), url)),
        )
        .await;
        refused_at_registration("channel", url, app.post(CHANNELS).json(&channel(url))).await;
    }

    // Redirects from the allowed server to private targets: the fetch fails with a reason and
    // the target sees nothing.
    for target in [
        format!("http://127.0.0.2:{inner_port}/secret"),
        format!("http://2130706434:{inner_port}/secret"),
        format!("http://[::ffff:127.0.0.2]:{inner_port}/secret"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let redirector = Trap::start("127.0.0.1", Some(target.clone())).await;
        let url = format!("http://127.0.0.1:{}/redirect", redirector.port());
        let (status, body) = send_json(app.post(KNOWLEDGE).json(&json!({ "url": url }))).await;
        assert_eq!(status, 201, "{body}");
        let doc = settled(&app, body["id"].as_str().expect("id")).await;
        assert_eq!(doc["status"], "failed", "redirect to {target}: {doc}");
        let reason = doc["failure_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("may not be fetched") || reason.contains("private"),
            "redirect to {target}: the reason must name the refusal: {doc}"
        );
        assert!(
            redirector.hits() > 0,
            "the redirecting server was not asked"
        );
    }
    // Webhook deliveries and action calls never follow redirects: the attempt is recorded as
    // failed and the private target sees nothing.
    let redirector = Trap::start(
        "127.0.0.1",
        Some(format!("http://127.0.0.2:{inner_port}/secret")),
    )
    .await;
    let url = format!("http://127.0.0.1:{}/redirect", redirector.port());
    let (status, hook) = send_json(
        app.post(WEBHOOKS)
            .json(&json!({"url": url, "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_str().expect("id");
    let (status, body) = send_json(app.post(&format!("{WEBHOOKS}/{hook_id}/test"))).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let attempts = loop {
        let (status, body) = send_json(app.get(&format!("{WEBHOOKS}/{hook_id}/deliveries"))).await;
        assert_eq!(status, 200, "{body}");
        let list = body["deliveries"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            break list;
        }
        assert!(
            Instant::now() < deadline,
            "no delivery attempt was recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        attempts.iter().all(|a| a["succeeded"] == false),
        "a redirect must not count as delivered: {attempts:?}"
    );
    assert!(redirector.hits() > 0, "the webhook endpoint was not called");

    let (status, body) = send_json(app.post(ACTIONS).json(&action("lookup_redirect", &url))).await;
    assert_eq!(status, 201, "{body}");
    let before = redirector.hits();
    let (status, exchange) = send_json(
        app.post(&format!("{ACTIONS}/lookup_redirect/test"))
            .json(&json!({"parameters": {"order_id": "A1234"}})),
    )
    .await;
    assert_eq!(status, 200, "{exchange}");
    assert_ne!(exchange["status"], "succeeded", "{exchange}");
    assert!(
        redirector.hits() > before,
        "the action backend was not called"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        inner.hits(),
        0,
        "a private target behind the allowlist was contacted"
    );
}

/// A channel base URL naming a host that resolves to loopback passes registration (the name
/// is not resolved there) but the send is refused at connection time: the outbox row records
/// the refusal and the target sees nothing.
async fn a_channel_send_to_a_name_resolving_to_loopback_is_refused(backend: Backend) {
    use tests::channel_helpers::{outbox, post_twilio, sms_payload, AUTH_TOKEN};
    let Some(name) = name_resolving_to_loopback().await else {
        eprintln!("no host name resolves to loopback here; nothing to check");
        return;
    };
    let app = spawn_app_with(backend, |config| {
        config.channels.schedule =
            engine::webhooks::RetrySchedule::new(vec![Duration::from_millis(100); 2], 0.0);
        config.channels.poll_interval = Duration::from_millis(50);
        config.channels.timeout = Duration::from_secs(5);
    })
    .await;
    let trap = Trap::start("127.0.0.1", None).await;
    let mut body = channel(&format!("http://{name}:{}/", trap.port()));
    body["credentials"]["auth_token"] = json!(AUTH_TOKEN);
    let (status, created) = send_json(app.post(CHANNELS).json(&body)).await;
    if (400..500).contains(&status) {
        // Refused at registration: equally safe.
        assert!(!detail_of(&created).is_empty(), "{created}");
        assert_eq!(trap.hits(), 0);
        return;
    }
    assert_eq!(status, 201, "{created}");
    let channel_id = created["id"].as_str().expect("id").to_owned();
    let inbound = created["inbound_urls"]["messaging"]
        .as_str()
        .expect("messaging url")
        .to_owned();
    let payload = sms_payload(
        "SM00000000000000000000000000ssrf01",
        "+15551230077",
        "Hello?",
    );
    let (status, reply) = post_twilio(&app, &inbound, &payload, AUTH_TOKEN).await;
    assert_eq!(status, 200, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        let rows = outbox(&app, &channel_id).await;
        if let Some(row) = rows
            .iter()
            .find(|r| r["last_error"].as_str().is_some_and(|e| !e.is_empty()))
        {
            break row.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no send attempt was recorded: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The outbox says only that the provider could not be reached (the guard's reason is
    // not surfaced there); what matters is that nothing reached the target.
    assert_ne!(row["status"], "sent", "{row}");
    assert!(
        row["last_status_code"].is_null(),
        "no HTTP answer was received: {row}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(trap.hits(), 0, "the loopback target was contacted");
}

both_backends!(
    every_surface_refuses_every_dangerous_target,
    a_channel_send_to_a_name_resolving_to_loopback_is_refused,
    the_allowlist_opens_exactly_its_network_and_redirects_stay_guarded,
);
