//! `retrieval_eval`: retrieval quality on stackfaq (see `ingest::eval`), printed as JSON.
//!
//! ```text
//! cargo run --release -p ingest --bin retrieval_eval -- [path/to/stackExchange-FAQ.json] [rrf_k] [min_query_similarity]
//! ```
//!
//! The data set is read from `../shared/evaldata` beside the workspace, or from the folder
//! named by `BLAIGENT_EVALDATA`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use engine::retrieval::RetrievalConfig;
use ingest::chunk::Chunker;
use ingest::eval::{evaluate, load_stackfaq, stackfaq_path};

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

async fn run() -> engine::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().map_or_else(stackfaq_path, PathBuf::from);
    let mut config = RetrievalConfig::default();
    if let Some(k) = args.get(1).and_then(|a| a.parse().ok()) {
        config.rrf_k = k;
    }
    if let Some(t) = args.get(2).and_then(|a| a.parse().ok()) {
        config.min_query_similarity = t;
    }
    let threads = load_stackfaq(&path)?;
    let embedder = ingest::shared_embedder()?;
    let chunker = Arc::new(Chunker::load_default()?);
    let work = std::env::temp_dir().join(format!("blaigent-retrieval-eval-{}", std::process::id()));
    let result = evaluate(&threads, embedder, chunker, &work, config).await;
    let _ = std::fs::remove_dir_all(&work);
    let result = result?;
    println!(
        "{}",
        serde_json::to_string_pretty(&result).unwrap_or_default()
    );
    Ok(())
}
