//! Ollama's model-management and embedding endpoints: version, tags, ps, embed, pull
//! (streamed progress), blobs and create (a base model plus a LoRA adapter).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::LlmError;
use super::ndjson::NdjsonFramer;
use super::transport::{Endpoint, Timeouts, json_error};

/// A client for one Ollama server's management API.
#[derive(Debug, Clone)]
pub struct OllamaApi {
    endpoint: Endpoint,
}

/// `details` of a model as `/api/tags` and `/api/ps` report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelDetails {
    /// e.g. `gguf`.
    pub format: String,
    /// e.g. `llama`.
    pub family: String,
    /// e.g. `8.0B`.
    pub parameter_size: String,
    /// e.g. `Q4_K_M`.
    pub quantization_level: String,
}

/// One model from `/api/tags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalModel {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub modified_at: String,
    #[serde(default)]
    pub details: ModelDetails,
}

/// One loaded model from `/api/ps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningModel {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub size_vram: u64,
    #[serde(default)]
    pub expires_at: String,
    #[serde(default)]
    pub details: ModelDetails,
}

/// One status line of `/api/pull` or `/api/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    pub status: String,
    pub digest: Option<String>,
    pub total: Option<u64>,
    pub completed: Option<u64>,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<LocalModel>,
}

#[derive(Deserialize)]
struct Ps {
    #[serde(default)]
    models: Vec<RunningModel>,
}

#[derive(Deserialize)]
struct Version {
    version: String,
}

#[derive(Deserialize)]
struct Embeddings {
    embeddings: Vec<Vec<f32>>,
}

impl OllamaApi {
    pub fn new(url: &str, timeouts: Timeouts) -> Result<Self, LlmError> {
        Ok(Self {
            endpoint: Endpoint::new("ollama", url, timeouts)?,
        })
    }

    pub fn url(&self) -> &str {
        self.endpoint.base()
    }

    /// `GET /api/version`, e.g. `0.12.3`.
    pub async fn version(&self) -> Result<String, LlmError> {
        Ok(self
            .endpoint
            .get_json::<Version>("/api/version")
            .await?
            .version)
    }

    /// `GET /api/tags`: the models pulled on this server.
    pub async fn tags(&self) -> Result<Vec<LocalModel>, LlmError> {
        Ok(self.endpoint.get_json::<Tags>("/api/tags").await?.models)
    }

    /// `GET /api/ps`: the models loaded in memory now.
    pub async fn ps(&self) -> Result<Vec<RunningModel>, LlmError> {
        Ok(self.endpoint.get_json::<Ps>("/api/ps").await?.models)
    }

    /// `POST /api/embed` with a batch of texts; one vector per text, in order.
    pub async fn embed(&self, model: &str, input: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let url = self.endpoint.url("/api/embed");
        let body = json!({"model": model, "input": input});
        let resp = self
            .endpoint
            .send_raw(
                |c| c.post(&url).json(&body),
                self.endpoint.timeouts.first_token,
            )
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(LlmError::ModelNotFound {
                model: model.into(),
                url: self.url().into(),
            });
        }
        if !resp.status().is_success() {
            return Err(self.endpoint.http_error(resp).await);
        }
        let got: Embeddings = self.endpoint.read_json(resp).await?;
        if got.embeddings.len() != input.len() {
            return Err(LlmError::Runner(format!(
                "ollama at {} returned {} embeddings for {} texts",
                self.url(),
                got.embeddings.len(),
                input.len()
            )));
        }
        Ok(got.embeddings)
    }

    /// `POST /api/pull`, reporting each status line to `progress` until `success`.
    pub async fn pull(&self, model: &str, progress: impl FnMut(&Progress)) -> Result<(), LlmError> {
        self.streamed(
            "/api/pull",
            &json!({"model": model, "stream": true}),
            progress,
        )
        .await
    }

    /// `POST /api/create` of `model` from the model `from` with LoRA `adapters`
    /// (file name → `sha256:<hex>` of a blob already on the server).
    pub async fn create(
        &self,
        model: &str,
        from: &str,
        adapters: &BTreeMap<String, String>,
        progress: impl FnMut(&Progress),
    ) -> Result<(), LlmError> {
        let mut body = json!({"model": model, "from": from, "stream": true});
        if !adapters.is_empty() {
            body["adapters"] = json!(adapters);
        }
        self.streamed("/api/create", &body, progress).await
    }

    /// `HEAD /api/blobs/<digest>`: is this blob on the server already?
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, LlmError> {
        let url = self.endpoint.url(&format!("/api/blobs/{digest}"));
        let resp = self
            .endpoint
            .send_raw(|c| c.head(&url), self.endpoint.timeouts.first_token)
            .await?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.endpoint.http_error(resp).await),
        }
    }

    /// Put a file on the server as a blob (`POST /api/blobs/sha256:<hex>`) unless it is
    /// there already; returns its digest `sha256:<hex>`.
    pub async fn push_blob(&self, path: &Path) -> Result<String, LlmError> {
        let local =
            |e: std::io::Error| LlmError::Runner(format!("cannot read {}: {e}", path.display()));
        let digest = format!("sha256:{}", file_sha256(path).await.map_err(local)?);
        if self.blob_exists(&digest).await? {
            return Ok(digest);
        }
        let size = tokio::fs::metadata(path).await.map_err(local)?.len();
        let url = self.endpoint.url(&format!("/api/blobs/{digest}"));
        // An upload may take long; allow for a slow 1 MB/s link on top of the usual wait.
        let within = self.endpoint.timeouts.first_token + Duration::from_secs(size / 1_000_000);
        let path = path.to_path_buf();
        let resp = self
            .endpoint
            .send(
                |c| {
                    let body = match std::fs::File::open(&path) {
                        Ok(f) => reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(
                            tokio::fs::File::from_std(f),
                        )),
                        Err(_) => reqwest::Body::from(Vec::new()),
                    };
                    c.post(&url)
                        .header(reqwest::header::CONTENT_LENGTH, size)
                        .body(body)
                },
                within,
            )
            .await?;
        drop(resp);
        Ok(digest)
    }

    /// POST a request whose answer is NDJSON status lines; an `error` line is the error.
    async fn streamed(
        &self,
        path: &str,
        body: &Value,
        mut progress: impl FnMut(&Progress),
    ) -> Result<(), LlmError> {
        let url = self.endpoint.url(path);
        let t = self.endpoint.timeouts;
        let mut resp = self
            .endpoint
            .send(|c| c.post(&url).json(body), t.first_token)
            .await?;
        let mut framer = NdjsonFramer::new();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut success = false;
        let mut wait = t.first_token;
        loop {
            let chunk = tokio::time::timeout(wait, resp.chunk())
                .await
                .map_err(|_| {
                    self.endpoint
                        .timeout(format!("no progress for {} ms", wait.as_millis()))
                })?
                .map_err(|e| LlmError::Interrupted(super::transport::one_line(&e)))?;
            // Verifying a large download can be silent for a while.
            wait = t.idle.max(t.first_token);
            let ended = chunk.is_none();
            match chunk {
                Some(bytes) => framer
                    .push(&bytes, |l| lines.push(l.to_vec()))
                    .map_err(|e| LlmError::Runner(e.to_string()))?,
                None => framer.finish(|l| lines.push(l.to_vec())),
            }
            for line in lines.drain(..) {
                let v: Value = serde_json::from_slice(&line).map_err(|e| {
                    LlmError::Runner(format!(
                        "ollama at {} sent a status line that is not JSON: {e}",
                        self.url()
                    ))
                })?;
                if let Some(e) = json_error(&v) {
                    return Err(LlmError::Runner(format!("ollama at {}: {e}", self.url())));
                }
                let p: Progress = serde_json::from_value(v).unwrap_or_default();
                success |= p.status == "success";
                progress(&p);
            }
            if ended {
                return if success {
                    Ok(())
                } else {
                    Err(LlmError::Interrupted(format!(
                        "ollama at {} ended {path} without `success`",
                        self.url()
                    )))
                };
            }
        }
    }
}

/// The hex SHA-256 of a file, read in pieces (adapters can be large).
async fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
