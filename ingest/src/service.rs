//! [`Knowledge`]: the knowledge base as the API, the CLI and the evals use it. Adding a source
//! stores a `processing` document and a durable job at once; the [`crate::worker`] does the
//! slow part (fetching, chunking, embedding, indexing) in the background.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use engine::embed::local::LocalEmbedder;
use engine::embed::recent::RecentQueries;
use engine::embed::Embedder;
use engine::error::{Error, ErrorKind, Result};
use engine::ids::{DocumentId, OrganizationId};
use engine::index::guarded::GuardedIndex;
use engine::index::qdrant_edge::EdgeIndex;
use engine::index::qdrant_server::ServerIndex;
use engine::index::{SearchFilter, VectorIndex};
use engine::knowledge::{content_hash, Document, ScoredPassage, SearchMode, SourceKind};
use engine::retrieval::{Retriever, SearchRequest};
use engine::store::knowledge::{JobKind, NewDocument};
use engine::store::Store;
use serde_json::{Map, Value};
use tokio::sync::Notify;

use crate::chunk::Chunker;
use crate::config::KnowledgeConfig;
use crate::extract::{self, records, Body, Extracted, Format};
use crate::fetch::{CrawlOptions, Fetcher};

/// Largest `top_k` a search may ask for.
pub const MAX_TOP_K: usize = 50;

/// The embedding model, loaded once per process (0.5 s and ~100 MB; every server state,
/// CLI command and test shares it).
pub fn shared_embedder() -> Result<Arc<dyn Embedder>> {
    static EMBEDDER: OnceLock<std::result::Result<Arc<dyn Embedder>, String>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            // A turn embeds its message for intent and again for retrieval: the memo of
            // recent queries makes the second one free.
            LocalEmbedder::load_default()
                .map(|e| Arc::new(RecentQueries::new(Arc::new(e))) as Arc<dyn Embedder>)
                .map_err(|e| e.chain())
        })
        .clone()
        .map_err(|e| Error::unavailable("the embedding model could not be loaded").with_source(e))
}

/// What a source's content is.
#[derive(Debug, Clone)]
pub enum SourceContent {
    /// An uploaded file.
    File {
        bytes: Vec<u8>,
        file_name: Option<String>,
        content_type: Option<String>,
    },
    /// Inline text.
    Text { text: String },
    /// Question/answer pairs.
    Faq { pairs: Vec<(String, String)> },
    /// Product rows (JSON objects).
    Products { rows: Vec<Map<String, Value>> },
    /// A page, a crawl or a sitemap.
    Url { url: String, crawl: CrawlOptions },
}

/// A source to add, with what the uploader says about it.
#[derive(Debug, Clone)]
pub struct NewSource {
    pub content: SourceContent,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Value,
    /// Url sources only: refresh on this schedule.
    pub refresh_interval_secs: Option<i64>,
}

/// The knowledge base of every organization on this server.
pub struct Knowledge {
    pub(crate) store: Store,
    pub(crate) retriever: Arc<Retriever>,
    pub(crate) chunker: Arc<Chunker>,
    pub(crate) fetcher: Fetcher,
    pub(crate) config: KnowledgeConfig,
    pub(crate) wake: Arc<Notify>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("retriever", &self.retriever)
            .field("config", &self.config)
            .finish()
    }
}

impl Knowledge {
    /// Opens the vector index (a Qdrant server when configured, else the embedded engine
    /// under `<data_dir>/qdrant`), the tokenizer and the fetcher.
    ///
    /// A Qdrant server that does not answer does not stop the start: the knowledge base opens
    /// degraded (searches answer from keywords, ingestion jobs wait and retry, `/readyz` says
    /// `vector_index: unreachable`) and the collection is created by the first write once the
    /// server is back.
    pub async fn open(
        store: Store,
        embedder: Arc<dyn Embedder>,
        data_dir: &Path,
        config: KnowledgeConfig,
    ) -> Result<Self> {
        let dimension = embedder.dimension();
        let vectors: Arc<dyn VectorIndex> = match &config.qdrant_url {
            Some(url) => Arc::new(ServerIndex::connect(
                url,
                config.qdrant_api_key.clone(),
                &config.qdrant_collection,
            )?),
            None => EdgeIndex::open_shared(data_dir.join("qdrant"), dimension).await?,
        };
        let knowledge = Self::open_with_vectors(store, embedder, vectors, config).await?;
        if let Err(err) = knowledge
            .retriever
            .vectors()
            .ensure_collection(dimension)
            .await
        {
            if err.kind() != ErrorKind::Unavailable {
                return Err(err);
            }
            tracing::warn!(
                error = %err.chain(),
                "the vector index is unreachable at start; serving degraded (keyword retrieval) until it answers"
            );
        }
        Ok(knowledge)
    }

    /// Opens the knowledge base over an index the caller opened (embedders of the library,
    /// and the fault suites, which put a breakable index here). The index is guarded with
    /// the configured deadline ([`engine::index::guarded`]); the collection is not created.
    /// The keyword index falls back to the chunks kept in the database when the index cannot
    /// be scrolled.
    pub async fn open_with_vectors(
        store: Store,
        embedder: Arc<dyn Embedder>,
        vectors: Arc<dyn VectorIndex>,
        config: KnowledgeConfig,
    ) -> Result<Self> {
        let vectors: Arc<dyn VectorIndex> =
            Arc::new(GuardedIndex::new(vectors, config.vector_timeout));
        // The database keeps every visible chunk too: a keyword index that cannot be read from
        // the vector index is built from it, so this process answers from keywords even when
        // it starts during an outage.
        let retriever = Retriever::new(embedder, vectors)
            .with_active_generations(Arc::new(store.clone()))
            .with_keyword_fallback(Arc::new(store.clone()));
        let chunker = tokio::task::spawn_blocking(Chunker::load_default)
            .await
            .map_err(|e| Error::internal("loading the tokenizer failed").with_source(e))??;
        Ok(Self {
            store,
            retriever: Arc::new(retriever),
            chunker: Arc::new(chunker),
            fetcher: Fetcher::new(config.fetch_config())?,
            config,
            wake: Arc::new(Notify::new()),
        })
    }

    /// The retriever (the agent's retrieval stage uses it).
    pub fn retriever(&self) -> &Arc<Retriever> {
        &self.retriever
    }

    pub fn config(&self) -> &KnowledgeConfig {
        &self.config
    }

    /// Adds a source: validates it, extracts uploads at once (so a duplicate is refused with
    /// 409 and an unreadable file is listed as `failed` with its reason), stores the document
    /// as `processing` and queues its ingestion.
    #[tracing::instrument(skip_all, fields(org = %org))]
    pub async fn add(&self, org: &OrganizationId, source: NewSource) -> Result<Document> {
        let id = DocumentId::new();
        // A file's name titles it only when its content has no title of its own.
        let mut fallback_title: Option<String> = None;
        let mut new = NewDocument {
            id: id.clone(),
            organization_id: org.clone(),
            title: source.title.clone().unwrap_or_default().trim().to_owned(),
            source_kind: SourceKind::File,
            url: None,
            tags: clean_tags(&source.tags),
            metadata: if source.metadata.is_null() {
                Value::Object(Map::new())
            } else {
                source.metadata.clone()
            },
            crawl: None,
            refresh_interval_secs: None,
            content_hash: None,
        };
        if !new.metadata.is_object() {
            return Err(Error::invalid("metadata must be a JSON object"));
        }
        let extracted = match source.content {
            SourceContent::Url { url, crawl } => {
                let checked = self.fetcher.guard().check_url(&url).map_err(|e| {
                    if e.kind() == ErrorKind::Forbidden {
                        Error::unprocessable(e.message().to_owned())
                    } else {
                        e
                    }
                })?;
                new.source_kind = SourceKind::Url;
                new.url = Some(checked.to_string());
                new.crawl = Some(serde_json::json!({
                    "max_pages": crawl.max_pages,
                    "same_site": crawl.same_site,
                }));
                if let Some(interval) = source.refresh_interval_secs {
                    if interval < 60 {
                        return Err(Error::invalid("refresh_interval_secs must be at least 60"));
                    }
                    new.refresh_interval_secs = Some(interval);
                }
                if new.title.is_empty() {
                    new.title = checked.to_string();
                }
                self.store.create_document(&new, None).await?;
                self.wake.notify_one();
                return self.get(org, &id).await;
            }
            SourceContent::File {
                bytes,
                file_name,
                content_type,
            } => {
                if bytes.is_empty() {
                    return Err(Error::invalid("the file is empty"));
                }
                if bytes.len() > self.config.max_bytes {
                    return Err(Error::too_large(format!(
                        "the file is larger than {} bytes",
                        self.config.max_bytes
                    )));
                }
                let format = Format::detect(content_type.as_deref(), file_name.as_deref())
                    .ok_or_else(|| {
                        Error::unsupported_media_type(format!(
                            "unsupported file type {}; upload PDF, HTML, Markdown, text, CSV or JSON",
                            content_type
                                .as_deref()
                                .or(file_name.as_deref())
                                .unwrap_or("(unknown)")
                        ))
                    })?;
                fallback_title = file_name.clone();
                if matches!(format, Format::Csv) {
                    new.source_kind = SourceKind::Product;
                }
                extract::extract_bounded(format, bytes, self.config.extract_timeout).await
            }
            SourceContent::Text { text } => {
                if text.trim().is_empty() {
                    return Err(Error::invalid("text must not be empty"));
                }
                new.source_kind = SourceKind::Text;
                extract::extract(Format::Markdown, text.as_bytes())
            }
            SourceContent::Faq { pairs } => {
                if pairs.is_empty() {
                    return Err(Error::invalid("faqs must hold at least one pair"));
                }
                new.source_kind = SourceKind::Faq;
                let mut out = Vec::with_capacity(pairs.len());
                for (i, (q, a)) in pairs.iter().enumerate() {
                    if q.trim().is_empty() || a.trim().is_empty() {
                        return Err(Error::invalid(format!(
                            "faqs[{i}] needs a non-empty question and answer"
                        )));
                    }
                    out.push(records::faq_record(q, a));
                }
                Ok(Extracted {
                    title: None,
                    body: Body::Records(out),
                })
            }
            SourceContent::Products { rows } => {
                if rows.is_empty() {
                    return Err(Error::invalid("products must hold at least one row"));
                }
                new.source_kind = SourceKind::Product;
                let rows: Vec<Value> = rows.into_iter().map(Value::Object).collect();
                records::json_rows(&rows).map(|r| Extracted {
                    title: None,
                    body: Body::Records(r),
                })
            }
        };
        let extracted = match extracted {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::Unprocessable => {
                if new.title.is_empty() {
                    new.title = fallback_title.unwrap_or_else(|| "Untitled".to_owned());
                }
                self.store.create_failed_document(&new, e.message()).await?;
                return self.get(org, &id).await;
            }
            Err(e) => return Err(e),
        };
        if new.title.is_empty() {
            new.title = extracted
                .title
                .clone()
                .or(fallback_title)
                .unwrap_or_else(|| default_title(&extracted));
        }
        let hash = content_hash(&extracted.canonical_text());
        if let Some(existing) = self.store.document_with_hash(org, &hash, None).await? {
            return Err(Error::conflict(format!(
                "the same content is already in the knowledge base as document {existing}"
            )));
        }
        new.content_hash = Some(hash);
        let content = serde_json::to_string(&extracted)
            .map_err(|e| Error::internal("could not store the extracted content").with_source(e))?;
        self.store.create_document(&new, Some(&content)).await?;
        self.wake.notify_one();
        self.get(org, &id).await
    }

    /// The organization's document, or 404.
    pub async fn get(&self, org: &OrganizationId, id: &DocumentId) -> Result<Document> {
        self.store
            .document(org, id)
            .await?
            .map(|s| s.document)
            .ok_or_else(|| Error::not_found(format!("document {id} not found")))
    }

    /// A page of documents, newest first.
    pub async fn list(
        &self,
        org: &OrganizationId,
        cursor: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<Document>> {
        self.store.documents(org, cursor, limit).await
    }

    /// Deletes a document and every one of its vectors and keyword entries (404 for ids of
    /// other organizations).
    #[tracing::instrument(skip_all, fields(org = %org, document = %id))]
    pub async fn delete(&self, org: &OrganizationId, id: &DocumentId) -> Result<()> {
        if !self.store.delete_document(org, id).await? {
            return Err(Error::not_found(format!("document {id} not found")));
        }
        // Retrieval stopped returning the document at the commit above; the vectors go now.
        self.retriever.delete_document(org, id).await
    }

    /// Queues a refresh of a url source.
    pub async fn refresh(&self, org: &OrganizationId, id: &DocumentId) -> Result<Document> {
        let document = self.get(org, id).await?;
        if document.source_kind != SourceKind::Url {
            return Err(Error::unprocessable(
                "only url sources can be refreshed; upload changed files as new documents",
            ));
        }
        self.store
            .enqueue_ingest_job(org, id, JobKind::Refresh)
            .await?;
        self.wake.notify_one();
        Ok(document)
    }

    /// What retrieval returns for `query`.
    pub async fn search(
        &self,
        org: &OrganizationId,
        query: &str,
        top_k: usize,
        tags: Vec<String>,
        mode: SearchMode,
    ) -> Result<Vec<ScoredPassage>> {
        if query.trim().is_empty() {
            return Err(Error::invalid("query must not be empty"));
        }
        if top_k == 0 || top_k > MAX_TOP_K {
            return Err(Error::invalid(format!(
                "top_k must be between 1 and {MAX_TOP_K}"
            )));
        }
        self.retriever
            .search(
                org,
                &SearchRequest {
                    query: query.to_owned(),
                    top_k,
                    filter: SearchFilter {
                        tags: clean_tags(&tags),
                        document_ids: None,
                    },
                    mode,
                },
            )
            .await
    }
}

fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A title from the first words of the content.
fn default_title(extracted: &Extracted) -> String {
    let text = extracted.canonical_text();
    let words: Vec<&str> = text.split_whitespace().take(8).collect();
    if words.is_empty() {
        "Untitled".to_owned()
    } else {
        words.join(" ")
    }
}
