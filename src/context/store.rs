//! The `Store` seam: where per-agent state lives (embedded redb, or Redis shared by nodes).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::types::{ChatTurn, ContextVersion, NewContext, Part, Trace, VersionInfo};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Backend(String),
    #[error("state store holds unreadable data for {what}: {message}")]
    Corrupt { what: String, message: String },
    #[error("{0}")]
    Rejected(String),
}

/// The state file could not be opened again after an I/O error.
impl From<crate::redb_file::ReopenError> for StoreError {
    fn from(e: crate::redb_file::ReopenError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// A read-modify-write step, run atomically by the store (maybe more than once, on a
/// backend that retries after a conflict, so it must be pure).
pub type Modifier = Arc<dyn Fn(Option<Value>) -> Result<Value, StoreError> + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync {
    /// e.g. `embedded` or `redis`.
    fn name(&self) -> &'static str;

    async fn get(&self, agent_id: &str, part: Part) -> Result<Option<Value>, StoreError>;

    /// Atomically replace the part with `modify(current)`; returns the new value.
    async fn modify(
        &self,
        agent_id: &str,
        part: Part,
        modify: Modifier,
    ) -> Result<Value, StoreError>;

    /// Append a trace, keeping the newest `keep`; returns its sequence number.
    async fn append_trace(
        &self,
        agent_id: &str,
        trace: Trace,
        keep: u32,
    ) -> Result<u64, StoreError>;

    /// The newest `limit` traces, oldest first.
    async fn traces(&self, agent_id: &str, limit: usize) -> Result<Vec<Trace>, StoreError>;

    /// Append a chat turn, keeping the newest `keep`; returns its sequence number.
    async fn append_chat(
        &self,
        agent_id: &str,
        turn: ChatTurn,
        keep: u32,
    ) -> Result<u64, StoreError>;

    /// The newest `limit` chat turns, oldest first.
    async fn chat(&self, agent_id: &str, limit: usize) -> Result<Vec<ChatTurn>, StoreError>;

    /// Write the next context version atomically (version = latest + 1), keeping the
    /// newest `keep` versions.
    async fn push_context(
        &self,
        agent_id: &str,
        new: NewContext,
        keep: u32,
    ) -> Result<ContextVersion, StoreError>;

    /// A version, or the latest when `version` is `None`.
    async fn context(
        &self,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Option<ContextVersion>, StoreError>;

    /// Every kept version, oldest first.
    async fn versions(&self, agent_id: &str) -> Result<Vec<VersionInfo>, StoreError>;
}
