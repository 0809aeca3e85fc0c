//! The embedded `Store`: agent state in one redb file under the data dir.
//!
//! redb because it is pure Rust (no C toolchain, no server), ACID with serialized write
//! transactions — which is what makes "8 concurrent writers, no lost update, versions
//! strictly increase" hold without any locking of our own — and crash-safe by design.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::redb_file::RedbFile;
use serde_json::Value;

use super::store::{Modifier, Store, StoreError};
use super::types::{ChatTurn, ContextVersion, NewContext, Part, Trace, VersionInfo};

/// (agent_id, part) → JSON value.
const STATE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("state");
/// (agent_id, seq) → JSON `Trace`.
const TRACES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("traces");
/// (agent_id, seq) → JSON `ChatTurn`.
const CHAT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("chat");
/// (agent_id, version) → JSON `ContextVersion`.
const CONTEXTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("contexts");

#[derive(Clone)]
pub struct EmbeddedStore {
    /// Reopened on its own after an I/O error (a full disk) once the cause is gone.
    file: Arc<RedbFile>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(backend)
}

impl EmbeddedStore {
    /// Open or create `state.redb` at `path`.
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", parent.display())))?;
        }
        let file = RedbFile::open(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Backend(format!(
                "{} is open in another aios process (one owner per data dir)",
                path.display()
            )),
            other => StoreError::Backend(format!("{}: {other}", path.display())),
        })?;
        // Create the tables once so readers never meet a missing table.
        file.run(|db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(STATE).map_err(backend)?;
            txn.open_table(TRACES).map_err(backend)?;
            txn.open_table(CHAT).map_err(backend)?;
            txn.open_table(CONTEXTS).map_err(backend)?;
            txn.commit().map_err(backend)
        })?;
        Ok(EmbeddedStore {
            file: Arc::new(file),
        })
    }

    /// Append a row numbered after the agent's last one, keeping the newest `keep`, in one
    /// write transaction (so numbers never repeat under concurrent writers).
    async fn append_numbered<T>(
        &self,
        def: TableDefinition<'static, (&'static str, u64), &'static [u8]>,
        agent_id: &str,
        mut row: T,
        keep: u32,
        number: fn(&mut T, u64),
    ) -> Result<u64, StoreError>
    where
        T: serde::Serialize + Send + 'static,
    {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let seq = {
                let mut table = txn.open_table(def).map_err(backend)?;
                let last = table
                    .range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))
                    .map_err(backend)?
                    .next_back()
                    .transpose()
                    .map_err(backend)?
                    .map(|(k, _)| k.value().1);
                let seq = last.map_or(1, |s| s + 1);
                number(&mut row, seq);
                table
                    .insert((agent.as_str(), seq), encode(&row)?.as_slice())
                    .map_err(backend)?;
                let floor = seq.saturating_sub(u64::from(keep.max(1)));
                if floor > 0 {
                    table
                        .retain_in((agent.as_str(), 0)..=(agent.as_str(), floor), |_, _| false)
                        .map_err(backend)?;
                }
                seq
            };
            txn.commit().map_err(backend)?;
            Ok(seq)
        })
        .await
    }

    /// The newest `limit` rows of an agent, oldest first.
    async fn newest<T>(
        &self,
        def: TableDefinition<'static, (&'static str, u64), &'static [u8]>,
        agent_id: &str,
        limit: usize,
        part: &'static str,
    ) -> Result<Vec<T>, StoreError>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(def).map_err(backend)?;
            let mut out = Vec::new();
            for row in table
                .range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))
                .map_err(backend)?
                .rev()
                .take(limit)
            {
                let (_, v) = row.map_err(backend)?;
                out.push(decode(&format!("{agent}/{part}"), v.value())?);
            }
            out.reverse();
            Ok(out)
        })
        .await
    }

    /// Run blocking redb work off the async workers.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.run(f))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn get(&self, agent_id: &str, part: Part) -> Result<Option<Value>, StoreError> {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(STATE).map_err(backend)?;
            match table
                .get((agent.as_str(), part.as_str()))
                .map_err(backend)?
            {
                Some(v) => decode(&format!("{agent}/{}", part.as_str()), v.value()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn modify(
        &self,
        agent_id: &str,
        part: Part,
        modify: Modifier,
    ) -> Result<Value, StoreError> {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let new = {
                let mut table = txn.open_table(STATE).map_err(backend)?;
                let key = (agent.as_str(), part.as_str());
                let current = match table.get(key).map_err(backend)? {
                    Some(v) => Some(decode(&format!("{agent}/{}", part.as_str()), v.value())?),
                    None => None,
                };
                let new = modify(current)?;
                table
                    .insert(key, encode(&new)?.as_slice())
                    .map_err(backend)?;
                new
            };
            txn.commit().map_err(backend)?;
            Ok(new)
        })
        .await
    }

    async fn append_trace(
        &self,
        agent_id: &str,
        trace: Trace,
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.append_numbered(TRACES, agent_id, trace, keep, |t, seq| t.seq = seq)
            .await
    }

    async fn traces(&self, agent_id: &str, limit: usize) -> Result<Vec<Trace>, StoreError> {
        self.newest(TRACES, agent_id, limit, "behavioral_traces")
            .await
    }

    async fn append_chat(
        &self,
        agent_id: &str,
        turn: ChatTurn,
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.append_numbered(CHAT, agent_id, turn, keep, |t, seq| t.seq = seq)
            .await
    }

    async fn chat(&self, agent_id: &str, limit: usize) -> Result<Vec<ChatTurn>, StoreError> {
        self.newest(CHAT, agent_id, limit, "chat_history").await
    }

    async fn push_context(
        &self,
        agent_id: &str,
        new: NewContext,
        keep: u32,
    ) -> Result<ContextVersion, StoreError> {
        let mut version = ContextVersion::unnumbered(agent_id, new);
        version.version = self
            .append_numbered(CONTEXTS, agent_id, version.clone(), keep, |v, n| {
                v.version = n
            })
            .await?;
        Ok(version)
    }

    async fn context(
        &self,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Option<ContextVersion>, StoreError> {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(CONTEXTS).map_err(backend)?;
            let row = match version {
                Some(v) => table.get((agent.as_str(), v)).map_err(backend)?,
                None => table
                    .range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))
                    .map_err(backend)?
                    .next_back()
                    .transpose()
                    .map_err(backend)?
                    .map(|(_, v)| v),
            };
            match row {
                Some(v) => decode(&format!("{agent}/context"), v.value()).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn versions(&self, agent_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let agent = agent_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(CONTEXTS).map_err(backend)?;
            let mut out = Vec::new();
            for row in table
                .range((agent.as_str(), 0)..=(agent.as_str(), u64::MAX))
                .map_err(backend)?
            {
                let (_, v) = row.map_err(backend)?;
                let cv: ContextVersion = decode(&format!("{agent}/context"), v.value())?;
                out.push(VersionInfo::from(&cv));
            }
            Ok(out)
        })
        .await
    }
}
