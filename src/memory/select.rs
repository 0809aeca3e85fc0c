//! Which vector memory is the default store: `memory.backend` decides. `local` never
//! touches the network; `qdrant`, `chromadb` and `weaviate` must answer or the start fails;
//! `auto` takes Qdrant when its health check answers within [`AUTO_PROBE`], the local index
//! otherwise, and says which. (The stores agents' schemas name are opened by
//! [`stores`](super::stores).)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{MemoryBackend, MemoryConfig};

use super::qdrant::{self, CollectionShape, QdrantMemory};
use super::schema::VectorStoreKind;
use super::stores::open_store;
use super::{MemoryError, VectorMemory, VectorSpace};

/// How long `auto` waits for Qdrant's health check before taking the local index: long
/// enough for a gRPC handshake on a LAN, short enough not to be noticed at start.
pub const AUTO_PROBE: Duration = Duration::from_millis(500);

/// The opened memory and one line saying which it is and why.
pub struct Selected {
    pub memory: Arc<dyn VectorMemory>,
    pub note: String,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("memory", &self.memory.name())
            .field("note", &self.note)
            .finish()
    }
}

/// Where the local index lives under a data dir.
pub fn local_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("memory")
}

/// Open the memory `config` asks for, for vectors of `space` (the embedder's); the note is
/// also logged.
pub async fn open(
    config: &MemoryConfig,
    data_dir: &Path,
    space: &VectorSpace,
) -> Result<Selected, MemoryError> {
    let url = &config.url;
    let selected = match config.backend {
        MemoryBackend::Chroma => Selected {
            memory: open_store(VectorStoreKind::Chroma, config, data_dir, space).await?,
            note: format!(
                "memory: chromadb at {}, collection `{}`",
                config.chroma.url, config.collection
            ),
        },
        MemoryBackend::Weaviate => Selected {
            memory: open_store(VectorStoreKind::Weaviate, config, data_dir, space).await?,
            note: format!(
                "memory: weaviate at {}, class {}",
                config.weaviate.url,
                super::weaviate::class_name(&config.collection)?
            ),
        },
        MemoryBackend::Local => Selected {
            memory: open_store(VectorStoreKind::Local, config, data_dir, space).await?,
            note: format!(
                "memory: local index at {} (memory.backend = local)",
                local_dir(data_dir).display()
            ),
        },
        MemoryBackend::Qdrant => Selected {
            memory: Arc::new(QdrantMemory::open(url, &config.collection, space).await?),
            note: format!(
                "memory: qdrant at {url}, collection `{}`",
                config.collection
            ),
        },
        MemoryBackend::Auto => match qdrant::health(url, AUTO_PROBE).await {
            Ok(health) => match QdrantMemory::open(url, &config.collection, space).await {
                Ok(memory) => Selected {
                    memory: Arc::new(memory),
                    note: format!(
                        "memory: auto → qdrant {} at {url}, collection `{}`",
                        health.version, config.collection
                    ),
                },
                // Falling back would split the memory between two stores; the collection
                // must be fixed (or another one named) instead.
                Err(e @ (MemoryError::Mismatch(_) | MemoryError::SpaceMismatch { .. })) => {
                    return Err(e);
                }
                Err(e) => Selected {
                    memory: open_store(VectorStoreKind::Local, config, data_dir, space).await?,
                    note: format!(
                        "memory: auto → local: qdrant answered at {url} but could not be used ({e})"
                    ),
                },
            },
            Err(e) => Selected {
                memory: open_store(VectorStoreKind::Local, config, data_dir, space).await?,
                note: format!("memory: auto → local: {e}"),
            },
        },
    };
    tracing::info!("{}", selected.note);
    Ok(selected)
}
/// How `aios doctor` rates the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Runs, but not on what was hoped for (auto without Qdrant).
    Warn,
    /// The start would fail.
    Fail,
}

/// What the start would open and whether Qdrant answered; reads only, never creates.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub detail: String,
    /// Qdrant's health-check round trip, when it answered.
    pub latency: Option<Duration>,
}

/// Probe as the start would (same timeouts), and describe the outcome in one line.
pub async fn diagnose(config: &MemoryConfig, data_dir: &Path) -> Diagnosis {
    let dims = config.dims;
    let url = &config.url;
    let collection = &config.collection;
    let (prefix, probe_for) = match config.backend {
        MemoryBackend::Chroma | MemoryBackend::Weaviate => return diagnose_rest(config).await,
        MemoryBackend::Local => {
            return Diagnosis {
                verdict: Verdict::Ok,
                detail: format!(
                    "local index at {}, {dims} dims (memory.backend = local: qdrant not probed)",
                    local_dir(data_dir).display()
                ),
                latency: None,
            };
        }
        MemoryBackend::Qdrant => ("qdrant", qdrant::OPEN_TIMEOUT),
        MemoryBackend::Auto => ("auto → qdrant", AUTO_PROBE),
    };
    let health = match qdrant::health(url, probe_for).await {
        Ok(h) => h,
        Err(e) if config.backend == MemoryBackend::Qdrant => {
            return Diagnosis {
                verdict: Verdict::Fail,
                detail: e.to_string(),
                latency: None,
            };
        }
        Err(e) => {
            return Diagnosis {
                verdict: Verdict::Warn,
                detail: format!("auto → local index, {dims} dims: {e}"),
                latency: None,
            };
        }
    };
    let reached = format!(
        "{prefix} {} reachable at {url}, collection `{collection}`",
        health.version
    );
    let shape = qdrant::collection_shape(url, collection, qdrant::OPEN_TIMEOUT).await;
    let (verdict, detail) = match shape {
        Ok(CollectionShape::Dense { dims: d }) if d == u64::from(dims) => {
            (Verdict::Ok, format!("{reached}: {d} dims"))
        }
        Ok(CollectionShape::Dense { dims: d }) => (
            Verdict::Fail,
            format!("{reached} holds {d}-dimensional vectors, but memory.dims is {dims}"),
        ),
        Ok(CollectionShape::Other) => (
            Verdict::Fail,
            format!("{reached} is not one unnamed vector per point; name another collection"),
        ),
        Ok(CollectionShape::Missing) => (
            Verdict::Ok,
            format!("{reached}: not there yet, created at start with {dims} dims"),
        ),
        Err(e) => (
            Verdict::Fail,
            format!("{reached}, but reading it failed: {e}"),
        ),
    };
    Diagnosis {
        verdict,
        detail,
        latency: Some(health.latency),
    }
}

/// Chroma or Weaviate as the default store: does it answer? (The space is checked at open.)
async fn diagnose_rest(config: &MemoryConfig) -> Diagnosis {
    let (kind, url, timeout) = match config.backend {
        MemoryBackend::Weaviate => (
            VectorStoreKind::Weaviate,
            &config.weaviate.url,
            super::weaviate::OPEN_TIMEOUT,
        ),
        _ => (
            VectorStoreKind::Chroma,
            &config.chroma.url,
            super::chroma::OPEN_TIMEOUT,
        ),
    };
    let name = kind.as_str();
    let probe = super::stores::health(kind, config, timeout).await;
    match probe {
        Ok(latency) => Diagnosis {
            verdict: Verdict::Ok,
            detail: format!(
                "{name} reachable at {url}, collection `{}`, {} dims",
                config.collection, config.dims
            ),
            latency: Some(latency),
        },
        Err(e) => Diagnosis {
            verdict: Verdict::Fail,
            detail: e.to_string(),
            latency: None,
        },
    }
}
