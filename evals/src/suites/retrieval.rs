//! The `retrieval` suite: documents, queries and the ids of each query's relevant documents;
//! Recall@1/5/10, MRR and nDCG@10 (binary relevance, documents ranked by their best passage)
//! for keyword, vector and hybrid retrieval through the engine's own
//! [`Retriever`](engine::retrieval::Retriever), over an index built as an upload is built.
//!
//! Inputs: the built-in `stackfaq` set (`rag/stackfaq`: each thread's answers are one
//! document, each human rephrasing a query whose relevant document is its thread), or a JSON
//! file `{"documents": [{"id", "title"?, "text"}], "queries": [{"text", "relevant": [ids]}]}`.
//!
//! Queries are split in two halves (even and odd position among the queries of the same first
//! relevant document). With `--sweep`, the fusion settings of [`FUSION_SWEEP`] are scored on
//! the train half and the best one is reported on the test half; the relevance cut-off is
//! checked on out-of-domain questions ([`ingest::eval::OUT_OF_DOMAIN`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Context as _, Result};
use engine::ids::DocumentId;
use engine::index::SearchFilter;
use engine::knowledge::SearchMode;
use engine::retrieval::{RetrievalConfig, Retriever, SearchRequest};
use serde::Deserialize;
use serde_json::json;

use super::kb::{KbDocument, KnowledgeBase};
use super::Context;
use crate::metrics::{self, mean_se};
use crate::report::Report;

/// Documents ranked per query (the metrics look at the first 10).
const DEPTH: usize = 10;
/// Passages asked for, so that at least [`DEPTH`] distinct documents usually come back.
const PASSAGES: usize = 40;

/// The (rrf_k, keyword_weight) settings `--sweep` tries on the train half.
pub const FUSION_SWEEP: &[(f32, f32)] = &[
    (20.0, 1.0),
    (60.0, 1.0),
    (20.0, 0.5),
    (60.0, 0.5),
    (20.0, 0.3),
    (60.0, 0.3),
    (60.0, 0.15),
];

/// A retrieval data set.
#[derive(Debug, Clone, Deserialize)]
pub struct RetrievalSet {
    #[serde(default = "custom")]
    pub name: String,
    pub documents: Vec<SetDocument>,
    pub queries: Vec<SetQuery>,
}

fn custom() -> String {
    "custom".into()
}

/// One document of a data set.
#[derive(Debug, Clone, Deserialize)]
pub struct SetDocument {
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

/// One query and the ids of its relevant documents.
#[derive(Debug, Clone, Deserialize)]
pub struct SetQuery {
    pub text: String,
    pub relevant: Vec<String>,
}

/// Options of the suite.
#[derive(Debug, Clone, Default)]
pub struct RetrievalOptions {
    /// Score the fusion settings and the relevance cut-off too.
    pub sweep: bool,
    /// Keep only the first N queries (in file order).
    pub limit: Option<usize>,
}

/// The built-in stackfaq set.
pub fn stackfaq(data_dir: &Path) -> Result<RetrievalSet> {
    let path = data_dir
        .join("rag")
        .join("stackfaq")
        .join("stackExchange-FAQ.json");
    let threads = ingest::eval::load_stackfaq(&path).map_err(|e| anyhow!("{}", e.chain()))?;
    let mut documents = Vec::new();
    let mut queries = Vec::new();
    for (i, thread) in threads.iter().enumerate() {
        let id = format!("thread{i:04}");
        documents.push(SetDocument {
            id: id.clone(),
            title: String::new(),
            text: thread.answers.join("\n\n"),
        });
        queries.extend(thread.rephrasings.iter().map(|text| SetQuery {
            text: text.clone(),
            relevant: vec![id.clone()],
        }));
    }
    Ok(RetrievalSet {
        name: "stackfaq".into(),
        documents,
        queries,
    })
}

/// Reads a data set file (see the module documentation).
pub fn load_file(path: &Path) -> Result<RetrievalSet> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut set: RetrievalSet = serde_json::from_str(&raw)
        .with_context(|| format!("parsing the retrieval set {}", path.display()))?;
    if set.name == "custom" {
        if let Some(stem) = path.file_stem() {
            set.name = stem.to_string_lossy().into_owned();
        }
    }
    Ok(set)
}

/// An `f32` setting as the decimal it was written as (0.3, not 0.30000001192092896).
fn round3(v: f32) -> f64 {
    (f64::from(v) * 1000.0).round() / 1000.0
}

/// A data set by built-in name or file path.
pub fn dataset(name_or_path: &str, data_dir: &Path) -> Result<RetrievalSet> {
    match name_or_path {
        "stackfaq" => stackfaq(data_dir),
        path => load_file(Path::new(path)),
    }
}

/// Per-query figures of one ranking.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryScores {
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub reciprocal_rank: f64,
    pub ndcg_at_10: f64,
}

/// Scores one ranking (document ids, best first) against the relevant ids.
pub fn score_ranking(ranked: &[String], relevant: &[String]) -> QueryScores {
    let top: Vec<String> = ranked.iter().take(DEPTH).cloned().collect();
    QueryScores {
        recall_at_1: metrics::recall_at_k(&top, relevant, 1),
        recall_at_5: metrics::recall_at_k(&top, relevant, 5),
        recall_at_10: metrics::recall_at_k(&top, relevant, 10),
        reciprocal_rank: metrics::reciprocal_rank(&top, relevant),
        ndcg_at_10: metrics::ndcg_at_k(&top, relevant, 10),
    }
}

/// Mean and standard error of each figure over queries.
fn summarize(scores: &[QueryScores]) -> [(&'static str, metrics::MeanSe); 5] {
    let column = |f: fn(&QueryScores) -> f64| mean_se(&scores.iter().map(f).collect::<Vec<_>>());
    [
        ("recall_at_1", column(|s| s.recall_at_1)),
        ("recall_at_5", column(|s| s.recall_at_5)),
        ("recall_at_10", column(|s| s.recall_at_10)),
        ("mrr", column(|s| s.reciprocal_rank)),
        ("ndcg_at_10", column(|s| s.ndcg_at_10)),
    ]
}

/// Train (true) or test half of each query: alternate positions among the queries that share
/// their first relevant document.
fn halves(queries: &[SetQuery]) -> Vec<bool> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    queries
        .iter()
        .map(|q| {
            let key = q.relevant.first().map_or("", String::as_str);
            let n = seen.entry(key).or_default();
            *n += 1;
            *n % 2 == 1
        })
        .collect()
}

/// Ranks documents for every query in `mode`.
async fn rank_all(
    kb: &KnowledgeBase,
    retriever: &Retriever,
    queries: &[SetQuery],
    vectors: &[Vec<f32>],
    mode: SearchMode,
) -> Result<Vec<Vec<String>>> {
    let mut rankings = Vec::with_capacity(queries.len());
    for (query, vector) in queries.iter().zip(vectors) {
        let request = SearchRequest {
            query: query.text.clone(),
            top_k: PASSAGES,
            filter: SearchFilter::default(),
            mode,
        };
        let passages = retriever
            .search_with_vector(&kb.org, &request, Some(vector.clone()))
            .await
            .map_err(|e| anyhow!("{}", e.chain()))
            .with_context(|| format!("searching for {:?}", query.text))?;
        let mut ranking: Vec<DocumentId> = Vec::new();
        for passage in passages {
            if !ranking.contains(&passage.document_id) {
                ranking.push(passage.document_id);
            }
        }
        rankings.push(ranking.iter().take(DEPTH).map(|d| kb.suite_id(d)).collect());
    }
    Ok(rankings)
}

/// Runs the suite on `set`.
pub fn run(ctx: &Context, set: &RetrievalSet, options: &RetrievalOptions) -> Result<Report> {
    let mut queries = set.queries.clone();
    if let Some(limit) = options.limit {
        queries.truncate(limit);
    }
    let texts: Vec<String> = queries.iter().map(|q| q.text.clone()).collect();
    let vectors = ctx.cache.embed(&texts)?;
    let ood: Vec<String> = ingest::eval::OUT_OF_DOMAIN
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let ood_vectors = if options.sweep {
        ctx.cache.embed(&ood)?
    } else {
        Vec::new()
    };
    let documents: Vec<KbDocument> = set
        .documents
        .iter()
        .map(|d| KbDocument {
            id: d.id.clone(),
            title: d.title.clone(),
            text: d.text.clone(),
            markdown: false,
        })
        .collect();
    let config = RetrievalConfig::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let embedder = ctx.cache.embedder().clone();
    runtime.block_on(async move {
        let _span = tracing::info_span!("retrieval_suite", dataset = %set.name).entered();
        let kb = KnowledgeBase::build(&documents, embedder.clone(), config.clone()).await?;
        let mut report = Report::new(
            "retrieval",
            json!({
                "dataset": set.name,
                "documents": documents.len(),
                "chunks": kb.chunks,
                "queries": queries.len(),
                "rrf_k": round3(config.rrf_k),
                "keyword_weight": round3(config.keyword_weight),
                "min_query_similarity": round3(config.min_query_similarity),
                "depth": DEPTH,
            }),
        );
        let is_train = halves(&queries);
        let mut table = String::from(
            "### Retrieval by mode (mean over queries ± s.e.)\n\n| mode | Recall@1 | Recall@5 | Recall@10 | MRR | nDCG@10 | no result |\n|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
            let name = format!("{mode:?}").to_lowercase();
            let rankings = rank_all(&kb, &kb.retriever, &queries, &vectors, mode).await?;
            let scores: Vec<QueryScores> = rankings
                .iter()
                .zip(&queries)
                .map(|(r, q)| score_ranking(r, &q.relevant))
                .collect();
            let empty = rankings.iter().filter(|r| r.is_empty()).count();
            let summary = summarize(&scores);
            let mut row = format!("| {name} |");
            for (metric, m) in summary {
                report.push(
                    format!("retrieval.{}.{name}.{metric}", set.name),
                    m.mean,
                    Some(m.se),
                );
                row.push_str(&format!(" {:.4} ± {:.4} |", m.mean, m.se));
            }
            row.push_str(&format!(" {empty} |\n"));
            table.push_str(&row);
            report.detail(
                &format!("{name}_no_result"),
                json!({"queries": empty, "share": empty as f64 / queries.len().max(1) as f64}),
            );
        }
        report.sections.push(table);
        report.detail("indexing_seconds", json!(kb.indexing_seconds));
        if options.sweep {
            let sweep = sweep(&kb, &embedder, &config, &queries, &vectors, &is_train).await?;
            report.sections.push(sweep.0);
            report.detail("fusion_sweep", sweep.1);
            let cutoff = cutoff(&kb, &config, &vectors, &is_train, &ood_vectors).await?;
            report.sections.push(cutoff.0);
            report.detail("cutoff", cutoff.1);
        }
        Ok(report)
    })
}

/// Hybrid MRR on the train half per fusion setting, the best one on the test half.
async fn sweep(
    kb: &KnowledgeBase,
    embedder: &std::sync::Arc<dyn engine::embed::Embedder>,
    config: &RetrievalConfig,
    queries: &[SetQuery],
    vectors: &[Vec<f32>],
    is_train: &[bool],
) -> Result<(String, serde_json::Value)> {
    let mut section = String::from(
        "### Fusion settings (hybrid; chosen on the train half, reported on the test half)\n\n| rrf_k | keyword weight | train MRR | train Recall@1 | test MRR |\n|---:|---:|---:|---:|---:|\n",
    );
    let mut points = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    for (i, (k, w)) in FUSION_SWEEP.iter().enumerate() {
        let retriever = Retriever::new(embedder.clone(), kb.retriever.vectors().clone())
            .with_config(RetrievalConfig {
                rrf_k: *k,
                keyword_weight: *w,
                ..config.clone()
            });
        let rankings = rank_all(kb, &retriever, queries, vectors, SearchMode::Hybrid).await?;
        let mut train = Vec::new();
        let mut test = Vec::new();
        for ((ranking, query), train_half) in rankings.iter().zip(queries).zip(is_train) {
            let s = score_ranking(ranking, &query.relevant);
            if *train_half {
                train.push(s);
            } else {
                test.push(s);
            }
        }
        let train = summarize(&train);
        let test = summarize(&test);
        if best.is_none_or(|(mrr, _)| train[3].1.mean > mrr) {
            best = Some((train[3].1.mean, i));
        }
        section.push_str(&format!(
            "| {k} | {w} | {:.4} | {:.4} | {:.4} |\n",
            train[3].1.mean, train[0].1.mean, test[3].1.mean
        ));
        points.push(
            json!({"rrf_k": k, "keyword_weight": w, "train_mrr": train[3].1.mean,
            "train_recall_at_1": train[0].1.mean, "test_mrr": test[3].1.mean}),
        );
    }
    if let Some((_, i)) = best {
        section.push_str(&format!(
            "\nBest on train: rrf_k {}, keyword weight {} (shipped: {}, {}).\n",
            FUSION_SWEEP[i].0, FUSION_SWEEP[i].1, config.rrf_k, config.keyword_weight
        ));
    }
    Ok((section, json!(points)))
}

/// The relevance cut-off: real queries still answered and out-of-domain questions rejected,
/// per threshold on the best cosine similarity (train half), and at the shipped value on the
/// test half.
async fn cutoff(
    kb: &KnowledgeBase,
    config: &RetrievalConfig,
    vectors: &[Vec<f32>],
    is_train: &[bool],
    ood_vectors: &[Vec<f32>],
) -> Result<(String, serde_json::Value)> {
    let index = kb.retriever.vectors();
    let best = |v: Vec<f32>| async move {
        index
            .search(&kb.org, v, 1, &SearchFilter::default())
            .await
            .map(|hits| hits.first().map_or(0.0, |h| h.score))
            .map_err(|e| anyhow!("{}", e.chain()))
    };
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (v, train_half) in vectors.iter().zip(is_train) {
        let score = best(v.clone()).await?;
        if *train_half {
            train.push(score);
        } else {
            test.push(score);
        }
    }
    let mut out = Vec::new();
    for v in ood_vectors {
        out.push(best(v.clone()).await?);
    }
    let share = |values: &[f32], keep: bool, t: f32| {
        values.iter().filter(|s| (**s >= t) == keep).count() as f64 / values.len().max(1) as f64
    };
    let mut section = String::from(
        "### Relevance cut-off (best cosine similarity; train half)\n\n| threshold | real queries kept | out-of-domain rejected |\n|---:|---:|---:|\n",
    );
    let mut points = Vec::new();
    for t in (10..=50).step_by(5) {
        let t = t as f32 / 100.0;
        let (kept, rejected) = (share(&train, true, t), share(&out, false, t));
        section.push_str(&format!("| {t:.2} | {kept:.4} | {rejected:.4} |\n"));
        points.push(
            json!({"threshold": t, "in_domain_kept": kept, "out_of_domain_rejected": rejected}),
        );
    }
    let t = config.min_query_similarity;
    let (kept, rejected) = (share(&test, true, t), share(&out, false, t));
    section.push_str(&format!(
        "\nAt the shipped {t:.2} on the test half: {kept:.4} of real queries kept, {rejected:.4} of {} out-of-domain questions rejected.\n",
        out.len()
    ));
    Ok((
        section,
        json!({"train_curve": points, "shipped": {"threshold": t, "test_kept": kept, "out_of_domain_rejected": rejected}}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_ranking_is_scored_by_hand() {
        // Relevant d2 at rank 3: R@1 0, R@5 1, RR 1/3, nDCG = (1/log2 4) / 1 = 0.5.
        let scores = score_ranking(&s(&["d1", "d3", "d2"]), &s(&["d2"]));
        assert_eq!(scores.recall_at_1, 0.0);
        assert_eq!(scores.recall_at_5, 1.0);
        assert!((scores.reciprocal_rank - 1.0 / 3.0).abs() < 1e-12);
        assert!((scores.ndcg_at_10 - 0.5).abs() < 1e-12);
        // Beyond the depth nothing counts.
        let far: Vec<String> = (0..12).map(|i| format!("x{i}")).chain(s(&["d2"])).collect();
        assert_eq!(score_ranking(&far, &s(&["d2"])), QueryScores::default());
    }

    #[test]
    fn halves_alternate_within_each_relevant_document() {
        let q = |rel: &str| SetQuery {
            text: String::new(),
            relevant: s(&[rel]),
        };
        assert_eq!(
            halves(&[q("a"), q("a"), q("b"), q("a"), q("b")]),
            vec![true, false, true, true, false]
        );
    }

    #[test]
    fn a_custom_set_parses() {
        let set: RetrievalSet = serde_json::from_str(
            r#"{"documents":[{"id":"a","text":"x"}],"queries":[{"text":"q","relevant":["a"]}]}"#,
        )
        .unwrap();
        assert_eq!(set.name, "custom");
        assert_eq!(set.queries[0].relevant, s(&["a"]));
    }
}
