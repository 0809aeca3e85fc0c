//! Local on-disk vector memory: needs no server.
//! (Skeleton: the full backend replaces this.)

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{MemoryError, MemoryFilter, MemoryItem, ScoredItem, VectorMemory};

pub struct LocalMemory {
    dims: usize,
    items: Mutex<Vec<(MemoryItem, Vec<f32>)>>,
}

impl LocalMemory {
    /// Open (or create) the memory stored under `dir`.
    pub fn open(dir: &Path, dims: usize) -> Result<Self, MemoryError> {
        let _ = dir;
        Ok(Self {
            dims,
            items: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl VectorMemory for LocalMemory {
    fn name(&self) -> &'static str {
        "local"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn upsert(&self, items: Vec<(MemoryItem, Vec<f32>)>) -> Result<(), MemoryError> {
        let mut all = self
            .items
            .lock()
            .map_err(|e| MemoryError::Storage(e.to_string()))?;
        all.extend(items);
        Ok(())
    }

    async fn search(
        &self,
        _vector: &[f32],
        filter: &MemoryFilter,
        k: usize,
    ) -> Result<Vec<ScoredItem>, MemoryError> {
        let all = self
            .items
            .lock()
            .map_err(|e| MemoryError::Storage(e.to_string()))?;
        Ok(all
            .iter()
            .rev()
            .filter(|(i, _)| filter.matches(i))
            .take(k)
            .map(|(i, _)| ScoredItem {
                item: i.clone(),
                score: 0.0,
            })
            .collect())
    }

    async fn delete(&self, ids: &[String]) -> Result<usize, MemoryError> {
        let mut all = self
            .items
            .lock()
            .map_err(|e| MemoryError::Storage(e.to_string()))?;
        let before = all.len();
        all.retain(|(i, _)| !ids.contains(&i.id));
        Ok(before - all.len())
    }

    async fn count(&self, filter: &MemoryFilter) -> Result<u64, MemoryError> {
        let all = self
            .items
            .lock()
            .map_err(|e| MemoryError::Storage(e.to_string()))?;
        Ok(all.iter().filter(|(i, _)| filter.matches(i)).count() as u64)
    }
}
