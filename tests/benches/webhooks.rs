//! Webhook benchmark (not a test): deliveries per second from the real dispatcher to a
//! receiver on loopback, and the latency a chat turn's transaction gains by writing its events
//! to the outbox. Runs on SQLite and, when reachable, on PostgreSQL (`BLAIGENT_TEST_POSTGRES_URL`).
//!
//! `cargo bench -p tests --bench webhooks` (optional: `-- 5000` events for the throughput run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use engine::agent::{Reply, Role};
use engine::channel::Channel;
use engine::events::turn::{turn_events, TurnFacts};
use engine::events::EventType;
use engine::ids::{ConversationId, MessageId, OrganizationId};
use engine::service::orgs;
use engine::store::conversations::{ConversationStatus, NewConversation, TurnRecord};
use engine::store::messages::NewMessage;
use engine::store::orgs::{NewOrganization, Plan};
use engine::store::webhooks::NewWebhook;
use engine::store::{now_ms, Store};
use engine::webhooks::{Dispatcher, WebhookSettings};
use serde_json::{json, Map};
use tests::{Backend, TestDatabase};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = match TestDatabase::create(backend).await {
            Ok(db) => db,
            Err(err) => {
                println!("{backend:?}: skipped ({err:#})");
                continue;
            }
        };
        let store = Store::connect(&db.url).await?;
        store.migrate().await?;
        println!("== {backend:?}");
        throughput(&store, events, false).await?;
        throughput(&store, events, true).await?;
        turn_latency(&store, 400).await?;
        store.close().await;
    }
    Ok(())
}

async fn new_org(store: &Store) -> anyhow::Result<OrganizationId> {
    let created = orgs::create_org(
        store,
        NewOrganization {
            name: "Bench".into(),
            plan: Plan::Scale,
            rate_limit_per_min: None,
            monthly_conversation_quota: None,
        },
    )
    .await?;
    Ok(created.organization.id)
}

async fn add_webhook(store: &Store, org: &OrganizationId, url: &str) -> anyhow::Result<()> {
    store
        .insert_webhook(
            org,
            &NewWebhook {
                url: url.to_owned(),
                description: "bench".into(),
                events: vec!["*".into()],
                enabled: true,
                secret: engine::webhooks::signing::generate_secret(),
            },
        )
        .await?;
    Ok(())
}

/// A receiver answering 200 and counting requests.
async fn receiver() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, count))
}

/// Queues `n` events (spread over 50 conversations when `conversations`), then times the
/// dispatcher delivering all of them to one endpoint.
async fn throughput(store: &Store, n: usize, conversations: bool) -> anyhow::Result<()> {
    let org = new_org(store).await?;
    let (url, received) = receiver().await?;
    add_webhook(store, &org, &url).await?;
    let ids: Vec<ConversationId> = (0..50).map(|_| ConversationId::new()).collect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut tx = store.begin().await?;
        for i in chunk {
            let conversation = conversations.then(|| &ids[i % ids.len()]);
            let data = json!({"n": i, "message": "Where is my order?"});
            Store::record_event_tx(
                &mut tx,
                &org,
                EventType::MessageReceived,
                &data,
                conversation,
            )
            .await?;
        }
        tx.commit().await?;
    }
    let settings = WebhookSettings {
        allow_networks: vec!["127.0.0.1/32".parse()?],
        poll_interval: Duration::from_millis(50),
        ..WebhookSettings::default()
    };
    let started = Instant::now();
    let dispatcher = Dispatcher::new(store.clone(), settings)?.spawn();
    loop {
        let counts = store.delivery_counts(&org).await?;
        let done = counts
            .iter()
            .find(|(s, _)| s == "succeeded")
            .map_or(0, |(_, c)| *c);
        if done as usize >= n {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "too slow: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    dispatcher.abort();
    println!(
        "deliveries ({}): {n} in {:.2} s = {:.0}/s (receiver saw {})",
        if conversations {
            "50 conversations, in order"
        } else {
            "independent events"
        },
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        received.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Times `record_turn` (the chat turn's one transaction) with and without its events,
/// alternating, for an organization with one subscribed endpoint.
async fn turn_latency(store: &Store, turns: usize) -> anyhow::Result<()> {
    let org = new_org(store).await?;
    add_webhook(store, &org, "http://127.0.0.1:9/never-called").await?;
    let customer = store.ensure_customer(&org, "cust_bench").await?;
    let reply = Reply {
        response: "Your order A-100 ships tomorrow.".into(),
        intent: "order_tracking".into(),
        confidence: 0.9,
        language: "en".into(),
        stored_message: "Where is my order?".into(),
        ..Reply::default()
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..turns * 2 {
        let conversation = ConversationId::new();
        let (customer_msg, agent_msg) = (MessageId::new(), MessageId::new());
        let metadata = Map::new();
        let events = if i % 2 == 0 {
            turn_events(&TurnFacts {
                conversation_id: &conversation,
                customer_id: "cust_bench",
                channel: Channel::Web,
                customer_message_id: &customer_msg,
                agent_message_id: &agent_msg,
                metadata: &metadata,
                reply: &reply,
            })
        } else {
            Vec::new()
        };
        let now = now_ms();
        let message = |id: &MessageId, role, text: &str| NewMessage {
            id: id.clone(),
            role,
            text: text.to_owned(),
            intent: Some("order_tracking".into()),
            confidence: None,
            language: Some("en".into()),
            citations_json: "[]".into(),
            actions_json: "[]".into(),
            metadata_json: "{}".into(),
            created_at: now,
        };
        let record = TurnRecord {
            organization_id: org.clone(),
            conversation_id: conversation.clone(),
            new_conversation: Some(NewConversation {
                customer_record_id: customer.clone(),
                channel: Channel::Web,
                monthly_quota: None,
            }),
            customer_message: message(&customer_msg, Role::Customer, "Where is my order?"),
            agent_message: message(&agent_msg, Role::Agent, &reply.response),
            intent: Some("order_tracking".into()),
            handoff_reason: None,
            handoff: false,
            events,
            status_before: ConversationStatus::Open,
            webhook_subscriptions: None,
        };
        let started = Instant::now();
        store.record_turn(record).await?;
        let micros = started.elapsed().as_secs_f64() * 1e6;
        if i % 2 == 0 {
            with.push(micros);
        } else {
            without.push(micros);
        }
    }
    let (w50, w95) = (percentile(&mut with, 0.5), percentile(&mut with, 0.95));
    let (o50, o95) = (
        percentile(&mut without, 0.5),
        percentile(&mut without, 0.95),
    );
    println!(
        "chat turn transaction, {turns} turns each: without events p50 {o50:.0} µs p95 {o95:.0} µs; \
         with 2 events + 2 deliveries p50 {w50:.0} µs p95 {w95:.0} µs; added at p50: {:.0} µs",
        w50 - o50
    );
    Ok(())
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let index = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[index]
}
