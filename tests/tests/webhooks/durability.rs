//! Durability: events recorded while no dispatcher runs, or whose delivery was cut off by the
//! server stopping mid-request, are all delivered by the next server on the same database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tests::{both_backends, spawn_app_with, Backend};

use super::receiver::{create_webhook, fast_webhooks, Receiver};

async fn pending_events_are_delivered_by_the_next_server(backend: Backend) {
    let dispatching = Arc::new(AtomicBool::new(false));
    let flag = dispatching.clone();
    let app = spawn_app_with(backend, move |c| {
        fast_webhooks(c);
        c.webhooks.dispatch = flag.load(Ordering::SeqCst);
    })
    .await;
    let receiver = Receiver::start().await;
    create_webhook(&app, &receiver.url, json!(["*"])).await;
    let mut sessions = Vec::new();
    for customer in ["p", "q", "r"] {
        let (status, reply) = app.chat(customer, "Where is my order?", None).await;
        assert_eq!(status, 200);
        sessions.push(reply["session_id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.requests().is_empty(),
        "no dispatcher ran, yet something was sent"
    );

    dispatching.store(true, Ordering::SeqCst);
    let app = app.restart().await;
    receiver
        .wait_until(Duration::from_secs(20), |_| {
            receiver.processed_event_ids().len() == 6
        })
        .await;
    let delivered: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| {
            r.json()["data"]["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for session in &sessions {
        assert_eq!(
            delivered.iter().filter(|c| *c == session).count(),
            2,
            "{session}"
        );
    }
    drop(app);
}

async fn a_delivery_cut_off_by_a_stop_is_sent_again_after_restart(backend: Backend) {
    let app = spawn_app_with(backend, fast_webhooks).await;
    let receiver = Receiver::start().await;
    create_webhook(&app, &receiver.url, json!(["*"])).await;
    receiver.hang(true);
    app.chat("k", "Hello", None).await;
    // The first delivery is in flight (the receiver holds it); stop the server now, before
    // the 2 s timeout: its dispatcher is dropped mid-request.
    let first = receiver.wait_for(1).await.remove(0);
    let app = app.restart().await;
    receiver.hang(false);
    // The claim's lease (2 s timeout x (8 / 4 + 2) = 8 s) runs out, then the new server sends
    // the event again with the same id, followed by the rest of the conversation.
    receiver
        .wait_until(Duration::from_secs(30), |_| {
            receiver.processed_event_ids().len() == 2
        })
        .await;
    let processed = receiver.processed_event_ids();
    assert_eq!(
        processed[0],
        first.event_id(),
        "the cut-off event is resent first, same id"
    );
    assert_eq!(receiver.requests()[1].event(), "message.received");
    drop(app);
}

both_backends!(
    pending_events_are_delivered_by_the_next_server,
    a_delivery_cut_off_by_a_stop_is_sent_again_after_restart,
);
