//! The vector index on a Qdrant server (or cluster) over gRPC, for deployments with several API
//! replicas. Chosen when `BLAIGENT_QDRANT_URL` is set (e.g. `http://qdrant:6334`).
//!
//! One collection holds every organization's chunks (`BLAIGENT_QDRANT_COLLECTION`, default
//! `blaigent_chunks`); `organization_id` is a keyword payload index marked as the tenant key,
//! and every read, count and delete carries an `organization_id` condition.
//!
//! No Qdrant server can run on the development machines, so this file is exercised by the
//! conformance suite only when `BLAIGENT_TEST_QDRANT_URL` is set.

use std::collections::HashMap;

use async_trait::async_trait;
use qdrant_client::qdrant::{
    point_id::PointIdOptions, value::Kind, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    KeywordIndexParamsBuilder, ListValue, PointId, PointStruct, PointsIdsList, ScrollPointsBuilder,
    SearchPointsBuilder, Struct, UpsertPointsBuilder, Value, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};

use super::{
    chunk_from_payload, chunk_payload, fields, IndexHit, IndexPoint, ScrollPage, SearchFilter,
    StoredChunk, VectorIndex,
};
use crate::error::{Error, Result};
use crate::ids::{DocumentId, OrganizationId};

/// The collection name unless `BLAIGENT_QDRANT_COLLECTION` says otherwise.
pub const DEFAULT_COLLECTION: &str = "blaigent_chunks";

/// A Qdrant server reached over gRPC.
pub struct ServerIndex {
    client: Qdrant,
    collection: String,
}

impl std::fmt::Debug for ServerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIndex")
            .field("collection", &self.collection)
            .finish()
    }
}

fn server_error(what: &str) -> impl FnOnce(qdrant_client::QdrantError) -> Error + '_ {
    move |e| Error::unavailable(format!("the Qdrant server could not {what}")).with_source(e)
}

impl ServerIndex {
    /// Connects lazily to `url` (gRPC port, usually 6334); `api_key` for Qdrant Cloud.
    pub fn connect(url: &str, api_key: Option<String>, collection: &str) -> Result<Self> {
        let mut builder = Qdrant::from_url(url);
        if let Some(key) = api_key {
            builder = builder.api_key(key);
        }
        let client = builder.build().map_err(|e| {
            Error::internal(format!("could not set up the Qdrant client for {url}")).with_source(e)
        })?;
        Ok(Self {
            client,
            collection: collection.to_owned(),
        })
    }

    fn tenant_filter(org: &OrganizationId, filter: &SearchFilter) -> Filter {
        let mut must = vec![Condition::matches(
            fields::ORGANIZATION_ID,
            org.as_str().to_owned(),
        )];
        if !filter.tags.is_empty() {
            must.push(Condition::matches(fields::TAGS, filter.tags.clone()));
        }
        if let Some(documents) = &filter.document_ids {
            let ids: Vec<String> = documents.iter().map(|d| d.as_str().to_owned()).collect();
            must.push(Condition::matches(fields::DOCUMENT_ID, ids));
        }
        Filter::must(must)
    }

    fn document_filter(org: &OrganizationId, document: &DocumentId) -> Filter {
        Filter::must([
            Condition::matches(fields::ORGANIZATION_ID, org.as_str().to_owned()),
            Condition::matches(fields::DOCUMENT_ID, document.as_str().to_owned()),
        ])
    }

    async fn delete_by(&self, filter: Filter, what: &str) -> Result<()> {
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await
            .map_err(server_error(what))?;
        Ok(())
    }
}

fn json_to_value(json: serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => return Value { kind: None },
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            None => Kind::DoubleValue(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(Struct {
            fields: map
                .into_iter()
                .map(|(k, v)| (k, json_to_value(v)))
                .collect(),
        }),
    };
    Value { kind: Some(kind) }
}

fn value_to_json(value: Value) -> serde_json::Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => b.into(),
        Some(Kind::IntegerValue(i)) => i.into(),
        Some(Kind::DoubleValue(d)) => d.into(),
        Some(Kind::StringValue(s)) => s.into(),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.into_iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, value_to_json(v)))
                .collect(),
        ),
    }
}

fn payload_map(payload: HashMap<String, Value>) -> serde_json::Map<String, serde_json::Value> {
    payload
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect()
}

fn to_point_id(id: uuid::Uuid) -> PointId {
    PointId {
        point_id_options: Some(PointIdOptions::Uuid(id.to_string())),
    }
}

fn from_point_id(id: Option<PointId>) -> Result<uuid::Uuid> {
    match id.and_then(|p| p.point_id_options) {
        Some(PointIdOptions::Uuid(s)) => uuid::Uuid::parse_str(&s).map_err(|e| {
            Error::internal("the Qdrant server returned a malformed point id").with_source(e)
        }),
        _ => Err(Error::internal(
            "the Qdrant server returned a point without a uuid id",
        )),
    }
}

#[async_trait]
impl VectorIndex for ServerIndex {
    fn name(&self) -> &'static str {
        "qdrant-server"
    }

    async fn ensure_collection(&self, dimension: usize) -> Result<()> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(server_error("check the collection"))?;
        if !exists {
            let created = self
                .client
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection).vectors_config(
                        VectorParamsBuilder::new(dimension as u64, Distance::Cosine),
                    ),
                )
                .await;
            // Another replica may have created it in the meantime; only a still-missing
            // collection is an error.
            if let Err(e) = created {
                let now_exists = self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .unwrap_or(false);
                if !now_exists {
                    return Err(server_error("create the collection")(e));
                }
            }
        }
        let indexes = [
            (fields::ORGANIZATION_ID, true),
            (fields::DOCUMENT_ID, false),
            (fields::TAGS, false),
        ];
        for (field, is_tenant) in indexes {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        &self.collection,
                        field,
                        FieldType::Keyword,
                    )
                    .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(is_tenant))
                    .wait(true),
                )
                .await
                .map_err(server_error("create a payload index"))?;
        }
        self.client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(
                    &self.collection,
                    fields::GENERATION,
                    FieldType::Integer,
                )
                .wait(true),
            )
            .await
            .map_err(server_error("create a payload index"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(points = points.len()))]
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let points: Vec<PointStruct> = points
            .into_iter()
            .map(|p| {
                let payload: HashMap<String, Value> = match chunk_payload(&p.chunk) {
                    serde_json::Value::Object(map) => map
                        .into_iter()
                        .map(|(k, v)| (k, json_to_value(v)))
                        .collect(),
                    _ => HashMap::new(),
                };
                PointStruct::new(to_point_id(p.id), p.vector, Payload::from(payload))
            })
            .collect();
        self.client
            .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
            .await
            .map_err(server_error("store points"))?;
        Ok(())
    }

    async fn delete_document(&self, org: &OrganizationId, document: &DocumentId) -> Result<()> {
        self.delete_by(
            Self::document_filter(org, document),
            "delete a document's points",
        )
        .await
    }

    async fn delete_other_generations(
        &self,
        org: &OrganizationId,
        document: &DocumentId,
        keep: i64,
    ) -> Result<()> {
        let mut filter = Self::document_filter(org, document);
        filter.must_not = vec![Condition::matches(fields::GENERATION, keep)];
        self.delete_by(filter, "delete stale points").await
    }

    async fn delete_points(&self, ids: Vec<uuid::Uuid>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids.into_iter().map(to_point_id).collect();
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(PointsIdsList { ids })
                    .wait(true),
            )
            .await
            .map_err(server_error("delete points"))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(org = %org, top_k))]
    async fn search(
        &self,
        org: &OrganizationId,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<IndexHit>> {
        if top_k == 0 {
            return Ok(Vec::new());
        }
        let response = self
            .client
            .search_points(
                SearchPointsBuilder::new(&self.collection, vector, top_k as u64)
                    .filter(Self::tenant_filter(org, filter))
                    .with_payload(true),
            )
            .await
            .map_err(server_error("search"))?;
        response
            .result
            .into_iter()
            .map(|p| {
                Ok(IndexHit {
                    id: from_point_id(p.id)?,
                    score: p.score,
                    chunk: chunk_from_payload(&payload_map(p.payload))?,
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
        let mut request = ScrollPointsBuilder::new(&self.collection)
            .filter(Self::tenant_filter(org, &SearchFilter::default()))
            .limit(limit.max(1) as u32)
            .with_payload(true)
            .with_vectors(false);
        if let Some(after) = after {
            request = request.offset(to_point_id(after));
        }
        let response = self
            .client
            .scroll(request)
            .await
            .map_err(server_error("list points"))?;
        let chunks = response
            .result
            .into_iter()
            .map(|p| {
                Ok(StoredChunk {
                    id: from_point_id(p.id)?,
                    chunk: chunk_from_payload(&payload_map(p.payload))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = match response.next_page_offset {
            Some(id) => Some(from_point_id(Some(id))?),
            None => None,
        };
        Ok(ScrollPage { chunks, next })
    }

    async fn count(&self, org: &OrganizationId) -> Result<u64> {
        let response = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(Self::tenant_filter(org, &SearchFilter::default()))
                    .exact(true),
            )
            .await
            .map_err(server_error("count points"))?;
        Ok(response.result.map(|r| r.count).unwrap_or(0))
    }

    async fn health(&self) -> Result<()> {
        self.client
            .health_check()
            .await
            .map_err(server_error("answer a health check"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn payload_values_round_trip_through_grpc_values() {
        let json = serde_json::json!({"a": 1, "b": "x", "c": [true, null], "d": {"e": 1.5}});
        let serde_json::Value::Object(map) = json.clone() else {
            panic!("object")
        };
        let converted: HashMap<String, Value> = map
            .into_iter()
            .map(|(k, v)| (k, json_to_value(v)))
            .collect();
        assert_eq!(serde_json::Value::Object(payload_map(converted)), json);
    }

    #[tokio::test]
    async fn server_index_passes_the_conformance_suite() {
        let Ok(url) = std::env::var("BLAIGENT_TEST_QDRANT_URL") else {
            eprintln!(
                "NOTICE: BLAIGENT_TEST_QDRANT_URL is not set; the Qdrant server conformance \
                 suite was skipped (no server can run on this machine)"
            );
            return;
        };
        let collection = format!("blaigent_conformance_{}", uuid::Uuid::new_v4().simple());
        let index = ServerIndex::connect(&url, std::env::var("QDRANT_API_KEY").ok(), &collection)
            .expect("client");
        super::super::conformance::run_all(Arc::new(index)).await;
    }
}
