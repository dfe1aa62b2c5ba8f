//! Past capacity the chat endpoint answers `503` with `Retry-After` at once instead of
//! queueing without bound; the rest of the API keeps answering meanwhile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine::agent::{Reply, Turn};
use engine::service::chat::TurnHandler;
use futures::future::BoxFuture;
use tests::{both_backends, spawn_app_with_state, Backend, TestApp};
use tokio::sync::Semaphore;

/// A turn handler that holds every turn until the test lets it go.
struct Gate {
    entered: AtomicUsize,
    open: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            entered: AtomicUsize::new(0),
            open: Semaphore::new(0),
        }
    }
}

impl TurnHandler for Gate {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, engine::Result<Reply>> {
        Box::pin(async move {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let permit = self.open.acquire().await;
            drop(permit);
            Ok(Reply {
                response: "Done.".into(),
                intent: "other".into(),
                confidence: 0.5,
                language: "en".into(),
                stored_message: turn.message.clone(),
                ..Reply::default()
            })
        })
    }
}

async fn app_with_gate(backend: Backend, gate: Arc<Gate>) -> TestApp {
    spawn_app_with_state(
        backend,
        |config| {
            config.overload.max_inflight = 1;
            config.overload.max_queue = 1;
            config.overload.queue_timeout = Duration::from_secs(20);
        },
        move |state| state.with_turn_handler(gate.clone()),
    )
    .await
}

async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn past_capacity_chat_is_shed_with_503_and_retry_after(backend: Backend) {
    let gate = Arc::new(Gate::default());
    let app = Arc::new(app_with_gate(backend, gate.clone()).await);

    // One turn runs (held by the gate), one waits in the queue.
    let running = {
        let app = app.clone();
        tokio::spawn(async move { app.chat("c1", "first", None).await })
    };
    wait_until(|| gate.entered.load(Ordering::SeqCst) == 1).await;
    let queued = {
        let app = app.clone();
        tokio::spawn(async move { app.chat("c2", "second", None).await })
    };
    // The queued request has no observable state of its own; give it time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The third finds the slot and the queue taken: refused at once.
    let started = tokio::time::Instant::now();
    let response = app
        .post(tests::CHAT)
        .json(&serde_json::json!({"message": "third", "customer_id": "c3", "organization_id": app.org_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("capacity"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Other routes are not behind the chat's bound.
    let (status, body) = tests::send_json(app.get("/api/v1/platform/conversations")).await;
    assert_eq!(status, 200, "{body}");

    // Opening the gate lets the running and the queued turns finish normally.
    gate.open.add_permits(1_000);
    let (status, body) = running.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = queued.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(gate.entered.load(Ordering::SeqCst), 2);

    // Capacity is back.
    let (status, body) = app.chat("c4", "fourth", None).await;
    assert_eq!(status, 200, "{body}");
}

both_backends!(past_capacity_chat_is_shed_with_503_and_retry_after);
