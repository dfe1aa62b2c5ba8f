//! Benchmark (not a test): latency of one full offline agent turn with 10,000 knowledge chunks
//! indexed, on the real parts (all-MiniLM-L6-v2, embedded Qdrant with hybrid retrieval, the
//! intent classifier, SQLite memory), the latency of intent detection alone (embedding and
//! classification of the same questions), and the process's memory.
//!
//! ```text
//! cargo run --release -p engine --example agent_bench
//! ```
//!
//! Environment: `BENCH_CHUNKS` (default 10000), `BENCH_TURNS` (default 300),
//! `BENCH_TUNED_INTENTS=1` (intents classified as the server does with tuning on: by an
//! encoder fine-tuned on the default set, served from its ONNX copy; the benchmark tunes it
//! on a short schedule first, since only its speed is measured here).

use std::sync::Arc;
use std::time::Instant;

use engine::agent::{Agent, Turn};
use engine::channel::Channel;
use engine::config::AgentConfig;
use engine::embed::local::LocalEmbedder;
use engine::embed::recent::RecentQueries;
use engine::embed::Embedder;
use engine::ids::{ConversationId, DocumentId, OrganizationId};
use engine::index::qdrant_edge::EdgeIndex;
use engine::intent::tuner::{IntentTuner, TunerSettings, TuningStatus};
use engine::intent::{ClassifierSettings, IntentService};
use engine::knowledge::Chunk;
use engine::retrieval::Retriever;
use engine::store::orgs::{NewOrganization, Plan};
use engine::store::Store;

const PRODUCTS: [&str; 25] = [
    "Alpine 2 tent",
    "Ridge 3 tent",
    "Summit down jacket",
    "Trail running shoes",
    "Canyon backpack",
    "Glacier sleeping bag",
    "Forest rain jacket",
    "Peak trekking poles",
    "Harbor kayak",
    "River paddle",
    "Stone climbing harness",
    "Mesa hiking boots",
    "Dune sun hat",
    "Tundra gloves",
    "Lake water filter",
    "Cliff headlamp",
    "Meadow camping stove",
    "Valley hammock",
    "Coast wetsuit",
    "Aurora fleece",
    "Boulder chalk bag",
    "Cedar camping chair",
    "Falcon binoculars",
    "Polar thermos",
    "Drift sandals",
];
const ASPECTS: [(&str, &str); 8] = [
    (
        "weight",
        "weighs {n} grams and packs down to the size of a {thing}",
    ),
    (
        "warranty",
        "comes with a {n}-year warranty covering seams, zips and buckles",
    ),
    (
        "material",
        "is made from recycled nylon with a {n}-denier ripstop weave",
    ),
    (
        "care",
        "should be rinsed with fresh water after use and dried away from direct heat for {n} hours",
    ),
    (
        "sizes",
        "is available in {n} sizes, and the fit runs true to size",
    ),
    (
        "price",
        "costs {n} EUR, and members get a 10 percent discount",
    ),
    (
        "stock",
        "ships from our Munich warehouse within {n} business days",
    ),
    (
        "repairs",
        "can be repaired in our workshop; repairs usually take {n} days",
    ),
];
const THINGS: [&str; 5] = [
    "loaf of bread",
    "water bottle",
    "football",
    "shoe box",
    "paperback",
];

const POLICIES: [(&str, &str); 3] = [
    ("Refund policy", "You can return any unused item within 30 days of delivery. Refunds are paid to your original payment method within 5 business days after the return arrives at our warehouse."),
    ("Shipping", "Standard shipping within Germany takes 2 to 3 business days and costs 4.90 EUR. Express delivery arrives the next business day for 12 EUR."),
    ("Opening hours", "Our Munich store is open Monday to Friday from 10:00 to 19:00 and on Saturday from 10:00 to 16:00. The store is closed on Sundays."),
];

fn chunk_text(i: usize) -> (String, String) {
    let product = PRODUCTS[i % PRODUCTS.len()];
    let (aspect, template) = ASPECTS[(i / PRODUCTS.len()) % ASPECTS.len()];
    let n = 2 + (i * 7919) % 997;
    let body = template
        .replace("{n}", &n.to_string())
        .replace("{thing}", THINGS[i % THINGS.len()]);
    let variant = i / (PRODUCTS.len() * ASPECTS.len());
    (
        format!("{product} {aspect} (edition {variant})"),
        format!(
            "The {product} (edition {variant}) {body}. Ask in store about matching accessories for the {product}. Model code {}-{variant}.",
            aspect.to_uppercase()
        ),
    )
}

fn questions(count: usize) -> Vec<String> {
    let templates = [
        "How much does the {p} weigh?",
        "What warranty does the {p} have?",
        "How do I clean the {p}?",
        "What sizes does the {p} come in?",
        "How long do refunds take for the {p}?",
        "How fast is express shipping for a {p}?",
        "When is the Munich store open on Saturday? I want to see the {p}",
        "Can the {p} be repaired?",
        "Do you sell gift wrapping for the {p}?",
        "Is the {p} waterproof enough for sailing in {n} knots?",
    ];
    (0..count)
        .map(|i| {
            templates[i % templates.len()]
                .replace("{p}", PRODUCTS[(i * 7) % PRODUCTS.len()])
                .replace("{n}", &(10 + i).to_string())
        })
        .collect()
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn tuned_intents() -> bool {
    std::env::var("BENCH_TUNED_INTENTS").is_ok_and(|v| v == "1")
}

/// Queues the default set's tuning and waits until its tuned model serves.
async fn wait_for_tuning(intents: &IntentService, org: &OrganizationId) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        match intents
            .tuning_status(org)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            TuningStatus::Ready { .. } => break,
            TuningStatus::Queued | TuningStatus::Tuning { .. } => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => anyhow::bail!("intent tuning did not finish: {other:?}"),
        }
    }
    eprintln!(
        "tuned the default intent set ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let chunks: usize = std::env::var("BENCH_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let turns: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir()?;
    let model: Arc<dyn Embedder> =
        Arc::new(LocalEmbedder::load_default().map_err(|e| anyhow::anyhow!("{e}"))?);
    // As in the server (`ingest::shared_embedder`): recent queries are embedded once per turn.
    let embedder: Arc<dyn Embedder> = Arc::new(RecentQueries::new(model.clone()));
    let store = Store::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.migrate().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let org = store
        .insert_organization(&NewOrganization {
            name: "Bench".into(),
            plan: Plan::Growth,
            rate_limit_per_min: None,
            monthly_conversation_quota: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .id;
    let index = EdgeIndex::open_async(dir.path().join("qdrant"), 384)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let retriever = Arc::new(Retriever::new(embedder.clone(), Arc::new(index)));

    let started = Instant::now();
    let mut batch = Vec::new();
    for i in 0..chunks {
        let (title, text) = match POLICIES.get(i) {
            Some((title, text)) => ((*title).to_string(), (*text).to_string()),
            None => chunk_text(i),
        };
        batch.push(Chunk {
            organization_id: org.clone(),
            document_id: DocumentId::new(),
            generation: 1,
            chunk_index: 0,
            text,
            title,
            url: None,
            heading_path: vec![],
            tags: vec![],
            content_hash: String::new(),
        });
        if batch.len() == 500 || i + 1 == chunks {
            retriever
                .index_chunks(std::mem::take(&mut batch))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!(
                "indexed {} / {chunks} ({:.0} s)",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }

    let tuner = tuned_intents().then(|| {
        Arc::new(IntentTuner::new(
            TunerSettings::short_schedule(),
            ClassifierSettings::for_tuned_encoder(),
        ))
    });
    let with_tuner = |service: IntentService| match &tuner {
        Some(tuner) => service.with_tuner(tuner.clone()),
        None => service,
    };
    let intents = Arc::new(with_tuner(IntentService::new(
        store.clone(),
        embedder.clone(),
    )));
    if tuner.is_some() {
        wait_for_tuning(&intents, &org).await?;
    }
    let agent = Agent::new()
        .with_store(store.clone())
        .with_embedder(embedder.clone())
        .with_retriever(retriever)
        .with_intents(intents);
    let customer = store
        .ensure_customer(&org, "bench_customer")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = AgentConfig::default();
    let make = |message: String| Turn {
        organization_id: org.clone(),
        customer_id: "bench_customer".into(),
        customer_record_id: customer.clone(),
        conversation_id: ConversationId::new(),
        channel: Channel::Web,
        message,
        language: None,
        metadata: Default::default(),
        history: vec![],
        config: config.clone(),
    };
    // Warm-up: trains the default intent classifier, fills caches of the index.
    for q in questions(20) {
        agent
            .handle(&make(format!("{q} (warm-up)")))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut latencies = Vec::with_capacity(turns);
    let mut answered = 0;
    for q in questions(turns) {
        let turn = make(q);
        let t = Instant::now();
        let reply = agent
            .handle(&turn)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        if !reply.citations.is_empty() {
            answered += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);

    // Intent detection alone: what the pipeline's intent stage costs, embedding included (the
    // model without the memo of recent queries, so every message is really embedded).
    let intents_alone = with_tuner(IntentService::new(store.clone(), model.clone()));
    let mut intent_ms = Vec::with_capacity(turns);
    for q in questions(turns) {
        let t = Instant::now();
        intents_alone
            .classify(&org, &q)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        intent_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    intent_ms.sort_by(f64::total_cmp);
    let (rss, peak) = rss_kib();
    println!("chunks indexed: {chunks}");
    println!(
        "intents: {}",
        if tuner.is_some() {
            "tuned encoder (ONNX copy)"
        } else {
            "frozen encoder"
        }
    );
    println!("turns measured: {turns} (answered with citations: {answered})");
    println!(
        "turn latency ms: p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!(
        "intent detection alone ms: p50 {:.1}  p95 {:.1}  p99 {:.1}",
        percentile(&intent_ms, 50.0),
        percentile(&intent_ms, 95.0),
        percentile(&intent_ms, 99.0),
    );
    println!(
        "process RSS: {} MiB now, {} MiB peak",
        rss / 1024,
        peak / 1024
    );
    Ok(())
}
