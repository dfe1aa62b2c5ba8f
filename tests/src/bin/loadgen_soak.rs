//! Soak and fixed-rate load (issue 12): starts the real server in-process on loopback (the
//! real agent, a seeded knowledge base) and sends chat requests at a fixed rate for a fixed
//! time, whatever the latency (an open loop: a slow server does not slow the arrivals down,
//! so queueing shows up as latency, errors or memory instead of hiding). Every
//! `--sample-every` seconds it prints the interval's throughput, latency and the process's
//! resident memory; at the end, the totals.
//!
//! The mix: 30 % new conversations, 50 % turns continuing one of the open conversations,
//! 20 % knowledge questions (answered from the seeded documents), the latter also spread over
//! new and continuing conversations.
//!
//! ```text
//! cargo run --release -p tests --bin loadgen_soak -- --duration 600 --rate 10
//! ```
//! `scripts/soak.sh` wraps it (`SOAK_SECS`, `SOAK_RATE`, `SOAK_BACKEND`). The memory figure is
//! the whole process (server and load generator): the load generator's own share is constant
//! (it keeps only counters and at most `--max-sessions` session ids).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use engine::store::orgs::Plan;
use serde_json::{json, Value};
use tests::{spawn_app_with, Backend, CHAT};

#[derive(Debug, Parser)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Requests per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Seconds between two samples.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
    /// Open conversations kept for continuing turns.
    #[arg(long, default_value_t = 200)]
    max_sessions: usize,
}

const KNOWLEDGE: [(&str, &str); 3] = [
    (
        "Opening hours",
        "Our shop is open Monday to Friday from 9:00 to 18:00 and on Saturday from 10:00 to 14:00. We are closed on Sunday.",
    ),
    (
        "Returns",
        "You can return any unused item within 30 days of delivery for a full refund. Returns are free with the prepaid label in the parcel.",
    ),
    (
        "Shipping",
        "Standard shipping takes 3 to 5 working days and costs 4.90 EUR; orders over 50 EUR ship for free. Express delivery arrives the next working day.",
    ),
];

const CHATTER: [&str; 5] = [
    "Where is my order 48213?",
    "Hi there",
    "Can I change the delivery address of my order?",
    "Thanks, that helps",
    "I would like a refund for order 99120",
];

const QUESTIONS: [&str; 4] = [
    "When are you open on Saturday?",
    "How long do I have to return an item?",
    "How much does shipping cost?",
    "Do you ship express?",
];

/// What one interval (or the whole run) measured.
#[derive(Debug, Default, Clone)]
struct Tally {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
    failures: u64,
}

impl Tally {
    fn line(&mut self, secs: f64) -> String {
        self.latencies_ms.sort_by(f64::total_cmp);
        let n = self.latencies_ms.len();
        let pct = |p: f64| {
            self.latencies_ms
                .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        let errors: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| **s >= 400)
            .map(|(_, n)| n)
            .sum::<u64>()
            + self.failures;
        format!(
            "requests={n} rps={:.1} errors={errors} p50_ms={:.1} p95_ms={:.1} p99_ms={:.1} max_ms={:.1} statuses={:?}",
            n as f64 / secs.max(0.001),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            pct(1.0),
            self.statuses,
        )
    }
}

/// The process's resident memory in MiB (Linux), 0 elsewhere.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let backend = match args.backend.as_str() {
        "postgres" => Backend::Postgres,
        "sqlite" => Backend::Sqlite,
        other => anyhow::bail!("unknown backend '{other}' (sqlite or postgres)"),
    };
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let mut app = spawn_app_with(backend, |config| {
        config.log_filter = "warn".into();
        config.knowledge.poll_interval = Duration::from_millis(100);
    })
    .await;
    let (org, key) = app
        .create_org(Plan::Enterprise, Some(100_000_000), None)
        .await;
    let client = reqwest::Client::new();
    seed_knowledge(&client, &app.base_url, &key).await?;

    let url = format!("{}{CHAT}", app.base_url);
    let sessions: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let mut total = Tally::default();
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_sample = started + Duration::from_secs(args.sample_every);
    let mut last_sample = started;
    let mut rss_samples = vec![(0.0, rss_mib())];
    println!("t_s=0 rss_mib={:.1}", rss_samples[0].1);
    let mut sent: u64 = 0;
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        sent += 1;
        let kind = sent % 10; // 0-2 new, 3-7 continue, 8-9 knowledge
        let continuing = (3..8).contains(&kind) || (kind == 9);
        let message = if kind >= 8 {
            QUESTIONS[(sent / 10) as usize % QUESTIONS.len()]
        } else {
            CHATTER[(sent / 10) as usize % CHATTER.len()]
        };
        let session = if continuing {
            let open = sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (!open.is_empty()).then(|| open[(sent as usize * 7919) % open.len()].clone())
        } else {
            None
        };
        let (customer, session_id) = match session {
            Some((customer, id)) => (customer, Some(id)),
            None => (format!("soak-{sent}"), None),
        };
        let mut body = json!({"message": message, "customer_id": customer, "organization_id": org});
        if let Some(id) = &session_id {
            body["session_id"] = json!(id);
        }
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        let (open_sessions, tally_of_task, max_sessions) =
            (sessions.clone(), tally.clone(), args.max_sessions);
        tasks.spawn(async move {
            let t0 = Instant::now();
            let result = client.post(&url).bearer_auth(&key).json(&body).send().await;
            let outcome = match result {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let reply: Value = response.json().await.unwrap_or_default();
                    if status == 200 && session_id.is_none() {
                        if let Some(id) = reply["session_id"].as_str() {
                            let mut open = open_sessions
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            if open.len() >= max_sessions {
                                open.remove(0);
                            }
                            open.push((customer, id.to_owned()));
                        }
                    }
                    Some(status)
                }
                Err(_) => None,
            };
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            let mut tally = tally_of_task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match outcome {
                Some(status) => {
                    tally.latencies_ms.push(ms);
                    *tally.statuses.entry(status).or_default() += 1;
                }
                None => tally.failures += 1,
            }
        });
        while tasks.try_join_next().is_some() {}
        if Instant::now() >= next_sample {
            let mut interval = std::mem::take(
                &mut *tally
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let t = started.elapsed().as_secs_f64();
            let rss = rss_mib();
            rss_samples.push((t, rss));
            println!(
                "t_s={t:.0} rss_mib={rss:.1} in_flight={} {}",
                tasks.len(),
                interval.line(Instant::now().duration_since(last_sample).as_secs_f64())
            );
            merge(&mut total, interval);
            last_sample = Instant::now();
            next_sample += Duration::from_secs(args.sample_every);
        }
    }
    while tasks.join_next().await.is_some() {}
    let rest = std::mem::take(
        &mut *tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    merge(&mut total, rest);
    let secs = started.elapsed().as_secs_f64();
    let rss_end = rss_mib();
    rss_samples.push((secs, rss_end));
    // Memory after the warm-up (the first sample holds the model and caches still filling).
    let after_warmup: Vec<f64> = rss_samples.iter().skip(2).map(|(_, r)| *r).collect();
    let (lo, hi) = after_warmup
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "TOTAL backend={} rate={} duration_s={:.0} {} rss_start_mib={:.1} rss_end_mib={rss_end:.1} rss_after_warmup_min_mib={:.1} rss_after_warmup_max_mib={hi:.1}",
        args.backend,
        args.rate,
        secs,
        total.line(secs),
        rss_samples[0].1,
        if lo == f64::MAX { 0.0 } else { lo },
    );
    app.stop().await;
    Ok(())
}

fn merge(total: &mut Tally, interval: Tally) {
    total.latencies_ms.extend(interval.latencies_ms);
    for (status, n) in interval.statuses {
        *total.statuses.entry(status).or_default() += n;
    }
    total.failures += interval.failures;
}

/// Adds the knowledge documents and waits until they are indexed.
async fn seed_knowledge(client: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for (title, text) in KNOWLEDGE {
        let response = client
            .post(format!("{base}/api/v1/dashboard/knowledge"))
            .bearer_auth(key)
            .json(&json!({"title": title, "text": text}))
            .send()
            .await?;
        let body: Value = response.json().await?;
        let id = body["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("creating a document: {body}"))?;
        ids.push(id.to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let body: Value = client
                .get(format!("{base}/api/v1/dashboard/knowledge/{id}"))
                .bearer_auth(key)
                .send()
                .await?
                .json()
                .await?;
            if body["status"] == "ready" {
                break;
            }
            anyhow::ensure!(body["status"] != "failed", "indexing failed: {body}");
            anyhow::ensure!(Instant::now() < deadline, "not indexed in time: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}
