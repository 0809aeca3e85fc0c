//! A deterministic local embedder (feature hashing): the offline default.
//! (Skeleton: the full embedder replaces this.)

use async_trait::async_trait;

use super::{Embedder, MemoryError};

#[derive(Debug, Clone)]
pub struct HashEmbedder {
    dims: usize,
}

impl HashEmbedder {
    pub fn new(dims: usize) -> Self {
        Self { dims }
    }

    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let _ = text;
        vec![0.0; self.dims]
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn name(&self) -> String {
        "hash".into()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}
