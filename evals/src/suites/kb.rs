//! A throw-away knowledge base for the suites that retrieve: documents are chunked exactly as
//! an upload is (`ingest`'s chunker and `build_chunks`), embedded, and indexed into a fresh
//! embedded Qdrant index in a temporary folder, behind an [`engine::retrieval::Retriever`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context as _, Result};
use engine::embed::Embedder;
use engine::ids::{DocumentId, OrganizationId};
use engine::index::qdrant_edge::EdgeIndex;
use engine::knowledge::content_hash;
use engine::retrieval::{RetrievalConfig, Retriever};
use ingest::chunk::Chunker;
use ingest::extract::{Body, Extracted};
use ingest::normalize::normalize;
use ingest::pipeline::{build_chunks, DocumentMeta, SourcePage};

/// One document as the suites give it: their own id, a title and the text.
#[derive(Debug, Clone)]
pub struct KbDocument {
    pub id: String,
    pub title: String,
    pub text: String,
    /// Markdown bodies are split along their headings.
    pub markdown: bool,
}

/// An indexed knowledge base. Fields drop in order: the retriever (and its index, which
/// flushes on drop) before the folder.
pub struct KnowledgeBase {
    pub retriever: Arc<Retriever>,
    pub org: OrganizationId,
    /// Engine document id -> the suite's id.
    pub ids: HashMap<DocumentId, String>,
    pub chunks: usize,
    pub indexing_seconds: f64,
    _dir: tempfile::TempDir,
}

impl KnowledgeBase {
    /// Chunks, embeds and indexes `documents` for a fresh organization.
    pub async fn build(
        documents: &[KbDocument],
        embedder: Arc<dyn Embedder>,
        config: RetrievalConfig,
    ) -> Result<Self> {
        let dir = tempfile::tempdir().context("creating a folder for the evaluation index")?;
        let org = OrganizationId::from_trusted("org_evalkb".to_owned());
        let index = EdgeIndex::open_async(dir.path().join("qdrant"), embedder.dimension())
            .await
            .map_err(|e| anyhow!("{}", e.chain()))
            .context("opening the evaluation index")?;
        let retriever = Arc::new(Retriever::new(embedder, Arc::new(index)).with_config(config));
        let chunker = Chunker::load_default()
            .map_err(|e| anyhow!("{}", e.chain()))
            .context("loading the chunker's tokenizer")?;
        let started = std::time::Instant::now();
        let mut ids = HashMap::new();
        let mut chunks = Vec::new();
        for (i, doc) in documents.iter().enumerate() {
            let document_id = DocumentId::from_trusted(format!("doc_eval{i:06}"));
            ids.insert(document_id.clone(), doc.id.clone());
            let text = normalize(&doc.text);
            let hash = content_hash(&text);
            let body = if doc.markdown {
                Body::Markdown(text)
            } else {
                Body::Plain(text)
            };
            let pages = [SourcePage {
                url: None,
                extracted: Extracted {
                    title: (!doc.title.is_empty()).then(|| doc.title.clone()),
                    body,
                },
            }];
            let meta = DocumentMeta {
                organization_id: org.clone(),
                document_id,
                generation: 1,
                title: doc.title.clone(),
                tags: vec![],
            };
            chunks.extend(build_chunks(&chunker, &meta, &pages, &hash));
        }
        let count = chunks.len();
        retriever
            .index_chunks(chunks)
            .await
            .map_err(|e| anyhow!("{}", e.chain()))
            .context("indexing the evaluation documents")?;
        Ok(Self {
            retriever,
            org,
            ids,
            chunks: count,
            indexing_seconds: started.elapsed().as_secs_f64(),
            _dir: dir,
        })
    }

    /// The suite's id of an engine document id (the raw id when it is not one of ours).
    pub fn suite_id(&self, id: &DocumentId) -> String {
        self.ids
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.as_str().to_owned())
    }
}

/// Reads every `.md` and `.txt` file of `dir` (sorted by name) as a document whose id is the
/// file stem and whose title is its first `#` heading (else the stem).
pub fn load_folder(dir: &Path) -> Result<Vec<KbDocument>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the knowledge folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "md" || x == "txt" || x == "markdown")
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let id = path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            let title = text
                .lines()
                .find_map(|l| l.strip_prefix("# "))
                .map_or_else(|| id.clone(), |t| t.trim().to_owned());
            Ok(KbDocument {
                id,
                title,
                markdown: path.extension().is_some_and(|x| x != "txt"),
                text,
            })
        })
        .collect()
}
