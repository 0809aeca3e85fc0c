//! Opening every vector store the runtime needs: the default one (`memory.backend`, see
//! [`select`](super::select)) and those the agents' `memory_schema`s name
//! (`vector_store`, `persona_profile`). Each backend is opened once, whoever names it. A
//! store an operator's schema names that cannot be reached degrades to the local index with
//! a warning; one only the catalog's spec defaults prefer degrades quietly to the default
//! store, as `auto` does. A store built in another vector space is an error, never a
//! fallback (that would split an agent's memory silently).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::MemoryConfig;

use super::routed::RoutedMemory;
use super::schema::{MemorySchema, VectorStoreKind};
use super::select::{self, local_dir};
use super::{LocalMemory, MemoryError, QdrantMemory, VectorMemory, VectorSpace};

/// The runtime's vector memory and what to tell the operator about it.
pub struct Opened {
    pub memory: Arc<dyn VectorMemory>,
    /// One line per store: which and where.
    pub notes: Vec<String>,
    /// Stores asked for that could not be had (their agents use the local one).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("memory", &self.memory.name())
            .field("notes", &self.notes)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Which kind a store is, told by its name (the default store is chosen by `select`).
pub fn kind_of(memory: &dyn VectorMemory) -> VectorStoreKind {
    match memory.name() {
        "qdrant" => VectorStoreKind::Qdrant,
        "chroma" | "chromadb" => VectorStoreKind::Chroma,
        "weaviate" => VectorStoreKind::Weaviate,
        _ => VectorStoreKind::Local,
    }
}

/// Where a store of `kind` is, for messages.
pub fn location(kind: VectorStoreKind, config: &MemoryConfig, data_dir: &Path) -> String {
    match kind {
        VectorStoreKind::Local => format!("local index at {}", local_dir(data_dir).display()),
        VectorStoreKind::Qdrant => format!(
            "qdrant at {}, collection `{}`",
            config.url, config.collection
        ),
        VectorStoreKind::Chroma => format!(
            "chromadb at {}, collection `{}`",
            config.chroma.url, config.collection
        ),
        VectorStoreKind::Weaviate => format!(
            "weaviate at {}, class for `{}`",
            config.weaviate.url, config.collection
        ),
    }
}

/// Open the store of `kind` in `space`.
pub async fn open_store(
    kind: VectorStoreKind,
    config: &MemoryConfig,
    data_dir: &Path,
    space: &VectorSpace,
) -> Result<Arc<dyn VectorMemory>, MemoryError> {
    Ok(match kind {
        VectorStoreKind::Local => {
            let dir = local_dir(data_dir);
            let space = space.clone();
            let memory = tokio::task::spawn_blocking(move || LocalMemory::open(&dir, &space))
                .await
                .map_err(|e| {
                    MemoryError::Storage(format!("opening the local memory failed: {e}"))
                })??;
            Arc::new(memory)
        }
        VectorStoreKind::Qdrant => {
            Arc::new(QdrantMemory::open(&config.url, &config.collection, space).await?)
        }
        VectorStoreKind::Chroma => Arc::new(
            super::ChromaMemory::open(&config.chroma.url, &config.collection, space).await?,
        ),
        VectorStoreKind::Weaviate => Arc::new(
            super::WeaviateMemory::open(&config.weaviate.url, &config.collection, space).await?,
        ),
    })
}

/// Whether the server of a store of `kind` answers within `timeout`, and how fast (`local`
/// always does). Creates nothing: for `doctor`.
pub async fn health(
    kind: VectorStoreKind,
    config: &MemoryConfig,
    timeout: std::time::Duration,
) -> Result<std::time::Duration, MemoryError> {
    match kind {
        VectorStoreKind::Local => Ok(std::time::Duration::ZERO),
        VectorStoreKind::Qdrant => super::qdrant::health(&config.url, timeout)
            .await
            .map(|h| h.latency),
        VectorStoreKind::Chroma => super::chroma::health(&config.chroma.url, timeout).await,
        VectorStoreKind::Weaviate => super::weaviate::health(&config.weaviate.url, timeout).await,
    }
}

/// The kinds of store `schemas` name, each once, in a stable order.
pub fn named_kinds(schemas: &[(String, MemorySchema)]) -> Vec<VectorStoreKind> {
    let mut kinds: Vec<VectorStoreKind> = schemas
        .iter()
        .flat_map(|(_, s)| [s.vector_store, s.persona_profile])
        .flatten()
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Open the default store and every store `schemas` name, and route between them.
pub async fn open(
    config: &MemoryConfig,
    data_dir: &Path,
    space: &VectorSpace,
    schemas: &[(String, MemorySchema)],
) -> Result<Opened, MemoryError> {
    let default = select::open(config, data_dir, space).await?;
    let default_kind = kind_of(&*default.memory);
    let mut stores: Vec<Arc<dyn VectorMemory>> = vec![default.memory];
    let mut index: HashMap<VectorStoreKind, usize> = HashMap::from([(default_kind, 0)]);
    let mut notes = vec![default.note];
    let mut warnings = Vec::new();

    for kind in named_kinds(schemas) {
        if index.contains_key(&kind) {
            continue;
        }
        let users: Vec<&str> = schemas
            .iter()
            .filter(|(_, s)| s.uses(kind))
            .map(|(id, _)| id.as_str())
            .collect();
        match open_store(kind, config, data_dir, space).await {
            Ok(memory) => {
                notes.push(format!(
                    "memory: {} for {}",
                    location(kind, config, data_dir),
                    users.join(", ")
                ));
                index.insert(kind, stores.len());
                stores.push(memory);
            }
            // Another space, or a store of another shape: a fix for the operator, never a
            // silent split of the agent's memory.
            Err(e @ (MemoryError::SpaceMismatch { .. } | MemoryError::Mismatch(_))) => {
                return Err(e);
            }
            Err(e) => {
                let explicit: Vec<&str> = schemas
                    .iter()
                    .filter(|(id, s)| s.explicit && users.contains(&id.as_str()))
                    .map(|(id, _)| id.as_str())
                    .collect();
                if explicit.is_empty() {
                    // Only the catalog's spec defaults name it: a preference, like `auto`,
                    // so its agents use the default store, quietly (log and `doctor`).
                    let line = format!(
                        "memory: memory_schema of {} prefers {}, which cannot be used ({e}); \
                         the default store keeps their memory",
                        users.join(", "),
                        kind.as_str()
                    );
                    tracing::info!("{line}");
                    notes.push(line);
                    index.insert(kind, 0);
                    continue;
                }
                // The operator named it: the embedded index, and a warning on screen.
                let local = match index.get(&VectorStoreKind::Local) {
                    Some(&i) => i,
                    None => {
                        let memory =
                            open_store(VectorStoreKind::Local, config, data_dir, space).await?;
                        stores.push(memory);
                        index.insert(VectorStoreKind::Local, stores.len() - 1);
                        stores.len() - 1
                    }
                };
                index.insert(kind, local);
                let line = format!(
                    "memory_schema of {} names {}, which cannot be used ({e}); their memory is \
                     kept in the local index until it can",
                    users.join(", "),
                    kind.as_str()
                );
                tracing::warn!("{line}");
                warnings.push(line);
            }
        }
    }

    let mut vector = HashMap::new();
    let mut persona = HashMap::new();
    for (agent, schema) in schemas {
        if let Some(kind) = schema.vector_store {
            vector.insert(agent.clone(), index.get(&kind).copied().unwrap_or(0));
        }
        if let Some(kind) = schema.persona_profile {
            persona.insert(agent.clone(), index.get(&kind).copied().unwrap_or(0));
        }
    }
    let routes_elsewhere = vector.values().chain(persona.values()).any(|&i| i != 0);
    let memory: Arc<dyn VectorMemory> = if routes_elsewhere {
        Arc::new(RoutedMemory::new(stores, 0, vector, persona)?)
    } else {
        stores.swap_remove(0)
    };
    Ok(Opened {
        memory,
        notes,
        warnings,
    })
}

/// The kind of store `memory.backend` opens (for `auto`, the same probe the start makes).
pub async fn default_kind(config: &MemoryConfig) -> VectorStoreKind {
    use crate::config::MemoryBackend;
    match config.backend {
        MemoryBackend::Local => VectorStoreKind::Local,
        MemoryBackend::Qdrant => VectorStoreKind::Qdrant,
        MemoryBackend::Chroma => VectorStoreKind::Chroma,
        MemoryBackend::Weaviate => VectorStoreKind::Weaviate,
        MemoryBackend::Auto => match super::qdrant::health(&config.url, select::AUTO_PROBE).await {
            Ok(_) => VectorStoreKind::Qdrant,
            Err(_) => VectorStoreKind::Local,
        },
    }
}
