//! Choosing and opening the backends config asks for — bus, state store, vector memory,
//! embedder, model runner, audit log — each behind its seam. An explicitly configured
//! backend that cannot be had is an error naming it; `auto` takes the embedded default.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use crate::audit::{AuditLog, AuditMirror, AuditOptions};
use crate::bus::{Bus, LocalBus, RedisBus, RedisBusOptions};
use crate::config::{BusBackend, Config, RedisUrl};
use crate::context::{EmbeddedStore, RedisStore, RoutedStore, Store};
use crate::llm::LlmRunner;
use crate::memory::schema::{self as memory_schema, MemorySchema, StateStoreKind};
use crate::memory::{Embedder, VectorMemory, VectorSpace};

use super::catalog::Catalog;
use super::types::RuntimeError;

/// The opened backends, ready for the ContextHub and the agent tasks.
pub struct Backends {
    pub bus: Arc<dyn Bus>,
    pub store: Arc<dyn Store>,
    pub memory: Arc<dyn VectorMemory>,
    pub embedder: Arc<dyn Embedder>,
    pub runner: Arc<dyn LlmRunner>,
    pub audit: AuditLog,
    /// Mirrors the audit log to Redis when the bus is Redis; the runtime runs it.
    pub mirror: Option<AuditMirror>,
    /// What was asked for and could not be had (a memory schema's unreachable store), for
    /// the status bar and `doctor`.
    pub warnings: Vec<String>,
}

/// How long `auto` waits for a Redis to answer before taking the in-process bus.
const AUTO_PROBE: Duration = Duration::from_millis(300);

/// The Redis URL to use, if any: always for `redis` (failing loudly later if it is down),
/// for `auto` only when something answers there quickly, never for `memory` or a bus the
/// caller brings.
pub(crate) async fn redis_url(config: &Config, given_bus: bool) -> Option<RedisUrl> {
    match (given_bus, config.bus.backend) {
        (true, _) | (false, BusBackend::Memory) => None,
        (false, BusBackend::Redis) => Some(config.bus.url.clone()),
        (false, BusBackend::Auto) => {
            let addr = crate::config::url::split(config.bus.url.expose())?.socket_address()?;
            let probe = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(AUTO_PROBE, probe).await {
                Ok(Ok(_)) => Some(config.bus.url.clone()),
                _ => None,
            }
        }
    }
}

/// Open every backend for a runtime on `data_dir`; `given_bus` replaces the configured bus.
pub async fn open(
    config: &Config,
    data_dir: &Path,
    given_bus: Option<Arc<dyn Bus>>,
    catalog: &Catalog,
) -> Result<Backends, RuntimeError> {
    let redis = redis_url(config, given_bus.is_some()).await;
    let explicit = config.bus.backend == BusBackend::Redis;
    let (bus, store, mirror): (Arc<dyn Bus>, Arc<dyn Store>, _) = match (given_bus, redis) {
        (Some(bus), _) => (bus, open_embedded_store(data_dir)?, None),
        (None, Some(url)) => match open_redis(config, &url).await {
            Ok(opened) => opened,
            Err(e) if explicit => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "bus.backend = auto: Redis answered but could not be used; running in-process");
                (local_bus(config), open_embedded_store(data_dir)?, None)
            }
        },
        (None, None) => (local_bus(config), open_embedded_store(data_dir)?, None),
    };
    let chosen = crate::memory::open_embedder(config)
        .await
        .map_err(|e| RuntimeError::Open {
            what: "the embedder".into(),
            message: e.to_string(),
        })?;
    tracing::info!(embedder = %chosen.note, "embedder");
    let embedder = chosen.embedder;
    let schemas = memory_schema::of_catalog(config, catalog)
        .map_err(|e| RuntimeError::Config(e.to_string()))?;
    // The stores are opened in the embedder's space: one built by another embedder is
    // refused here, with the command that rebuilds it.
    let opened = crate::memory::stores::open(
        &config.memory,
        data_dir,
        &VectorSpace::of(&*embedder),
        &schemas,
    )
    .await
    .map_err(|e| RuntimeError::Open {
        what: "the vector memory".into(),
        message: e.to_string(),
    })?;
    let warnings = opened.warnings;
    let memory = opened.memory;
    let store = route_state(store, data_dir, &schemas)?;
    let selected = crate::llm::select_runner(&config.llm)
        .await
        .map_err(|e| RuntimeError::Config(e.to_string()))?;
    tracing::info!(runner = %selected.note, "model runner");
    let runner = selected.runner;
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
        mirror,
        warnings,
    })
}

/// Honour `chat_history` / `content_trace`: `local` parts beside a Redis main store go to
/// this node's embedded store; `redis` parts without Redis stay embedded, with a warning.
fn route_state(
    main: Arc<dyn Store>,
    data_dir: &Path,
    schemas: &[(String, MemorySchema)],
) -> Result<Arc<dyn Store>, RuntimeError> {
    let on_redis = main.name() == "redis";
    let mut local_chat = HashSet::new();
    let mut local_traces = HashSet::new();
    let mut want_redis = Vec::new();
    for (agent, s) in schemas {
        for (part, kind, set) in [
            ("chat_history", s.chat_history, &mut local_chat),
            ("content_trace", s.content_trace, &mut local_traces),
        ] {
            match kind {
                Some(StateStoreKind::Local) if on_redis => {
                    set.insert(agent.clone());
                }
                Some(StateStoreKind::Redis) if !on_redis => {
                    want_redis.push(format!("{agent}.{part}"));
                }
                _ => {}
            }
        }
    }
    if !want_redis.is_empty() {
        // Not worth a warning line of its own on a laptop with no Redis: the data is kept,
        // just not shared; `doctor` and the log say so.
        tracing::info!(
            parts = %want_redis.join(", "),
            "memory_schema asks for redis, but the runtime runs without Redis: kept in the embedded store"
        );
    }
    if local_chat.is_empty() && local_traces.is_empty() {
        return Ok(main);
    }
    let local = open_embedded_store(data_dir)?;
    Ok(Arc::new(RoutedStore::new(
        main,
        local,
        local_chat,
        local_traces,
    )))
}

fn local_bus(config: &Config) -> Arc<dyn Bus> {
    Arc::new(LocalBus::new(config.bus.max_message_bytes as usize))
}

fn open_embedded_store(data_dir: &Path) -> Result<Arc<dyn Store>, RuntimeError> {
    let store =
        EmbeddedStore::open(&data_dir.join("state.redb")).map_err(|e| RuntimeError::Open {
            what: "the state store".into(),
            message: e.to_string(),
        })?;
    Ok(Arc::new(store))
}

/// The Redis bus, the agent state on the same Redis (one truth for every node and every
/// attached TUI), and the audit mirror.
async fn open_redis(
    config: &Config,
    url: &RedisUrl,
) -> Result<(Arc<dyn Bus>, Arc<dyn Store>, Option<AuditMirror>), RuntimeError> {
    let open = |what: &str, e: String| RuntimeError::Open {
        what: what.to_string(),
        message: e,
    };
    let bus = RedisBus::connect(RedisBusOptions::for_config(config))
        .await
        .map_err(|e| open("the Redis bus", e.to_string()))?;
    let store = RedisStore::connect(url, &config.bus.prefix)
        .await
        .map_err(|e| open("the Redis state store", e.to_string()))?;
    let mirror = AuditMirror::connect(
        config.audit_dir(),
        url,
        &config.bus.prefix,
        config.bus.stream_max_len as usize,
    )
    .await
    .map_err(|e| open("the audit mirror", e.to_string()))?;
    Ok((Arc::new(bus), Arc::new(store), Some(mirror)))
}
