//! `blaigent knowledge add|list|search`: the knowledge base from the command line, through the
//! same [`ingest::Knowledge`] as the HTTP API. `add` ingests inline and prints the result.

use std::path::Path;

use anyhow::{bail, Context};
use clap::Subcommand;
use engine::ids::OrganizationId;
use engine::knowledge::{DocumentStatus, SearchMode};
use engine::store::Store;
use ingest::fetch::CrawlOptions;
use ingest::{Knowledge, NewSource, SourceContent};
use serde_json::json;

use super::print_json;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Add a file or a URL to an organization's knowledge base and index it now.
    Add {
        /// Organization id (org_...).
        #[arg(long)]
        org: String,
        /// A file path, or an http(s) URL.
        source: String,
        #[arg(long)]
        title: Option<String>,
        /// Comma-separated tags.
        #[arg(long)]
        tags: Option<String>,
        /// For URLs: pages to crawl at most.
        #[arg(long, default_value_t = 1)]
        max_pages: usize,
    },
    /// List an organization's documents.
    List {
        #[arg(long)]
        org: String,
    },
    /// Show what retrieval returns for a query.
    Search {
        #[arg(long)]
        org: String,
        query: String,
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// hybrid, vector or keyword.
        #[arg(long, default_value = "hybrid")]
        mode: String,
    },
}

pub async fn run(store: &Store, config: &Config, command: KnowledgeCommand) -> anyhow::Result<()> {
    let knowledge = Knowledge::open(
        store.clone(),
        ingest::shared_embedder()?,
        &config.data_dir,
        config.knowledge.clone(),
    )
    .await
    .context("opening the knowledge base")?;
    match command {
        KnowledgeCommand::Add {
            org,
            source,
            title,
            tags,
            max_pages,
        } => {
            let org = OrganizationId::parse(&org)?;
            let content = if source.starts_with("http://") || source.starts_with("https://") {
                SourceContent::Url {
                    url: source.clone(),
                    crawl: CrawlOptions {
                        max_pages,
                        same_site: true,
                    },
                }
            } else {
                let path = Path::new(&source);
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                SourceContent::File {
                    bytes,
                    file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    content_type: None,
                }
            };
            let added = knowledge
                .add(
                    &org,
                    NewSource {
                        content,
                        title,
                        tags: tags
                            .map(|t| t.split(',').map(str::to_owned).collect())
                            .unwrap_or_default(),
                        metadata: serde_json::Value::Null,
                        refresh_interval_secs: None,
                    },
                )
                .await?;
            knowledge.run_pending_jobs().await?;
            let document = knowledge.get(&org, &added.id).await?;
            print_json(&serde_json::to_value(&document)?)?;
            if document.status == DocumentStatus::Failed {
                bail!(
                    "ingestion failed: {}",
                    document.failure_reason.unwrap_or_default()
                );
            }
            Ok(())
        }
        KnowledgeCommand::List { org } => {
            let org = OrganizationId::parse(&org)?;
            let documents = knowledge.list(&org, None, 100).await?;
            print_json(&json!({ "documents": documents }))
        }
        KnowledgeCommand::Search {
            org,
            query,
            top_k,
            mode,
        } => {
            let org = OrganizationId::parse(&org)?;
            let mode = SearchMode::parse(&mode)
                .ok_or_else(|| anyhow::anyhow!("--mode must be hybrid, vector or keyword"))?;
            let passages = knowledge.search(&org, &query, top_k, vec![], mode).await?;
            print_json(&json!({ "passages": passages }))
        }
    }
}
