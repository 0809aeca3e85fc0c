//! Local on-disk vector memory: needs no server.
//!
//! **On disk**: one redb database, `<dir>/memory.redb`, with three tables.
//! - `meta` (`&str` → `u64`): `format` = 1 and `dims`, written when the file is created and
//!   checked at every open, so a memory is never read with the wrong vector length.
//! - `meta_text` (`&str` → `&str`): `embedder`, the name of the embedder whose vectors the
//!   file holds (see [`VectorSpace`]). A file from before it was recorded has no such table
//!   or key: it is "unrecorded", and [`check_space`] decides whether it may be opened. The
//!   table is an addition an older aios ignores, so the format stays 1.
//! - `items` (`&str` → bytes), keyed by item id: the unit-length vector as `dims`
//!   little-endian `f32`s, followed by the item (id, agent_id, kind, text, ts, tags) as JSON.
//!
//! Every upsert or delete is one redb write transaction, durable when it returns.
//!
//! **In memory**: everything is loaded at open. Vectors sit contiguously, normalised at
//! insert, so cosine similarity is a dot product; beside them a copy quantised to `i8` (one
//! scale per vector). A search scans the `i8` copy — a quarter of the memory traffic of the
//! `f32` one, which is what bounds a scan of 100,000 vectors — keeping, per item, a proven
//! bound on how far the quantised score can be from the true one. Only the items whose
//! upper bound reaches the k-th best lower bound are rescored exactly in `f32`, so the result
//! is the exact top-k, not an approximation. Items live in one segment per agent, so a
//! recall for one agent scans only that agent's vectors, contiguously; a kind filter
//! compares a small interned id per item.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use crate::redb_file::RedbFile;
use async_trait::async_trait;
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use super::{
    MemoryError, MemoryFilter, MemoryItem, ScoredItem, SpaceCheck, VectorMemory, VectorSpace,
    check_space,
};

/// The database file inside the memory's directory.
pub const FILE_NAME: &str = "memory.redb";
/// Version of the layout described in the module docs.
const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_TEXT: TableDefinition<&str, &str> = TableDefinition::new("meta_text");
/// The key in `meta_text` naming the embedder.
const EMBEDDER_KEY: &str = "embedder";
const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");

/// Below this many scanned floats a search runs on the calling task; above, on the
/// blocking pool, so a large scan never stalls the async workers.
const INLINE_SCAN_FLOATS: usize = 1 << 18;

/// Headroom over the quantisation bound for `f32` rounding in the scores themselves
/// (about 2e-6 for unit vectors of 384 dimensions, still under 1e-4 at 16k).
const ROUNDING_SLACK: f32 = 1e-4;

/// Vector memory stored under a directory; a cheap-clone handle, `Send + Sync`. The file
/// stays locked until the last clone is dropped.
#[derive(Clone)]
pub struct LocalMemory {
    inner: Arc<Inner>,
}

struct Inner {
    dims: usize,
    space: VectorSpace,
    /// Set by `destroy`: the file is empty and unrecorded, and this handle writes no more.
    destroyed: std::sync::atomic::AtomicBool,
    /// Reopened on its own after an I/O error (a full disk) once the cause is gone.
    file: RedbFile,
    /// Serialises writers so the in-memory index applies changes in disk order.
    writer: Mutex<()>,
    index: RwLock<Index>,
    /// Entries found unreadable at open, with the reason (they are left on disk).
    skipped: Vec<String>,
}

impl LocalMemory {
    /// Open (or create) the memory stored under `dir`, creating `dir` if needed, for vectors
    /// of `space`.
    ///
    /// Fails if the memory there was created with another vector length
    /// ([`MemoryError::Mismatch`]) or by another embedder ([`MemoryError::SpaceMismatch`],
    /// by [`check_space`]), if the file is not a memory of this format, or if another
    /// process holds it open. Entries that cannot be read are skipped and listed in
    /// [`LocalMemory::skipped`].
    pub fn open(dir: &Path, space: &VectorSpace) -> Result<Self, MemoryError> {
        let dims = space.dims;
        if dims == 0 {
            return Err(MemoryError::Storage(
                "vector memory needs at least 1 dimension".into(),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| MemoryError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let storage =
            |e: &dyn std::fmt::Display| MemoryError::Storage(format!("{}: {e}", path.display()));
        let file = RedbFile::open(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => MemoryError::Storage(format!(
                "{} is already open (another aios process owns this data dir)",
                path.display()
            )),
            e => storage(&e),
        })?;

        let db = file.handle()?;
        let store = format!("the local memory at {}", path.display());
        check_meta(&db, space, &store).map_err(|e| match e {
            MetaError::Mismatch(msg) => MemoryError::Mismatch(format!("{}: {msg}", path.display())),
            MetaError::Space(e) => e,
            MetaError::Redb(e) => storage(&e),
        })?;

        let mut index = Index::new(dims);
        let mut skipped = Vec::new();
        {
            let txn = db.begin_read().map_err(|e| storage(&e))?;
            let table = txn.open_table(ITEMS).map_err(|e| storage(&e))?;
            for entry in table.iter().map_err(|e| storage(&e))? {
                let (key, value) = entry.map_err(|e| storage(&e))?;
                match decode(key.value(), value.value(), dims) {
                    Ok((item, vector)) => index.upsert(item, &vector),
                    Err(reason) => {
                        let id = key.value();
                        tracing::warn!(path = %path.display(), id, reason, "skipped a memory entry");
                        skipped.push(format!("{id}: {reason}"));
                    }
                }
            }
        }
        drop(db);

        Ok(Self {
            inner: Arc::new(Inner {
                dims,
                space: space.clone(),
                destroyed: std::sync::atomic::AtomicBool::new(false),
                file,
                writer: Mutex::new(()),
                index: RwLock::new(index),
                skipped,
            }),
        })
    }

    /// Entries that could not be read at open, as `id: reason`.
    pub fn skipped(&self) -> &[String] {
        &self.inner.skipped
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.inner.file.path()
    }

    /// Check and normalise vectors before anything is written.
    fn prepare(
        &self,
        items: Vec<(MemoryItem, Vec<f32>)>,
    ) -> Result<Vec<(MemoryItem, Vec<f32>)>, MemoryError> {
        items
            .into_iter()
            .map(|(item, mut vector)| {
                self.check_vector(&vector, &item.id)?;
                normalise(&mut vector);
                Ok((item, vector))
            })
            .collect()
    }

    fn check_vector(&self, vector: &[f32], what: &str) -> Result<(), MemoryError> {
        super::check_vector(self.inner.dims, vector, what)
    }
}

impl Inner {
    fn storage(&self, e: impl std::fmt::Display) -> MemoryError {
        MemoryError::Storage(format!("{}: {e}", self.file.path().display()))
    }

    /// Refuse writes through a handle whose store was destroyed: its meta is gone, and an
    /// item written now would be read back with whatever length the next open asks for.
    fn check_live(&self) -> Result<(), MemoryError> {
        if self.destroyed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(MemoryError::Storage(format!(
                "{}: this memory was destroyed; open it again to build it anew",
                self.file.path().display()
            )));
        }
        Ok(())
    }

    fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        let _writer = lock(&self.writer)?;
        self.check_live()?;
        self.file.run(|db| {
            let txn = db.begin_write().map_err(|e| self.storage(e))?;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| self.storage(e))?;
                for (item, vector) in &items {
                    let bytes = encode(item, vector)?;
                    table
                        .insert(item.id.as_str(), bytes.as_slice())
                        .map_err(|e| self.storage(e))?;
                }
            }
            txn.commit().map_err(|e| self.storage(e))
        })?;
        let mut index = write(&self.index)?;
        for (item, vector) in items {
            index.upsert(item, &vector);
        }
        Ok(())
    }

    fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let _writer = lock(&self.writer)?;
        self.check_live()?;
        let removed = self.file.run(|db| {
            let txn = db.begin_write().map_err(|e| self.storage(e))?;
            let mut removed = 0;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| self.storage(e))?;
                for id in ids {
                    if table
                        .remove(id.as_str())
                        .map_err(|e| self.storage(e))?
                        .is_some()
                    {
                        removed += 1;
                    }
                }
            }
            txn.commit().map_err(|e| self.storage(e))?;
            Ok::<_, MemoryError>(removed)
        })?;
        let mut index = write(&self.index)?;
        for id in ids {
            index.remove(id);
        }
        Ok(removed)
    }

    /// Items after `after` in the `items` table's key order (the ids' byte order), read
    /// from disk so the order and the content are the file's. Unreadable entries (the ones
    /// listed as skipped at open) are passed over.
    fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError> {
        use std::ops::Bound;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let db = self.file.handle()?;
        let txn = db.begin_read().map_err(|e| self.storage(e))?;
        let table = match txn.open_table(ITEMS) {
            Ok(t) => t,
            // Destroyed: nothing is there.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.storage(e)),
        };
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let mut found = Vec::new();
        for entry in table
            .range::<&str>((start, Bound::Unbounded))
            .map_err(|e| self.storage(e))?
        {
            let (key, value) = entry.map_err(|e| self.storage(e))?;
            let Ok((item, _)) = decode(key.value(), value.value(), self.dims) else {
                continue;
            };
            if filter.matches(&item) {
                found.push(item);
                if found.len() == limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Empty the file: items, `meta` and `meta_text` go, the file (and its lock) stays.
    fn destroy(&self) -> Result<(), MemoryError> {
        let _writer = lock(&self.writer)?;
        self.file.run(|db| {
            let txn = db.begin_write().map_err(|e| self.storage(e))?;
            txn.delete_table(ITEMS).map_err(|e| self.storage(e))?;
            txn.delete_table(META).map_err(|e| self.storage(e))?;
            txn.delete_table(META_TEXT).map_err(|e| self.storage(e))?;
            txn.commit().map_err(|e| self.storage(e))
        })?;
        self.destroyed
            .store(true, std::sync::atomic::Ordering::Release);
        *write(&self.index)? = Index::new(self.dims);
        Ok(())
    }

    fn search(
        &self,
        query: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError> {
        let index = read(&self.index)?;
        Ok(index
            .search(query, filter, k)
            .into_iter()
            .filter_map(|(place, score)| {
                index.item(place).map(|item| ScoredItem {
                    item: item.clone(),
                    score,
                })
            })
            .collect())
    }
}

#[async_trait]
impl VectorMemory for LocalMemory {
    fn name(&self) -> &'static str {
        "local"
    }

    fn dims(&self) -> usize {
        self.inner.dims
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        if items.is_empty() {
            return Ok(());
        }
        let items = self.prepare(items)?;
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.upsert(items)).await
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
        let mut query = vector.to_vec();
        normalise(&mut query);
        let scan = read(&self.inner.index)?.len() * self.inner.dims;
        if scan <= INLINE_SCAN_FLOATS {
            return self.inner.search(&query, filter, k);
        }
        let inner = Arc::clone(&self.inner);
        let filter = filter.clone();
        blocking(move || inner.search(&query, &filter, k)).await
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let inner = Arc::clone(&self.inner);
        let ids = ids.to_vec();
        blocking(move || inner.delete(&ids)).await
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        Ok(read(&self.inner.index)?.count(filter) as u64)
    }

    fn space(&self) -> VectorSpace {
        self.inner.space.clone()
    }

    async fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError> {
        let inner = Arc::clone(&self.inner);
        let filter = filter.clone();
        let after = after.map(str::to_string);
        blocking(move || inner.scan(&filter, after.as_deref(), limit)).await
    }

    async fn destroy(&self) -> Result<(), MemoryError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.destroy()).await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MemoryError> + Send + 'static,
) -> Result<T, MemoryError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| MemoryError::Storage(format!("memory task failed: {e}")))?
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, MemoryError> {
    m.lock()
        .map_err(|_| MemoryError::Storage("memory writer lock poisoned".into()))
}

fn read<T>(l: &RwLock<T>) -> Result<std::sync::RwLockReadGuard<'_, T>, MemoryError> {
    l.read()
        .map_err(|_| MemoryError::Storage("memory index lock poisoned".into()))
}

fn write<T>(l: &RwLock<T>) -> Result<std::sync::RwLockWriteGuard<'_, T>, MemoryError> {
    l.write()
        .map_err(|_| MemoryError::Storage("memory index lock poisoned".into()))
}

enum MetaError {
    Mismatch(String),
    Space(MemoryError),
    Redb(redb::Error),
}

impl<E: Into<redb::Error>> From<E> for MetaError {
    fn from(e: E) -> Self {
        MetaError::Redb(e.into())
    }
}

/// Record `format`, `dims` and the embedder in a new file; check them in an existing one
/// (the embedder by [`check_space`], recording it in an empty file from before).
fn check_meta(db: &Database, space: &VectorSpace, store: &str) -> Result<(), MetaError> {
    let dims = space.dims;
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let stored_format = meta.get("format")?.map(|g| g.value());
        let stored_dims = meta.get("dims")?.map(|g| g.value());
        match (stored_format, stored_dims) {
            (None, None) => {
                meta.insert("format", FORMAT)?;
                meta.insert("dims", dims as u64)?;
            }
            (Some(FORMAT), Some(d)) if d == dims as u64 => {}
            (Some(FORMAT), Some(d)) => {
                return Err(MetaError::Mismatch(format!(
                    "this memory holds {d}-dimensional vectors but {dims} were asked for; \
                     set memory.dims = {d}, or point the data dir elsewhere to start a new memory"
                )));
            }
            (Some(f), _) if f != FORMAT => {
                return Err(MetaError::Mismatch(format!(
                    "memory format {f} is not known to this aios (it reads format {FORMAT})"
                )));
            }
            _ => {
                return Err(MetaError::Mismatch(
                    "the memory's metadata is incomplete (format or dims missing)".into(),
                ));
            }
        }
        let empty = txn.open_table(ITEMS)?.is_empty()?;
        let mut text = txn.open_table(META_TEXT)?;
        let recorded = text
            .get(EMBEDDER_KEY)?
            .map(|g| g.value().to_string())
            .filter(|name| name != VectorSpace::UNRECORDED)
            .map(|name| VectorSpace::new(name, dims));
        match check_space(store, recorded.as_ref(), Some(dims), empty, space)
            .map_err(MetaError::Space)?
        {
            SpaceCheck::Keep => {}
            SpaceCheck::Record if space.is_recorded() => {
                text.insert(EMBEDDER_KEY, space.embedder.as_str())?;
            }
            SpaceCheck::Record => {}
        }
    }
    txn.commit()?;
    Ok(())
}

fn encode(item: &MemoryItem, vector: &[f32]) -> Result<Vec<u8>, MemoryError> {
    let json = serde_json::to_vec(item)
        .map_err(|e| MemoryError::Storage(format!("cannot encode item {}: {e}", item.id)))?;
    let mut bytes = Vec::with_capacity(vector.len() * 4 + json.len());
    for x in vector {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.extend_from_slice(&json);
    Ok(bytes)
}

fn decode(key: &str, bytes: &[u8], dims: usize) -> Result<(MemoryItem, Vec<f32>), String> {
    let split = dims * 4;
    if bytes.len() < split {
        return Err(format!(
            "entry is {} bytes, shorter than a {dims}-dimensional vector",
            bytes.len()
        ));
    }
    let (vector_bytes, json) = bytes.split_at(split);
    let mut vector: Vec<f32> = vector_bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if vector.iter().any(|x| !x.is_finite()) {
        return Err("vector holds a value that is not a finite number".into());
    }
    let item: MemoryItem =
        serde_json::from_slice(json).map_err(|e| format!("payload is not an item: {e}"))?;
    if item.id != key {
        return Err(format!("payload names id `{}`", item.id));
    }
    // Stored vectors are unit length already; normalising again is cheap insurance
    // against a file written by hand.
    normalise(&mut vector);
    Ok((item, vector))
}

/// Scale to unit length; a zero vector stays zero (it scores 0 against everything).
fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Interns agent ids and kinds to small numbers so a filter is an integer compare.
#[derive(Default)]
struct Names(HashMap<String, u32>);

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.0.get(name) {
            return n;
        }
        let n = self.0.len() as u32;
        self.0.insert(name.to_string(), n);
        n
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.0.get(name).copied()
    }
}

/// How a vector was quantised, and how far its quantised form may be from it.
#[derive(Clone, Copy, Default)]
struct Quantised {
    /// `code * scale` is the dequantised component.
    scale: f32,
    /// Length of the dequantised vector.
    norm: f32,
    /// Length of (vector − dequantised vector).
    error: f32,
}

/// Quantise `v` to `i8` codes with one scale (largest component ↦ ±127).
fn quantise(v: &[f32], codes: &mut [i8]) -> Quantised {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        codes.fill(0);
        return Quantised::default();
    }
    let scale = max / 127.0;
    let (mut norm2, mut error2) = (0.0f64, 0.0f64);
    for (code, &x) in codes.iter_mut().zip(v) {
        let q = (x / scale).round().clamp(-127.0, 127.0);
        *code = q as i8;
        let back = q * scale;
        norm2 += f64::from(back) * f64::from(back);
        error2 += f64::from(x - back) * f64::from(x - back);
    }
    Quantised {
        scale,
        norm: norm2.sqrt() as f32,
        error: error2.sqrt() as f32,
    }
}

/// Dot product with 16 independent lanes, so the compiler vectorises it.
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Integer dot product of codes; |sum| ≤ dims · 127², far inside `i32` for any real dims.
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 32];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail: i32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            lanes[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    lanes.iter().sum::<i32>() + tail
}

/// An `f32` ordered by `total_cmp`, for heaps.
#[derive(Clone, Copy, PartialEq)]
struct Score(f32);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Where an item lives: its agent's segment and its slot there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    segment: usize,
    slot: usize,
}

/// One agent's items, slot-parallel and contiguous, so a recall for one agent reads only
/// that agent's memory and reads it in order: scanning every 7th vector of a shared array
/// measured several times slower than scanning as many vectors contiguously, as the
/// prefetcher cannot keep up. A delete moves the segment's last slot into the hole.
#[derive(Default)]
struct Segment {
    items: Vec<MemoryItem>,
    kind: Vec<u32>,
    /// `dims` unit-length components per slot.
    vectors: Vec<f32>,
    /// `dims` codes per slot.
    codes: Vec<i8>,
    quantised: Vec<Quantised>,
}

/// All items, one segment per agent (indexed by the agent's interned id).
struct Index {
    dims: usize,
    segments: Vec<Segment>,
    agents: Names,
    kinds: Names,
    place_of: HashMap<String, Place>,
}

impl Index {
    fn new(dims: usize) -> Self {
        Self {
            dims,
            segments: Vec::new(),
            agents: Names::default(),
            kinds: Names::default(),
            place_of: HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.place_of.len()
    }

    fn item(&self, place: Place) -> Option<&MemoryItem> {
        self.segments.get(place.segment)?.items.get(place.slot)
    }

    /// Insert or replace; `vector` is unit length (or zero) and `dims` long.
    fn upsert(&mut self, item: MemoryItem, vector: &[f32]) {
        let segment = self.agents.intern(&item.agent_id) as usize;
        while self.segments.len() <= segment {
            self.segments.push(Segment::default());
        }
        // An item that changes agent leaves its old segment.
        if let Some(old) = self.place_of.get(&item.id).copied()
            && old.segment != segment
        {
            self.remove(&item.id);
        }
        let kind = self.kinds.intern(&item.kind);
        let dims = self.dims;
        let seg = &mut self.segments[segment];
        let slot = match self.place_of.get(&item.id) {
            Some(place) => place.slot,
            None => {
                let slot = seg.items.len();
                self.place_of
                    .insert(item.id.clone(), Place { segment, slot });
                seg.items.push(item.clone());
                seg.kind.push(kind);
                seg.vectors.resize(seg.vectors.len() + dims, 0.0);
                seg.codes.resize(seg.codes.len() + dims, 0);
                seg.quantised.push(Quantised::default());
                slot
            }
        };
        let span = slot * dims..(slot + 1) * dims;
        seg.items[slot] = item;
        seg.kind[slot] = kind;
        seg.vectors[span.clone()].copy_from_slice(vector);
        seg.quantised[slot] = quantise(vector, &mut seg.codes[span]);
    }

    fn remove(&mut self, id: &str) -> bool {
        let Some(Place { segment, slot }) = self.place_of.remove(id) else {
            return false;
        };
        let dims = self.dims;
        let Some(seg) = self.segments.get_mut(segment) else {
            return true;
        };
        let Some(last) = seg.items.len().checked_sub(1) else {
            return true;
        };
        if slot != last {
            let from = last * dims..(last + 1) * dims;
            seg.vectors.copy_within(from.clone(), slot * dims);
            seg.codes.copy_within(from, slot * dims);
        }
        seg.items.swap_remove(slot);
        seg.kind.swap_remove(slot);
        seg.quantised.swap_remove(slot);
        seg.vectors.truncate(last * dims);
        seg.codes.truncate(last * dims);
        if let Some(moved) = seg.items.get(slot) {
            self.place_of
                .insert(moved.id.clone(), Place { segment, slot });
        }
        true
    }

    /// The segments a filter reads (with their numbers) and the kind it wants; `None` if
    /// it names an agent or kind nothing has.
    fn resolve(&self, filter: &MemoryFilter) -> Option<(&[Segment], usize, Option<u32>)> {
        let (segments, first) = match &filter.agent_id {
            Some(a) => {
                let s = self.agents.get(a)? as usize;
                (self.segments.get(s..=s)?, s)
            }
            None => (self.segments.as_slice(), 0),
        };
        let kind = match &filter.kind {
            Some(k) => Some(self.kinds.get(k)?),
            None => None,
        };
        Some((segments, first, kind))
    }

    fn count(&self, filter: &MemoryFilter) -> usize {
        let Some((segments, _, kind)) = self.resolve(filter) else {
            return 0;
        };
        match kind {
            None => segments.iter().map(|s| s.items.len()).sum(),
            Some(kind) => segments
                .iter()
                .map(|s| s.kind.iter().filter(|&&k| k == kind).count())
                .sum(),
        }
    }

    /// The exact top `k` (place, cosine) for a unit-length `query`, best first.
    fn search(&self, query: &[f32], filter: &MemoryFilter, k: usize) -> Vec<(Place, f32)> {
        let Some((segments, first, kind)) = self.resolve(filter) else {
            return Vec::new();
        };
        if k == 0 {
            return Vec::new();
        }
        let dims = self.dims;
        let mut query_codes = vec![0i8; dims];
        let q = quantise(query, &mut query_codes);

        // Pass 1: quantised scores. For a unit-length query q and stored v (dequantised
        // v', q'), |v·q − v'·q'| ≤ |v'|·|q − q'| + |v − v'|, so each item's true score lies
        // within `bound` of its quantised one.
        let mut best_lower: BinaryHeap<Reverse<Score>> = BinaryHeap::with_capacity(k + 1);
        let mut candidates: Vec<(Place, f32)> = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let segment = first + i;
            for (slot, (codes, v)) in seg.codes.chunks_exact(dims).zip(&seg.quantised).enumerate() {
                if kind.is_some_and(|kind| seg.kind[slot] != kind) {
                    continue;
                }
                let approx = dot_i8(codes, &query_codes) as f32 * v.scale * q.scale;
                let bound = v.norm * q.error + v.error + ROUNDING_SLACK;
                let threshold = kth_lower(&best_lower, k);
                if approx + bound < threshold {
                    continue;
                }
                candidates.push((Place { segment, slot }, approx + bound));
                let lower = Score(approx - bound);
                if best_lower.len() < k {
                    best_lower.push(Reverse(lower));
                } else if lower.0 > threshold {
                    best_lower.pop();
                    best_lower.push(Reverse(lower));
                }
            }
        }

        // Pass 2: every item that can still be in the top k, scored exactly.
        let threshold = kth_lower(&best_lower, k);
        let mut scored: Vec<(Place, f32)> = candidates
            .into_iter()
            .filter(|&(_, upper)| upper >= threshold)
            .filter_map(|(place, _)| {
                let seg = self.segments.get(place.segment)?;
                let v = seg
                    .vectors
                    .get(place.slot * dims..(place.slot + 1) * dims)?;
                Some((place, dot_f32(v, query)))
            })
            .collect();
        let by_score =
            |a: &(Place, f32), b: &(Place, f32)| Score(b.1).cmp(&Score(a.1)).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_unstable_by(by_score);
        scored
    }
}

/// The k-th best lower bound seen so far, or −∞ before k items.
fn kth_lower(heap: &BinaryHeap<Reverse<Score>>, k: usize) -> f32 {
    match heap.peek() {
        Some(Reverse(s)) if heap.len() >= k => s.0,
        _ => f32::NEG_INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, agent: &str) -> MemoryItem {
        MemoryItem {
            id: id.into(),
            agent_id: agent.into(),
            kind: "fact".into(),
            text: format!("text of {id}"),
            ts: "2026-01-01T00:00:00Z".into(),
            tags: vec![],
        }
    }

    fn vector_at(index: &Index, place: Place) -> &[f32] {
        let dims = index.dims;
        &index.segments[place.segment].vectors[place.slot * dims..(place.slot + 1) * dims]
    }

    /// Brute force over the f32 vectors, for comparison.
    fn brute(index: &Index, query: &[f32], k: usize) -> Vec<Place> {
        let mut all: Vec<(Place, f32)> = index
            .place_of
            .values()
            .map(|&p| (p, dot_f32(vector_at(index, p), query)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.into_iter().take(k).map(|(p, _)| p).collect()
    }

    #[test]
    fn near_ties_below_the_quantisation_step_are_still_ordered_exactly() {
        // Vectors that differ from the query by less than one i8 step: the quantised
        // scores cannot tell them apart, the rescoring must.
        let dims = 64;
        let mut index = Index::new(dims);
        let mut query = vec![0.0f32; dims];
        query[0] = 1.0;
        query[1] = 0.5;
        normalise(&mut query);
        for i in 0..200 {
            let mut v = query.clone();
            v[2 + i % 60] += 1e-4 * (i as f32 + 1.0);
            v[1] -= 2e-5 * i as f32;
            normalise(&mut v);
            index.upsert(item(&format!("i{i}"), ["a", "b", "c"][i % 3]), &v);
        }
        for k in [1, 5, 10, 50] {
            let got: Vec<Place> = index
                .search(&query, &MemoryFilter::default(), k)
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            assert_eq!(got, brute(&index, &query, k), "k = {k}");
        }
    }

    #[test]
    fn remove_moves_the_last_slot_and_keeps_lookups_right() {
        let mut index = Index::new(2);
        index.upsert(item("a", "x"), &[1.0, 0.0]);
        index.upsert(item("b", "y"), &[0.0, 1.0]);
        index.upsert(item("c", "x"), &[0.6, 0.8]);
        assert!(index.remove("a"));
        assert!(!index.remove("a"));
        assert_eq!(index.len(), 2);
        let c = index.place_of["c"];
        assert_eq!(
            c,
            Place {
                segment: 0,
                slot: 0
            }
        );
        assert_eq!(index.item(c).map(|i| i.id.as_str()), Some("c"));
        assert_eq!(vector_at(&index, c), &[0.6, 0.8]);
        assert_eq!(index.count(&MemoryFilter::agent("x")), 1);
        let top = index.search(&[0.6, 0.8], &MemoryFilter::default(), 1);
        assert_eq!(top[0].0, c);
        assert!(index.remove("c"));
        assert!(index.remove("b"));
        assert_eq!(index.len(), 0);
        assert!(
            index
                .segments
                .iter()
                .all(|s| s.vectors.is_empty() && s.codes.is_empty())
        );
    }

    #[test]
    fn an_item_that_changes_agent_moves_segment() {
        let mut index = Index::new(2);
        index.upsert(item("a", "x"), &[1.0, 0.0]);
        index.upsert(item("b", "x"), &[0.0, 1.0]);
        index.upsert(item("a", "y"), &[0.6, 0.8]);
        assert_eq!(index.len(), 2);
        assert_eq!(index.count(&MemoryFilter::agent("x")), 1);
        assert_eq!(index.count(&MemoryFilter::agent("y")), 1);
        let a = index.place_of["a"];
        assert_eq!(index.item(a).map(|i| i.agent_id.as_str()), Some("y"));
        assert_eq!(vector_at(&index, a), &[0.6, 0.8]);
        let b = index.place_of["b"];
        assert_eq!(
            b,
            Place {
                segment: 0,
                slot: 0
            }
        );
        let top = index.search(&[1.0, 0.0], &MemoryFilter::agent("x"), 5);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, b);
    }

    #[test]
    fn decode_rejects_damaged_entries() {
        let good = encode(&item("a", "x"), &[0.6, 0.8]).expect("encode");
        assert!(decode("a", &good, 2).is_ok());
        assert!(decode("b", &good, 2).unwrap_err().contains("names id"));
        assert!(decode("a", &good[..5], 2).unwrap_err().contains("shorter"));
        assert!(
            decode("a", &good[..12], 2)
                .unwrap_err()
                .contains("not an item")
        );
        let mut nan = good.clone();
        nan[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(decode("a", &nan, 2).unwrap_err().contains("finite"));
    }

    #[tokio::test]
    async fn a_damaged_entry_is_skipped_and_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let memory = LocalMemory::open(dir.path(), &VectorSpace::new("test", 2)).expect("open");
            memory
                .upsert(vec![
                    (item("good", "x"), vec![1.0, 0.0]),
                    (item("bad", "x"), vec![0.0, 1.0]),
                ])
                .await
                .expect("upsert");
            let db = memory.inner.file.handle().expect("handle");
            let txn = db.begin_write().expect("txn");
            {
                let mut table = txn.open_table(ITEMS).expect("table");
                table.insert("bad", b"garbage".as_slice()).expect("insert");
            }
            txn.commit().expect("commit");
        }
        let memory = LocalMemory::open(dir.path(), &VectorSpace::new("test", 2)).expect("reopen");
        assert_eq!(
            memory.count(&MemoryFilter::default()).await.expect("count"),
            1
        );
        assert_eq!(memory.skipped().len(), 1);
        assert!(
            memory.skipped()[0].starts_with("bad: "),
            "{:?}",
            memory.skipped()
        );
        // Writing the id again repairs it.
        memory
            .upsert(vec![(item("bad", "x"), vec![0.0, 1.0])])
            .await
            .expect("upsert");
        drop(memory);
        let memory = LocalMemory::open(dir.path(), &VectorSpace::new("test", 2)).expect("reopen");
        assert!(memory.skipped().is_empty());
        assert_eq!(
            memory.count(&MemoryFilter::default()).await.expect("count"),
            2
        );
    }

    /// A file as an aios from before spaces were recorded wrote it: `meta` with format and
    /// dims, the items, no `meta_text`.
    fn write_old_format_file(dir: &Path, items: &[(MemoryItem, Vec<f32>)], dims: usize) {
        std::fs::create_dir_all(dir).expect("dir");
        let db = Database::create(dir.join(FILE_NAME)).expect("create");
        let txn = db.begin_write().expect("txn");
        {
            let mut meta = txn.open_table(META).expect("meta");
            meta.insert("format", 1u64).expect("format");
            meta.insert("dims", dims as u64).expect("dims");
            let mut table = txn.open_table(ITEMS).expect("items");
            for (item, vector) in items {
                let bytes = encode(item, vector).expect("encode");
                table
                    .insert(item.id.as_str(), bytes.as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    fn has_meta_text(path: &Path) -> Option<String> {
        let db = Database::open(path).expect("open");
        let txn = db.begin_read().expect("txn");
        let table = txn.open_table(META_TEXT).ok()?;
        table
            .get(EMBEDDER_KEY)
            .expect("get")
            .map(|g| g.value().to_string())
    }

    #[tokio::test]
    async fn a_file_from_before_spaces_opens_unrecorded_and_refuses_a_named_embedder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let items = vec![
            (item("b", "x"), vec![1.0, 0.0]),
            (item("a", "y"), vec![0.0, 1.0]),
        ];
        write_old_format_file(dir.path(), &items, 2);

        let err = LocalMemory::open(dir.path(), &VectorSpace::new("hash", 2))
            .err()
            .expect("an unrecorded store with items is not taken for `hash`");
        assert!(matches!(err, MemoryError::SpaceMismatch { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("aios memory reembed"), "{msg}");
        assert!(
            msg.contains("unrecorded") && msg.contains("`hash`"),
            "{msg}"
        );
        assert!(msg.contains(FILE_NAME), "{msg}");
        // The refused open wrote nothing.
        assert_eq!(has_meta_text(&dir.path().join(FILE_NAME)), None);

        // Read as it is, as `aios memory reembed` does.
        let memory = LocalMemory::open(dir.path(), &VectorSpace::unrecorded(2)).expect("open");
        assert_eq!(memory.space(), VectorSpace::unrecorded(2));
        let all = memory
            .scan(&MemoryFilter::default(), None, 10)
            .await
            .expect("scan");
        let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        // Another length is still the dims error.
        drop(memory);
        let err = LocalMemory::open(dir.path(), &VectorSpace::unrecorded(3))
            .err()
            .expect("dims");
        assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_empty_file_from_before_spaces_records_the_embedder_that_opens_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_old_format_file(dir.path(), &[], 2);
        let space = VectorSpace::new("minilm:all-MiniLM-L6-v2", 2);
        let memory = LocalMemory::open(dir.path(), &space).expect("open");
        assert_eq!(memory.space(), space);
        drop(memory);
        assert_eq!(
            has_meta_text(&dir.path().join(FILE_NAME)).as_deref(),
            Some("minilm:all-MiniLM-L6-v2")
        );
        let err = LocalMemory::open(dir.path(), &VectorSpace::new("hash", 2))
            .err()
            .expect("recorded now");
        assert!(matches!(err, MemoryError::SpaceMismatch { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_destroyed_memory_refuses_writes_through_the_old_handle_and_reopens_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = LocalMemory::open(dir.path(), &VectorSpace::new("a", 2)).expect("open");
        memory
            .upsert(vec![(item("x", "x"), vec![1.0, 0.0])])
            .await
            .expect("upsert");
        memory.destroy().await.expect("destroy");
        assert_eq!(
            memory.count(&MemoryFilter::default()).await.expect("count"),
            0
        );
        assert!(
            memory
                .scan(&MemoryFilter::default(), None, 5)
                .await
                .expect("scan")
                .is_empty()
        );
        let err = memory
            .upsert(vec![(item("y", "x"), vec![1.0, 0.0])])
            .await
            .expect_err("destroyed");
        assert!(err.to_string().contains("destroyed"), "{err}");
        // The lock is kept until the handle goes.
        assert!(LocalMemory::open(dir.path(), &VectorSpace::new("b", 3)).is_err());
        drop(memory);
        let memory = LocalMemory::open(dir.path(), &VectorSpace::new("b", 3)).expect("reopen");
        assert_eq!(memory.dims(), 3);
        assert_eq!(memory.space(), VectorSpace::new("b", 3));
    }
}
