//! The default vector index: the Qdrant engine in-process (`qdrant-edge`), persisted under
//! `<data_dir>/qdrant`.
//!
//! The engine is synchronous, so every call runs on tokio's blocking pool. Writes go through one
//! mutex and are flushed to disk before they return: `qdrant-edge` 0.7 does not replay its
//! write-ahead log when a shard is opened, so an unflushed write would be lost by a crash, and
//! its `flush` panics if another writer holds the log at that moment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use async_trait::async_trait;
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder,
    FieldIndexOperations, Filter, JsonPath, NamedQuery, PayloadFieldSchema, PayloadSchemaType,
    PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum, ScrollRequest,
    SearchRequest, UpdateOperation, WithPayloadInterface, WithVector,
};
use serde_json::json;

use super::{
    chunk_from_payload, chunk_payload, fields, IndexHit, IndexPoint, ScrollPage, SearchFilter,
    StoredChunk, VectorIndex,
};
use crate::error::{Error, Result};
use crate::ids::{DocumentId, OrganizationId};

/// Owns the engine and makes dropping it safe: `EdgeShard`'s own `Drop` flushes and panics when
/// its folder is gone (a test's temporary folder removed first). Every write is flushed when it
/// happens, so skipping that last flush loses nothing.
struct ShardCell(Option<EdgeShard>);

impl ShardCell {
    fn get(&self) -> Result<&EdgeShard> {
        self.0
            .as_ref()
            .ok_or_else(|| Error::internal("the vector index is closed"))
    }
}

impl Drop for ShardCell {
    fn drop(&mut self) {
        if let Some(shard) = self.0.take() {
            if shard.path().exists() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(shard)));
            } else {
                std::mem::forget(shard);
            }
        }
    }
}

/// The Qdrant engine embedded in the process.
pub struct EdgeIndex {
    shard: Arc<ShardCell>,
    /// Serialises writes and flushes (see the module docs).
    write_lock: Arc<Mutex<()>>,
    dimension: usize,
    path: PathBuf,
}

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("path", &self.path)
            .field("dimension", &self.dimension)
            .finish()
    }
}

fn engine_error(what: &str) -> impl FnOnce(qdrant_edge::OperationError) -> Error + '_ {
    move |e| Error::internal(format!("the vector index could not {what}")).with_source(e)
}

impl EdgeIndex {
    /// Opens the index stored at `path` (usually `<data_dir>/qdrant`), creating it for vectors
    /// of `dimension` when the folder holds none. Blocking.
    pub fn open(path: &Path, dimension: usize) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| {
            Error::internal(format!(
                "could not create the vector index folder {}",
                path.display()
            ))
            .with_source(e)
        })?;
        let config = EdgeConfigBuilder::new()
            .vector(
                "",
                EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
            )
            .build();
        let has_data = path.join("edge_config.json").exists();
        let shard = if has_data {
            EdgeShard::load(path, None).map_err(engine_error("be opened"))?
        } else {
            EdgeShard::new(path, config).map_err(engine_error("be created"))?
        };
        let stored = shard.config().vectors.get("").map(|v| v.size);
        let shard = ShardCell(Some(shard));
        if let Some(stored) = stored {
            if stored != dimension {
                return Err(Error::internal(format!(
                    "the vector index at {} holds {stored}-dimensional vectors, the model makes \
                     {dimension}; move the folder away to re-index",
                    path.display()
                )));
            }
        }
        let index = Self {
            shard: Arc::new(shard),
            write_lock: Arc::new(Mutex::new(())),
            dimension,
            path: path.to_owned(),
        };
        index.write_blocking(|shard| {
            for (field, schema) in [
                (fields::ORGANIZATION_ID, PayloadSchemaType::Keyword),
                (fields::DOCUMENT_ID, PayloadSchemaType::Keyword),
                (fields::TAGS, PayloadSchemaType::Keyword),
                (fields::GENERATION, PayloadSchemaType::Integer),
            ] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: field.parse::<JsonPath>().map_err(|_| {
                                Error::internal(format!("'{field}' is not a payload path"))
                            })?,
                            field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                        }),
                    ))
                    .map_err(engine_error("create a payload index"))?;
            }
            Ok(())
        })?;
        Ok(index)
    }

    /// Opens the index on the blocking pool.
    pub async fn open_async(path: PathBuf, dimension: usize) -> Result<Self> {
        tokio::task::spawn_blocking(move || Self::open(&path, dimension))
            .await
            .map_err(|e| Error::internal("opening the vector index failed").with_source(e))?
    }

    /// Opens the index at `path`, or returns the instance this process already has open there:
    /// two engines on one folder would overwrite each other's files (a server restarted
    /// in-process, as the tests do, reuses the open one).
    pub async fn open_shared(path: PathBuf, dimension: usize) -> Result<Arc<Self>> {
        static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<EdgeIndex>>>> =
            LazyLock::new(|| Mutex::new(HashMap::new()));
        let key = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let existing = OPEN
            .lock()
            .map_err(|_| Error::internal("the vector index registry is poisoned"))?
            .get(&key)
            .and_then(Weak::upgrade);
        if let Some(index) = existing {
            return index.ensure_collection(dimension).await.map(|()| index);
        }
        let index = Arc::new(Self::open_async(path, dimension).await?);
        OPEN.lock()
            .map_err(|_| Error::internal("the vector index registry is poisoned"))?
            .insert(key, Arc::downgrade(&index));
        Ok(index)
    }

    /// Merges segments and builds the HNSW graph when the engine's thresholds say so. Blocking;
    /// worth calling after large ingestions.
    pub fn optimize(&self) -> Result<()> {
        self.write_blocking(|shard| {
            shard
                .optimize()
                .map(|_| ())
                .map_err(engine_error("be optimised"))
        })
    }

    /// Runs a write under the write lock and flushes it to disk.
    fn write_blocking<T>(&self, op: impl FnOnce(&EdgeShard) -> Result<T>) -> Result<T> {
        let _guard = self
            .write_lock
            .lock()
            .map_err(|_| Error::internal("the vector index write lock is poisoned"))?;
        let shard = self.shard.get()?;
        let out = op(shard)?;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shard.flush()))
            .map_err(|_| Error::internal("the vector index could not be flushed to disk"))?;
        Ok(out)
    }

    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&EdgeShard) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = Self {
            shard: self.shard.clone(),
            write_lock: self.write_lock.clone(),
            dimension: self.dimension,
            path: self.path.clone(),
        };
        tokio::task::spawn_blocking(move || this.write_blocking(op))
            .await
            .map_err(|e| Error::internal("a vector index write failed").with_source(e))?
    }

    async fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&EdgeShard) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shard = self.shard.clone();
        tokio::task::spawn_blocking(move || op(shard.get()?))
            .await
            .map_err(|e| Error::internal("a vector index read failed").with_source(e))?
    }
}

/// Builds an engine filter from the Qdrant JSON filter syntax (the same shape the server takes).
fn filter(value: serde_json::Value) -> Result<Filter> {
    serde_json::from_value(value)
        .map_err(|e| Error::internal("could not build a vector index filter").with_source(e))
}

fn tenant_conditions(org: &OrganizationId, filter: &SearchFilter) -> Vec<serde_json::Value> {
    let mut must = vec![json!({"key": fields::ORGANIZATION_ID, "match": {"value": org.as_str()}})];
    if !filter.tags.is_empty() {
        must.push(json!({"key": fields::TAGS, "match": {"any": filter.tags}}));
    }
    if let Some(documents) = &filter.document_ids {
        let ids: Vec<&str> = documents.iter().map(DocumentId::as_str).collect();
        must.push(json!({"key": fields::DOCUMENT_ID, "match": {"any": ids}}));
    }
    must
}

fn uuid_of(id: &PointId) -> Result<uuid::Uuid> {
    match id {
        PointId::Uuid(u) => Ok(uuid::Uuid::from_bytes(*u.as_bytes())),
        PointId::NumId(n) => Err(Error::internal(format!(
            "the vector index holds a point with a numeric id {n}; Blaigent writes uuids only"
        ))),
    }
}

fn point_id(id: uuid::Uuid) -> PointId {
    PointId::Uuid(qdrant_edge::external::uuid::Uuid::from_bytes(
        *id.as_bytes(),
    ))
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    fn name(&self) -> &'static str {
        "qdrant-edge"
    }

    async fn ensure_collection(&self, dimension: usize) -> Result<()> {
        // The shard is created with its dimension in `open`; only a mismatch is an error here.
        if dimension != self.dimension {
            return Err(Error::internal(format!(
                "the vector index was opened for {} dimensions, not {dimension}",
                self.dimension
            )));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(points = points.len()))]
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let dimension = self.dimension;
        if let Some(bad) = points.iter().find(|p| p.vector.len() != dimension) {
            return Err(Error::internal(format!(
                "a vector of {} dimensions cannot go into a {dimension}-dimensional index",
                bad.vector.len()
            )));
        }
        let persisted = points
            .into_iter()
            .map(|p| PointStruct::new(point_id(p.id), p.vector, chunk_payload(&p.chunk)).into())
            .collect();
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(persisted)),
                ))
                .map_err(engine_error("store points"))
        })
        .await
    }

    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        let by = filter(json!({"must": [
            {"key": fields::ORGANIZATION_ID, "match": {"value": org.as_str()}},
            {"key": fields::DOCUMENT_ID, "match": {"value": document.as_str()}},
        ]}))?;
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePointsByFilter(by),
                ))
                .map_err(engine_error("delete a document's points"))
        })
        .await
    }

    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        let by = filter(json!({
            "must": [
                {"key": fields::ORGANIZATION_ID, "match": {"value": org.as_str()}},
                {"key": fields::DOCUMENT_ID, "match": {"value": document.as_str()}},
            ],
            "must_not": [{"key": fields::GENERATION, "match": {"value": keep}}],
        }))?;
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePointsByFilter(by),
                ))
                .map_err(engine_error("delete stale points"))
        })
        .await
    }

    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.into_iter().map(point_id).collect();
        self.write(move |shard| {
            shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints { ids },
                ))
                .map_err(engine_error("delete points"))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org = %org, top_k))]
    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        search_filter: &SearchFilter,
    ) -> Result<Vec<IndexHit>> {
        if top_k == 0 {
            return Ok(Vec::new());
        }
        let by = filter(json!({"must": tenant_conditions(org, search_filter)}))?;
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery::default_dense(vector)),
            filter: Some(by),
            params: None,
            limit: top_k,
            offset: 0,
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: Some(WithVector::Bool(false)),
            score_threshold: None,
        };
        let points = self
            .read(move |shard| shard.search(request).map_err(engine_error("search")))
            .await?;
        points
            .into_iter()
            .map(|p| {
                let payload = p.payload.unwrap_or_default();
                Ok(IndexHit {
                    id: uuid_of(&p.id)?,
                    score: p.score,
                    chunk: chunk_from_payload(&payload.0)?,
                })
            })
            .collect()
    }

    async fn scroll(
        &self,
        org: &OrganizationId,
        after: Option<uuid::Uuid>,
        limit: usize,
    ) -> Result<ScrollPage> {
        let by = filter(json!({"must": tenant_conditions(org, &SearchFilter::default())}))?;
        let request = ScrollRequest {
            offset: after.map(point_id),
            limit: Some(limit.max(1)),
            filter: Some(by),
            with_payload: Some(WithPayloadInterface::Bool(true)),
            with_vector: WithVector::Bool(false),
            order_by: None,
        };
        let (records, next) = self
            .read(move |shard| shard.scroll(request).map_err(engine_error("list points")))
            .await?;
        let chunks = records
            .into_iter()
            .map(|r| {
                let payload = r.payload.unwrap_or_default();
                Ok(StoredChunk {
                    id: uuid_of(&r.id)?,
                    chunk: chunk_from_payload(&payload.0)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ScrollPage {
            chunks,
            next: next.as_ref().map(uuid_of).transpose()?,
        })
    }

    async fn count(&self, org: &OrganizationId) -> Result<u64> {
        let by = filter(json!({"must": tenant_conditions(org, &SearchFilter::default())}))?;
        let request = CountRequest {
            filter: Some(by),
            exact: true,
        };
        let n = self
            .read(move |shard| shard.count(request).map_err(engine_error("count points")))
            .await?;
        Ok(n as u64)
    }

    async fn health(&self) -> Result<()> {
        self.read(|shard| {
            let _ = shard.info();
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_index_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("qdrant");
        let index = EdgeIndex::open_async(path.clone(), super::super::conformance::DIMENSION)
            .await
            .expect("open");
        let index: Arc<dyn VectorIndex> = Arc::new(index);
        super::super::conformance::run_all(index.clone()).await;

        // Persistence: what the suite left behind is still there after reopening.
        let org = super::super::conformance::persistent_org();
        let before = index.count(&org).await.expect("count");
        assert!(
            before > 0,
            "the suite leaves points behind to check persistence"
        );
        drop(index);
        let reopened = EdgeIndex::open_async(path, super::super::conformance::DIMENSION)
            .await
            .expect("reopen");
        assert_eq!(reopened.count(&org).await.expect("count"), before);
    }

    #[tokio::test]
    async fn reopening_with_another_dimension_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("qdrant");
        drop(EdgeIndex::open_async(path.clone(), 8).await.expect("open"));
        let err = EdgeIndex::open_async(path, 16).await.expect_err("mismatch");
        assert!(err.message().contains("8-dimensional"), "{err:?}");
    }
}
