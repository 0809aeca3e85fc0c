//! Choosing and opening the backends config asks for — bus, state store, vector memory,
//! embedder, model runner, audit log — each behind its seam. An explicitly configured
//! backend that cannot be had is an error naming it; `auto` takes the embedded default.

use std::path::Path;
use std::sync::Arc;

use crate::audit::{AuditLog, AuditOptions};
use crate::bus::{Bus, LocalBus};
use crate::config::{BusBackend, Config, EmbedderKind, MemoryBackend, RunnerKind};
use crate::context::{EmbeddedStore, Store};
use crate::llm::{LlmRunner, SimRunner};
use crate::memory::{Embedder, HashEmbedder, LocalMemory, VectorMemory};

use super::runtime::RuntimeError;

/// The opened backends, ready for the ContextHub and the agent tasks.
pub struct Backends {
    pub bus: Arc<dyn Bus>,
    pub store: Arc<dyn Store>,
    pub memory: Arc<dyn VectorMemory>,
    pub embedder: Arc<dyn Embedder>,
    pub runner: Arc<dyn LlmRunner>,
    pub audit: AuditLog,
}

/// Open every backend for a runtime on `data_dir`; `given_bus` replaces the configured bus.
pub async fn open(
    config: &Config,
    data_dir: &Path,
    given_bus: Option<Arc<dyn Bus>>,
) -> Result<Backends, RuntimeError> {
    let bus: Arc<dyn Bus> = match (given_bus, config.bus.backend) {
        (Some(bus), _) => bus,
        (None, BusBackend::Auto | BusBackend::Memory) => {
            Arc::new(LocalBus::new(config.bus.max_message_bytes as usize))
        }
        (None, BusBackend::Redis) => {
            return Err(RuntimeError::Config(
                    "bus.backend = \"redis\" is not available in this build yet; use \"auto\" or \"memory\"".into(),
                ));
        }
    };
    let store: Arc<dyn Store> = Arc::new(
        EmbeddedStore::open(&data_dir.join("state.redb")).map_err(|e| RuntimeError::Open {
            what: "the state store".into(),
            message: e.to_string(),
        })?,
    );
    let dims = config.memory.dims as usize;
    let memory: Arc<dyn VectorMemory> = match config.memory.backend {
        MemoryBackend::Auto | MemoryBackend::Local => {
            // Opening loads every vector; at 100k items that is ~1 s of blocking I/O.
            let dir = data_dir.join("memory");
            let opened = tokio::task::spawn_blocking(move || LocalMemory::open(&dir, dims))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            Arc::new(opened.map_err(|message| RuntimeError::Open {
                what: "the local vector memory".into(),
                message,
            })?)
        }
        MemoryBackend::Qdrant => {
            return Err(RuntimeError::Config(
                    "memory.backend = \"qdrant\" is not available in this build yet; use \"auto\" or \"local\"".into(),
                ));
        }
    };
    let embedder: Arc<dyn Embedder> = match config.memory.embedder {
        EmbedderKind::Auto | EmbedderKind::Hash => Arc::new(HashEmbedder::new(dims)),
        EmbedderKind::Ollama => {
            return Err(RuntimeError::Config(
                    "memory.embedder = \"ollama\" is not available in this build yet; use \"auto\" or \"hash\"".into(),
                ));
        }
    };
    let runner: Arc<dyn LlmRunner> = match config.llm.runner {
        RunnerKind::Auto | RunnerKind::Sim => {
            Arc::new(SimRunner::new(config.llm.sim.tokens_per_second))
        }
        other => {
            return Err(RuntimeError::Config(format!(
                "llm.runner = \"{}\" is not available in this build yet; use \"auto\" or \"sim\"",
                other.as_str()
            )));
        }
    };
    let audit =
        AuditLog::open(AuditOptions::from_config(config)).map_err(|e| RuntimeError::Open {
            what: "the audit log".into(),
            message: e.to_string(),
        })?;

    Ok(Backends {
        bus,
        store,
        memory,
        embedder,
        runner,
        audit,
    })
}
