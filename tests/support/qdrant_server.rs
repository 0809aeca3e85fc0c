//! An in-memory Qdrant speaking Qdrant's own gRPC protocol, for tests on machines without
//! a Qdrant. It serves the tonic server traits generated into `qdrant-client`
//! (`collections_server`, `points_server`, `qdrant_server`) on a free port.
//!
//! What it implements, with Qdrant's behaviour and status codes: health check; collections
//! create / get / exists / list / delete, and collection metadata (set at create, merged in
//! by update, returned in the collection's config, as Qdrant ≥ 1.16 does; an update of
//! anything else answers `Unimplemented`); keyword (and other) payload index creation;
//! points upsert (replace by id, UUID or integer ids, dimension check, Cosine vectors
//! normalised at insert as Qdrant does), get, delete (by ids or filter), count, scroll (in
//! point id order — integer ids first, then UUIDs by value —, from an inclusive `offset`,
//! with `next_page_offset`; `order_by` answers `Unimplemented`), and query
//! (nearest to a dense vector, limit/offset/score threshold, payload selectors) with filters
//! of `must` / `should` / `must_not` over keyword, integer and bool matches, `has_id`,
//! `is_empty`, `is_null` and nested filters. Everything else answers `Unimplemented`, so a
//! client relying on more would fail loudly rather than pass by accident.
//!
//! It also records what it was sent (points per upsert call and their `wait` flag), so tests
//! can check the client batches as it claims.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use qdrant_client::qdrant::collections_server::{Collections, CollectionsServer};
use qdrant_client::qdrant::points_server::{Points, PointsServer};
use qdrant_client::qdrant::qdrant_server::{Qdrant as QdrantService, QdrantServer};
use qdrant_client::qdrant::{
    self as q, condition::ConditionOneOf, r#match::MatchValue, value::Kind,
};
use tonic::{Request, Response, Status};

/// A running in-test Qdrant; stops when dropped.
pub struct InTestQdrant {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InTestQdrant {
    /// Serve on a free port of 127.0.0.1 (on the current tokio runtime).
    pub async fn start() -> Self {
        Self::start_as("1.16.0").await
    }

    /// Serve, reporting `version` in the health check (a Qdrant before 1.16 keeps no
    /// collection metadata: this one then drops it too, as such a server would ignore it).
    pub async fn start_as(version: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State {
            version: version.to_string(),
            ..State::default()
        }));
        let service = Service {
            state: Arc::clone(&state),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(CollectionsServer::new(service.clone()))
                .add_service(PointsServer::new(service.clone()))
                .add_service(QdrantServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("in-test qdrant stopped with an error: {e}");
            }
        });
        Self {
            addr,
            state,
            stop: Some(stop),
            task,
        }
    }

    /// The gRPC URL, as `memory.url` takes it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points sent by each upsert call, in order, with the call's `wait` flag.
    pub fn upserts(&self) -> Vec<(usize, Option<bool>)> {
        self.lock().upserts.clone()
    }

    /// Names of the existing collections, sorted.
    pub fn collections(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().collections.keys().cloned().collect();
        names.sort();
        names
    }

    /// The payload index type of `field` in `collection` (a `PayloadSchemaType`), if any.
    pub fn index_of(&self, collection: &str, field: &str) -> Option<i32> {
        let state = self.lock();
        state
            .collections
            .get(collection)?
            .schema
            .get(field)
            .map(|s| s.data_type)
    }

    /// Size and distance of `collection`'s unnamed vector, if it exists and has one.
    pub fn params_of(&self, collection: &str) -> Option<(u64, q::Distance)> {
        let state = self.lock();
        match &state.collections.get(collection)?.vectors.config {
            Some(q::vectors_config::Config::Params(p)) => {
                Some((p.size, q::Distance::try_from(p.distance).ok()?))
            }
            _ => None,
        }
    }

    /// A collection's metadata, as its config reports it.
    pub fn metadata_of(&self, collection: &str) -> Option<HashMap<String, q::Value>> {
        Some(self.lock().collections.get(collection)?.metadata.clone())
    }

    /// Set a collection's metadata behind the client's back.
    pub fn set_metadata(&self, collection: &str, metadata: HashMap<String, q::Value>) {
        if let Some(c) = self.lock().collections.get_mut(collection) {
            c.metadata = metadata;
        }
    }

    /// Create a collection behind the client's back, e.g. one of another size.
    pub fn create_collection(&self, name: &str, size: u64, distance: q::Distance) {
        self.lock().collections.insert(
            name.to_string(),
            Collection::new(q::VectorsConfig {
                config: Some(q::vectors_config::Config::Params(q::VectorParams {
                    size,
                    distance: distance as i32,
                    ..Default::default()
                })),
            }),
        );
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for InTestQdrant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

#[derive(Default)]
struct State {
    version: String,
    collections: HashMap<String, Collection>,
    operation: u64,
    upserts: Vec<(usize, Option<bool>)>,
}

struct Collection {
    vectors: q::VectorsConfig,
    metadata: HashMap<String, q::Value>,
    schema: HashMap<String, q::PayloadSchemaInfo>,
    /// Keyed by the id's canonical text (`n:<num>` or the lower-case hyphenated UUID).
    points: BTreeMap<String, StoredPoint>,
}

#[derive(Clone)]
struct StoredPoint {
    id: q::PointId,
    vector: Vec<f32>,
    payload: HashMap<String, q::Value>,
}

impl Collection {
    fn new(vectors: q::VectorsConfig) -> Self {
        Self {
            vectors,
            metadata: HashMap::new(),
            schema: HashMap::new(),
            points: BTreeMap::new(),
        }
    }

    /// Size and distance of the one unnamed vector.
    fn params(&self) -> Result<(usize, q::Distance), Status> {
        match &self.vectors.config {
            Some(q::vectors_config::Config::Params(p)) => Ok((
                p.size as usize,
                q::Distance::try_from(p.distance).unwrap_or(q::Distance::UnknownDistance),
            )),
            _ => Err(Status::unimplemented(
                "in-test qdrant: named vectors are not implemented",
            )),
        }
    }

    fn info(&self) -> q::CollectionInfo {
        q::CollectionInfo {
            status: q::CollectionStatus::Green as i32,
            optimizer_status: Some(q::OptimizerStatus {
                ok: true,
                error: String::new(),
            }),
            segments_count: 1,
            config: Some(q::CollectionConfig {
                params: Some(q::CollectionParams {
                    shard_number: 1,
                    vectors_config: Some(self.vectors.clone()),
                    replication_factor: Some(1),
                    write_consistency_factor: Some(1),
                    ..Default::default()
                }),
                hnsw_config: Some(Default::default()),
                optimizer_config: Some(Default::default()),
                wal_config: Some(Default::default()),
                metadata: self.metadata.clone(),
                ..Default::default()
            }),
            payload_schema: self.schema.clone(),
            points_count: Some(self.points.len() as u64),
            indexed_vectors_count: Some(0),
            ..Default::default()
        }
    }
}

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

impl Service {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn unimplemented(rpc: &str) -> Status {
    Status::unimplemented(format!("in-test qdrant: {rpc} is not implemented"))
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("Not found: Collection `{name}` doesn't exist!"))
}

fn collection<'a>(state: &'a State, name: &str) -> Result<&'a Collection, Status> {
    state.collections.get(name).ok_or_else(|| not_found(name))
}

fn collection_mut<'a>(state: &'a mut State, name: &str) -> Result<&'a mut Collection, Status> {
    state
        .collections
        .get_mut(name)
        .ok_or_else(|| not_found(name))
}

/// The canonical key of a point id; Qdrant parses UUIDs, so spellings of one UUID agree.
fn key_of(id: Option<&q::PointId>) -> Result<String, Status> {
    use q::point_id::PointIdOptions;
    match id.and_then(|i| i.point_id_options.as_ref()) {
        Some(PointIdOptions::Num(n)) => Ok(format!("n:{n}")),
        Some(PointIdOptions::Uuid(u)) => uuid::Uuid::parse_str(u)
            .map(|u| u.hyphenated().to_string())
            .map_err(|e| Status::invalid_argument(format!("Unable to parse UUID: {u}: {e}"))),
        None => Err(Status::invalid_argument("Wrong input: point id is missing")),
    }
}

/// Whether a Qdrant of this version keeps collection metadata (1.16 on).
fn keeps_metadata(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (1, 16)
}

/// Qdrant's order of point ids: integers (by value) before UUIDs (by value, which is the
/// order of their lower-case hyphenated text).
fn id_order(key: &str) -> (u8, u64, String) {
    match key.strip_prefix("n:").and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => (0, n, String::new()),
        None => (1, 0, key.to_string()),
    }
}

fn canonical_id(id: &q::PointId) -> Result<q::PointId, Status> {
    use q::point_id::PointIdOptions;
    let key = key_of(Some(id))?;
    Ok(match &id.point_id_options {
        Some(PointIdOptions::Num(n)) => q::PointId::from(*n),
        _ => q::PointId::from(key),
    })
}

fn dense_of_vectors(vectors: Option<&q::Vectors>) -> Result<Vec<f32>, Status> {
    use q::vectors::VectorsOptions;
    match vectors.and_then(|v| v.vectors_options.as_ref()) {
        Some(VectorsOptions::Vector(v)) => dense_of_vector(v),
        Some(VectorsOptions::Vectors(_)) => Err(Status::invalid_argument(
            "Wrong input: Not existing vector name error: named vectors sent to a collection with one unnamed vector",
        )),
        None => Err(Status::invalid_argument("Wrong input: point has no vector")),
    }
}

#[allow(deprecated)]
fn dense_of_vector(v: &q::Vector) -> Result<Vec<f32>, Status> {
    match &v.vector {
        Some(q::vector::Vector::Dense(d)) => Ok(d.data.clone()),
        None if !v.data.is_empty() && v.indices.is_none() => Ok(v.data.clone()),
        _ => Err(Status::unimplemented(
            "in-test qdrant: only dense vectors are implemented",
        )),
    }
}

fn check_dims(want: usize, got: usize) -> Result<(), Status> {
    if want == got {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "Wrong input: Vector dimension error: expected dim: {want}, got {got}"
        )))
    }
}

/// What Qdrant stores for a vector under a distance: Cosine vectors are normalised at
/// insert (a zero vector stays zero), so scoring is a dot product.
fn preprocess(distance: q::Distance, mut v: Vec<f32>) -> Vec<f32> {
    if distance == q::Distance::Cosine {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > f32::EPSILON {
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
    v
}

/// Score and whether higher is better.
fn score(distance: q::Distance, stored: &[f32], query: &[f32]) -> Result<f32, Status> {
    match distance {
        q::Distance::Cosine | q::Distance::Dot => {
            Ok(stored.iter().zip(query).map(|(a, b)| a * b).sum())
        }
        other => Err(Status::unimplemented(format!(
            "in-test qdrant: {} scoring is not implemented",
            other.as_str_name()
        ))),
    }
}

fn matches_filter(filter: &q::Filter, key: &str, p: &StoredPoint) -> Result<bool, Status> {
    if filter.min_should.is_some() {
        return Err(Status::unimplemented(
            "in-test qdrant: min_should is not implemented",
        ));
    }
    for c in &filter.must {
        if !matches_condition(c, key, p)? {
            return Ok(false);
        }
    }
    for c in &filter.must_not {
        if matches_condition(c, key, p)? {
            return Ok(false);
        }
    }
    if !filter.should.is_empty() {
        let mut any = false;
        for c in &filter.should {
            any |= matches_condition(c, key, p)?;
        }
        return Ok(any);
    }
    Ok(true)
}

fn matches_condition(c: &q::Condition, key: &str, p: &StoredPoint) -> Result<bool, Status> {
    match &c.condition_one_of {
        Some(ConditionOneOf::Field(field)) => matches_field(field, p),
        Some(ConditionOneOf::HasId(has)) => {
            for id in &has.has_id {
                if key_of(Some(id))? == key {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Some(ConditionOneOf::Filter(f)) => matches_filter(f, key, p),
        Some(ConditionOneOf::IsEmpty(e)) => Ok(match p.payload.get(&e.key) {
            None => true,
            Some(v) => match &v.kind {
                None | Some(Kind::NullValue(_)) => true,
                Some(Kind::ListValue(l)) => l.values.is_empty(),
                _ => false,
            },
        }),
        Some(ConditionOneOf::IsNull(n)) => Ok(matches!(
            p.payload.get(&n.key).map(|v| &v.kind),
            Some(None | Some(Kind::NullValue(_)))
        )),
        _ => Err(Status::unimplemented(
            "in-test qdrant: this filter condition is not implemented",
        )),
    }
}

/// A field matches when its value — or, for a list, any element — matches.
fn matches_field(field: &q::FieldCondition, p: &StoredPoint) -> Result<bool, Status> {
    let has_other = field.range.is_some()
        || field.geo_bounding_box.is_some()
        || field.geo_radius.is_some()
        || field.values_count.is_some()
        || field.geo_polygon.is_some()
        || field.datetime_range.is_some()
        || field.is_empty.is_some()
        || field.is_null.is_some();
    let Some(m) = field.r#match.as_ref().and_then(|m| m.match_value.as_ref()) else {
        return Err(Status::unimplemented(
            "in-test qdrant: only match conditions on fields are implemented",
        ));
    };
    if has_other || field.key.contains('.') || field.key.contains('[') {
        return Err(Status::unimplemented(
            "in-test qdrant: only a plain match on a top-level field is implemented",
        ));
    }
    let values: Vec<&Kind> = match p.payload.get(&field.key).and_then(|v| v.kind.as_ref()) {
        None => Vec::new(),
        Some(Kind::ListValue(l)) => l.values.iter().filter_map(|v| v.kind.as_ref()).collect(),
        Some(k) => vec![k],
    };
    let any = |f: &dyn Fn(&Kind) -> bool| values.iter().any(|k| f(k));
    Ok(match m {
        MatchValue::Keyword(s) => any(&|k| matches!(k, Kind::StringValue(v) if v == s)),
        MatchValue::Integer(i) => any(&|k| matches!(k, Kind::IntegerValue(v) if v == i)),
        MatchValue::Boolean(b) => any(&|k| matches!(k, Kind::BoolValue(v) if v == b)),
        MatchValue::Keywords(list) => {
            any(&|k| matches!(k, Kind::StringValue(v) if list.strings.contains(v)))
        }
        MatchValue::Integers(list) => {
            any(&|k| matches!(k, Kind::IntegerValue(v) if list.integers.contains(v)))
        }
        MatchValue::ExceptKeywords(list) => {
            any(&|k| !matches!(k, Kind::StringValue(v) if list.strings.contains(v)))
        }
        MatchValue::ExceptIntegers(list) => {
            any(&|k| !matches!(k, Kind::IntegerValue(v) if list.integers.contains(v)))
        }
        _ => {
            return Err(Status::unimplemented(
                "in-test qdrant: full-text matches are not implemented",
            ));
        }
    })
}

fn select_payload(
    selector: Option<&q::WithPayloadSelector>,
    payload: &HashMap<String, q::Value>,
) -> HashMap<String, q::Value> {
    use q::with_payload_selector::SelectorOptions;
    match selector.and_then(|s| s.selector_options.as_ref()) {
        Some(SelectorOptions::Enable(true)) => payload.clone(),
        Some(SelectorOptions::Include(inc)) => payload
            .iter()
            .filter(|(k, _)| inc.fields.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(SelectorOptions::Exclude(exc)) => payload
            .iter()
            .filter(|(k, _)| !exc.fields.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(SelectorOptions::Enable(false)) | None => HashMap::new(),
    }
}

fn select_vectors(
    selector: Option<&q::WithVectorsSelector>,
    p: &StoredPoint,
) -> Option<q::VectorsOutput> {
    use q::with_vectors_selector::SelectorOptions;
    match selector.and_then(|s| s.selector_options.as_ref()) {
        Some(SelectorOptions::Enable(true)) => Some(q::VectorsOutput {
            vectors_options: Some(q::vectors_output::VectorsOptions::Vector(q::VectorOutput {
                vector: Some(q::vector_output::Vector::Dense(q::DenseVector {
                    data: p.vector.clone(),
                })),
                ..Default::default()
            })),
        }),
        _ => None,
    }
}

fn done(state: &mut State, started: Instant) -> Response<q::PointsOperationResponse> {
    state.operation += 1;
    Response::new(q::PointsOperationResponse {
        result: Some(q::UpdateResult {
            operation_id: Some(state.operation),
            status: q::UpdateStatus::Completed as i32,
        }),
        time: started.elapsed().as_secs_f64(),
        usage: None,
    })
}

fn collection_done(result: bool, started: Instant) -> Response<q::CollectionOperationResponse> {
    Response::new(q::CollectionOperationResponse {
        result,
        time: started.elapsed().as_secs_f64(),
    })
}

#[tonic::async_trait]
impl QdrantService for Service {
    async fn health_check(
        &self,
        _: Request<q::HealthCheckRequest>,
    ) -> Result<Response<q::HealthCheckReply>, Status> {
        Ok(Response::new(q::HealthCheckReply {
            title: "qdrant - vector search engine (in-test)".into(),
            version: self.lock().version.clone(),
            commit: None,
        }))
    }
}

#[tonic::async_trait]
impl Collections for Service {
    async fn get(
        &self,
        request: Request<q::GetCollectionInfoRequest>,
    ) -> Result<Response<q::GetCollectionInfoResponse>, Status> {
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let state = self.lock();
        let info = collection(&state, &name)?.info();
        Ok(Response::new(q::GetCollectionInfoResponse {
            result: Some(info),
            time: started.elapsed().as_secs_f64(),
        }))
    }

    async fn list(
        &self,
        _: Request<q::ListCollectionsRequest>,
    ) -> Result<Response<q::ListCollectionsResponse>, Status> {
        let started = Instant::now();
        let state = self.lock();
        let mut names: Vec<&String> = state.collections.keys().collect();
        names.sort();
        Ok(Response::new(q::ListCollectionsResponse {
            collections: names
                .into_iter()
                .map(|name| q::CollectionDescription { name: name.clone() })
                .collect(),
            time: started.elapsed().as_secs_f64(),
        }))
    }

    async fn create(
        &self,
        request: Request<q::CreateCollection>,
    ) -> Result<Response<q::CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let name = request.collection_name;
        if name.is_empty() || name.contains('/') {
            return Err(Status::invalid_argument(format!(
                "Validation error in body: collection name `{name}` is not valid"
            )));
        }
        let Some(vectors) = request.vectors_config else {
            return Err(Status::unimplemented(
                "in-test qdrant: collections without dense vectors are not implemented",
            ));
        };
        match &vectors.config {
            Some(q::vectors_config::Config::Params(p)) if p.size == 0 => {
                return Err(Status::invalid_argument(
                    "Validation error in body: vectors.size: value 0 invalid, must be 1 or larger",
                ));
            }
            Some(q::vectors_config::Config::Params(p))
                if q::Distance::try_from(p.distance)
                    .map_or(true, |d| d == q::Distance::UnknownDistance) =>
            {
                return Err(Status::invalid_argument("Wrong input: unknown distance"));
            }
            Some(_) => {}
            None => {
                return Err(Status::invalid_argument(
                    "Wrong input: vectors config is empty",
                ));
            }
        }
        let mut state = self.lock();
        if state.collections.contains_key(&name) {
            return Err(Status::invalid_argument(format!(
                "Wrong input: Collection `{name}` already exists!"
            )));
        }
        let keeps_metadata = keeps_metadata(&state.version);
        let mut coll = Collection::new(vectors);
        if keeps_metadata {
            coll.metadata = request.metadata;
        }
        state.collections.insert(name, coll);
        Ok(collection_done(true, started))
    }

    async fn delete(
        &self,
        request: Request<q::DeleteCollection>,
    ) -> Result<Response<q::CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let removed = self.lock().collections.remove(&name).is_some();
        Ok(collection_done(removed, started))
    }

    async fn collection_exists(
        &self,
        request: Request<q::CollectionExistsRequest>,
    ) -> Result<Response<q::CollectionExistsResponse>, Status> {
        let started = Instant::now();
        let name = request.into_inner().collection_name;
        let exists = self.lock().collections.contains_key(&name);
        Ok(Response::new(q::CollectionExistsResponse {
            result: Some(q::CollectionExists { exists }),
            time: started.elapsed().as_secs_f64(),
        }))
    }

    async fn update(
        &self,
        request: Request<q::UpdateCollection>,
    ) -> Result<Response<q::CollectionOperationResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let q::UpdateCollection {
            collection_name,
            metadata,
            optimizers_config,
            timeout: _,
            params,
            hnsw_config,
            vectors_config,
            quantization_config,
            sparse_vectors_config,
            strict_mode_config,
        } = request;
        if optimizers_config.is_some()
            || params.is_some()
            || hnsw_config.is_some()
            || vectors_config.is_some()
            || quantization_config.is_some()
            || sparse_vectors_config.is_some()
            || strict_mode_config.is_some()
        {
            return Err(Status::unimplemented(
                "in-test qdrant: only a collection's metadata can be updated",
            ));
        }
        let mut state = self.lock();
        let keeps_metadata = keeps_metadata(&state.version);
        let coll = collection_mut(&mut state, &collection_name)?;
        // Merged into what is stored, as Qdrant does.
        if keeps_metadata {
            coll.metadata.extend(metadata);
        }
        Ok(collection_done(true, started))
    }

    async fn update_aliases(
        &self,
        _: Request<q::ChangeAliases>,
    ) -> Result<Response<q::CollectionOperationResponse>, Status> {
        Err(unimplemented("update_aliases"))
    }

    async fn list_collection_aliases(
        &self,
        _: Request<q::ListCollectionAliasesRequest>,
    ) -> Result<Response<q::ListAliasesResponse>, Status> {
        Err(unimplemented("list_collection_aliases"))
    }

    async fn list_aliases(
        &self,
        _: Request<q::ListAliasesRequest>,
    ) -> Result<Response<q::ListAliasesResponse>, Status> {
        Err(unimplemented("list_aliases"))
    }

    async fn collection_cluster_info(
        &self,
        _: Request<q::CollectionClusterInfoRequest>,
    ) -> Result<Response<q::CollectionClusterInfoResponse>, Status> {
        Err(unimplemented("collection_cluster_info"))
    }

    async fn update_collection_cluster_setup(
        &self,
        _: Request<q::UpdateCollectionClusterSetupRequest>,
    ) -> Result<Response<q::UpdateCollectionClusterSetupResponse>, Status> {
        Err(unimplemented("update_collection_cluster_setup"))
    }

    async fn create_shard_key(
        &self,
        _: Request<q::CreateShardKeyRequest>,
    ) -> Result<Response<q::CreateShardKeyResponse>, Status> {
        Err(unimplemented("create_shard_key"))
    }

    async fn delete_shard_key(
        &self,
        _: Request<q::DeleteShardKeyRequest>,
    ) -> Result<Response<q::DeleteShardKeyResponse>, Status> {
        Err(unimplemented("delete_shard_key"))
    }

    async fn list_shard_keys(
        &self,
        _: Request<q::ListShardKeysRequest>,
    ) -> Result<Response<q::ListShardKeysResponse>, Status> {
        Err(unimplemented("list_shard_keys"))
    }
}

#[tonic::async_trait]
impl Points for Service {
    async fn upsert(
        &self,
        request: Request<q::UpsertPoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        if request.update_filter.is_some() || request.update_mode.is_some() {
            return Err(Status::unimplemented(
                "in-test qdrant: conditional upserts are not implemented",
            ));
        }
        let mut state = self.lock();
        state.upserts.push((request.points.len(), request.wait));
        let coll = collection_mut(&mut state, &request.collection_name)?;
        let (dims, distance) = coll.params()?;
        // The whole batch is checked before any point is written.
        let mut ready = Vec::with_capacity(request.points.len());
        for point in request.points {
            let key = key_of(point.id.as_ref())?;
            let id = canonical_id(point.id.as_ref().expect("checked by key_of"))?;
            let vector = dense_of_vectors(point.vectors.as_ref())?;
            check_dims(dims, vector.len())?;
            if vector.iter().any(|x| !x.is_finite()) {
                return Err(Status::invalid_argument(
                    "Wrong input: vector contains a value that is not a finite number",
                ));
            }
            ready.push((
                key,
                StoredPoint {
                    id,
                    vector: preprocess(distance, vector),
                    payload: point.payload,
                },
            ));
        }
        coll.points.extend(ready);
        Ok(done(&mut state, started))
    }

    async fn delete(
        &self,
        request: Request<q::DeletePoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        use q::points_selector::PointsSelectorOneOf;
        let started = Instant::now();
        let request = request.into_inner();
        let mut state = self.lock();
        let coll = collection_mut(&mut state, &request.collection_name)?;
        match request.points.and_then(|p| p.points_selector_one_of) {
            Some(PointsSelectorOneOf::Points(list)) => {
                for id in &list.ids {
                    coll.points.remove(&key_of(Some(id))?);
                }
            }
            Some(PointsSelectorOneOf::Filter(filter)) => {
                let mut doomed = Vec::new();
                for (key, p) in &coll.points {
                    if matches_filter(&filter, key, p)? {
                        doomed.push(key.clone());
                    }
                }
                for key in doomed {
                    coll.points.remove(&key);
                }
            }
            None => return Err(Status::invalid_argument("Wrong input: no points selected")),
        }
        Ok(done(&mut state, started))
    }

    async fn get(
        &self,
        request: Request<q::GetPoints>,
    ) -> Result<Response<q::GetResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let state = self.lock();
        let coll = collection(&state, &request.collection_name)?;
        let mut seen = HashSet::new();
        let mut result = Vec::new();
        for id in &request.ids {
            let key = key_of(Some(id))?;
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some(p) = coll.points.get(&key) {
                result.push(q::RetrievedPoint {
                    id: Some(p.id.clone()),
                    payload: select_payload(request.with_payload.as_ref(), &p.payload),
                    vectors: select_vectors(request.with_vectors.as_ref(), p),
                    ..Default::default()
                });
            }
        }
        Ok(Response::new(q::GetResponse {
            result,
            time: started.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn create_field_index(
        &self,
        request: Request<q::CreateFieldIndexCollection>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let data_type = match q::FieldType::try_from(request.field_type.unwrap_or(0)) {
            Ok(q::FieldType::Keyword) => q::PayloadSchemaType::Keyword,
            Ok(q::FieldType::Integer) => q::PayloadSchemaType::Integer,
            Ok(q::FieldType::Float) => q::PayloadSchemaType::Float,
            Ok(q::FieldType::Geo) => q::PayloadSchemaType::Geo,
            Ok(q::FieldType::Text) => q::PayloadSchemaType::Text,
            Ok(q::FieldType::Bool) => q::PayloadSchemaType::Bool,
            Ok(q::FieldType::Datetime) => q::PayloadSchemaType::Datetime,
            Ok(q::FieldType::Uuid) => q::PayloadSchemaType::Uuid,
            Err(_) => return Err(Status::invalid_argument("Wrong input: unknown field type")),
        };
        let mut state = self.lock();
        let coll = collection_mut(&mut state, &request.collection_name)?;
        let points = coll
            .points
            .values()
            .filter(|p| p.payload.contains_key(&request.field_name))
            .count() as u64;
        coll.schema.insert(
            request.field_name,
            q::PayloadSchemaInfo {
                data_type: data_type as i32,
                params: request.field_index_params,
                points: Some(points),
            },
        );
        Ok(done(&mut state, started))
    }

    async fn count(
        &self,
        request: Request<q::CountPoints>,
    ) -> Result<Response<q::CountResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let state = self.lock();
        let coll = collection(&state, &request.collection_name)?;
        let mut count = 0;
        for (key, p) in &coll.points {
            if request
                .filter
                .as_ref()
                .map_or(Ok(true), |f| matches_filter(f, key, p))?
            {
                count += 1;
            }
        }
        Ok(Response::new(q::CountResponse {
            result: Some(q::CountResult { count }),
            time: started.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn query(
        &self,
        request: Request<q::QueryPoints>,
    ) -> Result<Response<q::QueryResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        if !request.prefetch.is_empty() || request.lookup_from.is_some() {
            return Err(Status::unimplemented(
                "in-test qdrant: prefetch and lookups are not implemented",
            ));
        }
        if request.using.as_deref().is_some_and(|u| !u.is_empty()) {
            return Err(Status::invalid_argument(
                "Wrong input: Not existing vector name error",
            ));
        }
        let query = match request.query.and_then(|q| q.variant) {
            Some(q::query::Variant::Nearest(input)) => match input.variant {
                Some(q::vector_input::Variant::Dense(d)) => d.data,
                _ => {
                    return Err(Status::unimplemented(
                        "in-test qdrant: only a dense vector query is implemented",
                    ));
                }
            },
            _ => {
                return Err(Status::unimplemented(
                    "in-test qdrant: only `nearest` queries are implemented",
                ));
            }
        };
        let state = self.lock();
        let coll = collection(&state, &request.collection_name)?;
        let (dims, distance) = coll.params()?;
        check_dims(dims, query.len())?;
        let query = preprocess(distance, query);
        let mut scored = Vec::new();
        for (key, p) in &coll.points {
            if let Some(f) = &request.filter
                && !matches_filter(f, key, p)?
            {
                continue;
            }
            let s = score(distance, &p.vector, &query)?;
            if request.score_threshold.is_some_and(|t| s < t) {
                continue;
            }
            scored.push((s, key, p));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let offset = request.offset.unwrap_or(0) as usize;
        let limit = request.limit.unwrap_or(10) as usize;
        let result = scored
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(score, _, p)| q::ScoredPoint {
                id: Some(p.id.clone()),
                payload: select_payload(request.with_payload.as_ref(), &p.payload),
                score,
                version: 0,
                vectors: select_vectors(request.with_vectors.as_ref(), p),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(q::QueryResponse {
            result,
            time: started.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn update_vectors(
        &self,
        _: Request<q::UpdatePointVectors>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("update_vectors"))
    }

    async fn delete_vectors(
        &self,
        _: Request<q::DeletePointVectors>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("delete_vectors"))
    }

    async fn set_payload(
        &self,
        _: Request<q::SetPayloadPoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("set_payload"))
    }

    async fn overwrite_payload(
        &self,
        _: Request<q::SetPayloadPoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("overwrite_payload"))
    }

    async fn delete_payload(
        &self,
        _: Request<q::DeletePayloadPoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("delete_payload"))
    }

    async fn clear_payload(
        &self,
        _: Request<q::ClearPayloadPoints>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("clear_payload"))
    }

    async fn delete_field_index(
        &self,
        _: Request<q::DeleteFieldIndexCollection>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("delete_field_index"))
    }

    async fn create_vector_name(
        &self,
        _: Request<q::CreateVectorNameRequest>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("create_vector_name"))
    }

    async fn delete_vector_name(
        &self,
        _: Request<q::DeleteVectorNameRequest>,
    ) -> Result<Response<q::PointsOperationResponse>, Status> {
        Err(unimplemented("delete_vector_name"))
    }

    async fn search(
        &self,
        _: Request<q::SearchPoints>,
    ) -> Result<Response<q::SearchResponse>, Status> {
        Err(unimplemented("search"))
    }

    async fn search_batch(
        &self,
        _: Request<q::SearchBatchPoints>,
    ) -> Result<Response<q::SearchBatchResponse>, Status> {
        Err(unimplemented("search_batch"))
    }

    async fn search_groups(
        &self,
        _: Request<q::SearchPointGroups>,
    ) -> Result<Response<q::SearchGroupsResponse>, Status> {
        Err(unimplemented("search_groups"))
    }

    async fn scroll(
        &self,
        request: Request<q::ScrollPoints>,
    ) -> Result<Response<q::ScrollResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        if request.order_by.is_some() {
            return Err(Status::unimplemented(
                "in-test qdrant: scroll with order_by is not implemented",
            ));
        }
        let state = self.lock();
        let coll = collection(&state, &request.collection_name)?;
        let start = request
            .offset
            .as_ref()
            .map(|id| key_of(Some(id)).map(|k| id_order(&k)))
            .transpose()?;
        let mut matching = Vec::new();
        for (key, p) in &coll.points {
            if start.as_ref().is_some_and(|s| &id_order(key) < s) {
                continue;
            }
            if let Some(f) = &request.filter
                && !matches_filter(f, key, p)?
            {
                continue;
            }
            matching.push((id_order(key), p));
        }
        matching.sort_by(|a, b| a.0.cmp(&b.0));
        let limit = request.limit.unwrap_or(10) as usize;
        let next_page_offset = matching.get(limit).map(|(_, p)| p.id.clone());
        let result = matching
            .into_iter()
            .take(limit)
            .map(|(_, p)| q::RetrievedPoint {
                id: Some(p.id.clone()),
                payload: select_payload(request.with_payload.as_ref(), &p.payload),
                vectors: select_vectors(request.with_vectors.as_ref(), p),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(q::ScrollResponse {
            next_page_offset,
            result,
            time: started.elapsed().as_secs_f64(),
            usage: None,
        }))
    }

    async fn recommend(
        &self,
        _: Request<q::RecommendPoints>,
    ) -> Result<Response<q::RecommendResponse>, Status> {
        Err(unimplemented("recommend"))
    }

    async fn recommend_batch(
        &self,
        _: Request<q::RecommendBatchPoints>,
    ) -> Result<Response<q::RecommendBatchResponse>, Status> {
        Err(unimplemented("recommend_batch"))
    }

    async fn recommend_groups(
        &self,
        _: Request<q::RecommendPointGroups>,
    ) -> Result<Response<q::RecommendGroupsResponse>, Status> {
        Err(unimplemented("recommend_groups"))
    }

    async fn discover(
        &self,
        _: Request<q::DiscoverPoints>,
    ) -> Result<Response<q::DiscoverResponse>, Status> {
        Err(unimplemented("discover"))
    }

    async fn discover_batch(
        &self,
        _: Request<q::DiscoverBatchPoints>,
    ) -> Result<Response<q::DiscoverBatchResponse>, Status> {
        Err(unimplemented("discover_batch"))
    }

    async fn update_batch(
        &self,
        _: Request<q::UpdateBatchPoints>,
    ) -> Result<Response<q::UpdateBatchResponse>, Status> {
        Err(unimplemented("update_batch"))
    }

    async fn query_batch(
        &self,
        _: Request<q::QueryBatchPoints>,
    ) -> Result<Response<q::QueryBatchResponse>, Status> {
        Err(unimplemented("query_batch"))
    }

    async fn query_groups(
        &self,
        _: Request<q::QueryPointGroups>,
    ) -> Result<Response<q::QueryGroupsResponse>, Status> {
        Err(unimplemented("query_groups"))
    }

    async fn facet(
        &self,
        _: Request<q::FacetCounts>,
    ) -> Result<Response<q::FacetResponse>, Status> {
        Err(unimplemented("facet"))
    }

    async fn search_matrix_pairs(
        &self,
        _: Request<q::SearchMatrixPoints>,
    ) -> Result<Response<q::SearchMatrixPairsResponse>, Status> {
        Err(unimplemented("search_matrix_pairs"))
    }

    async fn search_matrix_offsets(
        &self,
        _: Request<q::SearchMatrixPoints>,
    ) -> Result<Response<q::SearchMatrixOffsetsResponse>, Status> {
        Err(unimplemented("search_matrix_offsets"))
    }
}
