//! The knowledge base: `POST /api/v1/dashboard/knowledge` (a multipart file, or JSON: a URL to
//! fetch or crawl, inline text, FAQ pairs or product rows), listing, reading, deleting and
//! refreshing documents, and `POST /api/v1/dashboard/knowledge/search` to see what retrieval
//! returns for a query.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use engine::ids::DocumentId;
use engine::knowledge::{Document, ScoredPassage, SearchMode};
use engine::Error;
use ingest::fetch::CrawlOptions;
use ingest::{NewSource, SourceContent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, AuthOrg};
use crate::state::AppState;
use crate::wire::timestamp;

/// Routes of this module. Uploads may be larger than the server's default body limit: these
/// routes accept the configured upload size (`BLAIGENT_KNOWLEDGE_MAX_BYTES`, 25 MiB by default).
pub fn router() -> Router<AppState> {
    let max_upload_bytes = ingest::KnowledgeConfig::from_env()
        .map(|c| c.max_bytes)
        .unwrap_or(ingest::config::DEFAULT_MAX_BYTES);
    Router::new()
        .route(
            "/api/v1/dashboard/knowledge",
            post(add_knowledge).get(list_knowledge),
        )
        .route("/api/v1/dashboard/knowledge/search", post(search_knowledge))
        .route(
            "/api/v1/dashboard/knowledge/{id}",
            get(get_knowledge).delete(delete_knowledge),
        )
        .route(
            "/api/v1/dashboard/knowledge/{id}/refresh",
            post(refresh_knowledge),
        )
        // Room for the multipart envelope around a file of the largest accepted size, so an
        // oversized file is refused by our own check with a clear message.
        .layer(axum::extract::DefaultBodyLimit::max(
            max_upload_bytes.saturating_add(1024 * 1024),
        ))
}

/// OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(
    paths(
        add_knowledge,
        list_knowledge,
        get_knowledge,
        delete_knowledge,
        refresh_knowledge,
        search_knowledge
    ),
    components(schemas(
        AddKnowledgeRequest,
        CrawlRequest,
        FaqPair,
        DocumentBody,
        DocumentListResponse,
        SearchKnowledgeRequest,
        PassageBody,
        SearchKnowledgeResponse
    ))
)]
pub struct ApiDoc;

/// Crawl options of a URL source.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CrawlRequest {
    /// Pages to fetch at most (default 1, at most 500). A `sitemap.xml` URL fetches the pages it lists.
    pub max_pages: Option<usize>,
    /// Stay on the start URL's host (default true).
    pub same_site: Option<bool>,
}

/// A question and its answer.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FaqPair {
    pub question: String,
    pub answer: String,
}

/// The JSON forms of a new source; exactly one of `url`, `text`, `faqs`, `products`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKnowledgeRequest {
    /// A page, site or sitemap to fetch (refreshable).
    pub url: Option<String>,
    pub crawl: Option<CrawlRequest>,
    /// Re-fetch a URL source on this schedule (at least 60 seconds).
    pub refresh_interval_secs: Option<i64>,
    /// Inline text (Markdown headings are kept).
    pub text: Option<String>,
    /// Question/answer pairs, one chunk each.
    pub faqs: Option<Vec<FaqPair>>,
    /// Product rows (objects of fields), one chunk each; fields are searchable and kept as metadata.
    #[schema(value_type = Option<Vec<Object>>)]
    pub products: Option<Vec<Map<String, Value>>>,
    pub title: Option<String>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A knowledge-base document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentBody {
    pub id: String,
    pub title: String,
    /// `file`, `url`, `text`, `faq` or `product`.
    pub source: String,
    pub url: Option<String>,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Why ingestion (or the last refresh) failed.
    pub failure_reason: Option<String>,
    pub chunk_count: i64,
    /// sha256 of the normalised text.
    pub content_hash: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub refresh_interval_secs: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Document> for DocumentBody {
    fn from(d: Document) -> Self {
        DocumentBody {
            id: d.id.into_string(),
            title: d.title,
            source: d.source_kind.as_str().to_owned(),
            url: d.url,
            status: d.status.as_str().to_owned(),
            failure_reason: d.failure_reason,
            chunk_count: d.chunk_count,
            content_hash: d.content_hash,
            tags: d.tags,
            metadata: d.metadata,
            refresh_interval_secs: d.refresh_interval_secs,
            created_at: timestamp(d.created_at),
            updated_at: timestamp(d.updated_at),
        }
    }
}

/// One page of documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentListResponse {
    pub documents: Vec<DocumentBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query of the document listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A retrieval query.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchKnowledgeRequest {
    pub query: String,
    /// Passages to return, 1 to 50 (default 5).
    pub top_k: Option<usize>,
    /// Only passages with at least one of these tags.
    pub tags: Option<Vec<String>>,
    /// `hybrid` (default), `vector` or `keyword`.
    pub mode: Option<String>,
}

/// A retrieved passage.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassageBody {
    pub document_id: String,
    pub chunk_index: i64,
    pub title: String,
    pub url: Option<String>,
    pub heading_path: Vec<String>,
    pub text: String,
    /// The ranking score (reciprocal-rank fusion in hybrid mode).
    pub score: f32,
    /// Cosine similarity to the query, when the vector side saw the passage.
    pub vector_score: Option<f32>,
    /// BM25 score, when the keyword side saw the passage.
    pub keyword_score: Option<f32>,
}

impl From<ScoredPassage> for PassageBody {
    fn from(p: ScoredPassage) -> Self {
        PassageBody {
            document_id: p.document_id.into_string(),
            chunk_index: p.chunk_index,
            title: p.title,
            url: p.url,
            heading_path: p.heading_path,
            text: p.text,
            score: p.score,
            vector_score: p.vector_score,
            keyword_score: p.keyword_score,
        }
    }
}

/// What retrieval returned (empty when the query is unrelated to the knowledge base).
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchKnowledgeResponse {
    pub passages: Vec<PassageBody>,
}

/// Adds a document: a multipart upload (`file`, optional `title`, `tags` (comma-separated or a
/// JSON array), `metadata` (JSON object)) or a JSON body. Returns at once; ingestion runs in
/// the background (poll the document until `ready` or `failed`).
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/knowledge",
    tag = "knowledge",
    request_body(content = AddKnowledgeRequest, description = "JSON source, or multipart/form-data with a `file` field"),
    responses(
        (status = 201, description = "Accepted; `status` is `processing` (or `failed` for an unreadable file)", body = DocumentBody),
        (status = 400, description = "Empty file or bad input", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 409, description = "The same content is already in the knowledge base (its id is in `detail`)", body = ErrorBody),
        (status = 413, description = "Larger than the configured limit (25 MiB by default)", body = ErrorBody),
        (status = 415, description = "Unsupported file type", body = ErrorBody),
        (status = 422, description = "Invalid source (URL refused, fields missing)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn add_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    request: Request,
) -> ApiResult<(StatusCode, Json<DocumentBody>)> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let source = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| {
                ApiError(Error::invalid(format!(
                    "the multipart body is invalid: {e}"
                )))
            })?;
        multipart_source(multipart).await?
    } else {
        let ApiJson(body) = ApiJson::<AddKnowledgeRequest>::from_request(request, &state).await?;
        json_source(body)?
    };
    let document = state.knowledge.add(&auth.organization_id, source).await?;
    Ok((StatusCode::CREATED, Json(document.into())))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::too_large(
            "the upload is larger than this server accepts",
        ))
    } else {
        ApiError(Error::invalid(format!(
            "the multipart body is invalid: {e}"
        )))
    }
}

/// Most parts an upload may have: four are meaningful, the rest is slack for clients that add
/// their own; thousands of tiny parts would only cost parsing time.
const MAX_UPLOAD_PARTS: usize = 16;

/// Most bytes a part's headers may hold together: a name, a file name and a content type fit
/// in a fraction of this; megabytes of headers (a giant file name) are abuse, not a title.
const MAX_PART_HEADER_BYTES: usize = 8 * 1024;

/// Reads an upload's fields (`file`, `title`, `tags`, `metadata`) into a source. Public so the
/// fuzz harness (`fuzz/src/lib.rs`) parses uploads exactly as this route does.
pub async fn multipart_source(mut multipart: Multipart) -> ApiResult<NewSource> {
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    let mut title = None;
    let mut tags = Vec::new();
    let mut metadata = Value::Null;
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        let refusal = if parts > MAX_UPLOAD_PARTS {
            Some(format!(
                "the multipart body has more than {MAX_UPLOAD_PARTS} parts; send `file` and \
                 optionally `title`, `tags` and `metadata`"
            ))
        } else if header_bytes(field.headers()) > MAX_PART_HEADER_BYTES {
            Some(format!(
                "the multipart body is invalid: a part's headers are longer than \
                 {MAX_PART_HEADER_BYTES} bytes"
            ))
        } else {
            None
        };
        if let Some(detail) = refusal {
            // The parser refuses to move on while a field it handed out lives, so the field
            // goes first; then the rest is read and dropped (see `drain`).
            drop(field);
            drain(&mut multipart).await;
            return Err(ApiError(Error::invalid(detail)));
        }
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((bytes, file_name, content_type));
            }
            "title" => title = Some(field.text().await.map_err(multipart_error)?),
            "tags" => {
                let raw = field.text().await.map_err(multipart_error)?;
                tags = match serde_json::from_str::<Vec<String>>(&raw) {
                    Ok(list) => list,
                    Err(_) => raw.split(',').map(str::to_owned).collect(),
                };
            }
            "metadata" => {
                let raw = field.text().await.map_err(multipart_error)?;
                metadata = serde_json::from_str(&raw)
                    .map_err(|_| ApiError(Error::invalid("metadata must be a JSON object")))?;
            }
            _ => {}
        }
    }
    let (bytes, file_name, content_type) =
        file.ok_or_else(|| ApiError(Error::invalid("the multipart body has no `file` field")))?;
    Ok(NewSource {
        content: SourceContent::File {
            bytes: bytes.to_vec(),
            file_name,
            content_type,
        },
        title,
        tags,
        metadata,
        refresh_interval_secs: None,
    })
}

/// Total size of a part's header names and values.
fn header_bytes(headers: &header::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// Reads the rest of a refused upload and drops it, so a client still sending gets the 400
/// instead of a broken pipe (the server would otherwise close a connection with unread bytes).
/// The route's body limit and the request timeout bound what this reads; parse errors end it.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(_)) = multipart.next_field().await {}
}

fn json_source(body: AddKnowledgeRequest) -> ApiResult<NewSource> {
    let given = [
        body.url.is_some(),
        body.text.is_some(),
        body.faqs.is_some(),
        body.products.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(ApiError(Error::unprocessable(
            "give exactly one of url, text, faqs or products (or upload a file as multipart)",
        )));
    }
    let content = if let Some(url) = body.url {
        let crawl = body.crawl.unwrap_or_default();
        SourceContent::Url {
            url,
            crawl: CrawlOptions {
                max_pages: crawl.max_pages.unwrap_or(1),
                same_site: crawl.same_site.unwrap_or(true),
            },
        }
    } else if let Some(text) = body.text {
        SourceContent::Text { text }
    } else if let Some(faqs) = body.faqs {
        SourceContent::Faq {
            pairs: faqs.into_iter().map(|p| (p.question, p.answer)).collect(),
        }
    } else {
        SourceContent::Products {
            rows: body.products.unwrap_or_default(),
        }
    };
    Ok(NewSource {
        content,
        title: body.title,
        tags: body.tags.unwrap_or_default(),
        metadata: body.metadata.unwrap_or(Value::Null),
        refresh_interval_secs: body.refresh_interval_secs,
    })
}

/// Lists the organization's documents, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/knowledge",
    tag = "knowledge",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = DocumentListResponse),
        (status = 400, description = "Bad cursor", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn list_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<DocumentListResponse>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError(Error::unprocessable(
            "limit must be between 1 and 100",
        )));
    }
    let cursor = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut documents = state
        .knowledge
        .list(&auth.organization_id, cursor, limit + 1)
        .await?;
    let next_cursor = if documents.len() as i64 > limit {
        documents.truncate(limit as usize);
        documents
            .last()
            .map(|d| encode_cursor(d.created_at, d.id.as_str()))
    } else {
        None
    };
    Ok(Json(DocumentListResponse {
        documents: documents.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

fn encode_cursor(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

fn decode_cursor(raw: &str) -> Result<(i64, String), ApiError> {
    let invalid = || {
        ApiError(Error::invalid(
            "cursor: not a cursor returned by this endpoint",
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((at.parse().map_err(|_| invalid())?, id.to_owned()))
}

fn document_id(raw: &str) -> Result<DocumentId, ApiError> {
    // A malformed id cannot name a document of this organization: 404 like any other.
    DocumentId::parse(raw)
        .map_err(|_| ApiError(Error::not_found(format!("document {raw} not found"))))
}

/// Returns one document.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard/knowledge/{id}",
    tag = "knowledge",
    params(("id" = String, Path, description = "Document id (doc_...)")),
    responses(
        (status = 200, description = "The document", body = DocumentBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such document in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn get_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DocumentBody>> {
    let document = state
        .knowledge
        .get(&auth.organization_id, &document_id(&id)?)
        .await?;
    Ok(Json(document.into()))
}

/// Deletes a document and all its vectors; it is never retrieved again.
#[utoipa::path(
    delete,
    path = "/api/v1/dashboard/knowledge/{id}",
    tag = "knowledge",
    params(("id" = String, Path, description = "Document id (doc_...)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such document in this organization", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state
        .knowledge
        .delete(&auth.organization_id, &document_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-fetches a URL source in the background: unchanged content is skipped, changed content
/// replaces the old chunks atomically.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/knowledge/{id}/refresh",
    tag = "knowledge",
    params(("id" = String, Path, description = "Document id (doc_...)")),
    responses(
        (status = 202, description = "Refresh queued", body = DocumentBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 404, description = "No such document in this organization", body = ErrorBody),
        (status = 422, description = "Not a URL source", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn refresh_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<DocumentBody>)> {
    let document = state
        .knowledge
        .refresh(&auth.organization_id, &document_id(&id)?)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(document.into())))
}

/// Shows what retrieval returns for a query, with scores.
#[utoipa::path(
    post,
    path = "/api/v1/dashboard/knowledge/search",
    tag = "knowledge",
    request_body = SearchKnowledgeRequest,
    responses(
        (status = 200, description = "Passages, best first", body = SearchKnowledgeResponse),
        (status = 400, description = "Empty query or top_k out of range", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 422, description = "Unknown mode", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn search_knowledge(
    State(state): State<AppState>,
    auth: AuthOrg,
    ApiJson(body): ApiJson<SearchKnowledgeRequest>,
) -> ApiResult<Json<SearchKnowledgeResponse>> {
    let mode = match body.mode.as_deref() {
        None => SearchMode::Hybrid,
        Some(raw) => SearchMode::parse(raw).ok_or_else(|| {
            ApiError(Error::unprocessable(
                "mode must be hybrid, vector or keyword",
            ))
        })?,
    };
    let passages = state
        .knowledge
        .search(
            &auth.organization_id,
            &body.query,
            body.top_k.unwrap_or(5),
            body.tags.unwrap_or_default(),
            mode,
        )
        .await?;
    Ok(Json(SearchKnowledgeResponse {
        passages: passages.into_iter().map(Into::into).collect(),
    }))
}
