//! Load generator for the chat endpoint (a benchmark, not a test). Starts the real server
//! in-process on loopback against a fresh SQLite file or PostgreSQL database, replaces the
//! agent with a no-op (so the figures measure authentication, rate limiting, validation and
//! persistence, not the engine), and drives `POST /api/v1/agents/customer-service/chat` with N
//! concurrent keep-alive clients for M seconds. Each client starts one conversation, then keeps
//! continuing it (history load, two inserts and an update per turn).
//!
//! ```text
//! cargo run --release -p tests --bin loadgen -- sqlite 32 10
//! cargo run --release -p tests --bin loadgen -- postgres 32 10
//! ```
//! Arguments: backend (`sqlite` | `postgres`), concurrency (default 32), seconds (default 10).
//!
//! The in-process clients share the two cores with the server. To measure the server alone
//! against a lighter client in another process, `serve` mode starts the same server, opens
//! one conversation per session, writes a `wrk` script that continues them in turn, prints
//! the base URL and waits for Ctrl-C (`scripts/bench-chat.sh` drives it):
//!
//! ```text
//! target/release/loadgen serve sqlite 64 target/wrk-chat.lua
//! wrk -t1 -c8 -d10s --latency -s target/wrk-chat.lua http://127.0.0.1:PORT
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::agent::{Reply, Turn};
use engine::service::chat::TurnHandler;
use engine::store::orgs::Plan;
use futures::future::BoxFuture;
use serde_json::json;
use tests::{spawn_app_with_state, Backend, TestApp, CHAT};

/// Answers every turn at once with a fixed reply.
struct NoopAgent;

impl TurnHandler for NoopAgent {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, engine::Result<Reply>> {
        Box::pin(async move {
            Ok(Reply {
                response: "Thanks, noted.".into(),
                intent: "other".into(),
                confidence: 0.5,
                language: "en".into(),
                stored_message: turn.message.clone(),
                ..Reply::default()
            })
        })
    }
}

/// Requests before this much time has passed are not measured (connection set-up, caches).
const WARM_UP: Duration = Duration::from_secs(1);

/// Requests slower than this many milliseconds are counted as stalls in the summary.
const SLOW_MS: u64 = 100;

fn parse_backend(arg: Option<&String>) -> anyhow::Result<Backend> {
    match arg.map(String::as_str) {
        Some("postgres") => Ok(Backend::Postgres),
        Some("sqlite") | None => Ok(Backend::Sqlite),
        Some(other) => anyhow::bail!("unknown backend '{other}' (sqlite or postgres)"),
    }
}

/// The server under test, with the no-op agent, and an organization without practical limits.
async fn start_server(backend: Backend) -> (TestApp, String, String) {
    let app = spawn_app_with_state(
        backend,
        |config| config.log_filter = "warn".into(),
        |state| state.with_turn_handler(Arc::new(NoopAgent)),
    )
    .await;
    let (org, key) = app
        .create_org(Plan::Enterprise, Some(100_000_000), None)
        .await;
    // The server trains the default intent classifier in the background at start (a few
    // seconds of CPU): the no-op agent never uses it, but it must not overlap the measurement.
    let waiting_since = Instant::now();
    while !engine::intent::service::default_classifier_ready() {
        if waiting_since.elapsed() > Duration::from_secs(300) {
            eprintln!(
                "the default intent classifier is still training after 300 s; measuring anyway"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (app, org, key)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve_for_wrk(&args[1..]).await;
    }
    let backend = parse_backend(args.first())?;
    let concurrency: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let seconds: u64 = args.get(2).map_or(Ok(10), |s| s.parse())?;

    let (mut app, org, key) = start_server(backend).await;
    let base = app.base_url.clone();

    let deadline = Instant::now() + WARM_UP + Duration::from_secs(seconds);
    let measure_from = Instant::now() + WARM_UP;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (base, org, key) = (base.clone(), org.clone(), key.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let url = format!("{base}{CHAT}");
            let mut session: Option<String> = None;
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let mut body = json!({
                    "message": "Where is my order?",
                    "customer_id": format!("load-{worker}"),
                    "organization_id": org,
                });
                if let Some(s) = &session {
                    body["session_id"] = json!(s);
                }
                let started = Instant::now();
                let result = client.post(&url).bearer_auth(&key).json(&body).send().await;
                let ok = match result {
                    Ok(response) if response.status().is_success() => {
                        let reply: serde_json::Value = response.json().await.unwrap_or_default();
                        if session.is_none() {
                            session = reply["session_id"].as_str().map(str::to_owned);
                        }
                        true
                    }
                    _ => false,
                };
                let elapsed = started.elapsed();
                if started >= measure_from {
                    if ok {
                        latencies.push(elapsed);
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut l, e) = worker.await?;
        latencies.append(&mut l);
        errors += e;
    }
    latencies.sort();
    let n = latencies.len();
    let pct = |p: f64| {
        latencies
            .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    // Stalls: requests slower than this, the tail the p99 target is about.
    let slow = latencies
        .iter()
        .filter(|d| **d > Duration::from_millis(SLOW_MS))
        .count();
    println!(
        "backend={backend:?} concurrency={concurrency} seconds={seconds} requests={n} errors={errors} \
         rps={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} over_{SLOW_MS}ms={slow}",
        n as f64 / seconds as f64,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
    app.stop().await;
    Ok(())
}

/// `serve BACKEND SESSIONS SCRIPT`: starts the server, opens `SESSIONS` conversations, writes a
/// wrk script continuing them round-robin to `SCRIPT`, prints `base_url=...` and serves until
/// Ctrl-C.
async fn serve_for_wrk(args: &[String]) -> anyhow::Result<()> {
    let backend = parse_backend(args.first())?;
    let sessions: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let script = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/wrk-chat.lua".into());
    let (mut app, org, key) = start_server(backend).await;
    let client = reqwest::Client::new();
    let mut bodies = Vec::with_capacity(sessions);
    for n in 0..sessions {
        let customer = format!("wrk-{n}");
        let first = json!({"message": "Hello", "customer_id": customer, "organization_id": org});
        let reply: serde_json::Value = client
            .post(app.url(CHAT))
            .bearer_auth(&key)
            .json(&first)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let session = reply["session_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the first turn returned no session_id: {reply}"))?;
        bodies.push(json!({
            "message": "Where is my order?",
            "customer_id": customer,
            "organization_id": org,
            "session_id": session,
        }));
    }
    std::fs::write(&script, wrk_script(&key, &bodies)?)?;
    println!("base_url={}", app.base_url);
    tokio::signal::ctrl_c().await?;
    app.stop().await;
    Ok(())
}

/// A wrk script posting `bodies` to the chat endpoint in turn and printing the latency tail
/// (p99 to p99.99 and the maximum) when it ends.
fn wrk_script(key: &str, bodies: &[serde_json::Value]) -> anyhow::Result<String> {
    let mut lua = String::from("-- written by loadgen serve\nlocal bodies = {\n");
    for body in bodies {
        // A JSON string literal is a valid Lua string literal for this ASCII content.
        lua.push_str(&format!(
            "  {},\n",
            serde_json::to_string(&body.to_string())?
        ));
    }
    lua.push_str(&format!(
        "}}\nlocal n = 0\nwrk.method = \"POST\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {key}\"\n\
         request = function()\n  n = n + 1\n  \
         return wrk.format(nil, \"{CHAT}\", nil, bodies[(n % #bodies) + 1])\nend\n"
    ));
    // wrk's own summary stops at p99; the tail above it is printed as one line.
    lua.push_str(
        "done = function(summary, latency, requests)\n  \
         local line = \"tail:\"\n  \
         for _, p in ipairs({99, 99.5, 99.9, 99.99}) do\n    \
         line = line .. string.format(\" p%s=%.2fms\", p, latency:percentile(p) / 1000)\n  \
         end\n  \
         print(line .. string.format(\" max=%.2fms\", latency.max / 1000))\nend\n",
    );
    Ok(lua)
}
