//! The Ollama embedder (`/api/embed`, batched).

use async_trait::async_trait;

use super::{Embedder, MemoryError};
use crate::llm::Timeouts;
use crate::llm::ollama_api::OllamaApi;

/// Texts per `/api/embed` request: large batches are faster, but one request must not
/// hold a huge body.
const BATCH: usize = 64;

/// Embeddings from a model served by Ollama (e.g. `all-minilm`, 384 dims).
#[derive(Debug, Clone)]
pub struct OllamaEmbedder {
    api: OllamaApi,
    model: String,
    dims: usize,
}

impl OllamaEmbedder {
    /// Connect and embed a probe text: a model that is missing, or whose vectors are not
    /// `dims` long, is an error now rather than at the first memory write.
    pub async fn open(
        url: &str,
        model: &str,
        dims: usize,
        timeouts: Timeouts,
    ) -> Result<Self, MemoryError> {
        let api =
            OllamaApi::new(url, timeouts).map_err(|e| MemoryError::Embedder(e.to_string()))?;
        let probe = api
            .embed(model, &["dimension probe".to_string()])
            .await
            .map_err(|e| MemoryError::Embedder(e.to_string()))?;
        let got = probe.first().map_or(0, Vec::len);
        if got != dims {
            return Err(MemoryError::Embedder(format!(
                "embedding model {model} on {url} makes {got}-dimensional vectors, but \
                 memory.dims = {dims}; set memory.dims = {got} (with a fresh memory) or pick \
                 a {dims}-dimensional model"
            )));
        }
        Ok(Self {
            api,
            model: model.to_string(),
            dims,
        })
    }
}

#[async_trait]
impl Embedder for OllamaEmbedder {
    fn name(&self) -> String {
        format!("ollama:{}", self.model)
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let vectors = self
                .api
                .embed(&self.model, batch)
                .await
                .map_err(|e| MemoryError::Embedder(e.to_string()))?;
            for v in vectors {
                if v.len() != self.dims {
                    return Err(MemoryError::Dimensions {
                        want: self.dims,
                        got: v.len(),
                    });
                }
                out.push(v);
            }
        }
        Ok(out)
    }
}
