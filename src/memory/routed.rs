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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Embedder, HashEmbedder, LocalMemory};

    fn item(id: &str, agent: &str, kind: &str, text: &str) -> MemoryItem {
        MemoryItem {
            id: id.into(),
            agent_id: agent.into(),
            kind: kind.into(),
            text: text.into(),
            ts: "2026-12-06T00:00:00Z".into(),
            tags: Vec::new(),
        }
    }

    /// Three local stores: default, strategy-agent's vector store, content-agent's persona.
    fn routed(root: &std::path::Path) -> (RoutedMemory, Vec<Arc<dyn VectorMemory>>) {
        let space = VectorSpace::new("hash", 32);
        let stores: Vec<Arc<dyn VectorMemory>> = ["default", "strategy", "persona"]
            .iter()
            .map(|n| {
                Arc::new(LocalMemory::open(&root.join(n), &space).expect("open"))
                    as Arc<dyn VectorMemory>
            })
            .collect();
        let vector = HashMap::from([("strategy-agent".to_string(), 1)]);
        let persona = HashMap::from([("content-agent".to_string(), 2)]);
        let memory = RoutedMemory::new(stores.clone(), 0, vector, persona).expect("routes");
        (memory, stores)
    }

    #[tokio::test]
    async fn items_go_to_their_agents_stores_and_searches_ask_only_those() {
        let root = tempfile::tempdir().expect("tempdir");
        let (memory, stores) = routed(root.path());
        let hash = HashEmbedder::new(32);
        let items = vec![
            item("a", "strategy-agent", "fact", "expand into the nordics"),
            item("b", "content-agent", "persona", "warm, witty, concise"),
            item("c", "content-agent", "fact", "the blog post is due friday"),
            item("d", "ops-agent", "fact", "deploys on tuesdays"),
        ];
        let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
        let vectors = hash.embed(&texts).await.expect("embed");
        memory
            .upsert(items.into_iter().zip(vectors).collect())
            .await
            .expect("upsert");
        let all = MemoryFilter::default();
        let counts: Vec<u64> = futures::future::join_all(stores.iter().map(|s| s.count(&all)))
            .await
            .into_iter()
            .map(|c| c.expect("count"))
            .collect();
        assert_eq!(counts, vec![2, 1, 1], "default holds c and d");
        assert_eq!(memory.count(&all).await.expect("count"), 4);
        assert_eq!(
            memory
                .count(&MemoryFilter::agent("content-agent"))
                .await
                .expect("count"),
            2,
            "its persona store and the default"
        );

        let q = hash.embed(&["warm witty".to_string()]).await.expect("q");
        let found = memory
            .search(&q[0], &MemoryFilter::agent("content-agent"), 2)
            .await
            .expect("search");
        assert_eq!(
            found[0].item.id, "b",
            "the persona item, from its own store"
        );
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
        let persona_only = MemoryFilter {
            agent_id: Some("content-agent".into()),
            kind: Some("persona".into()),
        };
        let found = memory
            .search(&q[0], &persona_only, 5)
            .await
            .expect("search");
        assert_eq!(found.len(), 1);

        let scanned = memory.scan(&all, None, 10).await.expect("scan");
        let ids: Vec<&str> = scanned.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"], "merged in id order");
        assert_eq!(
            memory
                .delete(&["a".into(), "d".into(), "zz".into()])
                .await
                .expect("delete"),
            2
        );
        assert!(
            memory.destroy().await.is_err(),
            "several stores: rebuild each"
        );
    }

    #[test]
    fn stores_of_different_spaces_are_refused() {
        let root = tempfile::tempdir().expect("tempdir");
        let a: Arc<dyn VectorMemory> = Arc::new(
            LocalMemory::open(&root.path().join("a"), &VectorSpace::new("hash", 8)).expect("a"),
        );
        let b: Arc<dyn VectorMemory> = Arc::new(
            LocalMemory::open(&root.path().join("b"), &VectorSpace::new("other", 8)).expect("b"),
        );
        let err = RoutedMemory::new(vec![a, b], 0, HashMap::new(), HashMap::new())
            .err()
            .expect("mixed spaces");
        assert!(err.to_string().contains("one embedder"), "{err}");
        let c: Arc<dyn VectorMemory> = Arc::new(
            LocalMemory::open(&root.path().join("c"), &VectorSpace::new("hash", 8)).expect("c"),
        );
        assert!(RoutedMemory::new(vec![c], 3, HashMap::new(), HashMap::new()).is_err());
    }
}
