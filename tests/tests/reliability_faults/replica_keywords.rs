//! Two replicas over one database and one vector index, each with the keyword (BM25) index in
//! its own memory.
//!
//! The first replica (the spawned app: the embedded index, the ingestion worker) adds and
//! deletes a document after the second (a server over the very same index through the
//! breakable wrapper, no ingestion worker: what a second process on a shared Qdrant server is)
//! has loaded the organization's keyword index. The second replica must learn both changes
//! from the database: the new document is found by its keyword search, and answered from
//! keywords while its vector index is down; the deleted one is found nowhere any more.

use serde_json::Value;
use tests::{both_backends, send_json, spawn_app, Backend};

use super::support::{
    assert_no_fault_wording, citation_titles, logs, request_id, text, upload_shop, Server, Target,
    GIFT_CARDS, KNOWLEDGE,
};
use super::vector::{
    add_document, assert_says_nothing_false, server_over_with, stop_and_release, wait_for_document,
    Breakable, DEGRADED, REFUSE, UP,
};
use super::vector_restart::search;

const QUESTION: &str = "How long are gift cards valid?";

/// The titles of a keyword search's passages on `server`.
async fn keyword_titles(server: &Server, key: &str, query: &str) -> Vec<Value> {
    search(server, key, query, "keyword")
        .await
        .iter()
        .map(|p| p["title"].clone())
        .collect()
}

async fn a_replica_learns_documents_another_replica_indexed_or_deleted(backend: Backend) {
    logs();
    let app = spawn_app(backend).await;
    upload_shop(&app).await;
    let breakable = Breakable::over(&app, UP).await;
    let replica = server_over_with(&app, breakable.clone(), |config| {
        config.knowledge.run_worker = false;
    })
    .await;
    let on_replica = Target::on(&replica, &app);
    // The replica loads the organization's keyword index (the shop, no gift cards).
    assert_eq!(
        keyword_titles(&replica, &app.api_key, "express delivery").await[0],
        "Shipping"
    );
    assert!(keyword_titles(&replica, &app.api_key, "gift cards")
        .await
        .is_empty());

    // Added and indexed on the first replica.
    let on_first = Target::of(&app);
    let gift_cards = add_document(&on_first, "Gift cards", GIFT_CARDS).await;
    wait_for_document(&on_first, &gift_cards, "ready").await;

    let titles = keyword_titles(&replica, &app.api_key, "gift cards valid").await;
    assert_eq!(
        titles.first().and_then(Value::as_str),
        Some("Gift cards"),
        "{titles:?}"
    );
    // The replica's vector index goes down: its answer comes from keywords alone.
    breakable.set(REFUSE);
    let rid = request_id("replica-gift");
    let (reply, _) = on_replica.chat("cust-replica", QUESTION, &rid).await;
    logs().wait_for(&rid, DEGRADED).await;
    assert!(text(&reply).contains("three years"), "{reply}");
    assert_eq!(citation_titles(&reply)[0], "Gift cards", "{reply}");
    assert_no_fault_wording(text(&reply));
    breakable.set(UP);

    // Deleted on the first replica: gone from the second one's keywords and answers.
    let (status, body) = send_json(app.delete(&format!("{KNOWLEDGE}/{gift_cards}"))).await;
    assert!((200..300).contains(&status), "{status} {body}");
    assert!(keyword_titles(&replica, &app.api_key, "gift cards valid")
        .await
        .is_empty());
    breakable.set(REFUSE);
    let rid = request_id("replica-gift-deleted");
    let (reply, _) = on_replica.chat("cust-replica-2", QUESTION, &rid).await;
    logs().wait_for(&rid, DEGRADED).await;
    assert_says_nothing_false(&reply, QUESTION);
    assert!(!text(&reply).contains("three years"), "{reply}");

    stop_and_release(replica, breakable).await;
}

both_backends!(a_replica_learns_documents_another_replica_indexed_or_deleted);
