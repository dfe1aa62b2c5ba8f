//! The vector index unavailable.
//!
//! No Qdrant server runs on this machine, so the suite stages the outage two ways:
//!
//! - **A breakable index** over the real embedded one (the documents were indexed with
//!   vectors while it worked, as in production before the outage): it refuses every call
//!   (what a stopped Qdrant does) or hangs on every call (a Qdrant behind a dead network
//!   path). Answers must come from keyword retrieval, be right and cite their document, and a
//!   question the knowledge base cannot answer must get no borrowed facts; `/readyz` says
//!   `degraded`; a document added meanwhile stays `processing` and becomes `ready` once the
//!   index is back, never before.
//! - **`BLAIGENT_QDRANT_URL` at a dead address** (a closed port, and a port that accepts TCP
//!   and never answers): the server starts anyway, `/readyz` reports the index unreachable,
//!   chats answer without an error and without invented facts, and ingestion waits.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{AppState, Config};
use async_trait::async_trait;
use engine::error::{Error, Result};
use engine::ids::{DocumentId, OrganizationId};
use engine::index::qdrant_edge::EdgeIndex;
use engine::index::{IndexHit, IndexPoint, ScrollPage, SearchFilter, VectorIndex};
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app, Backend, TestApp};
use tokio::net::TcpListener;

use super::support::{
    assert_no_fault_wording, citation_titles, closed_port, logs, request_id, text, upload_shop,
    Server, Target, KNOWLEDGE, SHOP_QUESTIONS,
};

/// The vector deadline in this suite.
pub(super) const VECTOR_TIMEOUT: Duration = Duration::from_millis(500);
/// What a turn may add to it.
const MARGIN: Duration = Duration::from_millis(1500);
/// What the retriever logs when it answers from keywords.
pub(super) const DEGRADED: &str = "answering from keyword retrieval only";

pub(super) const UP: u8 = 0;
pub(super) const REFUSE: u8 = 1;
const HANG: u8 = 2;

/// The embedded index, with a switch that makes every call fail or hang.
pub(super) struct Breakable {
    inner: Arc<dyn VectorIndex>,
    mode: AtomicU8,
}

impl Breakable {
    /// The embedded index of `app`'s data folder, in `mode`.
    pub(super) async fn over(app: &TestApp, mode: u8) -> Arc<Breakable> {
        let edge = EdgeIndex::open_shared(app.db.dir.path().join("qdrant"), 384)
            .await
            .unwrap();
        Arc::new(Breakable {
            inner: edge,
            mode: AtomicU8::new(mode),
        })
    }

    pub(super) fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    async fn check(&self) -> Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            REFUSE => Err(Error::unavailable(
                "the Qdrant server could not be reached: connection refused",
            )),
            HANG => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl VectorIndex for Breakable {
    fn name(&self) -> &'static str {
        "breakable"
    }
    async fn ensure_collection(&self, dimension: usize) -> Result<()> {
        self.check().await?;
        self.inner.ensure_collection(dimension).await
    }
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()> {
        self.check().await?;
        self.inner.upsert(points).await
    }
    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        self.check().await?;
        self.inner.delete_document(org, document).await
    }
    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        self.check().await?;
        self.inner
            .delete_other_generations(org, document, keep)
            .await
    }
    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()> {
        self.check().await?;
        self.inner.delete_points(ids).await
    }
    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<IndexHit>> {
        self.check().await?;
        self.inner.search(org, vector, top_k, filter).await
    }
    async fn scroll(
        &self,
        org: &OrganizationId,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<ScrollPage> {
        self.check().await?;
        self.inner.scroll(org, after, limit).await
    }
    async fn count(&self, org: &OrganizationId) -> Result<u64> {
        self.check().await?;
        self.inner.count(org).await
    }
    async fn health(&self) -> Result<()> {
        self.check().await?;
        self.inner.health().await
    }
}

/// A second server on `app`'s data whose knowledge base sits on `breakable`.
pub(super) async fn server_over(app: &TestApp, breakable: Arc<Breakable>) -> Server {
    server_over_with(app, breakable, |_| {}).await
}

/// [`server_over`] with its configuration adjusted by `configure`.
pub(super) async fn server_over_with(
    app: &TestApp,
    breakable: Arc<Breakable>,
    configure: impl FnOnce(&mut Config),
) -> Server {
    Server::start(
        app,
        |config| {
            config.knowledge.vector_timeout = VECTOR_TIMEOUT;
            configure(config);
        },
        async move |mut state: AppState| {
            let knowledge = ingest::Knowledge::open_with_vectors(
                state.store.clone(),
                ingest::shared_embedder().unwrap(),
                breakable,
                state.config.knowledge.clone(),
            )
            .await
            .unwrap();
            let agent = Arc::new(
                api::agent_setup::build_agent(&state.config, &state.store, &knowledge).unwrap(),
            );
            state.knowledge = Arc::new(knowledge);
            state.turns = agent.clone();
            state.agent = agent;
            state
        },
    )
    .await
}

/// Stops `server` and waits until its tasks let go of `breakable`: the embedded index flushes
/// when its last handle drops, which must happen before the data folder is deleted.
pub(super) async fn stop_and_release(server: Server, breakable: Arc<Breakable>) {
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&breakable) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn readiness(server: &Server) -> (u16, Value) {
    send_json(server.client.get(server.url("/readyz"))).await
}

/// Every sentence of the shop's knowledge base, to check an answer borrows none.
fn shop_sentences() -> Vec<&'static str> {
    super::support::SHOP
        .iter()
        .flat_map(|(_, text)| text.split(". "))
        .map(|s| s.trim_end_matches('.'))
        .collect()
}

/// Asserts a question the knowledge base cannot answer got no passage and no borrowed fact.
pub(super) fn assert_says_nothing_false(reply: &Value, question: &str) {
    assert!(
        citation_titles(reply).is_empty(),
        "{question}: nothing in the knowledge base answers it, yet: {reply}"
    );
    for sentence in shop_sentences() {
        assert!(
            !text(reply).contains(sentence),
            "{question}: an unrelated passage was offered: {reply}"
        );
    }
    assert_no_fault_wording(text(reply));
}

pub(super) async fn document(server: &Server, key: &str, id: &str) -> Value {
    let (code, body) = send_json(
        server
            .client
            .get(server.url(&format!("{KNOWLEDGE}/{id}")))
            .bearer_auth(key),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Waits until document `id` of `target`'s organization has `status` there.
pub(super) async fn wait_for_document(target: &Target<'_>, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = send_json(
            target
                .client
                .get(format!("{}{KNOWLEDGE}/{id}", target.base_url))
                .bearer_auth(target.key),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        if body["status"] == status {
            return body;
        }
        assert_ne!(body["status"], "failed", "{body}");
        assert!(Instant::now() < deadline, "never {status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the ingestion job of `document` has recorded a failed attempt; returns its
/// error.
pub(super) async fn failed_attempt(server: &Server, document: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("select status, error from ingest_jobs where document_id = $1")
                .bind(document)
                .fetch_optional(server.state.store.pool())
                .await
                .unwrap();
        if let Some((status, Some(error))) = row {
            assert_eq!(status, "queued", "a failed attempt is retried: {error}");
            return error;
        }
        assert!(Instant::now() < deadline, "no attempt recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(super) async fn add_document(target: &Target<'_>, title: &str, text: &str) -> String {
    let (status, body) = send_json(
        target
            .client
            .post(format!("{}{KNOWLEDGE}", target.base_url))
            .bearer_auth(target.key)
            .json(&json!({"title": title, "text": text})),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn answers_degrade_to_keyword_retrieval_while_the_vector_index_is_down(backend: Backend) {
    logs();
    let mut app = spawn_app(backend).await;
    upload_shop(&app).await;
    // Only the server under test may run ingestion jobs (the first one would index with the
    // unbroken embedded index); its data stays.
    app.stop().await;
    let breakable = Breakable::over(&app, UP).await;
    let server = server_over(&app, breakable.clone()).await;
    let target = Target::on(&server, &app);
    let (status, body) = readiness(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["checks"],
        json!({"database": "ok", "vector_index": "ok"})
    );
    // Healthy: the answer uses both halves (and the keyword index is loaded, as it is on a
    // server that has been answering before an outage).
    let (reply, _) = target
        .chat(
            "cust-v",
            "How much is express delivery?",
            &request_id("vector-up"),
        )
        .await;
    assert!(text(&reply).contains("12 EUR"), "{reply}");

    for (mode, step) in [(REFUSE, "refused"), (HANG, "hanging")] {
        breakable.set(mode);
        for (question, fact, title) in SHOP_QUESTIONS {
            let rid = request_id(&format!("vector-{step}"));
            let (reply, took) = target.chat("cust-v", question, &rid).await;
            assert!(text(&reply).contains(fact), "{step}: {question}: {reply}");
            assert_eq!(citation_titles(&reply)[0], title, "{step}: {reply}");
            assert_no_fault_wording(text(&reply));
            assert!(
                took < VECTOR_TIMEOUT + MARGIN,
                "{step}: {question} took {took:?}"
            );
            logs().wait_for(&rid, DEGRADED).await;
            eprintln!("vector {step}: {question:?} answered from keywords in {took:?}");
        }
        for question in [
            "Do you ship to Mars?",
            "What is the capital of France?",
            "Can I pay with bitcoin?",
        ] {
            let (reply, _) = target
                .chat(
                    "cust-v2",
                    question,
                    &request_id(&format!("vector-{step}-oos")),
                )
                .await;
            assert_says_nothing_false(&reply, question);
        }
        let started = Instant::now();
        let (status, body) = readiness(&server).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "degraded", "{step}: {body}");
        assert_eq!(
            body["checks"],
            json!({"database": "ok", "vector_index": "unreachable"})
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{step}: readyz answers promptly"
        );
    }

    // A document added during the outage waits: never ready without its vectors.
    breakable.set(REFUSE);
    let id = add_document(
        &target,
        "Gift cards",
        "Gift cards are valid for three years and can be redeemed online and in the Munich store.",
    )
    .await;
    let error = failed_attempt(&server, &id).await;
    assert!(
        error.contains("Qdrant server could not be reached"),
        "{error}"
    );
    let doc = document(&server, &app.api_key, &id).await;
    assert_eq!(doc["status"], "processing", "{doc}");

    breakable.set(UP);
    let (status, body) = readiness(&server).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ready")),
        "{body}"
    );
    // The job's retry (5 s after the failed attempt) indexes it.
    wait_for_document(&Target::on(&server, &app), &id, "ready").await;
    let (reply, _) = target
        .chat(
            "cust-v",
            "How long are gift cards valid?",
            &request_id("vector-back"),
        )
        .await;
    assert!(text(&reply).contains("three years"), "{reply}");
    assert_eq!(citation_titles(&reply)[0], "Gift cards");
}

/// A loopback port that accepts connections and never says a word.
async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}

async fn a_qdrant_server_at_a_dead_address_leaves_the_server_up_and_honest(backend: Backend) {
    logs();
    let mut app = spawn_app(backend).await;
    app.stop().await;
    let refused = closed_port().await;
    let (silent, hole) = black_hole().await;
    for (port, what) in [(refused, "closed port"), (silent, "silent port")] {
        let started = Instant::now();
        let server = Server::start(
            &app,
            |config| {
                config.knowledge.qdrant_url = Some(format!("http://127.0.0.1:{port}"));
                config.knowledge.vector_timeout = VECTOR_TIMEOUT;
            },
            async |state| state,
        )
        .await;
        eprintln!("qdrant at a {what}: started in {:?}", started.elapsed());
        let (status, body) = readiness(&server).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(body["status"], "degraded", "{what}: {body}");
        assert_eq!(body["checks"]["vector_index"], "unreachable");

        let target = Target::on(&server, &app);
        // The first turn of a fresh server loads its classifier; the timing starts after.
        target.chat("cust-q", "Hello", &request_id("warm-up")).await;
        // Nothing could be indexed there: the answer has no passage, borrows nothing and
        // shows no fault.
        let rid = request_id("qdrant-dead");
        let (reply, took) = target
            .chat("cust-q", "How much is express delivery?", &rid)
            .await;
        assert_says_nothing_false(&reply, "How much is express delivery?");
        assert!(
            took < VECTOR_TIMEOUT * 2 + MARGIN,
            "{what}: {took:?}; logs: {:#?}",
            logs().of_request(&rid)
        );

        // Each pass adds its own text: the first pass's document is still there (queued).
        let text = format!("Express delivery costs 12 EUR (Qdrant at a {what}).");
        let id = add_document(&target, "Express", &text).await;
        let error = failed_attempt(&server, &id).await;
        assert!(
            error.contains("Qdrant") || error.contains("vector index"),
            "{what}: {error}"
        );
        let doc = document(&server, &app.api_key, &id).await;
        assert_eq!(doc["status"], "processing", "{what}: {doc}");
        drop(server);
    }
    hole.abort();
}

both_backends!(
    answers_degrade_to_keyword_retrieval_while_the_vector_index_is_down,
    a_qdrant_server_at_a_dead_address_leaves_the_server_up_and_honest,
);
