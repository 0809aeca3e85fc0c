//! Vector memory: the `VectorMemory` and `Embedder` seams and their backends.
//!
//! An item's vector is produced by an `Embedder` and stored with its payload (agent, kind,
//! text, time, tags) in a `VectorMemory`; recall embeds the query and searches by cosine
//! similarity, filtered by agent and kind.

pub mod hash_embedder;
pub mod local;
pub mod ollama_embedder;
pub mod qdrant;
pub mod select;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use hash_embedder::HashEmbedder;
pub use local::LocalMemory;
pub use ollama_embedder::{OllamaEmbedder, open_embedder};
pub use qdrant::QdrantMemory;

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
}

/// A message from the storage layer underneath (used by [`crate::redb_file::RedbFile`]).
impl From<String> for MemoryError {
    fn from(message: String) -> Self {
        MemoryError::Storage(message)
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
}

/// Turns text into vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// e.g. `hash` or `ollama:all-minilm`.
    fn name(&self) -> String;
    fn dims(&self) -> usize;
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError>;
}
