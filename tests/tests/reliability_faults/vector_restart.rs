//! A replica started while the vector index is down.
//!
//! The keyword (BM25) index of an organization is loaded the first time it is searched; when
//! the vector index cannot be scrolled it is built from the database (the ingestion worker
//! keeps each generation's chunks there, `engine::store::knowledge_chunks`). The shop's
//! documents are ingested by a first server whose index works (the embedded one, as a Qdrant
//! server would have indexed them before the outage); that server stops and a new process
//! starts on the same database and data folder with the vector index unreachable, staged
//! twice:
//!
//! - **`BLAIGENT_QDRANT_URL` at a closed port**: the configuration of a replica whose Qdrant
//!   server is down. Questions in the documents' words are answered with their citation, a
//!   document whose ingestion could not finish stays invisible, an unanswerable question gets
//!   nothing.
//! - **The breakable wrapper of the very index that holds the vectors**, refusing from the
//!   start, then back: the keyword index loaded from the database merges with the vector hits
//!   (a hybrid search scores the same passage from both sides, once).

use std::collections::HashSet;

use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend};

use super::support::{
    assert_no_fault_wording, citation_titles, closed_port, logs, request_id, text, upload_shop,
    Server, Target, GIFT_CARDS, KNOWLEDGE, SHOP_QUESTIONS,
};
use super::vector::{
    add_document, assert_says_nothing_false, document, failed_attempt, readiness, server_over,
    stop_and_release, Breakable, DEGRADED, REFUSE, UP, VECTOR_TIMEOUT,
};

/// What the database source logs when it loaded an organization's chunks.
const LOADED: &str = "loaded the organization's chunks from the database";

/// Asks every shop question on `target`; each must be answered from keywords with its
/// citation. Returns the database source's log line of the first (the one that loaded).
async fn answers_every_question(target: &Target<'_>, step: &str) -> String {
    let mut loaded = None;
    for (question, fact, title) in SHOP_QUESTIONS {
        let rid = request_id(step);
        let (reply, took) = target.chat("cust-restart", question, &rid).await;
        assert!(text(&reply).contains(fact), "{step}: {question}: {reply}");
        assert_eq!(citation_titles(&reply)[0], title, "{step}: {reply}");
        assert_no_fault_wording(text(&reply));
        logs().wait_for(&rid, DEGRADED).await;
        if loaded.is_none() {
            loaded = Some(logs().wait_for(&rid, LOADED).await);
        }
        eprintln!("{step}: {question:?} answered from keywords in {took:?}");
    }
    loaded.unwrap()
}

async fn a_replica_started_while_the_vector_index_is_down_answers_from_keywords(backend: Backend) {
    logs();
    let mut app = spawn_app(backend).await;
    upload_shop(&app).await;
    app.stop().await;

    let port = closed_port().await;
    let server = Server::start(
        &app,
        |config| {
            config.knowledge.qdrant_url = Some(format!("http://127.0.0.1:{port}"));
            config.knowledge.vector_timeout = VECTOR_TIMEOUT;
        },
        async |state| state,
    )
    .await;
    let (status, body) = readiness(&server).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("degraded")));
    let target = Target::on(&server, &app);
    // Added before the first search: its content is stored, its vectors never written, so the
    // keyword index loaded from the database must leave it out.
    let gift_cards = add_document(&target, "Gift cards", GIFT_CARDS).await;
    failed_attempt(&server, &gift_cards).await;

    let loaded = answers_every_question(&target, "restart-closed-port").await;
    eprintln!("closed port: {loaded}");
    assert!(loaded.contains("documents=3"), "{loaded}");

    let doc = document(&server, &app.api_key, &gift_cards).await;
    assert_ne!(doc["status"], "ready", "{doc}");
    let question = "How long are gift cards valid?";
    let (reply, _) = target
        .chat("cust-restart-2", question, &request_id("restart-gift"))
        .await;
    assert_says_nothing_false(&reply, question);
    assert!(!text(&reply).contains("three years"), "{reply}");
    let question = "Do you ship to Mars?";
    let (reply, _) = target
        .chat("cust-restart-3", question, &request_id("restart-oos"))
        .await;
    assert_says_nothing_false(&reply, question);
    drop(server);

    // The index that holds the vectors, down from the start, then back.
    let breakable = Breakable::over(&app, REFUSE).await;
    let server = server_over(&app, breakable.clone()).await;
    let target = Target::on(&server, &app);
    answers_every_question(&target, "restart-refused").await;
    breakable.set(UP);
    let passages = search(
        &server,
        &app.api_key,
        "How much is express delivery?",
        "hybrid",
    )
    .await;
    let best = &passages[0];
    assert_eq!(best["title"], "Shipping", "{passages:#?}");
    assert!(best["vector_score"].is_number(), "{best}");
    assert!(best["keyword_score"].is_number(), "{best}");
    let keys: HashSet<String> = passages
        .iter()
        .map(|p| format!("{}/{}", p["document_id"], p["chunk_index"]))
        .collect();
    assert_eq!(
        keys.len(),
        passages.len(),
        "a passage appears once: {passages:#?}"
    );

    stop_and_release(server, breakable).await;
}

/// The passages of a dashboard search in `mode` (`hybrid`, `vector` or `keyword`).
pub(super) async fn search(server: &Server, key: &str, query: &str, mode: &str) -> Vec<Value> {
    let (status, body) = send_json(
        server
            .client
            .post(server.url(&format!("{KNOWLEDGE}/search")))
            .bearer_auth(key)
            .json(&json!({"query": query, "top_k": 5, "mode": mode})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["passages"].as_array().unwrap().clone()
}

both_backends!(a_replica_started_while_the_vector_index_is_down_answers_from_keywords);
