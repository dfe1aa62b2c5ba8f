//! SIGKILL during ingestion: the real `blaigent` process (a child, see `node.rs`) ingests an
//! uploaded guide of 120 chunks with the real embedding model, and is killed with
//! SIGKILL half-way through writing the chunks' vectors. A new process on the same database and data
//! folder takes the job over once the dead worker's lease runs out (`BLAIGENT_INGEST_LEASE`,
//! short here) and finishes it. What a user sees: the document stays `processing` and no
//! search shows any of the half-written generation meanwhile; then it is `ready` with the
//! chunk count a clean ingestion of the same file gets, and every search finds its passages,
//! each once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use engine::store::Store;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{both_backends, json_of, Backend, TestDatabase};

use super::node::{api, create_org, Node, WAIT};

const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";

/// A job claimed by a process that died is taken over this long after the claim (or its last
/// renewal); the default of a minute would take most of the test's wait.
const INGEST_ENV: [(&str, &str); 1] = [("BLAIGENT_INGEST_LEASE", "6s")];

/// Sections of the guide, one chunk each. Writing their vectors takes seconds (about 8 to
/// 18 s on the busy 2-core test machine in a debug build). The kill comes half-way through,
/// timed on a clean ingestion of the same guide, so it lands mid-write on a faster machine too.
const SECTIONS: usize = 120;

/// Syllables of the lockers' made-up names: three of them name each section's locker, a word
/// that no other section (and no English text) contains, so a keyword search finds exactly it.
const SYLLABLES: [&str; 8] = ["ka", "lo", "mi", "ru", "te", "zo", "ne", "vi"];

/// The ranges whose spare parts the lockers keep, in turn.
const PRODUCTS: [&str; 5] = [
    "bicycle",
    "kettle",
    "lawn mower",
    "espresso machine",
    "drill",
];

/// A question that matches every section of the guide.
const BROAD_QUESTION: &str = "Which aisle of the Leipzig depot keeps the spare parts?";

/// The name of locker `i` (below 512): its number in base 8, one syllable per digit.
fn locker(i: usize) -> String {
    [i / 64, i / 8 % 8, i % 8]
        .iter()
        .map(|digit| SYLLABLES[*digit])
        .collect()
}

/// The uploaded guide: a Markdown section per locker.
fn guide() -> String {
    let mut text = String::from("# Leipzig depot locker guide\n\n");
    for i in 0..SECTIONS {
        let name = locker(i);
        let product = PRODUCTS[i % PRODUCTS.len()];
        text.push_str(&format!(
            "## Locker {name}\n\n\
             Locker {name} stands in aisle {aisle} of the Leipzig depot and keeps the spare \
             parts of our {product} range: seals, screws, filters and the small boards that \
             customers ask for most. Staff open locker {name} with the blue key card, log every \
             part they take on the tablet beside it, and refill it every {days} days from the \
             central warehouse. A customer who needs a part from locker {name} gets it posted \
             within {hours} hours, or can collect it at the depot counter on weekdays between \
             eight and six. Damaged parts go back to locker {name} in the red return tray, \
             with the repair ticket number written on the bag.\n\n",
            aisle = i % 40 + 1,
            days = i % 6 + 2,
            hours = (i % 3 + 1) * 24,
        ));
    }
    text
}

/// Uploads `text` as a Markdown file for the organization of `key`; returns the document id.
async fn upload(node: &Node, key: &str, text: &str) -> String {
    let file = reqwest::multipart::Part::text(text.to_owned())
        .file_name("locker-guide.md")
        .mime_str("text/markdown")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("title", "Locker guide");
    let response = reqwest::Client::new()
        .post(format!("{}{KNOWLEDGE}", node.base_url))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("the server answers");
    let (status, document) = json_of(response).await;
    assert_eq!(status, 201, "{document}");
    assert_eq!(document["status"], "processing");
    document["id"].as_str().unwrap().to_owned()
}

async fn document(node: &Node, key: &str, id: &str) -> Value {
    let (status, document) = api(node, key, Method::GET, &format!("{KNOWLEDGE}/{id}"), None).await;
    assert_eq!(status, 200, "{document}");
    document
}

/// The passages a dashboard search in `mode` returns for `query` (at most 50).
async fn search(node: &Node, key: &str, query: &str, mode: &str) -> Vec<Value> {
    let (status, body) = api(
        node,
        key,
        Method::POST,
        &format!("{KNOWLEDGE}/search"),
        Some(json!({"query": query, "top_k": 50, "mode": mode})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["passages"].as_array().unwrap().clone()
}

/// The ingestion job of `document`, as the database has it: status and attempts.
async fn job(store: &Store, document: &str) -> (String, i64) {
    sqlx::query_as("select status, attempts from ingest_jobs where document_id = $1")
        .bind(document)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Waits until the worker is writing the document's vectors: its job is running and the
/// chunks of the new generation are stored (the worker stores them just before embedding).
async fn wait_until_indexing(store: &Store, document: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _) = job(store, document).await;
        let (stored,): (i64,) = sqlx::query_as(
            "select cast(count(*) as bigint) from knowledge_chunks where document_id = $1",
        )
        .bind(document)
        .fetch_one(store.pool())
        .await
        .unwrap();
        if status == "running" && stored > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "never indexing: job {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A clean ingestion of the guide by the organization of `key`: the document once ready, and
/// how long its vectors took to write (from its chunks being stored to `ready`).
async fn reference_ingestion(
    node: &Node,
    key: &str,
    store: &Store,
    text: &str,
) -> (Value, Duration) {
    let id = upload(node, key, text).await;
    wait_until_indexing(store, &id).await;
    let indexing = Instant::now();
    let deadline = indexing + WAIT;
    loop {
        let document = document(node, key, &id).await;
        if document["status"] != "processing" {
            assert_eq!(document["status"], "ready", "{document}");
            return (document, indexing.elapsed());
        }
        assert!(Instant::now() < deadline, "still processing: {document}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that `passages` are all of `document`, none twice, none past its chunk count.
fn assert_each_once(passages: &[Value], document: &str, chunk_count: i64, what: &str) {
    let mut chunks = HashSet::new();
    let mut texts = HashSet::new();
    for passage in passages {
        assert_eq!(passage["document_id"], document, "{what}: {passage}");
        let index = passage["chunk_index"].as_i64().unwrap();
        assert!((0..chunk_count).contains(&index), "{what}: {passage}");
        assert!(chunks.insert(index), "{what}: chunk {index} twice");
        let text = passage["text"].as_str().unwrap();
        assert!(texts.insert(text.to_owned()), "{what}: twice: {text}");
    }
}

async fn a_document_ingesting_at_a_kill_is_ready_after_restart_whole_and_once(backend: Backend) {
    let db = TestDatabase::create(backend).await.expect("a database");
    let (_org, key) = create_org(&db).await;
    let (_other, other_key) = create_org(&db).await;
    let node = Node::start(&db, &INGEST_ENV).await;
    // Reads the job's state beside the processes, as an operator would.
    let store = Store::connect(&db.url).await.expect("the database");
    let guide = guide();

    // 1. A clean ingestion of the guide by another organization (so it is not refused as a
    //    duplicate): the chunk count to expect, and how long writing the vectors takes here.
    let (reference, indexing) = reference_ingestion(&node, &other_key, &store, &guide).await;
    eprintln!(
        "{backend:?}: a clean ingestion wrote the vectors of {} chunks in {indexing:?}",
        reference["chunk_count"]
    );

    // 2. The same guide for this organization. Half-way through writing its vectors (the
    //    half-written generation is invisible meanwhile), SIGKILL, with the job still running.
    let id = upload(&node, &key, &guide).await;
    wait_until_indexing(&store, &id).await;
    let kill_at = Instant::now() + indexing / 2;
    while Instant::now() < kill_at {
        let passages = search(&node, &key, BROAD_QUESTION, "hybrid").await;
        assert!(passages.is_empty(), "half a document: {passages:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.kill().await;
    let at_kill = job(&store, &id).await;
    assert_eq!(
        at_kill,
        ("running".to_owned(), 1),
        "the kill landed after the job had finished"
    );

    // 3. A new process: the document stays `processing` with nothing searchable until the job
    //    is taken over and finished.
    let node = Node::start(&db, &INGEST_ENV).await;
    let restarted = Instant::now();
    let deadline = restarted + WAIT;
    let ready = loop {
        // Searched before the status is read: a search that ran while the document was
        // still processing must show none of it.
        let passages = search(&node, &key, BROAD_QUESTION, "hybrid").await;
        let document = document(&node, &key, &id).await;
        if document["status"] != "processing" {
            break document;
        }
        assert!(passages.is_empty(), "half a document: {passages:#?}");
        assert_eq!(document["chunk_count"], 0, "{document}");
        if Instant::now() > deadline {
            let job = job(&store, &id).await;
            panic!("never resumed: {document}, job {job:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "{backend:?}: ready {:?} after the restart",
        restarted.elapsed()
    );
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        job(&store, &id).await,
        ("done".to_owned(), 2),
        "the killed attempt and the one that finished"
    );

    // The same chunks as the clean ingestion.
    let chunk_count = ready["chunk_count"].as_i64().unwrap();
    assert_eq!(ready["chunk_count"], reference["chunk_count"]);
    assert!(chunk_count >= SECTIONS as i64 / 2, "{ready}");

    // 4. Every search finds the document's passages, each once, from either index.
    for mode in ["hybrid", "vector", "keyword"] {
        let passages = search(&node, &key, BROAD_QUESTION, mode).await;
        assert_eq!(passages.len(), 50, "{mode}: {passages:#?}");
        assert_each_once(&passages, &id, chunk_count, mode);
    }
    for i in [0, SECTIONS / 2, SECTIONS - 1] {
        let name = locker(i);
        let question = format!("Where is locker {name}?");
        let section = format!("Locker {name} stands");
        for mode in ["keyword", "hybrid"] {
            let passages = search(&node, &key, &question, mode).await;
            assert_each_once(&passages, &id, chunk_count, &question);
            let found = passages
                .iter()
                .position(|p| p["text"].as_str().unwrap().contains(&section));
            assert!(found.is_some(), "{mode} {question}: {passages:#?}");
            if mode == "keyword" {
                // The name is in no other section: the keyword index ranks its own first.
                assert_eq!(found, Some(0), "{question}: {passages:#?}");
            }
        }
    }
    node.kill().await;
    store.close().await;
}

both_backends!(a_document_ingesting_at_a_kill_is_ready_after_restart_whole_and_once);
