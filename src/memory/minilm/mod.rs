//! sentence-transformers/all-MiniLM-L6-v2 in process: semantic memory with no server and
//! no network, on the CPU (candle's BERT, the model's own tokenizer).
//!
//! The model runs on one dedicated thread, never on the async workers. Requests queue to it
//! and are coalesced: whatever has queued while a pass ran goes into the next one, so ten
//! agents recalling at once cost about one batched pass, not ten. The queue is bounded, so
//! a flood of writers waits instead of growing memory.

pub mod locate;
pub mod model;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

pub use locate::{NotFound, Places};
pub use model::{LoadError, MiniLm, PassError};

use super::{Embedder, MemoryError};

/// Requests waiting for the model thread; a sender beyond it waits.
const QUEUE: usize = 256;
/// Texts one coalesced pass takes at most, so one pass never holds a caller for long.
const COALESCE_TEXTS: usize = model::BATCH * 8;

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, MemoryError>>;

/// The [`Embedder`] over a loaded [`MiniLm`]; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct MiniLmEmbedder {
    name: String,
    dims: usize,
    model: Arc<MiniLm>,
    queue: mpsc::Sender<(Vec<String>, Reply)>,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("name", &self.name)
            .field("dir", &self.model.dir())
            .finish()
    }
}

impl MiniLmEmbedder {
    /// Load the model in `dir` (about a second: 90 MB of weights) off the async workers and
    /// start its thread.
    pub async fn load(dir: &Path) -> Result<Self, MemoryError> {
        let dir = dir.to_path_buf();
        let model = tokio::task::spawn_blocking(move || MiniLm::load(&dir))
            .await
            .map_err(|e| MemoryError::Embedder(format!("loading MiniLM stopped: {e}")))?
            .map_err(|e| MemoryError::Embedder(format!("loading MiniLM: {e}")))?;
        Self::start(Arc::new(model))
    }

    /// Start the model thread for an already loaded model.
    pub fn start(model: Arc<MiniLm>) -> Result<Self, MemoryError> {
        let (queue, requests) = mpsc::channel(QUEUE);
        let worker = Arc::clone(&model);
        std::thread::Builder::new()
            .name("minilm".into())
            .spawn(move || serve(&worker, requests))
            .map_err(|e| MemoryError::Embedder(format!("starting the MiniLM thread: {e}")))?;
        Ok(Self {
            name: format!("minilm:{}", model.label()),
            dims: model.dims(),
            model,
            queue,
        })
    }

    /// The loaded model (its directory, size).
    pub fn model(&self) -> &MiniLm {
        &self.model
    }
}

/// The model thread: take one request, then whatever else is already waiting (up to
/// [`COALESCE_TEXTS`]), run them as one pass, answer each. Ends when every sender is gone.
fn serve(model: &MiniLm, mut requests: mpsc::Receiver<(Vec<String>, Reply)>) {
    while let Some(first) = requests.blocking_recv() {
        let mut taken = vec![first];
        let mut texts = taken[0].0.len();
        while texts < COALESCE_TEXTS {
            match requests.try_recv() {
                Ok(next) => {
                    texts += next.0.len();
                    taken.push(next);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&str> = taken
            .iter()
            .flat_map(|(t, _)| t.iter().map(String::as_str))
            .collect();
        // A panic inside the model must not end semantic memory for the process: it fails
        // this pass's callers, and the thread goes on with the next.
        let pass = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.embed(&all)))
            .unwrap_or(Err(PassError::Panicked));
        match pass {
            Ok(vectors) => {
                let mut vectors = vectors.into_iter();
                for (t, reply) in taken {
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(t.len()).collect();
                    // A caller that gave up (dropped its future) is no one's loss.
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, texts = all.len(), "MiniLM pass failed");
                for (_, reply) in taken {
                    let _ = reply.send(Err(MemoryError::Embedder(format!("MiniLM: {e}"))));
                }
            }
        }
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn dims(&self) -> usize {
        self.dims
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((texts.to_vec(), reply))
            .await
            .map_err(|_| MemoryError::Embedder("the MiniLM thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| MemoryError::Embedder("the MiniLM thread stopped mid-request".into()))?
    }
}
