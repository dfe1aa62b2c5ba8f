//! Benchmark (not a test): latency of the analytics summary (`GET
//! /api/v1/platform/analytics/summary` calls exactly [`engine::service::analytics::summary`])
//! over 100,000 conversations and 1,000,000 messages of one organization, on SQLite or
//! PostgreSQL. The data is bulk-inserted with multi-row `insert`s, spread over 90 days, 4
//! channels, 12 intents, every status, handoffs, reopenings and CSAT ratings (the rollup
//! triggers of migration 0013 fire on every insert, as in production).
//!
//! Each case times, alternately in the same loop, the served summary (whole days from the
//! rollup) and [`engine::service::analytics::summary_live`] (every figure from the
//! conversations: the computation before the rollup), and checks they are equal.
//!
//! ```text
//! cargo run --release -p engine --example analytics_bench
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/blaigent_bench \
//!   cargo run --release -p engine --example analytics_bench
//! ```
//!
//! Environment: `BENCH_DATABASE_URL` (default: a SQLite file in a temporary folder; a
//! PostgreSQL database must exist and be empty), `BENCH_CONVERSATIONS` (default 100000),
//! `BENCH_MESSAGES_PER_CONVERSATION` (default 10), `BENCH_RUNS` (default 30).

use std::time::Instant;

use anyhow::anyhow;
use engine::ids::{fresh_suffix, OrganizationId};
use engine::service::analytics::{summary, summary_live, SummaryQuery};
use engine::store::orgs::{NewOrganization, Plan};
use engine::store::{now_ms, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHANNELS: [&str; 4] = ["web", "whatsapp", "sms", "email"];
const INTENTS: [&str; 12] = [
    "order_tracking",
    "refund_request",
    "returns",
    "shipping_info",
    "product_question",
    "account_help",
    "payment_issue",
    "cancel_order",
    "store_hours",
    "complaint",
    "greeting",
    "human_handoff",
];
const DAY_MS: i64 = 86_400_000;
/// Rows per multi-row insert: 13 columns x 400 rows stays under SQLite's 32,766 variables.
const BATCH: usize = 400;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn e(err: engine::error::Error) -> anyhow::Error {
    anyhow!("{err}")
}

/// `($1, $2, ...), (...)` for `rows` rows of `columns` binds.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One seeded conversation.
struct Seed {
    id: String,
    customer: String,
    channel: &'static str,
    status: &'static str,
    intent: &'static str,
    created_at: i64,
    first_response_at: i64,
    handoff_at: Option<i64>,
    human_replied_at: Option<i64>,
    resolved_at: Option<i64>,
    resolved_by: Option<&'static str>,
    handoff_count: i64,
    reopen_count: i64,
    messages: i64,
    last_message_at: i64,
}

fn seed(rng: &mut StdRng, customers: &[String], now: i64, messages: i64) -> Seed {
    let created_at = now - rng.gen_range(0..90 * DAY_MS);
    let handed_off = rng.gen_bool(0.2);
    let roll: f64 = rng.gen();
    let (status, resolved_by) = match (roll, handed_off) {
        (r, false) if r < 0.70 => ("resolved", Some("agent")),
        (r, true) if r < 0.60 => ("resolved", Some("human")),
        (r, _) if r < 0.80 => ("closed", Some(if handed_off { "human" } else { "agent" })),
        (_, true) if rng.gen_bool(0.5) => ("pending_human", None),
        (_, true) => ("human", None),
        _ => ("open", None),
    };
    let first_response_at = created_at + rng.gen_range(200..3_000);
    let handoff_at = handed_off.then(|| created_at + rng.gen_range(10_000..600_000));
    let human_replied_at = handoff_at
        .filter(|_| status != "pending_human")
        .map(|h| h + rng.gen_range(30_000..7_200_000));
    let resolved_at = resolved_by.map(|_| created_at + rng.gen_range(60_000..172_800_000));
    Seed {
        id: format!("conv_{}", fresh_suffix()),
        customer: customers[rng.gen_range(0..customers.len())].clone(),
        channel: CHANNELS[rng.gen_range(0..CHANNELS.len())],
        status,
        intent: INTENTS[rng.gen_range(0..INTENTS.len())],
        created_at,
        first_response_at,
        handoff_at,
        human_replied_at,
        resolved_at,
        resolved_by,
        handoff_count: i64::from(handed_off),
        reopen_count: i64::from(rng.gen_bool(0.05)),
        messages,
        last_message_at: created_at + messages * 30_000,
    }
}

async fn insert_conversations(
    store: &Store,
    org: &OrganizationId,
    seeds: &[Seed],
) -> anyhow::Result<()> {
    let sql = format!(
        "insert into conversations (id, organization_id, customer_id, channel, status, intent, \
         message_count, created_at, updated_at, last_message_at, first_response_at, handoff_at, \
         human_replied_at, resolved_at, resolved_by, handoff_count, reopen_count, handoff_reason) values {}",
        placeholders(seeds.len(), 18)
    );
    let mut query = sqlx::query(&sql);
    for s in seeds {
        query = query
            .bind(s.id.as_str())
            .bind(org.as_str())
            .bind(s.customer.as_str())
            .bind(s.channel)
            .bind(s.status)
            .bind(s.intent)
            .bind(s.messages)
            .bind(s.created_at)
            .bind(s.last_message_at)
            .bind(s.last_message_at)
            .bind(s.first_response_at)
            .bind(s.handoff_at)
            .bind(s.human_replied_at)
            .bind(s.resolved_at)
            .bind(s.resolved_by)
            .bind(s.handoff_count)
            .bind(s.reopen_count)
            .bind(s.handoff_at.map(|_| "customer asked for a human"));
    }
    query.execute(store.pool()).await?;
    Ok(())
}

async fn insert_messages(
    store: &Store,
    org: &OrganizationId,
    seeds: &[Seed],
) -> anyhow::Result<()> {
    let rows: Vec<(&Seed, i64)> = seeds
        .iter()
        .flat_map(|s| (0..s.messages).map(move |i| (s, i)))
        .collect();
    for chunk in rows.chunks(BATCH) {
        let sql = format!(
            "insert into messages (id, conversation_id, organization_id, role, text, created_at, \
             updated_at) values {}",
            placeholders(chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for (s, i) in chunk {
            let at = s.created_at + i * 30_000;
            query = query
                .bind(format!("msg_{}", fresh_suffix()))
                .bind(s.id.as_str())
                .bind(org.as_str())
                .bind(if i % 2 == 0 { "customer" } else { "agent" })
                .bind("Where is my order? It was due last week.")
                .bind(at)
                .bind(at);
        }
        query.execute(store.pool()).await?;
    }
    Ok(())
}

async fn insert_csat(
    store: &Store,
    org: &OrganizationId,
    seeds: &[Seed],
    rng: &mut StdRng,
) -> anyhow::Result<usize> {
    let mut rated: Vec<(&Seed, i64)> = Vec::new();
    for s in seeds {
        if s.resolved_by.is_some() && rng.gen_bool(0.3) {
            rated.push((s, rng.gen_range(1..=5)));
        }
    }
    for chunk in rated.chunks(BATCH) {
        let sql = format!(
            "insert into csat_responses (id, organization_id, conversation_id, rating, created_at, \
             updated_at) values {}",
            placeholders(chunk.len(), 6)
        );
        let mut query = sqlx::query(&sql);
        for (s, rating) in chunk {
            let at = s.resolved_at.unwrap_or(s.created_at);
            query = query
                .bind(format!("csat_{}", fresh_suffix()))
                .bind(org.as_str())
                .bind(s.id.as_str())
                .bind(*rating)
                .bind(at)
                .bind(at);
        }
        query.execute(store.pool()).await?;
    }
    Ok(rated.len())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let conversations = env_usize("BENCH_CONVERSATIONS", 100_000);
    let per = env_usize("BENCH_MESSAGES_PER_CONVERSATION", 10) as i64;
    let runs = env_usize("BENCH_RUNS", 30);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let store = Store::connect(&url).await.map_err(e)?;
    store.migrate().await.map_err(e)?;
    let org = store
        .insert_organization(&NewOrganization {
            name: "Analytics bench".into(),
            plan: Plan::Scale,
            rate_limit_per_min: None,
            monthly_conversation_quota: None,
        })
        .await
        .map_err(e)?
        .id;

    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let now = now_ms();
    let mut customers = Vec::new();
    for i in 0..(conversations / 4).max(1) {
        customers.push(
            store
                .ensure_customer(&org, &format!("cust_{i}"))
                .await
                .map_err(e)?
                .into_string(),
        );
    }
    let mut seeded = 0usize;
    let mut rated = 0usize;
    while seeded < conversations {
        let n = BATCH.min(conversations - seeded);
        let seeds: Vec<Seed> = (0..n)
            .map(|_| seed(&mut rng, &customers, now, per))
            .collect();
        insert_conversations(&store, &org, &seeds).await?;
        insert_messages(&store, &org, &seeds).await?;
        rated += insert_csat(&store, &org, &seeds, &mut rng).await?;
        seeded += n;
    }
    // Ratings are also kept on their conversation (as `Store::submit_csat` does), where the
    // summary reads them.
    sqlx::query(
        "update conversations set csat_rating = (select s.rating from csat_responses s \
         where s.conversation_id = conversations.id) \
         where exists (select 1 from csat_responses s where s.conversation_id = conversations.id)",
    )
    .execute(store.pool())
    .await?;
    // Fresh statistics, as a long-running database would have (both dialects know `analyze`).
    sqlx::query("analyze").execute(store.pool()).await?;
    let (messages,): (i64,) = sqlx::query_as("select cast(count(*) as bigint) from messages")
        .fetch_one(store.pool())
        .await?;
    println!(
        "seeded {seeded} conversations, {messages} messages, {rated} CSAT ratings, {} customers in {:.1} s ({:?})",
        customers.len(),
        started.elapsed().as_secs_f64(),
        store.dialect()
    );

    let cases = [
        (
            "90 days, all channels",
            SummaryQuery {
                from: Some(day(now - 91 * DAY_MS)),
                ..SummaryQuery::default()
            },
        ),
        ("30 days (default), all channels", SummaryQuery::default()),
        (
            "90 days, channel=web",
            SummaryQuery {
                from: Some(day(now - 91 * DAY_MS)),
                channel: Some(engine::channel::Channel::Web),
                ..SummaryQuery::default()
            },
        ),
    ];
    for (name, query) in cases {
        let first = summary(&store, &org, &query).await.map_err(e)?;
        let reference = summary_live(&store, &org, &query).await.map_err(e)?;
        // The same figures. (A period ending "now" moved by the few ms between the calls; with
        // a conversation every 78 s on average that almost never changes what it holds.)
        if (&first.totals, &first.top_intents, &first.channels)
            != (
                &reference.totals,
                &reference.top_intents,
                &reference.channels,
            )
            || first.median_time_to_resolution_secs != reference.median_time_to_resolution_secs
        {
            anyhow::bail!("[{name}] the rollup and the live summary differ");
        }
        let mut rollup = Vec::with_capacity(runs);
        let mut live = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            let s = summary(&store, &org, &query).await.map_err(e)?;
            rollup.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(s.totals.conversations, first.totals.conversations);
            let t = Instant::now();
            let s = summary_live(&store, &org, &query).await.map_err(e)?;
            live.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(s.totals.conversations, first.totals.conversations);
        }
        for (path, times) in [("rollup", &mut rollup), ("live", &mut live)] {
            times.sort_by(f64::total_cmp);
            println!(
                "summary [{name}] {path:>6}: {} conversations, {} messages | p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {runs} runs",
                first.totals.conversations,
                first.totals.messages,
                percentile(times, 50.0),
                percentile(times, 95.0),
                times.last().copied().unwrap_or_default(),
            );
        }
    }
    Ok(())
}

/// `YYYY-MM-DD` of a unix-ms instant.
fn day(ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}
