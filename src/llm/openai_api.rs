//! The OpenAI-compatible server's listing and embedding endpoints: `GET {url}/models`,
//! `POST {url}/embeddings`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::LlmError;
use super::transport::{Endpoint, Timeouts};

#[derive(Debug, Clone)]
pub struct OpenAiApi {
    endpoint: Endpoint,
}

/// One entry of `/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedModel {
    pub id: String,
    #[serde(default)]
    pub owned_by: String,
}

#[derive(Deserialize)]
struct Models {
    #[serde(default)]
    data: Vec<ServedModel>,
}

#[derive(Deserialize)]
struct Embeddings {
    data: Vec<Embedding>,
}

#[derive(Deserialize)]
struct Embedding {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiApi {
    pub fn new(url: &str, timeouts: Timeouts) -> Result<Self, LlmError> {
        crate::config::check_open_model_url("llm.openai.url", url)
            .map_err(|v| LlmError::Runner(v.to_string()))?;
        Ok(Self {
            endpoint: Endpoint::new("openai", url, timeouts)?,
        })
    }

    pub fn url(&self) -> &str {
        self.endpoint.base()
    }

    /// `GET {url}/models`: the models this server serves.
    pub async fn models(&self) -> Result<Vec<ServedModel>, LlmError> {
        Ok(self.endpoint.get_json::<Models>("/models").await?.data)
    }

    /// `POST {url}/embeddings`: one vector per text, in the order given.
    pub async fn embeddings(
        &self,
        model: &str,
        input: &[String],
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let got: Embeddings = self
            .endpoint
            .post_json("/embeddings", &json!({"model": model, "input": input}))
            .await?;
        let mut data = got.data;
        data.sort_by_key(|e| e.index);
        if data.len() != input.len() {
            return Err(LlmError::Runner(format!(
                "openai at {} returned {} embeddings for {} texts",
                self.url(),
                data.len(),
                input.len()
            )));
        }
        Ok(data.into_iter().map(|e| e.embedding).collect())
    }
}
