//! Per-agent memory schemas for state: an agent whose `chat_history` or `content_trace` is
//! `local` keeps those lists in this node's embedded store while everything else lives in
//! the runtime's main store (Redis, shared by every node). Every other part — goals,
//! persona, hooks, contexts — stays in the main store, the one truth.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::store::{Modifier, Store, StoreError};
use super::types::{ChatTurn, ContextVersion, NewContext, Part, Trace, VersionInfo};

pub struct RoutedStore {
    main: Arc<dyn Store>,
    local: Arc<dyn Store>,
    /// Agents whose chat turns are kept in `local`.
    local_chat: HashSet<String>,
    /// Agents whose traces (`content_trace`) are kept in `local`.
    local_traces: HashSet<String>,
}

impl RoutedStore {
    pub fn new(
        main: Arc<dyn Store>,
        local: Arc<dyn Store>,
        local_chat: HashSet<String>,
        local_traces: HashSet<String>,
    ) -> Self {
        Self {
            main,
            local,
            local_chat,
            local_traces,
        }
    }

    fn chat_store(&self, agent_id: &str) -> &dyn Store {
        if self.local_chat.contains(agent_id) {
            &*self.local
        } else {
            &*self.main
        }
    }

    fn trace_store(&self, agent_id: &str) -> &dyn Store {
        if self.local_traces.contains(agent_id) {
            &*self.local
        } else {
            &*self.main
        }
    }
}

#[async_trait]
impl Store for RoutedStore {
    fn name(&self) -> &'static str {
        self.main.name()
    }

    async fn get(&self, agent_id: &str, part: Part) -> Result<Option<Value>, StoreError> {
        self.main.get(agent_id, part).await
    }

    async fn modify(
        &self,
        agent_id: &str,
        part: Part,
        modify: Modifier,
    ) -> Result<Value, StoreError> {
        self.main.modify(agent_id, part, modify).await
    }

    async fn append_trace(
        &self,
        agent_id: &str,
        trace: Trace,
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.trace_store(agent_id)
            .append_trace(agent_id, trace, keep)
            .await
    }

    async fn traces(&self, agent_id: &str, limit: usize) -> Result<Vec<Trace>, StoreError> {
        self.trace_store(agent_id).traces(agent_id, limit).await
    }

    async fn append_chat(
        &self,
        agent_id: &str,
        turn: ChatTurn,
        keep: u32,
    ) -> Result<u64, StoreError> {
        self.chat_store(agent_id)
            .append_chat(agent_id, turn, keep)
            .await
    }

    async fn chat(&self, agent_id: &str, limit: usize) -> Result<Vec<ChatTurn>, StoreError> {
        self.chat_store(agent_id).chat(agent_id, limit).await
    }

    async fn push_context(
        &self,
        agent_id: &str,
        new: NewContext,
        keep: u32,
    ) -> Result<ContextVersion, StoreError> {
        self.main.push_context(agent_id, new, keep).await
    }

    async fn context(
        &self,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Option<ContextVersion>, StoreError> {
        self.main.context(agent_id, version).await
    }

    async fn versions(&self, agent_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        self.main.versions(agent_id).await
    }
}
