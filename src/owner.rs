//! The one owner of a data dir: the lock, the runtime, the control socket, MCP (`mcp.sock`,
//! Streamable HTTP when asked) and `/metrics`, started under one cancellation token and one
//! task tracker, and stopped in order. `aios serve`, the TUI, `aios mcp` and a command run
//! in process each start one.

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::{Runtime, RuntimeError, RuntimeOptions};
use crate::config::Config;
use crate::control::{DataDirLock, LockError};
use crate::mcp::{McpHttpError, OwnerServers};
use crate::metrics::{MetricsError, MetricsServer};

/// What an owner serves besides its runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnerOptions {
    /// The control socket and `mcp.sock`, so other aios processes and MCP clients reach
    /// this runtime.
    pub sockets: bool,
    /// Streamable HTTP (MCP and the API) at `mcp.http_bind`, beside the sockets.
    pub http: bool,
    /// Prometheus `/metrics` at `metrics.bind`.
    pub metrics: bool,
    /// Verify the audit chain before the runtime writes to it: its first write would
    /// replace a missing `HEAD`, hiding that it was gone.
    pub verify_audit: bool,
    /// A watcher of a runtime that runs elsewhere (`aios tui --attach`).
    pub watch_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Http(#[from] McpHttpError),
}

/// The audit chain as found at start, when it does not verify.
#[derive(Debug, Clone)]
pub struct ChainAtStart {
    /// One line: where it breaks, or why it could not be verified.
    pub warning: String,
    /// The first record that does not verify, when one was found.
    pub broken_at: Option<u64>,
}

/// A running owner. Its servers (control socket and connections, MCP socket and HTTP,
/// metrics) and its callers' background work (the TUI's feeds and effects) run on
/// [`Owner::tasks`] until [`Owner::stopping`] fires; the runtime supervises its own agent
/// tasks. [`Owner::shutdown`] stops it all in order and waits for every task.
pub struct Owner {
    runtime: Runtime,
    stop: CancellationToken,
    tasks: TaskTracker,
    mcp: Option<OwnerServers>,
    metrics: Option<MetricsServer>,
    chain: Option<ChainAtStart>,
    control_failed: Option<oneshot::Receiver<std::io::Error>>,
}

impl Owner {
    /// Take the data dir's lock (refused, naming the running owner, when another process
    /// has it), start metrics, the runtime and the servers `options` asks for. On an error
    /// whatever had started is stopped again and the lock is released.
    pub async fn start(config: &Config, options: OwnerOptions) -> Result<Owner, OwnerError> {
        let lock = DataDirLock::acquire(&config.data_dir())?;
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let started = Self::start_locked(config, options, lock, &stop, &tasks).await;
        if started.is_err() {
            stop.cancel();
            tasks.close();
            tasks.wait().await;
        }
        started
    }

    async fn start_locked(
        config: &Config,
        options: OwnerOptions,
        lock: DataDirLock,
        stop: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Owner, OwnerError> {
        // Before the runtime, so the handles its bus registers are live ones.
        let metrics = if options.metrics {
            crate::metrics::start(&config.metrics, tasks, stop.clone()).await?
        } else {
            None
        };
        let chain = if options.verify_audit {
            chain_at_start(config).await
        } else {
            None
        };
        let runtime = Runtime::start(RuntimeOptions {
            watch_only: options.watch_only,
            ..RuntimeOptions::new(config.clone(), lock)
        })
        .await?;
        let mut owner = Owner {
            runtime,
            stop: stop.clone(),
            tasks: tasks.clone(),
            mcp: None,
            metrics,
            chain,
            control_failed: None,
        };
        if options.sockets {
            owner.control_failed = Some(owner.serve_control(config));
            match OwnerServers::start(&owner.runtime, config, options.http, stop, tasks).await {
                Ok(servers) => owner.mcp = Some(servers),
                Err(e) => {
                    owner.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        Ok(owner)
    }

    /// The control socket, on the tracker; its failure (a path too long) is reported on
    /// the returned channel.
    fn serve_control(&self, config: &Config) -> oneshot::Receiver<std::io::Error> {
        let (failed, on_failure) = oneshot::channel();
        let rt = self.runtime.clone();
        let socket = crate::control::socket_path(&config.data_dir());
        let (stop, tasks) = (self.stop.clone(), self.tasks.clone());
        self.tasks.spawn(async move {
            if let Err(e) = crate::control::serve(rt, &socket, stop, &tasks).await {
                tracing::error!(error = %e, "control socket stopped");
                let _ = failed.send(e);
            }
        });
        on_failure
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The tracker every task of this owner runs on; [`Owner::shutdown`] waits for them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Fires when the owner starts shutting down: tasks on [`Owner::tasks`] stop on it.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// The MCP servers, when `sockets` was asked for.
    pub fn mcp(&self) -> Option<&OwnerServers> {
        self.mcp.as_ref()
    }

    /// `/metrics`, when `metrics` was asked for and `metrics.bind` is set.
    pub fn metrics(&self) -> Option<&MetricsServer> {
        self.metrics.as_ref()
    }

    /// The audit chain's state at start, when `verify_audit` was asked for and it does not
    /// verify.
    pub fn chain_at_start(&self) -> Option<&ChainAtStart> {
        self.chain.as_ref()
    }

    /// Resolves when the control socket has failed (nothing can reach this owner); never
    /// when it serves, or is not served.
    pub async fn control_failed(&mut self) -> std::io::Error {
        match self.control_failed.as_mut() {
            Some(rx) => match rx.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Stop in order: stop accepting (control socket, MCP, HTTP, metrics, the caller's
    /// tasks), shut the runtime down (agents finish or are answered, the audit log and the
    /// recording flushed and closed), wait for every task (a request's answer, a history
    /// save), then release the data dir.
    pub async fn shutdown(self) {
        let Owner {
            runtime,
            stop,
            tasks,
            mcp,
            ..
        } = self;
        stop.cancel();
        runtime.shutdown().await;
        match mcp {
            Some(servers) => servers.stop().await,
            None => {
                tasks.close();
                tasks.wait().await;
            }
        }
        runtime.release_lock();
    }
}

/// Verify the audit chain at `config`'s audit dir, off the async threads; `None` when it
/// verifies. A break is logged.
async fn chain_at_start(config: &Config) -> Option<ChainAtStart> {
    let dir = config.audit_dir();
    let report = tokio::task::spawn_blocking(move || crate::audit::verify_dir(&dir))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let chain = match report {
        Ok(report) => {
            let bad = report.first_bad?;
            ChainAtStart {
                warning: format!(
                    "the audit chain does not verify: broken at {bad}; see `aios audit verify`"
                ),
                broken_at: Some(bad.seq.unwrap_or(0)),
            }
        }
        Err(e) => ChainAtStart {
            warning: format!("the audit log could not be verified: {e}"),
            broken_at: None,
        },
    };
    tracing::warn!(warning = %chain.warning, "starting on an audit log that does not verify");
    Some(chain)
}

/// A config on `dir` that probes nothing on this machine: the in-process bus, the local
/// vector memory, the hash embedder and the sim runner.
#[cfg(test)]
pub(crate) fn hermetic_config(dir: &std::path::Path) -> Config {
    use crate::config::{BusBackend, EmbedderKind, MemoryBackend, RunnerKind};
    let closed = "http://127.0.0.1:9";
    let mut config = Config::default();
    config.runtime.data_dir = dir.to_path_buf();
    config.bus.backend = BusBackend::Memory;
    config.memory.backend = MemoryBackend::Local;
    config.memory.embedder = EmbedderKind::Hash;
    config.llm.runner = RunnerKind::Sim;
    config.memory.url = closed.into();
    config.memory.chroma.url = closed.into();
    config.memory.weaviate.url = closed.into();
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_owner_is_refused_naming_the_first_until_it_has_shut_down() {
        let dir = tempfile::tempdir().unwrap();
        let config = hermetic_config(dir.path());
        let first = Owner::start(&config, OwnerOptions::default())
            .await
            .unwrap();
        let Err(refused) = Owner::start(&config, OwnerOptions::default()).await else {
            panic!("two owners of one data dir");
        };
        let text = refused.to_string();
        assert!(text.contains("is already owned by pid"), "{text}");
        assert!(matches!(refused, OwnerError::Lock(LockError::Owned { .. })));
        first.shutdown().await;
        let again = Owner::start(&config, OwnerOptions::default())
            .await
            .unwrap();
        again.shutdown().await;
    }

    /// The API's outcome tasks, its intent table and MCP's update follower run on the
    /// owner's tracker, so `shutdown` returns only once they have ended.
    #[tokio::test]
    async fn the_apis_and_mcps_tasks_end_before_shutdown_returns() {
        const TOKEN: &str = "tok-owner-test-0123456789abcdef";
        let dir = tempfile::tempdir().unwrap();
        let mut config = hermetic_config(dir.path());
        config.mcp.http_bind = "127.0.0.1:0".into();
        config.mcp.tokens = vec![TOKEN.into()];
        // Slow enough that the intent is still running when the owner stops.
        config.llm.sim.tokens_per_second = 2;
        let options = OwnerOptions {
            sockets: true,
            http: true,
            ..OwnerOptions::default()
        };
        let owner = Owner::start(&config, options).await.unwrap();
        let tasks = owner.tasks().clone();
        let url = owner.mcp.as_ref().and_then(|m| m.http_url()).unwrap();
        let base = url.strip_suffix("/mcp").unwrap().to_string();
        let before = tasks.len();
        let reply = reqwest::Client::new()
            .post(format!("{base}/v1/intents"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"agent_id": "ops-agent", "text": "a long job"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), reqwest::StatusCode::ACCEPTED);
        assert!(
            tasks.len() > before,
            "the intent's outcome is awaited on the owner's tracker"
        );
        owner.shutdown().await;
        assert!(
            tasks.is_empty(),
            "{} tasks outlived the shutdown",
            tasks.len()
        );
    }

    #[tokio::test]
    async fn a_runtime_needs_the_lock_of_its_own_data_dir() {
        let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let lock = DataDirLock::acquire(other.path()).unwrap();
        let opts = RuntimeOptions::new(hermetic_config(dir.path()), lock);
        let Err(e) = Runtime::start(opts).await else {
            panic!("a runtime started under another dir's lock");
        };
        assert!(e.to_string().contains("the lock held is on"), "{e}");
    }
}
