//! Vector memory: the `VectorMemory` and `Embedder` seams and their backends.
//!
//! An item's vector is produced by an `Embedder` and stored with its payload (agent, kind,
//! text, time, tags) in a `VectorMemory`; recall embeds the query and searches by cosine
//! similarity, filtered by agent and kind.
//!
//! Backends: [`LocalMemory`] (redb on disk, no server), [`QdrantMemory`] (gRPC),
//! [`ChromaMemory`] (Chroma's v2 REST API) and [`WeaviateMemory`] (Weaviate's REST v1 and
//! GraphQL). Every one records the [`VectorSpace`] it was built in and applies
//! [`check_space`] at open; `tests/support/memory_contract.rs` is what each must do.

pub mod choose_embedder;
pub mod chroma;
pub mod hash_embedder;
pub mod local;
pub mod minilm;
pub mod ollama_embedder;
pub mod qdrant;
pub mod reembed;
mod rest;
pub mod routed;
pub mod schema;
pub mod select;
pub mod stores;
pub mod weaviate;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use choose_embedder::open_embedder;
pub use chroma::ChromaMemory;
pub use hash_embedder::HashEmbedder;
pub use local::LocalMemory;
pub use minilm::MiniLmEmbedder;
pub use ollama_embedder::OllamaEmbedder;
pub use qdrant::QdrantMemory;
pub use weaviate::WeaviateMemory;

/// One remembered item: the payload stored beside its vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryItem {
    /// Unique id (UUIDv7 text).
    pub id: String,
    pub agent_id: String,
    /// `episodic` (an intent and its outcome), `fact`, `broadcast`, …
    pub kind: String,
    pub text: String,
    /// RFC 3339 time of creation.
    pub ts: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredItem {
    pub item: MemoryItem,
    /// Cosine similarity, higher is closer.
    pub score: f32,
}

/// Which items a search or count considers; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryFilter {
    pub agent_id: Option<String>,
    pub kind: Option<String>,
}

impl MemoryFilter {
    pub fn agent(agent_id: &str) -> Self {
        Self {
            agent_id: Some(agent_id.to_string()),
            kind: None,
        }
    }

    pub fn matches(&self, item: &MemoryItem) -> bool {
        self.agent_id.as_deref().is_none_or(|a| a == item.agent_id)
            && self.kind.as_deref().is_none_or(|k| k == item.kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("vector has {got} dimensions, the memory holds {want}")]
    Dimensions { want: usize, got: usize },
    #[error("memory storage: {0}")]
    Storage(String),
    /// The stored memory was made with other settings (vector size, distance, format); a
    /// configuration to fix, never something to fall back from silently.
    #[error("{0}")]
    Mismatch(String),
    /// A memory server did not answer.
    #[error("{backend} at {url} is not reachable: {reason}")]
    Unreachable {
        backend: &'static str,
        url: String,
        reason: String,
    },
    #[error("embedder: {0}")]
    Embedder(String),
    /// The store's vectors were made by another embedder (or with another length) than the
    /// one running now: comparing them would give meaningless scores.
    #[error(
        "{store} holds vectors of {found}, but the embedder now is {want}; vectors of \
         different embedders never mix: run `aios memory reembed` to rebuild it from the \
         stored text with {want_name}, or go back to the embedder it was built with"
    )]
    SpaceMismatch {
        /// e.g. `the local memory at /data/memory/memory.redb`, `qdrant collection `x``.
        store: String,
        found: VectorSpace,
        want: VectorSpace,
        want_name: String,
    },
}

/// What made a store's vectors: they are only comparable with vectors of the same space.
/// Every store records the space it was built in and refuses another at open
/// ([`check_space`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VectorSpace {
    /// The embedder's name ([`Embedder::name`]), e.g. `hash`, `minilm:all-MiniLM-L6-v2`;
    /// [`VectorSpace::UNRECORDED`] for a store made before aios recorded it.
    pub embedder: String,
    pub dims: usize,
}

impl VectorSpace {
    /// The embedder name of a store built before spaces were recorded: nothing is known of
    /// its vectors but their length.
    pub const UNRECORDED: &'static str = "";

    pub fn new(embedder: impl Into<String>, dims: usize) -> Self {
        Self {
            embedder: embedder.into(),
            dims,
        }
    }

    /// The space of `embedder`'s vectors.
    pub fn of(embedder: &dyn Embedder) -> Self {
        Self::new(embedder.name(), embedder.dims())
    }

    /// A store of `dims`-long vectors whose embedder was never recorded.
    pub fn unrecorded(dims: usize) -> Self {
        Self::new(Self::UNRECORDED, dims)
    }

    pub fn is_recorded(&self) -> bool {
        self.embedder != Self::UNRECORDED
    }
}

impl std::fmt::Display for VectorSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_recorded() {
            write!(f, "`{}` ({} dims)", self.embedder, self.dims)
        } else {
            write!(f, "an unrecorded embedder ({} dims)", self.dims)
        }
    }
}

/// What opening a store does about the space it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceCheck {
    /// Recorded and equal: use it.
    Keep,
    /// Nothing recorded and nothing stored (a new store, or an empty one from before
    /// spaces were recorded): record `want` and use it.
    Record,
}

/// What every backend checks of a vector before it is stored or searched with: its length,
/// and that every value is a finite number (`what` names it in the error).
pub(crate) fn check_vector(dims: usize, vector: &[f32], what: &str) -> Result<(), MemoryError> {
    if vector.len() != dims {
        return Err(MemoryError::Dimensions {
            want: dims,
            got: vector.len(),
        });
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(MemoryError::Storage(format!(
            "vector of {what} has a value that is not a finite number"
        )));
    }
    Ok(())
}

/// The items of an upsert a server store sends: every vector checked first (so a bad one
/// writes nothing), then one per id, the last one given winning, as a sequence of upserts
/// would leave it.
pub(crate) fn last_per_id(
    items: &[(MemoryItem, Vec<f32>)],
    check: impl Fn(&[f32], &str) -> Result<(), MemoryError>,
) -> Result<Vec<&(MemoryItem, Vec<f32>)>, MemoryError> {
    for (item, vector) in items {
        check(vector, &item.id)?;
    }
    let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, (item, _)) in items.iter().enumerate() {
        last.insert(item.id.as_str(), i);
    }
    Ok(items
        .iter()
        .enumerate()
        .filter(|(i, (item, _))| last.get(item.id.as_str()) == Some(i))
        .map(|(_, r)| r)
        .collect())
}

/// The one rule every backend applies at open. `recorded` is what the store says it was
/// built with (`None` when it says nothing), `dims` the length its vectors have (when
/// known), `empty` whether it holds any item. Opening with [`VectorSpace::unrecorded`] of
/// the right length is how `aios memory reembed` reads a store from before spaces were
/// recorded.
pub fn check_space(
    store: &str,
    recorded: Option<&VectorSpace>,
    dims: Option<usize>,
    empty: bool,
    want: &VectorSpace,
) -> Result<SpaceCheck, MemoryError> {
    let mismatch = |found: VectorSpace| MemoryError::SpaceMismatch {
        store: store.to_string(),
        found,
        want: want.clone(),
        want_name: want.embedder.clone(),
    };
    match recorded {
        Some(r) if r == want => Ok(SpaceCheck::Keep),
        Some(r) => Err(mismatch(r.clone())),
        None if empty => Ok(SpaceCheck::Record),
        None => {
            let found = VectorSpace::unrecorded(dims.unwrap_or(want.dims));
            if &found == want {
                Ok(SpaceCheck::Keep)
            } else {
                Err(mismatch(found))
            }
        }
    }
}

/// The memory file could not be opened again after an I/O error.
impl From<crate::redb_file::ReopenError> for MemoryError {
    fn from(e: crate::redb_file::ReopenError) -> Self {
        MemoryError::Storage(e.to_string())
    }
}

/// A store of vectors with payloads, searchable by similarity.
#[async_trait]
pub trait VectorMemory: Send + Sync {
    /// Backend name for the status bar and `doctor`, e.g. `local` or `qdrant`.
    fn name(&self) -> &'static str;
    fn dims(&self) -> usize;
    /// Insert or replace items by id.
    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError>;
    /// The `k` items closest to `vector` that pass `filter`, closest first.
    async fn search(
        &self,
        vector: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError>;
    /// Remove items by id; returns how many existed.
    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError>;
    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError>;
    /// The space the store was opened in (and records).
    fn space(&self) -> VectorSpace;
    /// Up to `limit` items passing `filter` whose id sorts after `after` (byte order), in
    /// id order: how `aios memory reembed` reads every stored text back, a page at a time,
    /// passing the last id of one page as `after` of the next. (Qdrant orders by point id,
    /// which is the id order for the UUIDs the runtime makes; see its module docs.)
    async fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError>;
    /// Remove every item and the recorded space, so the next open builds the store anew
    /// (in any space, of any length). The handle is spent: drop it and open again.
    async fn destroy(&self) -> Result<(), MemoryError>;
}

/// Turns text into vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// e.g. `hash` or `ollama:all-minilm`.
    fn name(&self) -> String;
    fn dims(&self) -> usize;
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: &str = "the test store";

    #[test]
    fn a_recorded_space_equal_to_the_wanted_one_is_kept() {
        let want = VectorSpace::new("hash", 8);
        assert_eq!(
            check_space(STORE, Some(&want), Some(8), false, &want).expect("keep"),
            SpaceCheck::Keep
        );
        assert_eq!(
            check_space(STORE, Some(&want), Some(8), true, &want).expect("keep"),
            SpaceCheck::Keep
        );
    }

    #[test]
    fn another_recorded_embedder_is_refused_naming_both_and_the_fix() {
        let recorded = VectorSpace::new("hash", 384);
        let want = VectorSpace::new("minilm:all-MiniLM-L6-v2", 384);
        // Even an empty store keeps what it records: the record is the owner's choice.
        for empty in [false, true] {
            let err = check_space(STORE, Some(&recorded), Some(384), empty, &want)
                .expect_err("another embedder");
            match &err {
                MemoryError::SpaceMismatch {
                    store,
                    found,
                    want: w,
                    want_name,
                } => {
                    assert_eq!(store, STORE);
                    assert_eq!(found, &recorded);
                    assert_eq!(w, &want);
                    assert_eq!(want_name, "minilm:all-MiniLM-L6-v2");
                }
                other => panic!("{other:?}"),
            }
            let msg = err.to_string();
            for part in [
                STORE,
                "`hash` (384 dims)",
                "`minilm:all-MiniLM-L6-v2` (384 dims)",
                "aios memory reembed",
            ] {
                assert!(msg.contains(part), "`{part}` missing from: {msg}");
            }
        }
        // Another length of the same embedder is another space too.
        assert!(
            check_space(
                STORE,
                Some(&VectorSpace::new("hash", 8)),
                Some(8),
                false,
                &VectorSpace::new("hash", 16)
            )
            .is_err()
        );
    }

    #[test]
    fn an_unrecorded_empty_store_records_the_wanted_space() {
        let want = VectorSpace::new("hash", 8);
        assert_eq!(
            check_space(STORE, None, None, true, &want).expect("record"),
            SpaceCheck::Record
        );
        assert_eq!(
            check_space(STORE, None, Some(8), true, &want).expect("record"),
            SpaceCheck::Record
        );
    }

    #[test]
    fn an_unrecorded_store_with_items_opens_only_as_unrecorded_of_its_length() {
        let err = check_space(STORE, None, Some(8), false, &VectorSpace::new("hash", 8))
            .expect_err("items of an unknown embedder");
        let msg = err.to_string();
        assert!(
            msg.contains("an unrecorded embedder (8 dims)") && msg.contains("`hash`"),
            "{msg}"
        );
        assert_eq!(
            check_space(STORE, None, Some(8), false, &VectorSpace::unrecorded(8)).expect("keep"),
            SpaceCheck::Keep
        );
        // Its length, when known, must still agree.
        let err = check_space(STORE, None, Some(8), false, &VectorSpace::unrecorded(16))
            .expect_err("other length");
        assert!(matches!(
            err,
            MemoryError::SpaceMismatch { ref found, .. } if found == &VectorSpace::unrecorded(8)
        ));
        // Unknown length: the wanted one is taken on trust.
        assert_eq!(
            check_space(STORE, None, None, false, &VectorSpace::unrecorded(16)).expect("keep"),
            SpaceCheck::Keep
        );
    }

    #[test]
    fn spaces_display_their_embedder_or_that_it_is_unknown() {
        assert_eq!(VectorSpace::new("hash", 8).to_string(), "`hash` (8 dims)");
        assert_eq!(
            VectorSpace::unrecorded(8).to_string(),
            "an unrecorded embedder (8 dims)"
        );
        assert!(!VectorSpace::unrecorded(8).is_recorded());
        assert!(VectorSpace::new("hash", 8).is_recorded());
    }
}
