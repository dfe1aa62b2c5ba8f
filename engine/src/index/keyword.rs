//! BM25 keyword search over chunk texts, one in-memory inverted index per organization.
//!
//! The vector index is the single source of truth: an organization's keyword index is built by
//! scrolling its points the first time it is searched (so it survives restarts, and whatever a
//! delete removed from the vector index is gone here too), and kept current afterwards by the
//! same writes that go to the vector index (see [`crate::retrieval::Retriever`]).
//!
//! When the vector index cannot be scrolled (a Qdrant server down at the first search of an
//! organization, typically on a replica started during the outage), the index is built from
//! the next [`ChunkSource`] instead: the database, which keeps the chunks ingestion indexed for
//! each document's visible generation (see [`super::source`]). Those are the very chunks the
//! vector index holds, under the same point ids, so the index is not reloaded from the vector
//! index once that answers again: it would get the same entries, and from then on the same
//! writes keep it current whichever source it came from. Each organization is loaded once per
//! process.
//!
//! Another replica's writes do not pass through this process: [`KeywordIndex::catch_up`]
//! compares the generations the index holds with the live ones each search reads (see
//! [`super::held_generations`]), loads a generation indexed elsewhere from a source that can
//! read one document generation (the database), and drops what was deleted or replaced
//! elsewhere.
//!
//! Terms are lowercased alphanumeric runs, English stop words dropped, Snowball-stemmed, so
//! "refunds" finds "refund" and "the capital of France" keeps only `capit` and `franc`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use qdrant_rust_stemmers::{Algorithm, Stemmer};
use tokio::sync::RwLock;

use super::held_generations::{is_superseded, HeldGenerations};
use super::source::{ChunkSource, VectorChunks};
use super::{SearchFilter, StoredChunk, VectorIndex};
use crate::error::{Error, Result};
use crate::ids::{DocumentId, OrganizationId};
use crate::knowledge::Chunk;

/// Term-frequency saturation: the usual BM25 value.
const K1: f32 = 1.2;
/// Length normalisation: the usual BM25 value.
const B: f32 = 0.75;

/// Beyond this many generations indexed elsewhere, [`KeywordIndex::catch_up`] reloads the
/// organization in one read instead of one read per generation.
const MAX_GENERATION_READS: usize = 32;

/// Common English words that carry no meaning for retrieval.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "do",
    "does", "did", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "our", "so", "that", "the", "their", "them", "then",
    "there", "these", "this", "to", "us", "was", "we", "were", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your", "am", "any", "get", "there", "than",
    "too", "very", "just", "should", "all", "also", "some", "out", "up", "no", "not",
];

/// Splits text into BM25 terms.
pub struct Analyzer {
    stemmer: Stemmer,
    stop_words: HashSet<&'static str>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(english)")
    }
}

impl Default for Analyzer {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            stop_words: STOP_WORDS.iter().copied().collect(),
        }
    }
}

impl Analyzer {
    /// The terms of `text`, in order, with repeats.
    pub fn terms(&self, text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !self.stop_words.contains(w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }
}

struct Entry {
    chunk: Arc<Chunk>,
    length: u32,
    terms: Vec<String>,
}

/// The inverted index of one organization.
#[derive(Default)]
struct OrgIndex {
    entries: HashMap<uuid::Uuid, Entry>,
    /// term -> (point -> term frequency)
    postings: HashMap<String, HashMap<uuid::Uuid, u32>>,
    total_length: u64,
    held: HeldGenerations,
}

impl OrgIndex {
    fn insert(&mut self, analyzer: &Analyzer, id: uuid::Uuid, chunk: Arc<Chunk>) {
        self.remove(id);
        self.held.note(&chunk.document_id, chunk.generation);
        // Titles and headings are part of what a passage is about.
        let mut text = chunk.title.clone();
        for heading in &chunk.heading_path {
            text.push('\n');
            text.push_str(heading);
        }
        text.push('\n');
        text.push_str(&chunk.text);
        let terms = analyzer.terms(&text);
        let mut frequencies: HashMap<&str, u32> = HashMap::new();
        for term in &terms {
            *frequencies.entry(term.as_str()).or_default() += 1;
        }
        for (term, tf) in &frequencies {
            self.postings
                .entry((*term).to_owned())
                .or_default()
                .insert(id, *tf);
        }
        let length = terms.len() as u32;
        self.total_length += u64::from(length);
        let mut unique: Vec<String> = frequencies.keys().map(|t| (*t).to_owned()).collect();
        unique.sort();
        self.entries.insert(
            id,
            Entry {
                chunk,
                length,
                terms: unique,
            },
        );
    }

    fn remove(&mut self, id: uuid::Uuid) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        self.total_length -= u64::from(entry.length);
        for term in entry.terms {
            if let Some(posting) = self.postings.get_mut(&term) {
                posting.remove(&id);
                if posting.is_empty() {
                    self.postings.remove(&term);
                }
            }
        }
    }

    fn remove_where(&mut self, doomed: impl Fn(&Chunk) -> bool) {
        let ids: Vec<uuid::Uuid> = self
            .entries
            .iter()
            .filter(|(_, e)| doomed(&e.chunk))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    fn search(
        &self,
        terms: &[String],
        top_k: usize,
        filter: &SearchFilter,
    ) -> Vec<(Arc<Chunk>, f32)> {
        let n = self.entries.len() as f32;
        if n == 0.0 || top_k == 0 {
            return Vec::new();
        }
        let average_length = (self.total_length as f32 / n).max(1.0);
        let unique: HashSet<&String> = terms.iter().collect();
        let mut scores: HashMap<uuid::Uuid, f32> = HashMap::new();
        for term in unique {
            let Some(posting) = self.postings.get(term) else {
                continue;
            };
            let df = posting.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for (id, tf) in posting {
                let Some(entry) = self.entries.get(id) else {
                    continue;
                };
                let tf = *tf as f32;
                let norm = K1 * (1.0 - B + B * entry.length as f32 / average_length);
                *scores.entry(*id).or_default() += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let allowed_documents: Option<HashSet<&DocumentId>> =
            filter.document_ids.as_ref().map(|d| d.iter().collect());
        let mut hits: Vec<(&Entry, f32)> = scores
            .into_iter()
            .filter_map(|(id, score)| self.entries.get(&id).map(|e| (e, score)))
            .filter(|(entry, _)| {
                filter.tags.is_empty() || entry.chunk.tags.iter().any(|t| filter.tags.contains(t))
            })
            .filter(|(entry, _)| {
                allowed_documents
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(&entry.chunk.document_id))
            })
            .collect();
        // Best score first; ties in a stable order (document, then position).
        let order = |a: &(&Entry, f32), b: &(&Entry, f32)| {
            b.1.total_cmp(&a.1)
                .then_with(|| a.0.chunk.document_id.cmp(&b.0.chunk.document_id))
                .then_with(|| a.0.chunk.chunk_index.cmp(&b.0.chunk.chunk_index))
        };
        // With 100,000 chunks a common term scores tens of thousands of them: select the
        // best `top_k` in linear time and sort only those.
        if hits.len() > top_k {
            hits.select_nth_unstable_by(top_k - 1, order);
            hits.truncate(top_k);
        }
        hits.sort_by(order);
        hits.into_iter()
            .map(|(entry, score)| (entry.chunk.clone(), score))
            .collect()
    }
}

/// What [`KeywordIndex::catch_up`] read.
enum Loaded {
    /// The missing generations' chunks, to add.
    Generations(Vec<StoredChunk>),
    /// The whole organization, to replace the index with.
    Whole(Vec<StoredChunk>),
}

/// BM25 over every organization's chunks, loaded lazily from the vector index (or, when that
/// cannot be read, from a fallback [`ChunkSource`]).
pub struct KeywordIndex {
    /// Tried in order when an organization is first searched; the first complete answer wins.
    sources: Vec<Arc<dyn ChunkSource>>,
    analyzer: Analyzer,
    organizations: RwLock<HashMap<OrganizationId, OrgIndex>>,
}

impl std::fmt::Debug for KeywordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<&str> = self.sources.iter().map(|s| s.name()).collect();
        f.debug_struct("KeywordIndex")
            .field("sources", &sources)
            .finish()
    }
}

impl KeywordIndex {
    /// A keyword index whose contents come from `vectors`.
    pub fn new(vectors: Arc<dyn VectorIndex>) -> Self {
        Self {
            sources: vec![Arc::new(VectorChunks(vectors))],
            analyzer: Analyzer::default(),
            organizations: RwLock::new(HashMap::new()),
        }
    }

    /// Adds `source` after the existing ones: an organization is loaded from it when they all
    /// fail.
    pub fn with_fallback(mut self, source: Arc<dyn ChunkSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Loads `org` from the first source that answers, unless it is loaded already.
    async fn ensure_loaded(&self, org: &OrganizationId) -> Result<()> {
        if self.organizations.read().await.contains_key(org) {
            return Ok(());
        }
        // Writers wait while the organization loads, so no update slips between the read of
        // the source and the moment the index becomes visible.
        let mut organizations = self.organizations.write().await;
        if organizations.contains_key(org) {
            return Ok(());
        }
        let (chunks, source) = self.load(org).await?;
        let index = self.build(org, chunks);
        tracing::debug!(org = %org, source, chunks = index.entries.len(), "keyword index loaded");
        organizations.insert(org.clone(), index);
        Ok(())
    }

    /// An organization's index over `chunks`.
    fn build(&self, org: &OrganizationId, chunks: Vec<StoredChunk>) -> OrgIndex {
        let mut index = OrgIndex::default();
        self.add_all(org, &mut index, chunks);
        index
    }

    fn add_all(&self, org: &OrganizationId, index: &mut OrgIndex, chunks: Vec<StoredChunk>) {
        for StoredChunk { id, chunk } in chunks {
            // Sources filter on the organization; this keeps a faulty one from leaking.
            if &chunk.organization_id == org {
                index.insert(&self.analyzer, id, Arc::new(chunk));
            }
        }
    }

    /// Brings a loaded organization in line with `live` (document id -> active generation, `0`
    /// while a first generation is being indexed), which another replica may have changed:
    /// loads the live generations the index lacks and drops deleted documents and replaced
    /// generations. Returns whether anything changed. Organizations not loaded yet are left
    /// alone (their first search loads them whole).
    ///
    /// Missing generations are read one by one from the first source that can (the database);
    /// when none can (a generation indexed before the database kept chunks) or too many are
    /// missing, the organization is reloaded whole. The reads happen outside the lock, so
    /// searches go on meanwhile; a local write racing them is at worst undone by the next
    /// call (the database, not this index, decides what is live).
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn catch_up(
        &self,
        org: &OrganizationId,
        live: &HashMap<DocumentId, i64>,
    ) -> Result<bool> {
        let drift = match self.organizations.read().await.get(org) {
            Some(index) => index.held.drift(live),
            None => return Ok(false),
        };
        if drift.is_empty() {
            return Ok(false);
        }
        let loaded = match self.read_generations(org, &drift.missing).await {
            Some(chunks) => Loaded::Generations(chunks),
            None => Loaded::Whole(self.load(org).await?.0),
        };
        let mut organizations = self.organizations.write().await;
        let Some(index) = organizations.get_mut(org) else {
            return Ok(false);
        };
        match loaded {
            Loaded::Generations(chunks) => self.add_all(org, index, chunks),
            Loaded::Whole(chunks) => *index = self.build(org, chunks),
        }
        // Generations read as empty (or that no source has) are held too: they are not asked
        // for again at every search.
        for (document, generation) in &drift.missing {
            index.held.note(document, *generation);
        }
        index.remove_where(|c| is_superseded(live, &c.document_id, c.generation));
        index.held.drop_superseded(live);
        tracing::info!(
            loaded_generations = drift.missing.len(),
            dropped_superseded = drift.superseded,
            chunks = index.entries.len(),
            "keyword index caught up with changes made by another process"
        );
        Ok(true)
    }

    /// The chunks of `wanted` generations, each from the first source that can read it; `None`
    /// when one of them cannot be read that way or there are too many to read one by one.
    async fn read_generations(
        &self,
        org: &OrganizationId,
        wanted: &[(DocumentId, i64)],
    ) -> Option<Vec<StoredChunk>> {
        if wanted.len() > MAX_GENERATION_READS {
            return None;
        }
        let mut chunks = Vec::new();
        'wanted: for (document, generation) in wanted {
            for source in &self.sources {
                match source.generation_chunks(org, document, *generation).await {
                    Ok(Some(found)) => {
                        chunks.extend(found);
                        continue 'wanted;
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(
                        source = source.name(),
                        document = %document,
                        generation,
                        error = %err.chain(),
                        "could not read a document generation for the keyword index"
                    ),
                }
            }
            return None;
        }
        Some(chunks)
    }

    /// `org`'s chunks from the first source that answers, with that source's name; the last
    /// failure when none does.
    #[tracing::instrument(skip_all, fields(org = %org))]
    async fn load(&self, org: &OrganizationId) -> Result<(Vec<StoredChunk>, &'static str)> {
        let mut failure = None;
        for source in &self.sources {
            match source.chunks(org).await {
                Ok(chunks) => return Ok((chunks, source.name())),
                Err(err) => {
                    tracing::warn!(
                        source = source.name(),
                        error = %err.chain(),
                        "the keyword index could not be loaded from this source"
                    );
                    failure = Some(err);
                }
            }
        }
        Err(failure.unwrap_or_else(|| Error::internal("the keyword index has no source")))
    }

    /// The analyzer that splits texts into terms.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Adds or replaces chunks (call after they were stored in the vector index).
    pub async fn insert(&self, chunks: Vec<(uuid::Uuid, Chunk)>) {
        let mut organizations = self.organizations.write().await;
        for (id, chunk) in chunks {
            // An organization not loaded yet will read this chunk from the vector index.
            if let Some(index) = organizations.get_mut(&chunk.organization_id) {
                index.insert(&self.analyzer, id, Arc::new(chunk));
            }
        }
    }

    /// Forgets every chunk of a document.
    pub async fn remove_document(&self, org: &OrganizationId, document: &DocumentId) {
        if let Some(index) = self.organizations.write().await.get_mut(org) {
            index.remove_where(|c| &c.document_id == document);
            index.held.forget_document(document);
        }
    }

    /// Forgets the chunks of a document whose generation is not `keep`.
    pub async fn remove_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) {
        if let Some(index) = self.organizations.write().await.get_mut(org) {
            index.remove_where(|c| &c.document_id == document && c.generation != keep);
            index.held.keep_only(document, keep);
        }
    }

    /// Forgets chunks by point id.
    pub async fn remove_points(&self, org: &OrganizationId, ids: &[uuid::Uuid]) {
        if let Some(index) = self.organizations.write().await.get_mut(org) {
            for id in ids {
                index.remove(*id);
            }
        }
    }

    /// The `top_k` chunks of `org` with the best BM25 score for `query`, best first. Chunks
    /// sharing no term with the query are never returned.
    pub async fn search(
        &self,
        org: &OrganizationId,
        query: &str,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<(Arc<Chunk>, f32)>> {
        let terms = self.analyzer.terms(query);
        if terms.is_empty() || top_k == 0 {
            return Ok(Vec::new());
        }
        self.ensure_loaded(org).await?;
        let organizations = self.organizations.read().await;
        Ok(organizations
            .get(org)
            .map(|index| index.search(&terms, top_k, filter))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::index::conformance::chunk;

    /// A source that fails (like a vector index that is down) or answers `chunks`, counting
    /// its calls.
    struct Fixed {
        chunks: Option<Vec<StoredChunk>>,
        calls: AtomicU32,
    }

    impl Fixed {
        fn new(chunks: Option<Vec<StoredChunk>>) -> Arc<Self> {
            Arc::new(Self {
                chunks,
                calls: AtomicU32::new(0),
            })
        }
    }

    #[async_trait]
    impl ChunkSource for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }

        async fn chunks(&self, _: &OrganizationId) -> Result<Vec<StoredChunk>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.chunks
                .clone()
                .ok_or_else(|| Error::unavailable("connection refused"))
        }
    }

    fn keyword_index<S: ChunkSource + 'static>(sources: Vec<Arc<S>>) -> KeywordIndex {
        KeywordIndex {
            sources: sources
                .into_iter()
                .map(|s| s as Arc<dyn ChunkSource>)
                .collect(),
            analyzer: Analyzer::default(),
            organizations: RwLock::new(HashMap::new()),
        }
    }

    fn stored(org: &OrganizationId, text: &str) -> StoredChunk {
        let c = chunk(org, &DocumentId::new(), 1, 0, text, &[]);
        StoredChunk {
            id: c.point_id(),
            chunk: c,
        }
    }

    #[tokio::test]
    async fn an_organization_loads_from_the_fallback_when_the_first_source_fails() {
        let org = OrganizationId::new();
        let intruder = OrganizationId::new();
        let down = Fixed::new(None);
        let database = Fixed::new(Some(vec![
            stored(&org, "Refunds are paid within 5 days."),
            stored(&intruder, "Refunds of another shop."),
        ]));
        let index = keyword_index(vec![down.clone(), database.clone()]);
        let filter = SearchFilter::default();
        let hits = index.search(&org, "refunds", 5, &filter).await.unwrap();
        assert_eq!(
            hits.len(),
            1,
            "another organization's chunk is never indexed"
        );
        assert_eq!(hits[0].0.text, "Refunds are paid within 5 days.");
        // Loaded once: later searches read neither source again.
        index.search(&org, "refunds", 5, &filter).await.unwrap();
        assert_eq!(down.calls.load(Ordering::SeqCst), 1);
        assert_eq!(database.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_fallback_is_not_read_while_the_first_source_answers() {
        let org = OrganizationId::new();
        let vectors = Fixed::new(Some(vec![stored(&org, "Shipping is free.")]));
        let database = Fixed::new(Some(Vec::new()));
        let index = keyword_index(vec![vectors, database.clone()]);
        let hits = index
            .search(&org, "shipping", 5, &SearchFilter::default())
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(database.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_search_fails_when_every_source_fails_and_nothing_is_kept() {
        let org = OrganizationId::new();
        let index = keyword_index(vec![Fixed::new(None), Fixed::new(None)]);
        let err = index
            .search(&org, "refunds", 5, &SearchFilter::default())
            .await
            .expect_err("nothing to load from");
        assert_eq!(err.kind(), crate::error::ErrorKind::Unavailable);
        assert!(!index.organizations.read().await.contains_key(&org));
    }

    /// What another replica's database holds: the organization's chunks, readable whole and,
    /// when `per_generation`, one document generation at a time. Counts both kinds of read.
    struct Shelf {
        chunks: std::sync::Mutex<Vec<StoredChunk>>,
        per_generation: bool,
        whole_reads: AtomicU32,
        generation_reads: AtomicU32,
    }

    impl Shelf {
        fn new(chunks: Vec<StoredChunk>, per_generation: bool) -> Arc<Self> {
            Arc::new(Self {
                chunks: std::sync::Mutex::new(chunks),
                per_generation,
                whole_reads: AtomicU32::new(0),
                generation_reads: AtomicU32::new(0),
            })
        }

        fn put(&self, chunk: StoredChunk) {
            self.chunks.lock().unwrap().push(chunk);
        }
    }

    #[async_trait]
    impl ChunkSource for Shelf {
        fn name(&self) -> &'static str {
            "shelf"
        }

        async fn chunks(&self, _: &OrganizationId) -> Result<Vec<StoredChunk>> {
            self.whole_reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.chunks.lock().unwrap().clone())
        }

        async fn generation_chunks(
            &self,
            _: &OrganizationId,
            document: &DocumentId,
            generation: i64,
        ) -> Result<Option<Vec<StoredChunk>>> {
            if !self.per_generation {
                return Ok(None);
            }
            self.generation_reads.fetch_add(1, Ordering::SeqCst);
            let chunks = self.chunks.lock().unwrap();
            Ok(Some(
                chunks
                    .iter()
                    .filter(|c| {
                        &c.chunk.document_id == document && c.chunk.generation == generation
                    })
                    .cloned()
                    .collect(),
            ))
        }
    }

    fn stored_at(
        org: &OrganizationId,
        doc: &DocumentId,
        generation: i64,
        text: &str,
    ) -> StoredChunk {
        let c = chunk(org, doc, generation, 0, text, &[]);
        StoredChunk {
            id: c.point_id(),
            chunk: c,
        }
    }

    async fn texts_found(index: &KeywordIndex, org: &OrganizationId, query: &str) -> Vec<String> {
        let hits = index
            .search(org, query, 10, &SearchFilter::default())
            .await
            .unwrap();
        hits.iter().map(|(c, _)| c.text.clone()).collect()
    }

    #[tokio::test]
    async fn generations_indexed_elsewhere_are_read_one_by_one_and_deleted_documents_dropped() {
        let org = OrganizationId::new();
        let (refunds, gifts) = (DocumentId::new(), DocumentId::new());
        let shelf = Shelf::new(
            vec![stored_at(&org, &refunds, 1, "Refunds take 5 days.")],
            true,
        );
        let index = keyword_index(vec![shelf.clone()]);
        assert_eq!(
            texts_found(&index, &org, "refunds").await,
            ["Refunds take 5 days."]
        );

        // Another replica refreshes one document and adds another.
        shelf.put(stored_at(&org, &refunds, 2, "Refunds take 10 days."));
        shelf.put(stored_at(
            &org,
            &gifts,
            1,
            "Gift cards are valid for three years.",
        ));
        let live = HashMap::from([(refunds.clone(), 2), (gifts.clone(), 1)]);
        assert!(index.catch_up(&org, &live).await.unwrap());
        assert_eq!(
            texts_found(&index, &org, "refunds").await,
            ["Refunds take 10 days."]
        );
        assert_eq!(
            texts_found(&index, &org, "gift cards").await,
            ["Gift cards are valid for three years."]
        );
        assert_eq!(shelf.generation_reads.load(Ordering::SeqCst), 2);
        assert_eq!(shelf.whole_reads.load(Ordering::SeqCst), 1, "no reload");

        // In step: nothing is read again.
        assert!(!index.catch_up(&org, &live).await.unwrap());
        assert_eq!(shelf.generation_reads.load(Ordering::SeqCst), 2);

        // Another replica deletes a document.
        let live = HashMap::from([(gifts.clone(), 1)]);
        assert!(index.catch_up(&org, &live).await.unwrap());
        assert!(texts_found(&index, &org, "refunds").await.is_empty());
        assert_eq!(texts_found(&index, &org, "gift cards").await.len(), 1);
    }

    #[tokio::test]
    async fn a_generation_no_source_reads_alone_reloads_the_organization_once() {
        let org = OrganizationId::new();
        let (refunds, gifts, empty) = (DocumentId::new(), DocumentId::new(), DocumentId::new());
        let shelf = Shelf::new(
            vec![stored_at(&org, &refunds, 1, "Refunds take 5 days.")],
            false,
        );
        let index = keyword_index(vec![shelf.clone()]);
        assert_eq!(texts_found(&index, &org, "refunds").await.len(), 1);

        shelf.put(stored_at(
            &org,
            &gifts,
            1,
            "Gift cards are valid for three years.",
        ));
        // A document with no chunks at all, and one whose first generation is being indexed.
        let live = HashMap::from([
            (refunds.clone(), 1),
            (gifts.clone(), 1),
            (empty.clone(), 1),
            (DocumentId::new(), 0),
        ]);
        assert!(index.catch_up(&org, &live).await.unwrap());
        assert_eq!(shelf.whole_reads.load(Ordering::SeqCst), 2);
        assert_eq!(texts_found(&index, &org, "gift cards").await.len(), 1);
        assert_eq!(texts_found(&index, &org, "refunds").await.len(), 1);
        // The empty document is not asked for at every search.
        assert!(!index.catch_up(&org, &live).await.unwrap());
        assert_eq!(shelf.whole_reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_generation_being_indexed_here_is_kept_until_it_goes_live() {
        let org = OrganizationId::new();
        let doc = DocumentId::new();
        let shelf = Shelf::new(vec![stored_at(&org, &doc, 1, "Refunds take 5 days.")], true);
        let index = keyword_index(vec![shelf.clone()]);
        texts_found(&index, &org, "refunds").await;
        // This process indexes generation 2; the database still says 1.
        let next = stored_at(&org, &doc, 2, "Refunds take 10 days.");
        index.insert(vec![(next.id, next.chunk)]).await;
        assert!(!index
            .catch_up(&org, &HashMap::from([(doc.clone(), 1)]))
            .await
            .unwrap());
        assert_eq!(texts_found(&index, &org, "refunds").await.len(), 2);
        // Switched: the old generation goes, the new one is not read again.
        assert!(index
            .catch_up(&org, &HashMap::from([(doc.clone(), 2)]))
            .await
            .unwrap());
        assert_eq!(
            texts_found(&index, &org, "refunds").await,
            ["Refunds take 10 days."]
        );
        assert_eq!(shelf.generation_reads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_organization_not_loaded_yet_is_left_to_its_first_search() {
        let org = OrganizationId::new();
        let shelf = Shelf::new(Vec::new(), true);
        let index = keyword_index(vec![shelf.clone()]);
        let live = HashMap::from([(DocumentId::new(), 1)]);
        assert!(!index.catch_up(&org, &live).await.unwrap());
        assert_eq!(shelf.whole_reads.load(Ordering::SeqCst), 0);
        assert_eq!(shelf.generation_reads.load(Ordering::SeqCst), 0);
    }

    fn index_of(texts: &[&str]) -> (OrgIndex, Analyzer, Vec<uuid::Uuid>) {
        let analyzer = Analyzer::default();
        let mut index = OrgIndex::default();
        let org = OrganizationId::new();
        let mut ids = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let doc = DocumentId::new();
            let mut c = chunk(&org, &doc, 1, 0, text, &[]);
            c.title = String::new();
            c.heading_path.clear();
            let id = c.point_id();
            ids.push(id);
            index.insert(&analyzer, id, Arc::new(c));
            let _ = i;
        }
        (index, analyzer, ids)
    }

    #[test]
    fn analyzer_drops_stop_words_and_stems() {
        let terms = Analyzer::default().terms("What is the capital of France? Refunds, REFUNDED!");
        assert_eq!(terms, vec!["capit", "franc", "refund", "refund"]);
    }

    #[test]
    fn the_passage_sharing_rare_terms_ranks_first() {
        let (index, analyzer, _) = index_of(&[
            "Refunds are paid back to the original card within 5 days.",
            "Shipping takes 3 days. Shipping is free over 50 euros.",
            "Our shop sells shoes and shirts.",
        ]);
        let hits = index.search(
            &analyzer.terms("how do I get a refund"),
            3,
            &SearchFilter::default(),
        );
        assert_eq!(hits.len(), 1, "only passages sharing a term are returned");
        assert!(hits[0].0.text.starts_with("Refunds"));
    }

    #[test]
    fn unrelated_queries_find_nothing() {
        let (index, analyzer, _) = index_of(&["Refunds take 5 days.", "Shipping is free."]);
        let hits = index.search(
            &analyzer.terms("what is the capital of France"),
            5,
            &SearchFilter::default(),
        );
        assert!(hits.is_empty());
    }

    #[test]
    fn removed_chunks_are_not_found_and_lengths_stay_consistent() {
        let (mut index, analyzer, ids) = index_of(&["refund policy", "refund window"]);
        index.remove(ids[0]);
        let hits = index.search(&analyzer.terms("refund"), 5, &SearchFilter::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0.text, "refund window");
        index.remove(ids[1]);
        assert_eq!(index.total_length, 0);
        assert!(index.postings.is_empty());
    }
}
