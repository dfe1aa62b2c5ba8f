//! Retrieval against the real embedding model and the embedded Qdrant engine.

use std::sync::{Arc, LazyLock};

use super::*;
use crate::embed::local::LocalEmbedder;
use crate::index::qdrant_edge::EdgeIndex;

static EMBEDDER: LazyLock<Arc<dyn Embedder>> = LazyLock::new(|| {
    Arc::new(LocalEmbedder::load_default().expect("the model is installed by setup-models.sh"))
});

const SHOP_FAQ: &[(&str, &str)] = &[
    ("Refunds", "Refunds are paid back to the card you used within 5 business days after we receive the returned item."),
    ("Shipping", "Standard shipping takes 2 to 4 days inside the EU and is free for orders over 50 euros."),
    ("Returns", "You can return unworn shoes within 30 days. Print the return label from your account page."),
    ("Sizes", "Our sneakers run small: order half a size up from your usual size."),
    ("Payment", "We accept Visa, Mastercard, PayPal and Klarna. Cash on delivery is not available."),
    ("Gift cards", "Gift cards are valid for two years and can be used online and in our Berlin store."),
];

fn faq_chunks(org: &OrganizationId, doc: &DocumentId, generation: i64) -> Vec<Chunk> {
    SHOP_FAQ
        .iter()
        .enumerate()
        .map(|(i, (title, text))| Chunk {
            organization_id: org.clone(),
            document_id: doc.clone(),
            generation,
            chunk_index: i as i64,
            text: (*text).to_owned(),
            title: "Shop FAQ".to_owned(),
            url: None,
            heading_path: vec![(*title).to_owned()],
            tags: vec![],
            content_hash: String::new(),
        })
        .collect()
}

/// The folder comes first so it is dropped last (the engine flushes on drop).
async fn retriever() -> (tempfile::TempDir, Retriever) {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = EdgeIndex::open_async(dir.path().join("qdrant"), 384)
        .await
        .expect("open index");
    (dir, Retriever::new(EMBEDDER.clone(), Arc::new(index)))
}

fn request(query: &str, mode: SearchMode) -> SearchRequest {
    SearchRequest {
        query: query.to_owned(),
        top_k: 3,
        filter: SearchFilter::default(),
        mode,
    }
}

#[tokio::test]
async fn real_questions_find_the_right_passage_in_every_mode() {
    let (_dir, retriever) = retriever().await;
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    retriever
        .index_chunks(faq_chunks(&org, &doc, 1))
        .await
        .expect("index");
    for mode in [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Keyword] {
        let passages = retriever
            .search(&org, &request("how long until I get my refund?", mode))
            .await
            .expect("search");
        assert!(!passages.is_empty(), "{mode:?} finds something");
        assert_eq!(passages[0].heading_path, vec!["Refunds"], "{mode:?}");
    }
    let passages = retriever
        .search(&org, &request("do you take paypal", SearchMode::Hybrid))
        .await
        .expect("search");
    assert_eq!(passages[0].heading_path, vec!["Payment"]);
    assert!(passages[0].vector_score.is_some() && passages[0].keyword_score.is_some());
}

#[tokio::test]
async fn unrelated_questions_return_nothing() {
    let (_dir, retriever) = retriever().await;
    let org = OrganizationId::new();
    retriever
        .index_chunks(faq_chunks(&org, &DocumentId::new(), 1))
        .await
        .expect("index");
    for query in [
        "what is the capital of France",
        "who won the football world cup in 2014",
        "explain quantum entanglement",
    ] {
        let passages = retriever
            .search(&org, &request(query, SearchMode::Hybrid))
            .await
            .expect("search");
        assert!(passages.is_empty(), "{query:?} returned {passages:?}");
    }
}

#[tokio::test]
async fn another_organization_sees_nothing_and_deletes_are_final() {
    let (_dir, retriever) = retriever().await;
    let (org, other) = (OrganizationId::new(), OrganizationId::new());
    let doc = DocumentId::new();
    retriever
        .index_chunks(faq_chunks(&org, &doc, 1))
        .await
        .expect("index");
    let query = request("how long until I get my refund?", SearchMode::Hybrid);
    assert!(retriever
        .search(&other, &query)
        .await
        .expect("search")
        .is_empty());
    assert!(!retriever
        .search(&org, &query)
        .await
        .expect("search")
        .is_empty());
    retriever.delete_document(&org, &doc).await.expect("delete");
    for mode in [SearchMode::Hybrid, SearchMode::Keyword] {
        let q = request("refund", mode);
        assert!(retriever.search(&org, &q).await.expect("search").is_empty());
    }
}

struct FixedGenerations(HashMap<DocumentId, i64>);

#[async_trait]
impl ActiveGenerations for FixedGenerations {
    async fn active_generations(&self, _: &OrganizationId) -> Result<HashMap<DocumentId, i64>> {
        Ok(self.0.clone())
    }
}

#[tokio::test]
async fn only_the_active_generation_is_retrieved_and_survives_a_restart_of_the_keyword_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index: Arc<dyn VectorIndex> = Arc::new(
        EdgeIndex::open_async(dir.path().join("qdrant"), 384)
            .await
            .expect("open"),
    );
    let org = OrganizationId::new();
    let doc = DocumentId::new();
    let mut new_generation = faq_chunks(&org, &doc, 2);
    new_generation[0].text = "Refunds now arrive within 24 hours on your original card.".into();
    {
        let writer = Retriever::new(EMBEDDER.clone(), index.clone());
        writer
            .index_chunks(faq_chunks(&org, &doc, 1))
            .await
            .expect("index");
        writer.index_chunks(new_generation).await.expect("index");
    }
    // A fresh retriever (as after a restart) rebuilds its keyword index from the vectors.
    for (active, expected) in [(1, "5 business days"), (2, "24 hours")] {
        let retriever = Retriever::new(EMBEDDER.clone(), index.clone()).with_active_generations(
            Arc::new(FixedGenerations(HashMap::from([(doc.clone(), active)]))),
        );
        for mode in [SearchMode::Hybrid, SearchMode::Keyword, SearchMode::Vector] {
            let passages = retriever
                .search(&org, &request("when is my refund paid back", mode))
                .await
                .expect("search");
            let refund_passages: Vec<_> = passages
                .iter()
                .filter(|p| p.heading_path == vec!["Refunds"])
                .collect();
            assert_eq!(refund_passages.len(), 1, "{mode:?}: one version only");
            assert!(refund_passages[0].text.contains(expected), "{mode:?}");
        }
    }
    let nothing_live = Retriever::new(EMBEDDER.clone(), index.clone())
        .with_active_generations(Arc::new(FixedGenerations(HashMap::new())));
    let q = request("refund", SearchMode::Hybrid);
    assert!(nothing_live
        .search(&org, &q)
        .await
        .expect("search")
        .is_empty());
}

/// The embedded index whose searches fail while `down` is set (a Qdrant server gone away
/// after the keyword index was loaded).
struct SearchOutage {
    inner: Arc<dyn VectorIndex>,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl VectorIndex for SearchOutage {
    fn name(&self) -> &'static str {
        "search-outage"
    }
    async fn ensure_collection(&self, dimension: usize) -> Result<()> {
        self.inner.ensure_collection(dimension).await
    }
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()> {
        self.inner.upsert(points).await
    }
    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        self.inner.delete_document(org, document).await
    }
    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        self.inner
            .delete_other_generations(org, document, keep)
            .await
    }
    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()> {
        self.inner.delete_points(ids).await
    }
    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<crate::index::IndexHit>> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::error::Error::unavailable("connection refused"));
        }
        self.inner.search(org, vector, top_k, filter).await
    }
    async fn scroll(
        &self,
        org: &OrganizationId,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<crate::index::ScrollPage> {
        self.inner.scroll(org, after, limit).await
    }
    async fn count(&self, org: &OrganizationId) -> Result<u64> {
        self.inner.count(org).await
    }
    async fn health(&self) -> Result<()> {
        self.inner.health().await
    }
}

#[tokio::test]
async fn without_vectors_a_hybrid_search_answers_from_keywords_that_match_the_question() {
    let dir = tempfile::tempdir().expect("temp dir");
    let edge = EdgeIndex::open_async(dir.path().join("qdrant"), 384)
        .await
        .expect("open index");
    let index = Arc::new(SearchOutage {
        inner: Arc::new(edge),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    let retriever = Retriever::new(EMBEDDER.clone(), index.clone());
    let org = OrganizationId::new();
    retriever
        .index_chunks(faq_chunks(&org, &DocumentId::new(), 1))
        .await
        .expect("index");
    index.down.store(true, std::sync::atomic::Ordering::SeqCst);

    let passages = retriever
        .search(
            &org,
            &request("Which payment methods do you accept?", SearchMode::Hybrid),
        )
        .await
        .expect("a degraded search still answers");
    assert_eq!(passages[0].heading_path, vec!["Payment"]);
    assert!(passages.iter().all(|p| p.vector_score.is_none()));
    // One shared word is not enough without the semantic cut-off.
    for unrelated in [
        "Do you ship to Mars?",
        "What is the capital of France?",
        "Can I pay my electricity bill here?",
    ] {
        let passages = retriever
            .search(&org, &request(unrelated, SearchMode::Hybrid))
            .await
            .expect("search");
        assert!(passages.is_empty(), "{unrelated}: {passages:?}");
    }
    // Asking for vectors only is an error the caller sees.
    assert!(retriever
        .search(&org, &request("refund", SearchMode::Vector))
        .await
        .is_err());
}
