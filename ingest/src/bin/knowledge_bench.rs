//! `knowledge_bench`: the knowledge base's benchmarks on this machine, printed as JSON.
//!
//! 1. Ingestion throughput: the stackfaq answers (real text) chunked, embedded and indexed
//!    through the same pipeline as uploads, in chunks/s, next to the raw embedding throughput
//!    of the model on the same chunk texts.
//! 2. Retrieval latency with N chunks indexed (default 10,000 and 100,000): chunk vectors are
//!    random unit vectors (embedding 100,000 texts would take 15 minutes and does not change
//!    search cost), chunk texts are drawn from the stackfaq vocabulary so BM25 has real
//!    postings; queries are stackfaq rephrasings, embedded per query as in production.
//!    Reports p50/p95 of hybrid search including the query's embedding, and the process RSS.
//!
//! ```text
//! cargo run --release -p ingest --bin knowledge_bench -- [sizes, default 10000,100000]
//! ```
//!
//! The data set is read from `../shared/evaldata` beside the workspace, or from the folder
//! named by `BLAIGENT_EVALDATA`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use engine::embed::{embed_blocking, normalize};
use engine::ids::{DocumentId, OrganizationId};
use engine::index::qdrant_edge::EdgeIndex;
use engine::index::{IndexPoint, SearchFilter, VectorIndex};
use engine::knowledge::{content_hash, Chunk, SearchMode};
use engine::retrieval::{Retriever, SearchRequest};
use ingest::chunk::Chunker;
use ingest::eval::{load_stackfaq, stackfaq_path};
use ingest::extract::{Body, Extracted};
use ingest::normalize::normalize as normalize_text;
use ingest::pipeline::{build_chunks, DocumentMeta, SourcePage};
use serde_json::json;

const QUERIES: usize = 200;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.chain());
            ExitCode::FAILURE
        }
    }
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted_ms: &[f64], q: f64) -> f64 {
    if sorted_ms.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ms.len() - 1) as f64 * q).round() as usize;
    sorted_ms[i]
}

async fn run() -> engine::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .map(|a| a.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let threads = load_stackfaq(&stackfaq_path())?;
    let embedder = ingest::shared_embedder()?;
    let chunker = Arc::new(Chunker::load_default()?);
    let rss_model = rss_mib();
    let work = std::env::temp_dir().join(format!("blaigent-bench-{}", std::process::id()));
    let org = OrganizationId::from_trusted("org_bench".to_owned());

    // 1. Ingestion throughput through the real pipeline.
    let started = Instant::now();
    let mut chunks = Vec::new();
    for (i, t) in threads.iter().enumerate() {
        let text = normalize_text(&t.answers.join("\n\n"));
        let hash = content_hash(&text);
        let meta = DocumentMeta {
            organization_id: org.clone(),
            document_id: DocumentId::from_trusted(format!("doc_ingest{i:04}")),
            generation: 1,
            title: t.question.clone(),
            tags: vec![],
        };
        let pages = [SourcePage {
            url: None,
            extracted: Extracted {
                title: None,
                body: Body::Plain(text),
            },
        }];
        chunks.extend(build_chunks(&chunker, &meta, &pages, &hash));
    }
    let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
    let ingest_index: Arc<dyn VectorIndex> =
        Arc::new(EdgeIndex::open_async(work.join("ingest"), embedder.dimension()).await?);
    let retriever = Retriever::new(embedder.clone(), ingest_index);
    let n_chunks = retriever.index_chunks(chunks).await?;
    let ingest_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    embed_blocking(embedder.clone(), texts).await?;
    let embed_secs = started.elapsed().as_secs_f64();

    // 2. Latency at each size.
    let vocabulary: Vec<String> = threads
        .iter()
        .flat_map(|t| t.answers.iter())
        .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.chars().all(char::is_alphanumeric) && w.len() > 2)
        .collect();
    let queries: Vec<String> = threads
        .iter()
        .flat_map(|t| t.rephrasings.iter().cloned())
        .take(QUERIES)
        .collect();
    let mut latency = Vec::new();
    for size in sizes {
        let index = Arc::new(
            EdgeIndex::open_async(work.join(format!("n{size}")), embedder.dimension()).await?,
        );
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ size as u64);
        let started = Instant::now();
        let mut batch = Vec::with_capacity(1_000);
        for i in 0..size {
            let mut vector: Vec<f32> = (0..embedder.dimension()).map(|_| rng.unit()).collect();
            normalize(&mut vector);
            let words: Vec<&str> = (0..60)
                .map(|_| vocabulary[(rng.next() % vocabulary.len() as u64) as usize].as_str())
                .collect();
            let chunk = Chunk {
                organization_id: org.clone(),
                document_id: DocumentId::from_trusted(format!("doc_bench{:06}", i / 10)),
                generation: 1,
                chunk_index: (i % 10) as i64,
                text: words.join(" "),
                title: String::new(),
                url: None,
                heading_path: vec![],
                tags: vec![],
                content_hash: String::new(),
            };
            batch.push(IndexPoint::new(chunk, vector));
            if batch.len() == 1_000 {
                index.upsert(std::mem::take(&mut batch)).await?;
            }
        }
        index.upsert(batch).await?;
        let load_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let optimize_index = index.clone();
        tokio::task::spawn_blocking(move || optimize_index.optimize())
            .await
            .map_err(|e| engine::Error::internal("optimize failed").with_source(e))??;
        let optimize_secs = started.elapsed().as_secs_f64();
        let retriever = Retriever::new(embedder.clone(), index.clone());
        // The first query loads the keyword index; it is timed separately.
        let started = Instant::now();
        let warm = SearchRequest {
            query: "warm up".into(),
            top_k: 5,
            filter: SearchFilter::default(),
            mode: SearchMode::Hybrid,
        };
        retriever.search(&org, &warm).await?;
        let keyword_load_secs = started.elapsed().as_secs_f64();
        let mut modes = serde_json::Map::new();
        for mode in [SearchMode::Hybrid, SearchMode::Vector, SearchMode::Keyword] {
            let mut times = Vec::with_capacity(queries.len());
            for q in &queries {
                let request = SearchRequest {
                    query: q.clone(),
                    top_k: 5,
                    filter: SearchFilter::default(),
                    mode,
                };
                let started = Instant::now();
                retriever.search(&org, &request).await?;
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            modes.insert(
                format!("{mode:?}").to_lowercase(),
                json!({"p50_ms": percentile(&times, 0.5), "p95_ms": percentile(&times, 0.95)}),
            );
        }
        latency.push(json!({
            "chunks": size,
            "load_seconds": load_secs,
            "optimize_seconds": optimize_secs,
            "keyword_index_build_seconds": keyword_load_secs,
            "queries": queries.len(),
            "search_including_query_embedding": modes,
            "rss_mib_after": rss_mib(),
        }));
        drop(retriever);
    }
    let _ = std::fs::remove_dir_all(&work);
    let report = json!({
        "ingestion": {
            "documents": threads.len(),
            "chunks": n_chunks,
            "seconds": ingest_secs,
            "chunks_per_second": n_chunks as f64 / ingest_secs,
            "raw_embedding_per_second": n_chunks as f64 / embed_secs,
        },
        "rss_mib_with_model": rss_model,
        "latency": latency,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(())
}
