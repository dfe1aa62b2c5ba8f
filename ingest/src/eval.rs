//! Retrieval quality on the stackfaq set (`evaldata/rag/stackfaq`): 125 StackExchange threads,
//! each with an original question, its top answers and about ten human rephrasings.
//!
//! The answers of each thread are indexed as one document (chunked like any upload); each
//! rephrasing is a query whose relevant document is its thread. Documents are ranked by their
//! best passage; Recall@1, Recall@5 and MRR (over the top 10) are reported for keyword only,
//! vectors only and hybrid retrieval. Queries are split in two halves (even and odd position in
//! their thread): anything tuned (the RRF constant, the relevance cut-off) is chosen on the
//! train half and reported on the test half.
//!
//! The relevance cut-off is checked against out-of-domain questions ([`OUT_OF_DOMAIN`]): the
//! share of them that get no passage at all, next to the share of real queries that still do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use engine::embed::{embed_blocking, Embedder};
use engine::error::{Error, Result};
use engine::ids::{DocumentId, OrganizationId};
use engine::index::qdrant_edge::EdgeIndex;
use engine::index::{SearchFilter, VectorIndex};
use engine::knowledge::{content_hash, SearchMode};
use engine::retrieval::{RetrievalConfig, Retriever, SearchRequest};
use serde::Serialize;

use crate::chunk::Chunker;
use crate::extract::{Body, Extracted};
use crate::normalize::normalize;
use crate::pipeline::{build_chunks, DocumentMeta, SourcePage};

/// Questions no FAQ about software and websites answers.
pub const OUT_OF_DOMAIN: &[&str] = &[
    "what is the capital of France",
    "who won the football world cup in 2014",
    "how many calories are in a banana",
    "what is the boiling point of water at sea level",
    "who painted the Mona Lisa",
    "how tall is Mount Everest",
    "when did the Roman empire fall",
    "what is the recipe for pancakes",
    "how do I grow tomatoes on a balcony",
    "what time is it in Tokyo",
    "who wrote Pride and Prejudice",
    "how far is the moon from the earth",
    "what is the best treatment for a sprained ankle",
    "how do I train my dog to sit",
    "what is the population of Brazil",
    "which wine goes with fish",
    "how long should I boil an egg",
    "what causes thunderstorms",
    "who is the president of Kenya",
    "how do I knit a scarf",
];

/// One thread of the data set.
#[derive(Debug, Clone)]
pub struct FaqThread {
    pub question: String,
    pub answers: Vec<String>,
    pub rephrasings: Vec<String>,
}

/// Where `stackExchange-FAQ.json` lives: under `BLAIGENT_EVALDATA` (the `evaldata` folder) when
/// set, else under `../shared/evaldata` beside the workspace (as the evals crate finds it).
pub fn stackfaq_path() -> PathBuf {
    let evaldata = std::env::var_os("BLAIGENT_EVALDATA").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared")
                .join("evaldata")
        },
        PathBuf::from,
    );
    evaldata
        .join("rag")
        .join("stackfaq")
        .join("stackExchange-FAQ.json")
}

/// Reads `stackExchange-FAQ.json`.
pub fn load_stackfaq(path: &Path) -> Result<Vec<FaqThread>> {
    let raw = std::fs::read(path)
        .map_err(|e| Error::invalid(format!("cannot read {}", path.display())).with_source(e))?;
    let value: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| Error::invalid("the stackfaq file is not JSON").with_source(e))?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        let items = match v {
            serde_json::Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        items
            .iter()
            .filter_map(|i| i.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "*")
            .map(str::to_owned)
            .collect()
    };
    let pairs = value["root"]["qapair"]
        .as_array()
        .ok_or_else(|| Error::invalid("no root.qapair array in the stackfaq file"))?;
    Ok(pairs
        .iter()
        .map(|p| FaqThread {
            question: p["question"].as_str().unwrap_or_default().to_owned(),
            answers: strings(&p["answer"]),
            rephrasings: strings(&p["rephr"]),
        })
        .collect())
}

/// Scores of one mode on one split.
#[derive(Debug, Clone, Serialize)]
pub struct ModeScores {
    pub mode: String,
    pub queries: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
    /// Queries that got no passage at all (the relevance cut-off).
    pub empty: usize,
}

/// Hybrid scores at one fusion setting.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub rrf_k: f32,
    pub keyword_weight: f32,
    pub recall_at_1: f64,
    pub mrr: f64,
}

/// The (rrf_k, keyword_weight) settings the sweep tries.
pub const FUSION_SWEEP: &[(f32, f32)] = &[
    (20.0, 1.0),
    (60.0, 1.0),
    (20.0, 0.5),
    (60.0, 0.5),
    (20.0, 0.3),
    (60.0, 0.3),
    (60.0, 0.15),
];

/// The relevance cut-off at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct CutoffPoint {
    pub min_query_similarity: f32,
    /// Real queries still answered.
    pub in_domain_kept: f64,
    /// Out-of-domain questions that got nothing.
    pub out_of_domain_rejected: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalEval {
    pub documents: usize,
    pub chunks: usize,
    pub train: Vec<ModeScores>,
    pub test: Vec<ModeScores>,
    pub rrf_k: f32,
    pub keyword_weight: f32,
    /// Hybrid on the train half for each (rrf_k, keyword_weight) tried.
    pub fusion_sweep_train: Vec<SweepPoint>,
    /// The best sweep point on train, and its scores on the test half.
    pub tuned: Option<(SweepPoint, ModeScores)>,
    pub cutoff_curve_train: Vec<CutoffPoint>,
    pub cutoff_test_at_shipped: CutoffPoint,
    pub indexing_seconds: f64,
}

struct Query {
    text: String,
    thread: usize,
    vector: Vec<f32>,
}

fn doc_id(thread: usize) -> DocumentId {
    DocumentId::from_trusted(format!("doc_stackfaq{thread:04}"))
}

/// Recall@k and reciprocal rank of `relevant` in `ranking` (documents, best first).
fn score(ranking: &[DocumentId], relevant: &DocumentId) -> (f64, f64, f64) {
    let position = ranking.iter().position(|d| d == relevant);
    let at = |k: usize| f64::from(u8::from(position.is_some_and(|p| p < k)));
    let rr = position.map_or(0.0, |p| 1.0 / (p as f64 + 1.0));
    (at(1), at(5), rr)
}

/// Indexes the threads' answers into a fresh embedded index under `work_dir` and scores every
/// mode. `config` is the retrieval configuration to evaluate (its cut-off included).
pub async fn evaluate(
    threads: &[FaqThread],
    embedder: Arc<dyn Embedder>,
    chunker: Arc<Chunker>,
    work_dir: &Path,
    config: RetrievalConfig,
) -> Result<RetrievalEval> {
    let org = OrganizationId::from_trusted("org_stackfaqeval".to_owned());
    let index: Arc<dyn VectorIndex> =
        Arc::new(EdgeIndex::open_async(work_dir.join("qdrant"), embedder.dimension()).await?);
    let retriever = Retriever::new(embedder.clone(), index.clone()).with_config(config.clone());

    let started = Instant::now();
    let mut chunks = Vec::new();
    for (i, thread) in threads.iter().enumerate() {
        let text = normalize(&thread.answers.join("\n\n"));
        let hash = content_hash(&text);
        let pages = [SourcePage {
            url: None,
            extracted: Extracted {
                title: None,
                body: Body::Plain(text),
            },
        }];
        let meta = DocumentMeta {
            organization_id: org.clone(),
            document_id: doc_id(i),
            generation: 1,
            title: String::new(),
            tags: vec![],
        };
        chunks.extend(build_chunks(&chunker, &meta, &pages, &hash));
    }
    let chunk_count = chunks.len();
    retriever.index_chunks(chunks).await?;
    let indexing_seconds = started.elapsed().as_secs_f64();

    let mut queries = Vec::new();
    for (thread, t) in threads.iter().enumerate() {
        for text in &t.rephrasings {
            queries.push((text.clone(), thread));
        }
    }
    let texts: Vec<String> = queries.iter().map(|(t, _)| t.clone()).collect();
    let vectors = embed_blocking(embedder.clone(), texts).await?;
    let queries: Vec<Query> = queries
        .into_iter()
        .zip(vectors)
        .map(|((text, thread), vector)| Query {
            text,
            thread,
            vector,
        })
        .collect();
    // Position of each query inside its thread decides its half.
    let mut position: HashMap<usize, usize> = HashMap::new();
    let mut is_train = Vec::with_capacity(queries.len());
    for q in &queries {
        let p = position.entry(q.thread).or_default();
        is_train.push(p.is_multiple_of(2));
        *p += 1;
    }

    let mut train = Vec::new();
    let mut test = Vec::new();
    for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
        let [tr, te] = score_mode(&retriever, &org, &queries, &is_train, mode).await?;
        train.push(tr);
        test.push(te);
    }

    let mut fusion_sweep_train = Vec::new();
    for (k, w) in FUSION_SWEEP {
        let tuned_config = RetrievalConfig {
            rrf_k: *k,
            keyword_weight: *w,
            ..config.clone()
        };
        let r = Retriever::new(embedder.clone(), index.clone()).with_config(tuned_config);
        let [tr, _] = score_mode(&r, &org, &queries, &is_train, SearchMode::Hybrid).await?;
        fusion_sweep_train.push(SweepPoint {
            rrf_k: *k,
            keyword_weight: *w,
            recall_at_1: tr.recall_at_1,
            mrr: tr.mrr,
        });
    }
    let best = fusion_sweep_train
        .iter()
        .max_by(|a, b| a.mrr.total_cmp(&b.mrr))
        .cloned();
    let tuned = match best {
        Some(point) => {
            let r = Retriever::new(embedder.clone(), index.clone()).with_config(RetrievalConfig {
                rrf_k: point.rrf_k,
                keyword_weight: point.keyword_weight,
                ..config.clone()
            });
            let [_, te] = score_mode(&r, &org, &queries, &is_train, SearchMode::Hybrid).await?;
            Some((point, te))
        }
        None => None,
    };

    // The cut-off: the best cosine similarity of each query, in and out of domain.
    let ood_vectors = embed_blocking(
        embedder.clone(),
        OUT_OF_DOMAIN.iter().map(|s| (*s).to_owned()).collect(),
    )
    .await?;
    let mut best_in = [Vec::new(), Vec::new()];
    for (q, train_half) in queries.iter().zip(&is_train) {
        let hits = index
            .search(&org, q.vector.clone(), 1, &SearchFilter::default())
            .await?;
        best_in[usize::from(!*train_half)].push(hits.first().map_or(0.0, |h| h.score));
    }
    let mut best_out = Vec::new();
    for v in ood_vectors {
        let hits = index.search(&org, v, 1, &SearchFilter::default()).await?;
        best_out.push(hits.first().map_or(0.0, |h| h.score));
    }
    let point = |threshold: f32, inside: &[f32]| CutoffPoint {
        min_query_similarity: threshold,
        in_domain_kept: inside.iter().filter(|s| **s >= threshold).count() as f64
            / inside.len().max(1) as f64,
        out_of_domain_rejected: best_out.iter().filter(|s| **s < threshold).count() as f64
            / best_out.len().max(1) as f64,
    };
    let cutoff_curve_train = (10..=50)
        .step_by(5)
        .map(|t| point(t as f32 / 100.0, &best_in[0]))
        .collect();
    let cutoff_test_at_shipped = point(config.min_query_similarity, &best_in[1]);

    Ok(RetrievalEval {
        documents: threads.len(),
        chunks: chunk_count,
        train,
        test,
        rrf_k: config.rrf_k,
        keyword_weight: config.keyword_weight,
        fusion_sweep_train,
        tuned,
        cutoff_curve_train,
        cutoff_test_at_shipped,
        indexing_seconds,
    })
}

/// Scores one mode on both halves: `[train, test]`.
async fn score_mode(
    retriever: &Retriever,
    org: &OrganizationId,
    queries: &[Query],
    is_train: &[bool],
    mode: SearchMode,
) -> Result<[ModeScores; 2]> {
    let mut sums = [[0.0f64; 3]; 2];
    let mut counts = [0usize; 2];
    let mut empty = [0usize; 2];
    for (q, train_half) in queries.iter().zip(is_train) {
        let request = SearchRequest {
            query: q.text.clone(),
            top_k: 10,
            filter: SearchFilter::default(),
            mode,
        };
        let passages = retriever
            .search_with_vector(org, &request, Some(q.vector.clone()))
            .await?;
        let mut ranking: Vec<DocumentId> = Vec::new();
        for p in passages {
            if !ranking.contains(&p.document_id) {
                ranking.push(p.document_id);
            }
        }
        let half = usize::from(!*train_half);
        if ranking.is_empty() {
            empty[half] += 1;
        }
        let (r1, r5, rr) = score(&ranking, &doc_id(q.thread));
        sums[half][0] += r1;
        sums[half][1] += r5;
        sums[half][2] += rr;
        counts[half] += 1;
    }
    let scores = |half: usize| {
        let n = counts[half].max(1) as f64;
        ModeScores {
            mode: format!("{mode:?}").to_lowercase(),
            queries: counts[half],
            recall_at_1: sums[half][0] / n,
            recall_at_5: sums[half][1] / n,
            mrr: sums[half][2] / n,
            empty: empty[half],
        }
    };
    Ok([scores(0), scores(1)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_and_reciprocal_rank_follow_the_position() {
        let (a, b, c) = (doc_id(1), doc_id(2), doc_id(3));
        assert_eq!(score(&[a.clone(), b.clone()], &a), (1.0, 1.0, 1.0));
        assert_eq!(score(&[a.clone(), b.clone()], &b), (0.0, 1.0, 0.5));
        assert_eq!(score(&[a, b], &c), (0.0, 0.0, 0.0));
    }
}
