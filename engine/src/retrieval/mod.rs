//! Hybrid retrieval: what the agent (and the dashboard's search) reads from a knowledge base.
//!
//! [`Retriever::search`] embeds the query, asks the vector index and the BM25 keyword index for
//! candidates of one organization, fuses both rankings by reciprocal rank ([`fusion`]), drops
//! chunks of inactive generations, and applies a relevance cut-off so a question the knowledge
//! base cannot answer gets no passages at all instead of the least bad ones.
//!
//! The [`Retriever`] is also the one writer of both indexes ([`Retriever::index_chunks`],
//! [`Retriever::delete_document`], ...), which keeps the keyword index in step with the vectors.

pub mod fusion;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;

use crate::embed::{embed_blocking, embed_one, Embedder};
use crate::error::Result;
use crate::ids::{DocumentId, OrganizationId};
use crate::index::keyword::KeywordIndex;
use crate::index::source::ChunkSource;
use crate::index::{IndexPoint, SearchFilter, VectorIndex};
use crate::knowledge::{Chunk, ScoredPassage, SearchMode};

/// Tells retrieval which generation of each document is live. The store implements it from the
/// documents table; a chunk whose document is missing or whose generation is not the active
/// one is never returned (a refresh half-way, a crash mid-ingestion, a deleted document).
#[async_trait]
pub trait ActiveGenerations: Send + Sync {
    /// Document id -> active generation, for every document of `org`: `0` while its first
    /// generation is being indexed (nothing of it may be retrieved yet). A document missing
    /// from the map was deleted. The keyword index also reads this to learn what another
    /// replica indexed or deleted ([`KeywordIndex::catch_up`]).
    async fn active_generations(&self, org: &OrganizationId) -> Result<HashMap<DocumentId, i64>>;
}

/// Knobs of retrieval. The defaults were tuned on the train half of the stackfaq set (see
/// `docs/knowledge.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalConfig {
    /// RRF constant.
    pub rrf_k: f32,
    /// Weight of the keyword ranking in the fusion (the vector ranking weighs 1).
    pub keyword_weight: f32,
    /// A query whose best cosine similarity to any chunk is below this is unrelated to the
    /// knowledge base: nothing is returned...
    pub min_query_similarity: f32,
    /// ...unless its best keyword match shares at least two and at least half of the query's
    /// terms and its similarity reaches this lower bar (short keyword queries such as
    /// "parcel tracking link" embed far from full passages).
    pub min_lexical_similarity: f32,
    /// Passages seen by the vector side with a similarity below this are dropped even when the
    /// query as a whole is related.
    pub min_passage_similarity: f32,
    /// How many candidates each side contributes per requested passage.
    pub candidates_per_result: usize,
    /// Minimum candidates per side.
    pub min_candidates: usize,
    /// Texts per embedding call when indexing (8-32 is fastest here, see the embedder).
    pub embed_batch: usize,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            // Chosen on the train half of stackfaq: best hybrid MRR of the settings tried.
            rrf_k: 20.0,
            keyword_weight: 0.3,
            // On stackfaq (train half) 0.35 keeps 99.5% of real queries and rejects 95% of
            // out-of-domain questions (0.30: 100% / 90%); the lexical rule below rescues short
            // keyword queries without letting "the capital of France" through.
            min_query_similarity: 0.35,
            min_lexical_similarity: 0.2,
            min_passage_similarity: 0.2,
            candidates_per_result: 4,
            min_candidates: 20,
            embed_batch: 32,
        }
    }
}

/// A retrieval request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub query: String,
    pub top_k: usize,
    pub filter: SearchFilter,
    pub mode: SearchMode,
}

/// Hybrid search over one organization's knowledge, and the writer of its indexes.
pub struct Retriever {
    embedder: Arc<dyn Embedder>,
    vectors: Arc<dyn VectorIndex>,
    keywords: KeywordIndex,
    active: Option<Arc<dyn ActiveGenerations>>,
    config: RetrievalConfig,
}

impl std::fmt::Debug for Retriever {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retriever")
            .field("vectors", &self.vectors.name())
            .field("model", &self.embedder.model_name())
            .field("config", &self.config)
            .finish()
    }
}

#[derive(Default)]
struct Candidate {
    chunk: Option<Chunk>,
    vector_score: Option<f32>,
    keyword_score: Option<f32>,
}

type ChunkKey = (DocumentId, i64, i64);

fn key_of(chunk: &Chunk) -> ChunkKey {
    (
        chunk.document_id.clone(),
        chunk.generation,
        chunk.chunk_index,
    )
}

impl Retriever {
    /// A retriever over `vectors` (whose payloads also feed the keyword index).
    pub fn new(embedder: Arc<dyn Embedder>, vectors: Arc<dyn VectorIndex>) -> Self {
        Self {
            keywords: KeywordIndex::new(vectors.clone()),
            embedder,
            vectors,
            active: None,
            config: RetrievalConfig::default(),
        }
    }

    /// Only chunks of the active generation of an existing document are returned.
    pub fn with_active_generations(mut self, active: Arc<dyn ActiveGenerations>) -> Self {
        self.active = Some(active);
        self
    }

    /// Loads an organization's keyword index from `source` when the vector index cannot be
    /// scrolled, so a process started while the vector index is down still has keywords to
    /// answer from (see [`crate::index::source`]).
    pub fn with_keyword_fallback(mut self, source: Arc<dyn ChunkSource>) -> Self {
        self.keywords = self.keywords.with_fallback(source);
        self
    }

    pub fn with_config(mut self, config: RetrievalConfig) -> Self {
        self.config = config;
        self
    }

    pub fn config(&self) -> &RetrievalConfig {
        &self.config
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn vectors(&self) -> &Arc<dyn VectorIndex> {
        &self.vectors
    }

    /// Embeds `chunks` in batches on the blocking pool and stores them in both indexes.
    /// Returns the number of chunks indexed.
    #[tracing::instrument(skip_all, fields(chunks = chunks.len()))]
    pub async fn index_chunks(&self, chunks: Vec<Chunk>) -> Result<usize> {
        let total = chunks.len();
        let batch = self.config.embed_batch.max(1);
        let mut rest = chunks;
        while !rest.is_empty() {
            let tail = rest.split_off(batch.min(rest.len()));
            let texts: Vec<String> = rest.iter().map(embedding_text).collect();
            let vectors = embed_blocking(self.embedder.clone(), texts).await?;
            let points: Vec<IndexPoint> = rest
                .into_iter()
                .zip(vectors)
                .map(|(chunk, vector)| IndexPoint::new(chunk, vector))
                .collect();
            self.upsert_points(points).await?;
            rest = tail;
        }
        Ok(total)
    }

    /// Stores already embedded points in both indexes.
    pub async fn upsert_points(&self, points: Vec<IndexPoint>) -> Result<()> {
        let keyword_entries: Vec<(uuid::Uuid, Chunk)> =
            points.iter().map(|p| (p.id, p.chunk.clone())).collect();
        self.vectors.upsert(points).await?;
        self.keywords.insert(keyword_entries).await;
        Ok(())
    }

    /// Removes every chunk of a document from both indexes.
    #[tracing::instrument(skip_all, fields(org = %org, document = %document))]
    pub async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        self.vectors.delete_document(org, document).await?;
        self.keywords.remove_document(org, document).await;
        Ok(())
    }

    /// Removes a document's chunks of every generation but `keep` from both indexes.
    pub async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        self.vectors
            .delete_other_generations(org, document, keep)
            .await?;
        self.keywords
            .remove_other_generations(org, document, keep)
            .await;
        Ok(())
    }

    /// The passages of `org` that best answer `request.query`, best first; empty when the
    /// query is unrelated to the organization's knowledge.
    #[tracing::instrument(skip_all, fields(org = %org, top_k = request.top_k, mode = ?request.mode))]
    pub async fn search(
        &self,
        org: &OrganizationId,
        request: &SearchRequest,
    ) -> Result<Vec<ScoredPassage>> {
        self.search_with_vector(org, request, None).await
    }

    /// [`Retriever::search`] with the query's embedding already computed (evaluations and
    /// benchmarks embed their queries in batches); `None` embeds it here.
    pub async fn search_with_vector(
        &self,
        org: &OrganizationId,
        request: &SearchRequest,
        query_vector: Option<Vec<f32>>,
    ) -> Result<Vec<ScoredPassage>> {
        let query = request.query.trim();
        if query.is_empty() || request.top_k == 0 {
            return Ok(Vec::new());
        }
        let wanted =
            (request.top_k * self.config.candidates_per_result).max(self.config.min_candidates);
        let use_vectors = request.mode != SearchMode::Keyword;
        let use_keywords = request.mode != SearchMode::Vector;

        let vector_side = async {
            if !use_vectors {
                return Ok(Vec::new());
            }
            let vector = match query_vector {
                Some(v) => v,
                None => embed_one(self.embedder.clone(), query.to_owned()).await?,
            };
            self.vectors
                .search(org, vector, wanted, &request.filter)
                .await
        };
        let keyword_side = async {
            if !use_keywords {
                return Ok(Vec::new());
            }
            self.keywords
                .search(org, query, wanted, &request.filter)
                .await
        };
        let active = async {
            match &self.active {
                Some(source) => source.active_generations(org).await.map(Some),
                None => Ok(None),
            }
        };
        let (vector_hits, keyword_hits, active) = futures::join!(vector_side, keyword_side, active);
        let (mut keyword_hits, active) = (keyword_hits?, active?);
        if let (true, Some(live)) = (use_keywords, &active) {
            if self.catch_up_keywords(org, live).await {
                keyword_hits = self
                    .keywords
                    .search(org, query, wanted, &request.filter)
                    .await?;
            }
        }
        // The vector index failing (down, or past its deadline: see `index::guarded`) costs a
        // hybrid search its semantic half, not the answer: keywords alone answer, under a
        // stricter bar (see `keyword_fallback`). A search that asked for vectors only fails.
        let (vector_hits, degraded) = match vector_hits {
            Ok(hits) => (hits, false),
            Err(err) if request.mode == SearchMode::Hybrid => {
                tracing::warn!(
                    error = %err.chain(),
                    "vector search failed; answering from keyword retrieval only"
                );
                (Vec::new(), true)
            }
            Err(err) => return Err(err),
        };
        let use_vectors = use_vectors && !degraded;
        let keyword_hits = if degraded {
            self.keyword_fallback(query, keyword_hits)
        } else {
            keyword_hits
        };

        let is_live = |chunk: &Chunk| match &active {
            Some(map) => map.get(&chunk.document_id) == Some(&chunk.generation),
            None => true,
        };
        let lexical_match = keyword_hits
            .iter()
            .find(|(c, _)| is_live(c))
            .is_some_and(|(chunk, _)| self.shares_most_terms(query, chunk));

        let mut candidates: HashMap<ChunkKey, Candidate> = HashMap::new();
        let mut vector_ranking = Vec::new();
        let mut best_similarity: Option<f32> = None;
        for hit in vector_hits.into_iter().filter(|h| is_live(&h.chunk)) {
            let key = key_of(&hit.chunk);
            best_similarity = Some(best_similarity.map_or(hit.score, |b: f32| b.max(hit.score)));
            vector_ranking.push(key.clone());
            let entry = candidates.entry(key).or_default();
            entry.vector_score = Some(hit.score);
            entry.chunk = Some(hit.chunk);
        }
        let mut keyword_ranking = Vec::new();
        for (chunk, score) in keyword_hits.into_iter().filter(|(c, _)| is_live(c)) {
            let key = key_of(&chunk);
            keyword_ranking.push(key.clone());
            let entry = candidates.entry(key).or_default();
            entry.keyword_score = Some(score);
            if entry.chunk.is_none() {
                entry.chunk = Some((*chunk).clone());
            }
        }

        // The relevance cut-off: with a vector side, the query must be close enough to some
        // chunk, and each returned chunk the vector side saw must clear a lower bar.
        if use_vectors {
            let best = best_similarity.unwrap_or(f32::MIN);
            let related = best >= self.config.min_query_similarity
                || (lexical_match && best >= self.config.min_lexical_similarity);
            if !related {
                return Ok(Vec::new());
            }
        }

        let ranked: Vec<(ChunkKey, f32)> = match request.mode {
            SearchMode::Vector => vector_ranking
                .into_iter()
                .map(|k| {
                    let s = candidates
                        .get(&k)
                        .and_then(|c| c.vector_score)
                        .unwrap_or(0.0);
                    (k, s)
                })
                .collect(),
            SearchMode::Keyword => keyword_ranking
                .into_iter()
                .map(|k| {
                    let s = candidates
                        .get(&k)
                        .and_then(|c| c.keyword_score)
                        .unwrap_or(0.0);
                    (k, s)
                })
                .collect(),
            SearchMode::Hybrid => fusion::weighted_reciprocal_rank_fusion(
                &[
                    (&vector_ranking[..], 1.0),
                    (&keyword_ranking[..], self.config.keyword_weight),
                ],
                self.config.rrf_k,
            ),
        };

        let mut passages = Vec::with_capacity(request.top_k);
        for (key, score) in ranked {
            if passages.len() == request.top_k {
                break;
            }
            let Some(candidate) = candidates.remove(&key) else {
                continue;
            };
            if use_vectors
                && candidate
                    .vector_score
                    .is_some_and(|s| s < self.config.min_passage_similarity)
            {
                continue;
            }
            let Some(chunk) = candidate.chunk else {
                continue;
            };
            passages.push(ScoredPassage {
                document_id: chunk.document_id,
                chunk_index: chunk.chunk_index,
                title: chunk.title,
                url: chunk.url,
                heading_path: chunk.heading_path,
                text: chunk.text,
                score,
                vector_score: candidate.vector_score,
                keyword_score: candidate.keyword_score,
            });
        }
        Ok(passages)
    }
}

impl Retriever {
    /// True when `chunk` holds at least two, and at least half, of the query's distinct terms.
    /// Lets the keyword index learn what another replica indexed or deleted (see
    /// [`KeywordIndex::catch_up`]); returns whether it changed. A failure is logged and the
    /// search goes on with the index as it is.
    async fn catch_up_keywords(
        &self,
        org: &OrganizationId,
        live: &HashMap<DocumentId, i64>,
    ) -> bool {
        match self.keywords.catch_up(org, live).await {
            Ok(changed) => changed,
            Err(err) => {
                tracing::warn!(
                    error = %err.chain(),
                    "the keyword index could not catch up with another process's changes"
                );
                false
            }
        }
    }

    fn shares_most_terms(&self, query: &str, chunk: &Chunk) -> bool {
        let (shared, wanted) = self.shared_terms(query, chunk);
        shared >= 2 && shared * 2 >= wanted
    }

    /// The keyword hits that may answer on their own, without the vector side's relevance
    /// cut-off: those holding at least half of the query's distinct terms (and two of them
    /// when it has two or more). BM25 returns any chunk sharing one word with the question
    /// ("Do you ship to Mars?" finds the shipping policy); this bar keeps the answer to
    /// passages that are about what was asked, so a degraded answer says less, never
    /// something unrelated.
    fn keyword_fallback(
        &self,
        query: &str,
        hits: Vec<(Arc<Chunk>, f32)>,
    ) -> Vec<(Arc<Chunk>, f32)> {
        hits.into_iter()
            .filter(|(chunk, _)| {
                let (shared, wanted) = self.shared_terms(query, chunk);
                wanted > 0 && shared >= wanted.min(2) && shared * 2 >= wanted
            })
            .collect()
    }

    /// How many of the query's distinct terms `chunk` (title, headings, text) holds, and how
    /// many distinct terms the query has.
    fn shared_terms(&self, query: &str, chunk: &Chunk) -> (usize, usize) {
        let analyzer = self.keywords.analyzer();
        let wanted: HashSet<String> = analyzer.terms(query).into_iter().collect();
        let mut text = chunk.title.clone();
        for heading in &chunk.heading_path {
            text.push(' ');
            text.push_str(heading);
        }
        text.push(' ');
        text.push_str(&chunk.text);
        let present: HashSet<String> = analyzer.terms(&text).into_iter().collect();
        (wanted.intersection(&present).count(), wanted.len())
    }
}

/// What is embedded for a chunk: its title and headings give short chunks their context.
fn embedding_text(chunk: &Chunk) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !chunk.title.is_empty() {
        parts.push(&chunk.title);
    }
    for heading in &chunk.heading_path {
        if heading != &chunk.title {
            parts.push(heading);
        }
    }
    if parts.is_empty() {
        return chunk.text.clone();
    }
    format!("{}\n{}", parts.join(" > "), chunk.text)
}

#[cfg(test)]
mod tests;
