//! Vector memory on a Qdrant server, over its gRPC API (default port 6334).
//!
//! **Layout.** One collection (`memory.collection`) holds every agent's items: one unnamed
//! dense vector of `memory.dims` per point, Cosine distance, and the item as payload (`id`,
//! `agent_id`, `kind`, `text`, `ts`, `tags`). `agent_id` and `kind` carry keyword payload
//! indexes, since every recall filters on them. The collection and its indexes are created
//! at open when missing; an existing collection with another vector size or distance is
//! refused at open, naming both, rather than failing on the first write.
//!
//! **Point ids.** Qdrant accepts only unsigned integers and UUIDs. Item ids are UUIDv7 text
//! and are used as they are; any other id maps to the UUIDv5 of its text (deterministic, so
//! replace and delete find it again). The payload keeps the original id either way, and it
//! is what comes back.
//!
//! **Vector space.** The collection's metadata (Qdrant ≥ 1.16 keeps arbitrary JSON per
//! collection) records the embedder as `aios_embedder` and the length as `aios_dims`; an
//! open applies [`check_space`] to it, so a collection built by another embedder is refused
//! with [`MemoryError::SpaceMismatch`]. A server older than 1.16 keeps no metadata: the open
//! warns once per process and goes on with the space unchecked (only the length is).
//!
//! **Scan order.** [`VectorMemory::scan`] scrolls in Qdrant's point id order. For the UUID
//! ids the runtime makes, the point id is the item id, so this is the id order; an item
//! whose id is not a UUID sorts by its UUIDv5 instead. The cursor is always the last item's
//! id, so a pass still sees every item once.
//!
//! **Consistency.** Writes wait for Qdrant to apply them (`wait: true`), so a search right
//! after an upsert sees it, as with the local backend. `delete` counts the ids that exist
//! before deleting, so its answer matches the contract's "how many existed" — two calls, not
//! one atomic step, so a concurrent writer can make the count stale.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, PayloadSchemaType, PointId,
    PointStruct, PointsIdsList, Query, QueryPointsBuilder, ScrollPointsBuilder,
    UpdateCollectionBuilder, UpsertPointsBuilder, VectorParamsBuilder, value::Kind,
};
use qdrant_client::{Payload, Qdrant, QdrantError};

use super::{
    MemoryError, MemoryFilter, MemoryItem, ScoredItem, SpaceCheck, VectorMemory, VectorSpace,
    check_space,
};

/// Collection metadata keys recording the [`VectorSpace`].
const EMBEDDER_KEY: &str = "aios_embedder";
const DIMS_KEY: &str = "aios_dims";
/// The first Qdrant that keeps collection metadata.
const METADATA_SINCE: (u64, u64) = (1, 16);

/// Points per upsert or delete call: big enough to amortise a round trip, small enough to
/// stay far below gRPC's message limit at thousands of dimensions.
pub const BATCH: usize = 256;

/// Per-request deadline once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening waits for the server's health check: an unreachable Qdrant should fail
/// the start quickly, not after the request timeout.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// Payload fields with a keyword index.
const INDEXED_FIELDS: [&str; 2] = ["agent_id", "kind"];

/// Namespace for the UUIDv5 of ids that are not UUIDs (fixed forever: changing it would
/// orphan every such point).
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1f_0c3e_5b7d_4e21_9c4a_2f8e_d1b3_a605);

/// What a health check learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The server's version string.
    pub version: String,
    /// Round trip of the health check.
    pub latency: Duration,
}

/// A Qdrant collection as aios uses it; `Send + Sync`, cheap to share behind an `Arc`.
pub struct QdrantMemory {
    client: Qdrant,
    url: String,
    collection: String,
    dims: usize,
    space: VectorSpace,
}

impl QdrantMemory {
    /// Connect to `url`, check the server answers within [`OPEN_TIMEOUT`], then make sure
    /// `collection` exists with `space.dims`-long Cosine vectors and its payload indexes,
    /// and that it was built in `space` (recording it in a new or empty collection; see the
    /// module docs for servers older than 1.16, which keep no record).
    pub async fn open(
        url: &str,
        collection: &str,
        space: &VectorSpace,
    ) -> Result<Self, MemoryError> {
        let dims = space.dims;
        if dims == 0 {
            return Err(MemoryError::Storage(
                "vector memory needs at least 1 dimension".into(),
            ));
        }
        if collection.is_empty() {
            return Err(MemoryError::Storage(
                "memory.collection is empty: name the Qdrant collection".into(),
            ));
        }
        let client = connect(url)?;
        let health = health_of(&client, url, OPEN_TIMEOUT).await?;
        let memory = Self {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
            dims,
            space: space.clone(),
        };
        let check = keeps_metadata(&health.version);
        if !check {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    url = %memory.url,
                    version = %health.version,
                    "qdrant older than 1.16 keeps no collection metadata: the embedder a \
                     collection was built with is not recorded or checked (its vector length is)"
                );
            });
        }
        memory.prepare_collection(check).await?;
        Ok(memory)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    fn error(&self, doing: &str, e: QdrantError) -> MemoryError {
        MemoryError::Storage(format!(
            "qdrant at {}, collection `{}`: {doing}: {}",
            self.url,
            self.collection,
            describe(&e)
        ))
    }

    /// Create the collection and its indexes when missing; refuse one made for other vectors
    /// (and, when the server `keeps_metadata`, by another embedder) before changing anything.
    async fn prepare_collection(&self, keeps_metadata: bool) -> Result<(), MemoryError> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(|e| self.error("checking the collection", e))?;
        if !exists {
            let mut create = CreateCollectionBuilder::new(&self.collection)
                .vectors_config(VectorParamsBuilder::new(self.dims as u64, Distance::Cosine));
            if self.space.is_recorded() {
                create = create.metadata(space_metadata(&self.space));
            }
            let created = self.client.create_collection(create).await;
            if let Err(e) = created {
                // Another node may have created it a moment ago; that is fine.
                let now = self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .unwrap_or(false);
                if !now {
                    return Err(self.error("creating the collection", e));
                }
            } else {
                tracing::info!(url = %self.url, collection = %self.collection, dims = self.dims, "created the Qdrant collection");
            }
        }

        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(|e| self.error("reading the collection's configuration", e))?
            .result
            .ok_or_else(|| {
                MemoryError::Storage(format!(
                    "qdrant at {}: collection `{}` came back without its configuration",
                    self.url, self.collection
                ))
            })?;
        let vectors = info
            .config
            .as_ref()
            .and_then(|c| c.params.as_ref())
            .and_then(|p| p.vectors_config.as_ref())
            .and_then(|v| v.config.as_ref());
        match vectors {
            Some(VectorsConfigKind::Params(params)) => {
                if params.size != self.dims as u64 {
                    return Err(MemoryError::Mismatch(format!(
                        "qdrant collection `{}` at {} holds {}-dimensional vectors, but memory.dims is {}: \
                         set memory.dims to {} or memory.collection to another name",
                        self.collection, self.url, params.size, self.dims, params.size
                    )));
                }
                if params.distance != Distance::Cosine as i32 {
                    let name = Distance::try_from(params.distance)
                        .map(|d| d.as_str_name())
                        .unwrap_or("an unknown distance");
                    return Err(MemoryError::Mismatch(format!(
                        "qdrant collection `{}` at {} compares vectors by {name}, aios needs Cosine: \
                         set memory.collection to another name",
                        self.collection, self.url
                    )));
                }
            }
            Some(VectorsConfigKind::ParamsMap(_)) => {
                return Err(MemoryError::Mismatch(format!(
                    "qdrant collection `{}` at {} has named vectors, aios needs one unnamed vector: \
                     set memory.collection to another name",
                    self.collection, self.url
                )));
            }
            None => {
                return Err(MemoryError::Storage(format!(
                    "qdrant at {}: collection `{}` reports no vector configuration",
                    self.url, self.collection
                )));
            }
        }

        if keeps_metadata {
            self.check_space(
                &info
                    .config
                    .as_ref()
                    .map(|c| c.metadata.clone())
                    .unwrap_or_default(),
            )
            .await?;
        }

        for field in INDEXED_FIELDS {
            let indexed = info
                .payload_schema
                .get(field)
                .is_some_and(|s| s.data_type == PayloadSchemaType::Keyword as i32);
            if indexed {
                continue;
            }
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(
                        &self.collection,
                        field,
                        FieldType::Keyword,
                    )
                    .wait(true),
                )
                .await
                .map_err(|e| self.error(&format!("creating the `{field}` index"), e))?;
        }
        Ok(())
    }

    /// Apply [`check_space`] to what the collection's metadata records, and record the
    /// space in a collection that has none and holds nothing.
    async fn check_space(
        &self,
        metadata: &std::collections::HashMap<String, qdrant_client::qdrant::Value>,
    ) -> Result<(), MemoryError> {
        let recorded = recorded_space(metadata);
        let empty = self.count(&MemoryFilter::default()).await? == 0;
        let store = format!("qdrant collection `{}` at {}", self.collection, self.url);
        match check_space(
            &store,
            recorded.as_ref(),
            Some(self.dims),
            empty,
            &self.space,
        )? {
            SpaceCheck::Keep => Ok(()),
            SpaceCheck::Record if !self.space.is_recorded() => Ok(()),
            SpaceCheck::Record => {
                self.client
                    .update_collection(
                        UpdateCollectionBuilder::new(&self.collection)
                            .metadata(space_metadata(&self.space)),
                    )
                    .await
                    .map_err(|e| self.error("recording the embedder in the metadata", e))?;
                Ok(())
            }
        }
    }

    fn check_vector(&self, vector: &[f32], what: &str) -> Result<(), MemoryError> {
        super::check_vector(self.dims, vector, what)
    }

    fn payload_error(&self, e: &QdrantError) -> MemoryError {
        MemoryError::Storage(format!(
            "qdrant at {}, collection `{}`: a point's payload is not a memory item: {}",
            self.url,
            self.collection,
            describe(e)
        ))
    }

    fn point(&self, item: MemoryItem, vector: Vec<f32>) -> Result<PointStruct, MemoryError> {
        let id = point_id(&item.id);
        let json = serde_json::to_value(&item)
            .map_err(|e| MemoryError::Storage(format!("item {}: {e}", item.id)))?;
        let payload = Payload::try_from(json)
            .map_err(|e| MemoryError::Storage(format!("item {}: {e}", item.id)))?;
        Ok(PointStruct::new(id, vector, payload))
    }
}

#[async_trait]
impl VectorMemory for QdrantMemory {
    fn name(&self) -> &'static str {
        "qdrant"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        // Every vector is checked before anything is sent, so a bad one writes nothing.
        for (item, vector) in &items {
            self.check_vector(vector, &item.id)?;
        }
        let mut points = Vec::with_capacity(items.len());
        for (item, vector) in items {
            points.push(self.point(item, vector)?);
        }
        while !points.is_empty() {
            let rest = points.split_off(points.len().min(BATCH));
            let batch = std::mem::replace(&mut points, rest);
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, batch).wait(true))
                .await
                .map_err(|e| self.error("upserting points", e))?;
        }
        Ok(())
    }

    async fn search(
        &self,
        vector: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError> {
        self.check_vector(vector, "the query")?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut query = QueryPointsBuilder::new(&self.collection)
            .query(Query::new_nearest(vector.to_vec()))
            .limit(k as u64)
            .with_payload(true);
        if let Some(f) = qdrant_filter(filter) {
            query = query.filter(f);
        }
        let found = self
            .client
            .query(query)
            .await
            .map_err(|e| self.error("searching", e))?;
        found
            .result
            .into_iter()
            .map(|point| {
                let item = Payload::from(point.payload)
                    .deserialize::<MemoryItem>()
                    .map_err(|e| self.payload_error(&e))?;
                Ok(ScoredItem {
                    item,
                    score: point.score,
                })
            })
            .collect()
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let mut seen = HashSet::new();
        let points: Vec<PointId> = ids
            .iter()
            .map(|id| point_uuid(id))
            .filter(|u| seen.insert(u.clone()))
            .map(PointId::from)
            .collect();
        let mut existed = 0;
        for batch in points.chunks(BATCH) {
            let found = self
                .client
                .get_points(
                    GetPointsBuilder::new(&self.collection, batch.to_vec())
                        .with_payload(false)
                        .with_vectors(false),
                )
                .await
                .map_err(|e| self.error("looking up points to delete", e))?;
            if found.result.is_empty() {
                continue;
            }
            existed += found.result.len();
            self.client
                .delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(PointsIdsList {
                            ids: batch.to_vec(),
                        })
                        .wait(true),
                )
                .await
                .map_err(|e| self.error("deleting points", e))?;
        }
        Ok(existed)
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        let mut request = CountPointsBuilder::new(&self.collection).exact(true);
        if let Some(f) = qdrant_filter(filter) {
            request = request.filter(f);
        }
        let counted = self
            .client
            .count(request)
            .await
            .map_err(|e| self.error("counting points", e))?;
        Ok(counted.result.map_or(0, |r| r.count))
    }

    fn space(&self) -> VectorSpace {
        self.space.clone()
    }

    async fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The offset point itself comes back first (Qdrant's offset is inclusive): ask for
        // one more and drop it.
        let start = after.map(point_uuid);
        let ask = u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX);
        let mut request = ScrollPointsBuilder::new(&self.collection)
            .limit(ask)
            .with_payload(true)
            .with_vectors(false);
        if let Some(start) = &start {
            request = request.offset(PointId::from(start.clone()));
        }
        if let Some(f) = qdrant_filter(filter) {
            request = request.filter(f);
        }
        let page = self
            .client
            .scroll(request)
            .await
            .map_err(|e| self.error("scrolling points", e))?;
        let mut items = Vec::with_capacity(limit);
        for point in page.result {
            let item = Payload::from(point.payload)
                .deserialize::<MemoryItem>()
                .map_err(|e| self.payload_error(&e))?;
            if start.as_deref().is_some_and(|s| point_uuid(&item.id) == s) {
                continue;
            }
            items.push(item);
            if items.len() == limit {
                break;
            }
        }
        Ok(items)
    }

    async fn destroy(&self) -> Result<(), MemoryError> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map_err(|e| self.error("deleting the collection", e))?;
        Ok(())
    }
}

/// The collection metadata that records `space`.
fn space_metadata(space: &VectorSpace) -> std::collections::HashMap<String, serde_json::Value> {
    std::collections::HashMap::from([
        (EMBEDDER_KEY.to_string(), serde_json::json!(space.embedder)),
        (DIMS_KEY.to_string(), serde_json::json!(space.dims)),
    ])
}

/// The space a collection's metadata records, if it records one (the length comes from
/// the vector configuration, checked before this).
fn recorded_space(
    metadata: &std::collections::HashMap<String, qdrant_client::qdrant::Value>,
) -> Option<VectorSpace> {
    let name = match metadata.get(EMBEDDER_KEY)?.kind.as_ref()? {
        Kind::StringValue(s) if s != VectorSpace::UNRECORDED => s.clone(),
        _ => return None,
    };
    let dims = match metadata.get(DIMS_KEY).and_then(|v| v.kind.as_ref()) {
        Some(Kind::IntegerValue(d)) => usize::try_from(*d).ok()?,
        Some(Kind::DoubleValue(d)) if d.fract() == 0.0 && *d >= 0.0 => *d as usize,
        _ => return None,
    };
    Some(VectorSpace::new(name, dims))
}

/// Whether a server of this version keeps collection metadata; an unreadable version is
/// taken to be new (the check then runs, and finds nothing recorded at worst).
fn keeps_metadata(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= METADATA_SINCE,
        _ => true,
    }
}

/// Ask the server at `url` for its health, waiting at most `timeout`.
pub async fn health(url: &str, timeout: Duration) -> Result<Health, MemoryError> {
    let client = connect(url)?;
    health_of(&client, url, timeout).await
}

/// What a collection holds, as far as aios cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionShape {
    Missing,
    /// One unnamed dense vector of this size.
    Dense {
        dims: u64,
    },
    /// Named vectors or no vector configuration: not usable by aios.
    Other,
}

/// The shape of `collection` at `url`. Reads only, for `aios doctor`.
pub async fn collection_shape(
    url: &str,
    collection: &str,
    timeout: Duration,
) -> Result<CollectionShape, MemoryError> {
    let client = connect(url)?;
    let unreachable = |reason: String| MemoryError::Unreachable {
        backend: "qdrant",
        url: url.to_string(),
        reason,
    };
    let look = async {
        if !client.collection_exists(collection).await? {
            return Ok(CollectionShape::Missing);
        }
        let info = client.collection_info(collection).await?;
        let config = info
            .result
            .and_then(|i| i.config)
            .and_then(|c| c.params)
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config);
        Ok::<_, QdrantError>(match config {
            Some(VectorsConfigKind::Params(p)) => CollectionShape::Dense { dims: p.size },
            _ => CollectionShape::Other,
        })
    };
    match tokio::time::timeout(timeout, look).await {
        Ok(Ok(shape)) => Ok(shape),
        Ok(Err(e)) => Err(unreachable(describe(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// A client for `url`; connects lazily, so this fails only on a malformed URL. The
/// version check of `build()` is skipped: it needs a live server and only prints.
fn connect(url: &str) -> Result<Qdrant, MemoryError> {
    Qdrant::from_url(url)
        .skip_compatibility_check()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(OPEN_TIMEOUT)
        .build()
        .map_err(|e| MemoryError::Storage(format!("qdrant at {url}: {}", describe(&e))))
}

async fn health_of(client: &Qdrant, url: &str, timeout: Duration) -> Result<Health, MemoryError> {
    let started = Instant::now();
    let unreachable = |reason: String| MemoryError::Unreachable {
        backend: "qdrant",
        url: url.to_string(),
        reason,
    };
    match tokio::time::timeout(timeout, client.health_check()).await {
        Ok(Ok(reply)) => Ok(Health {
            version: crate::sanitize::one_line(&reply.version),
            latency: started.elapsed(),
        }),
        Ok(Err(e)) => Err(unreachable(describe(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// One line, without the gRPC metadata dump that `QdrantError`'s own `Display` appends.
fn describe(e: &QdrantError) -> String {
    let text = match e {
        QdrantError::ResponseError { status } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        QdrantError::ResourceExhaustedError {
            status,
            retry_after_seconds,
        } => format!(
            "{:?}: {} (retry after {retry_after_seconds} s)",
            status.code(),
            status.message()
        ),
        other => other.to_string(),
    };
    crate::sanitize::one_line(&text)
}

/// The point id for an item id: the id itself when it is a UUID in canonical form,
/// otherwise its UUIDv5 (two spellings of one UUID stay two items, as they are locally).
pub fn point_id(id: &str) -> PointId {
    PointId::from(point_uuid(id))
}

/// The UUID text for an item id (see [`point_id`]); Weaviate's object ids use it too.
pub(crate) fn point_uuid(id: &str) -> String {
    match uuid::Uuid::parse_str(id) {
        Ok(u) if u.hyphenated().to_string() == id => u,
        _ => uuid::Uuid::new_v5(&ID_NAMESPACE, id.as_bytes()),
    }
    .hyphenated()
    .to_string()
}

/// `must` conditions for what the filter names; `None` when it names nothing.
fn qdrant_filter(filter: &MemoryFilter) -> Option<Filter> {
    let conditions: Vec<Condition> = [("agent_id", &filter.agent_id), ("kind", &filter.kind)]
        .into_iter()
        .filter_map(|(field, value)| {
            value
                .as_ref()
                .map(|v| Condition::matches(field, v.to_string()))
        })
        .collect();
    (!conditions.is_empty()).then(|| Filter::must(conditions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qdrant_client::qdrant::point_id::PointIdOptions;

    fn uuid_text(p: &PointId) -> &str {
        match &p.point_id_options {
            Some(PointIdOptions::Uuid(u)) => u,
            other => panic!("not a uuid: {other:?}"),
        }
    }

    #[test]
    fn uuid_ids_are_kept_and_others_map_to_a_stable_uuid() {
        let v7 = uuid::Uuid::now_v7().to_string();
        assert_eq!(uuid_text(&point_id(&v7)), v7);

        let a = point_id("note-1");
        assert_eq!(uuid_text(&a), uuid_text(&point_id("note-1")));
        assert_ne!(uuid_text(&a), uuid_text(&point_id("note-2")));
        let parsed = uuid::Uuid::parse_str(uuid_text(&a)).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 5);

        // Another spelling of the same UUID is another id, as in the local backend.
        let upper = v7.to_uppercase();
        assert_ne!(uuid_text(&point_id(&upper)), v7);
    }

    #[test]
    fn a_filter_becomes_must_conditions() {
        assert!(qdrant_filter(&MemoryFilter::default()).is_none());
        let f = qdrant_filter(&MemoryFilter {
            agent_id: Some("seo-agent".into()),
            kind: Some("fact".into()),
        })
        .expect("a filter");
        assert_eq!(f.must.len(), 2);
        assert!(f.should.is_empty() && f.must_not.is_empty());
        let f = qdrant_filter(&MemoryFilter::agent("seo-agent")).expect("a filter");
        assert_eq!(f.must.len(), 1);
    }

    #[test]
    fn metadata_is_kept_from_1_16() {
        assert!(keeps_metadata("1.16.0"));
        assert!(keeps_metadata("v1.17.2-dev"));
        assert!(keeps_metadata("2.0.0"));
        assert!(!keeps_metadata("1.15.4"));
        assert!(!keeps_metadata("0.11.0"));
        assert!(keeps_metadata("unknown"));
    }

    #[test]
    fn the_space_round_trips_through_metadata() {
        let space = VectorSpace::new("minilm:all-MiniLM-L6-v2", 384);
        let meta: std::collections::HashMap<String, qdrant_client::qdrant::Value> =
            space_metadata(&space)
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect();
        assert_eq!(recorded_space(&meta), Some(space));
        assert_eq!(recorded_space(&Default::default()), None);
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_fast_with_one_line_naming_the_url() {
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let err = match QdrantMemory::open(&url, "aios_memory", &VectorSpace::new("hash", 8)).await
        {
            Ok(_) => panic!("opened a server that is not there"),
            Err(e) => e,
        };
        assert!(started.elapsed() < OPEN_TIMEOUT + Duration::from_secs(2));
        let msg = err.to_string();
        assert!(matches!(err, MemoryError::Unreachable { .. }), "{err:?}");
        assert!(msg.contains(&url), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error_not_a_panic() {
        let err = health("not a url at all", Duration::from_millis(200))
            .await
            .expect_err("malformed");
        assert!(err.to_string().contains("not a url at all"), "{err}");
    }
}
