//! Graceful shutdown: a request in flight when the server is told to stop still completes and
//! its turn is stored whole.

use std::sync::Arc;
use std::time::Duration;

use engine::agent::{Reply, Turn};
use engine::service::chat::TurnHandler;
use futures::future::BoxFuture;
use tests::{both_backends, spawn_app_with_state, Backend};

/// An agent that takes its time, so a request is surely in flight at shutdown.
struct SlowAgent;

impl TurnHandler for SlowAgent {
    fn handle<'a>(&'a self, turn: &'a Turn) -> BoxFuture<'a, engine::Result<Reply>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            Ok(Reply {
                response: "done".into(),
                intent: "other".into(),
                language: "en".into(),
                stored_message: turn.message.clone(),
                ..Reply::default()
            })
        })
    }
}

async fn an_in_flight_request_finishes_during_shutdown(backend: Backend) {
    let mut app = spawn_app_with_state(
        backend,
        |_| {},
        |state| state.with_turn_handler(Arc::new(SlowAgent)),
    )
    .await;
    let request = app
        .post(tests::CHAT)
        .json(&serde_json::json!({
            "message": "hello",
            "customer_id": "c",
            "organization_id": app.org_id,
        }))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.begin_shutdown();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["response"], "done");

    // The server no longer accepts connections, and the turn was stored whole.
    app.stop().await;
    let refused = app.client.get(app.url("/healthz")).send().await;
    assert!(refused.is_err(), "the server still answers after shutdown");
    let store = engine::store::Store::connect(&app.db.url).await.unwrap();
    let org = engine::ids::OrganizationId::parse(&app.org_id).unwrap();
    let id = engine::ids::ConversationId::parse(reply["session_id"].as_str().unwrap()).unwrap();
    let messages = store.messages(&org, &id).await.unwrap();
    assert_eq!(messages.len(), 2);
    store.close().await;
}

both_backends!(an_in_flight_request_finishes_during_shutdown);
