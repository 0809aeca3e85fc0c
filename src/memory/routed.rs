//! One `VectorMemory` over several stores, routing by agent: what per-agent memory schemas
//! look like to the rest of the runtime (the hub, recall, metrics) — one memory. An item
//! goes to its agent's `persona_profile` store when it is of kind
//! [`PERSONA_KIND`](super::schema::PERSONA_KIND) and the agent names one, else to its
//! `vector_store`, else to the default store. A search for one agent asks only the stores
//! that agent uses; a search for everyone asks every store and merges by score.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use super::schema::PERSONA_KIND;
use super::{MemoryError, MemoryFilter, MemoryItem, ScoredItem, VectorMemory, VectorSpace};

/// The stores and which agent uses which. Stores are told apart by index into `stores`,
/// so a backend named by several agents (and the default) is opened and asked once.
pub struct RoutedMemory {
    stores: Vec<Arc<dyn VectorMemory>>,
    /// Index of the default store.
    default: usize,
    vector: HashMap<String, usize>,
    persona: HashMap<String, usize>,
}

impl RoutedMemory {
    /// `stores[default]` takes every agent not named in `vector` (for its items) or
    /// `persona` (for its persona items).
    pub fn new(
        stores: Vec<Arc<dyn VectorMemory>>,
        default: usize,
        vector: HashMap<String, usize>,
        persona: HashMap<String, usize>,
    ) -> Result<Self, MemoryError> {
        let n = stores.len();
        if default >= n || vector.values().chain(persona.values()).any(|&i| i >= n) {
            return Err(MemoryError::Storage(
                "memory routing names a store that was not opened".into(),
            ));
        }
        let space = stores[default].space();
        if let Some(other) = stores.iter().find(|s| s.space() != space) {
            return Err(MemoryError::Storage(format!(
                "the {} memory is in {} but the default one in {space}: one embedder serves every store",
                other.name(),
                other.space()
            )));
        }
        Ok(Self {
            stores,
            default,
            vector,
            persona,
        })
    }

    fn vector_of(&self, agent: &str) -> usize {
        self.vector.get(agent).copied().unwrap_or(self.default)
    }

    /// The store an item goes to.
    fn store_for(&self, item: &MemoryItem) -> usize {
        if item.kind == PERSONA_KIND
            && let Some(&i) = self.persona.get(&item.agent_id)
        {
            return i;
        }
        self.vector_of(&item.agent_id)
    }

    /// Every store that may hold items passing `filter`, each once.
    fn stores_for(&self, filter: &MemoryFilter) -> BTreeSet<usize> {
        let Some(agent) = &filter.agent_id else {
            return (0..self.stores.len()).collect();
        };
        let persona = self.persona.get(agent).copied();
        let vector = self.vector_of(agent);
        match (filter.kind.as_deref(), persona) {
            (Some(PERSONA_KIND), Some(p)) => [p].into(),
            (Some(_), _) | (None, None) => [vector].into(),
            (None, Some(p)) => [vector, p].into(),
        }
    }

    /// The stores opened, each once.
    pub fn stores(&self) -> &[Arc<dyn VectorMemory>] {
        &self.stores
    }
}

#[async_trait]
impl VectorMemory for RoutedMemory {
    fn name(&self) -> &'static str {
        self.stores[self.default].name()
    }

    fn dims(&self) -> usize {
        self.stores[self.default].dims()
    }

    fn space(&self) -> VectorSpace {
        self.stores[self.default].space()
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        let mut by_store: HashMap<usize, Vec<(MemoryItem, Vec<f32>)>> = HashMap::new();
        for (item, vector) in items {
            by_store
                .entry(self.store_for(&item))
                .or_default()
                .push((item, vector));
        }
        for (i, items) in by_store {
            self.stores[i].upsert(items).await?;
        }
        Ok(())
    }

    async fn search(
        &self,
        vector: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError> {
        let stores = self.stores_for(filter);
        let mut found = Vec::new();
        for i in stores {
            found.extend(self.stores[i].search(vector, filter, k).await?);
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(k);
        Ok(found)
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let mut n = 0;
        for store in &self.stores {
            n += store.delete(ids).await?;
        }
        Ok(n)
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        let mut n = 0;
        for i in self.stores_for(filter) {
            n += self.stores[i].count(filter).await?;
        }
        Ok(n)
    }

    async fn scan(
        &self,
        filter: &MemoryFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MemoryItem>, MemoryError> {
        let mut found = Vec::new();
        for i in self.stores_for(filter) {
            found.extend(self.stores[i].scan(filter, after, limit).await?);
        }
        found.sort_by(|a, b| a.id.cmp(&b.id));
        found.truncate(limit);
        Ok(found)
    }

    async fn destroy(&self) -> Result<(), MemoryError> {
        Err(MemoryError::Storage(
            "several stores are in use: rebuild each one (aios memory reembed does)".into(),
        ))
    }
}
