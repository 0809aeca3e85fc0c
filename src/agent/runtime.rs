//! The runtime: opens the backends, runs one supervised task per agent, routes intents by
//! agent id, and shuts down in order (stop intake, let tasks finish, flush the audit log).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audit::AuditLog;
use crate::bus::{Bus, channels};
use crate::config::{Config, RunnerKind};
use crate::context::{Caller, ContextHub, HubOptions};
use crate::control::DataDirLock;
use crate::event::{AgentStatus, RuntimeEvent};
use crate::llm::LlmRunner;
use crate::roles::Role;

use super::backends::{self, Backends};
use super::catalog::Catalog;
use super::dispatcher::{Dispatcher, Lineage};
use super::hook_start::{HookParts, start_hooks};
use super::intake::Intake;
use super::intent::AgentWorker;
use super::pending::Pending;
use super::registry::Registry;
use super::types::{Intent, IntentFailure, IntentReply, RuntimeError, StatusBoard, Ticket};
use super::{activity, relay};
use crate::approvals::Approvals;

/// Capacity of the runtime event channel; a slower receiver loses the oldest.
const EVENT_CAPACITY: usize = 8192;

/// Everything the runtime is built from.
pub struct RuntimeOptions {
    pub config: Config,
    /// The lock on `config`'s data dir: only its owner may start a runtime on it, so there
    /// is no runtime without one. Held as long as the runtime (see `Runtime::release_lock`).
    pub lock: DataDirLock,
    /// A bus to use instead of the configured one (tests; several runtimes on one bus).
    pub bus: Option<Arc<dyn Bus>>,
    /// A model runner for every agent instead of the configured ones (tests: a scripted
    /// model).
    pub runner: Option<Arc<dyn LlmRunner>>,
    /// A watcher of a runtime that runs elsewhere (`aios tui --attach`): no agent tasks, no
    /// intake, no heartbeat, no audit mirror; other nodes' activity is replayed as local
    /// events, and dispatched intents go to the nodes that host the agents.
    pub watch_only: bool,
}

impl RuntimeOptions {
    /// The configured backends, on the data dir `lock` owns.
    pub fn new(config: Config, lock: DataDirLock) -> RuntimeOptions {
        RuntimeOptions {
            config,
            lock,
            bus: None,
            runner: None,
            watch_only: false,
        }
    }

    /// The configured backends, on `config`'s data dir, whose lock is taken here (refused,
    /// naming the holder, when another process owns it).
    pub fn owning(config: Config) -> Result<RuntimeOptions, crate::control::LockError> {
        let lock = DataDirLock::acquire(&config.data_dir())?;
        Ok(RuntimeOptions::new(config, lock))
    }
}

/// What runs where: for the status bar and `doctor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub node: String,
    pub data_dir: PathBuf,
    pub bus: String,
    pub store: String,
    pub memory: String,
    pub embedder: String,
    pub runner: String,
    pub model: String,
    pub agents: usize,
    /// What was asked for and could not be had (a memory schema's store that did not
    /// answer): said in the status bar and by `doctor`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The bus this watcher is attached to (password hidden); `None` for a runtime that
    /// runs agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<String>,
}

/// A cheap-clone handle to the running runtime. The runtime's own handle is the owner's
/// (admin); [`Runtime::lowered`] gives one for a caller with less, whose calls beyond its
/// role are refused and audited.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
    /// The hub as this handle's caller may use it (its role is the handle's).
    hub: ContextHub,
}

struct Inner {
    hub: ContextHub,
    registry: Arc<Registry>,
    mcp: crate::mcp_client::McpServers,
    approvals: Option<Approvals>,
    /// The protocol hooks this node fires (none on a watcher).
    hooks: Option<crate::hooks::Hooks>,
    dispatcher: Dispatcher,
    events: broadcast::Sender<RuntimeEvent>,
    bus: Arc<dyn Bus>,
    pending: Pending,
    status: StatusBoard,
    cancel: CancellationToken,
    /// Per agent, the token of the intent it is handling: `stop` cancels just that one.
    running: Arc<Mutex<HashMap<String, CancellationToken>>>,
    tasks: TaskTracker,
    audit: AuditLog,
    info: RuntimeInfo,
    /// The flight recording; closed after everything else has stopped.
    recorder: crate::recorder::Recorder,
    /// The audit mirror stops last, after the log is flushed, so it carries every record.
    mirror: Option<(
        CancellationToken,
        std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    )>,
    /// The data dir's lock, held while any handle lives or until `release_lock`.
    lock: Mutex<Option<DataDirLock>>,
}

impl Runtime {
    /// Open the backends under the data dir and start one task per agent. The options hold
    /// the data dir's lock (see `control::DataDirLock`): one owner per data dir by type.
    pub async fn start(opts: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let RuntimeOptions {
            config,
            lock,
            bus: given_bus,
            runner: given_runner,
            watch_only,
        } = opts;
        if lock.data_dir() != config.data_dir() {
            return Err(RuntimeError::Config(format!(
                "the lock held is on {}, not on the data dir {}",
                lock.data_dir().display(),
                config.data_dir().display()
            )));
        }
        // Normally resolved by the CLI before the log opens; a runtime made in process
        // (tests, embedders) resolves here. A second call finds them read and does nothing.
        let mut config = config;
        crate::secrets::resolve_config(&mut config)
            .await
            .map_err(|e| RuntimeError::Config(e.to_string()))?;
        let catalog =
            Catalog::from_config(&config).map_err(|e| RuntimeError::Config(e.to_string()))?;
        let data_dir = config.data_dir();
        std::fs::create_dir_all(&data_dir).map_err(|e| RuntimeError::Open {
            what: data_dir.display().to_string(),
            message: e.to_string(),
        })?;

        let Backends {
            bus,
            store,
            memory,
            embedder,
            runner,
            audit,
            mirror,
            warnings,
        } = backends::open(&config, &data_dir, given_bus, &catalog).await?;
        let injected_runner = given_runner.is_some().then_some(());
        let runner = given_runner.unwrap_or(runner);

        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        // A watcher's own changes (an operator's goal edit) must reach the bus, but the
        // other nodes' changes it replays into `events` must not echo back: its hub
        // reports on a channel of its own, forwarded to `events`.
        let hub_events = if watch_only {
            broadcast::channel(EVENT_CAPACITY).0
        } else {
            events.clone()
        };
        let hub = ContextHub::new(
            catalog.clone(),
            store.clone(),
            memory.clone(),
            embedder.clone(),
            audit.clone(),
            hub_events.clone(),
            HubOptions {
                keep_versions: config.runtime.context_versions,
                trace_limit: config.runtime.trace_limit,
            },
        )?;
        // Every metric family at zero for what is known now, before anything moves.
        let mut channels = crate::bus::channels::SEED.to_vec();
        channels.extend([
            crate::bus::channels::ACTIVITY,
            crate::bus::channels::CONTROL,
        ]);
        crate::metrics::register_known(
            catalog.agents().iter().map(|a| crate::metrics::KnownAgent {
                id: &a.id,
                tools: &a.tools,
            }),
            &channels,
            hub.memory_name(),
        );
        let info = RuntimeInfo {
            node: config.node_name(),
            data_dir: data_dir.clone(),
            bus: bus.name().into(),
            store: store.name().into(),
            memory: memory.name().into(),
            embedder: embedder.name(),
            runner: runner.name().into(),
            model: crate::llm::model_shown(runner.name(), &config.llm.model),
            agents: catalog.len(),
            warnings,
            attached: watch_only.then(|| config.bus.url.to_string()),
        };

        let cancel = CancellationToken::new();
        config.secrets.start_refresh(cancel.child_token());
        let tasks = TaskTracker::new();
        let recorder = open_recorder(&config);
        // Subscribed before anything runs, so the recording misses nothing after its start.
        let taps = recorder.is_on().then(|| {
            (
                events.subscribe(),
                bus.subscribe(),
                (!watch_only).then(|| audit.subscribe()),
            )
        });
        if let Some((ev_rx, bus_rx, audit_rx)) = taps {
            let source = if watch_only { "attached" } else { "owner" };
            crate::recorder::tap::start(&recorder, &hub, &info, &HashMap::new(), source).await;
            let stop = cancel.clone();
            tasks.spawn(crate::recorder::tap::events(
                ev_rx,
                recorder.clone(),
                hub.clone(),
                stop.clone(),
            ));
            tasks.spawn(crate::recorder::tap::bus(
                bus_rx,
                recorder.clone(),
                stop.clone(),
            ));
            if let Some(rx) = audit_rx {
                tasks.spawn(crate::recorder::tap::audit(rx, recorder.clone(), stop));
            }
        }
        let status = StatusBoard::default();
        let pending = Pending::default();
        let node = info.node.clone();
        let dispatcher = Dispatcher {
            hub: hub.clone(),
            bus: bus.clone(),
            pending: pending.clone(),
            node: node.clone(),
            cancel: cancel.clone(),
            max_depth: config.runtime.max_handoff_depth,
        };
        // The tools agents can call; outside servers' tools join as they start.
        let actions = Arc::new(
            crate::actions::Actions::from_config(&config.actions)
                .map_err(|e| RuntimeError::Config(e.to_string()))?
                .with_secrets(config.secrets.clone()),
        );
        let registry = Arc::new(Registry::builtin());
        registry.add_actions(&actions);
        let no_servers = std::collections::BTreeMap::new();
        let http =
            crate::actions::http_client().map_err(|e| RuntimeError::Config(e.to_string()))?;
        let rules = Arc::new(config.approvals.rules.clone());
        // Outside MCP servers start in the background; their tools join the registry as
        // each one lists them. A watcher starts none: the agents' node runs them.
        let secrets = config.secrets.clone();
        let mcp = crate::mcp_client::McpServers::start_with_env(
            if watch_only {
                &no_servers
            } else {
                &config.mcp_servers
            },
            registry.clone(),
            cancel.child_token(),
            Arc::new(move |name| secrets.lookup(name)),
        );
        // The owner keeps the approvals; a watcher decides through the bus.
        let approvals = if watch_only {
            None
        } else {
            Some(
                Approvals::open(
                    &data_dir,
                    hub.clone(),
                    events.clone(),
                    std::time::Duration::from_secs(config.approvals.timeout_s),
                    node.clone(),
                )
                .map_err(|e| RuntimeError::Open {
                    what: "the approvals".into(),
                    message: e.to_string(),
                })?,
            )
        };
        let mut queues = HashMap::new();
        let running: Arc<Mutex<HashMap<String, CancellationToken>>> = Arc::default();
        // Agents pinned to another node are left to it; a watcher hosts none.
        let hosted: Vec<_> = catalog
            .agents()
            .iter()
            .filter(|a| !watch_only && a.node.as_ref().is_none_or(|n| *n == node))
            .collect();
        // Agents with a runner of their own (`[agents.<id>] runner`) get it; one per kind.
        let mut own_runners: HashMap<RunnerKind, Arc<dyn LlmRunner>> = HashMap::new();
        for spec in &hosted {
            let runner = match spec.runner {
                Some(kind) if injected_runner.is_none() && kind != config.llm.runner => {
                    match own_runners.get(&kind) {
                        Some(r) => r.clone(),
                        None => {
                            let opened =
                                crate::llm::open_runner(&config.llm, kind)
                                    .await
                                    .map_err(|e| {
                                        RuntimeError::Config(format!("agent {}: {e}", spec.id))
                                    })?;
                            tracing::info!(agent = %spec.id, runner = %opened.note, "agent's own model runner");
                            own_runners.insert(kind, opened.runner.clone());
                            opened.runner
                        }
                    }
                }
                _ => runner.clone(),
            };
            let (tx, mut rx) = mpsc::channel::<Intent>(config.runtime.queue_depth.max(1) as usize);
            queues.insert(spec.id.clone(), tx);
            let worker = AgentWorker {
                hub: hub.clone(),
                runner: runner.clone(),
                model: config.llm.model.clone(),
                recall_k: config.runtime.recall_k as usize,
                events: events.clone(),
                status: status.clone(),
                bus: bus.clone(),
                pending: pending.clone(),
                node: node.clone(),
                dispatcher: dispatcher.clone(),
                max_tool_rounds: config.runtime.max_tool_rounds,
                shutdown: cancel.clone(),
                registry: registry.clone(),
                actions: actions.clone(),
                http: http.clone(),
                approvals: approvals.clone().ok_or_else(|| {
                    RuntimeError::Config("internal: agents hosted by a watcher".into())
                })?,
                rules: rules.clone(),
                mcp: mcp.clone(),
                recorder: recorder.clone(),
            };
            let cancel = cancel.clone();
            let running = running.clone();
            let agent_id = spec.id.clone();
            tasks.spawn(async move {
                loop {
                    let intent = tokio::select! {
                        biased;
                        () = cancel.cancelled() => break,
                        intent = rx.recv() => intent,
                    };
                    let Some(intent) = intent else { break };
                    let this_intent = cancel.child_token();
                    if let Ok(mut m) = running.lock() {
                        m.insert(agent_id.clone(), this_intent.clone());
                    }
                    worker.run(intent, &this_intent).await;
                    if let Ok(mut m) = running.lock() {
                        m.remove(&agent_id);
                    }
                }
                // Whatever is still queued is answered, not dropped silently; it stays
                // unacknowledged on the bus for another node (or the next start) to take.
                rx.close();
                while let Ok(intent) = rx.try_recv() {
                    worker
                        .pending
                        .resolve(&intent.id, Err(IntentFailure::QueuedAtShutdown));
                }
            });
        }
        let hosted_ids: Vec<String> = hosted.iter().map(|a| a.id.clone()).collect();
        // Hooks fire on the node that hosts the agents; a watcher fires none.
        let mut hooks = None;
        tasks.spawn(relay::receive_results(
            bus.clone(),
            pending.clone(),
            cancel.clone(),
        ));
        if watch_only {
            bus.add_pattern(channels::ACTIVITY)
                .await
                .map_err(|e| RuntimeError::Open {
                    what: "the activity channel".into(),
                    message: e.to_string(),
                })?;
            tasks.spawn(activity::follow(
                bus.clone(),
                events.clone(),
                status.clone(),
                cancel.clone(),
            ));
            tasks.spawn(relay::publish_events(
                bus.clone(),
                hub_events.subscribe(),
                node.clone(),
                cancel.clone(),
            ));
            tasks.spawn(activity::forward(
                hub_events.subscribe(),
                events.clone(),
                cancel.clone(),
            ));
        } else {
            // A watcher elsewhere may ask to stop a generation; without the channel the
            // node still runs, it just cannot be stopped from afar.
            match bus.add_pattern(channels::CONTROL).await {
                Ok(()) => {
                    tasks.spawn(relay::obey_stops(
                        bus.clone(),
                        running.clone(),
                        approvals.clone(),
                        cancel.clone(),
                    ));
                }
                Err(e) => tracing::warn!(error = %e, "no stop requests from watchers"),
            }
            // Intents the bus heard and could not take are answered and audited here.
            if let Some(refused) = bus.refusals() {
                tasks.spawn(
                    super::intake::Refusals::new(
                        bus.clone(),
                        hub.clone(),
                        events.clone(),
                        pending.clone(),
                        node.clone(),
                    )
                    .answer_bus_refusals(refused, cancel.clone()),
                );
            }
            tasks.spawn(
                Intake {
                    bus: bus.clone(),
                    queues,
                    hub: hub.clone(),
                    events: events.clone(),
                    pending: pending.clone(),
                    node: node.clone(),
                }
                .run(cancel.clone()),
            );
            tasks.spawn(relay::publish_events(
                bus.clone(),
                events.subscribe(),
                node.clone(),
                cancel.clone(),
            ));
            hooks = Some(
                start_hooks(
                    &config,
                    &data_dir,
                    &info,
                    &hub,
                    HookParts {
                        dispatcher: dispatcher.clone(),
                        actions: actions.clone(),
                        mcp: mcp.clone(),
                        http: http.clone(),
                        approvals: approvals.clone(),
                        rules: rules.clone(),
                        events: events.clone(),
                    },
                    &tasks,
                    cancel.clone(),
                )
                .await?,
            );
            tasks.spawn(relay::heartbeat(
                bus.clone(),
                relay::HeartbeatOptions {
                    node: node.clone(),
                    agents: hosted_ids,
                    runner: info.runner.clone(),
                    model: info.model.clone(),
                    every: std::time::Duration::from_millis(u64::from(
                        config.bus.heartbeat_ms.max(100),
                    )),
                },
                status.clone(),
                cancel.clone(),
            ));
        }
        // A watcher's hub audits only what its operator does here; the runtime it watches
        // mirrors its own log.
        let mirror = mirror.filter(|_| !watch_only).map(|m| {
            let stop = CancellationToken::new();
            let handle = tokio::spawn(m.run(audit.subscribe(), stop.clone()));
            (stop, std::sync::Mutex::new(Some(handle)))
        });
        tasks.close();
        tracing::info!(node = %info.node, agents = info.agents, bus = %info.bus, data_dir = %data_dir.display(), "runtime started");

        Ok(Runtime {
            hub: hub.clone(),
            inner: Arc::new(Inner {
                hub,
                events,
                bus,
                registry,
                mcp,
                approvals,
                hooks,
                dispatcher,
                pending,
                status,
                cancel,
                running,
                tasks,
                audit,
                info,
                mirror,
                recorder,
                lock: Mutex::new(Some(lock)),
            }),
        })
    }

    /// The hub, with this handle's role.
    pub fn hub(&self) -> &ContextHub {
        &self.hub
    }

    /// This runtime for a caller with at most `role`: viewer reads and watches, operator
    /// also dispatches, stops and decides approvals, admin also changes agents (the hub).
    /// How a read-only control center is a viewer to the runtime, whatever key it sends.
    /// A handle can be lowered, never raised.
    pub fn lowered(&self, role: Role) -> Runtime {
        Runtime {
            inner: self.inner.clone(),
            hub: self.hub.lowered(role),
        }
    }

    /// The role of this handle.
    pub fn role(&self) -> Role {
        self.hub.role()
    }

    /// The flight recorder (off when `recorder.enabled = false` or it could not open).
    pub fn recorder(&self) -> &crate::recorder::Recorder {
        &self.inner.recorder
    }

    /// The calls waiting for a person (`None` for a watcher: the owner keeps them). The raw
    /// store, whatever this handle's role: a caller's decision goes through
    /// [`Runtime::request_decision`], which checks it.
    pub fn approvals(&self) -> Option<&Approvals> {
        self.inner.approvals.as_ref()
    }

    /// The outside MCP servers: their state, for `aios tools` and doctor.
    pub fn mcp_servers(&self) -> &crate::mcp_client::McpServers {
        &self.inner.mcp
    }

    /// The tools agents can call.
    /// The protocol hooks this node fires; `None` on a watcher.
    pub fn hooks(&self) -> Option<&crate::hooks::Hooks> {
        self.inner.hooks.as_ref()
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn info(&self) -> &RuntimeInfo {
        &self.inner.info
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }

    pub fn status(&self, agent_id: &str) -> (AgentStatus, Option<String>) {
        self.inner.status.get(agent_id)
    }

    /// Send an intent to an agent through the bus's durable queue. An unknown agent, an
    /// empty or oversized text, or a bus that refuses it is an error here: an intent is
    /// never dropped silently.
    pub async fn dispatch(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
        trace_id: Option<String>,
        parent_id: Option<String>,
    ) -> Result<Ticket, RuntimeError> {
        self.hub
            .require(from, Role::Operator, "dispatch_intent", Some(agent_id))?;
        let lineage = Lineage {
            trace_id,
            parent_id,
            depth: 0,
        };
        self.inner
            .dispatcher
            .dispatch(from, "dispatch_intent", agent_id, text, lineage)
            .await
    }

    /// Pass work on to another agent as a new intent in the same chain (`lineage` names the
    /// trace, the parent intent and how deep the chain already is); audited as `handoff`.
    pub async fn handoff(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
        lineage: Lineage,
    ) -> Result<Ticket, RuntimeError> {
        self.hub
            .require(from, Role::Operator, "handoff", Some(agent_id))?;
        self.inner
            .dispatcher
            .dispatch(from, "handoff", agent_id, text, lineage)
            .await
    }

    /// Dispatch and wait for the outcome.
    pub async fn dispatch_and_wait(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
    ) -> Result<IntentReply, RuntimeError> {
        let ticket = self.dispatch(from, agent_id, text, None, None).await?;
        match ticket.outcome.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(RuntimeError::Rejected(e.to_string())),
            Err(_) => Err(RuntimeError::ShuttingDown),
        }
    }

    /// Stop taking intents, stop the agent tasks (a running generation is cancelled and its
    /// intent answered with an error), wait for them, flush the audit log, let the mirror
    /// carry the last records, and close the log.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.wait().await;
        // Child processes of stdio MCP servers are killed and reaped, none left behind.
        self.inner.mcp.stopped().await;
        self.inner
            .pending
            .fail_all(&IntentFailure::WaitingAtShutdown);
        if let Some((stop, handle)) = &self.inner.mirror {
            if let Err(e) = self.inner.audit.flush().await {
                tracing::error!(error = %e, "audit log did not flush before the mirror's last pass");
            }
            stop.cancel();
            let handle = handle.lock().ok().and_then(|mut h| h.take());
            if let Some(handle) = handle {
                let _ = handle.await;
            }
        }
        if let Err(e) = self.inner.audit.close().await {
            tracing::error!(error = %e, "audit log did not close cleanly");
        }
        self.inner.recorder.close().await;
        tracing::info!("runtime stopped");
    }

    /// Give the data dir up: after [`Runtime::shutdown`] and whatever else its owner waits
    /// for, when nothing of this process writes there any more (`owner::Owner` calls it
    /// last). Dropping the last handle does the same.
    pub(crate) fn release_lock(&self) {
        let lock = self.inner.lock.lock().ok().and_then(|mut l| l.take());
        drop(lock);
    }

    /// Stop the intent an agent is handling, if any: its generation is cancelled and the
    /// intent fails with "stopped by the operator". Returns whether one was running.
    pub fn stop(&self, agent_id: &str) -> bool {
        let token = self
            .inner
            .running
            .lock()
            .ok()
            .and_then(|m| m.get(agent_id).cloned());
        match token {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Stop an agent's generation wherever it runs: here, or — on a watcher — on the node
    /// that hosts it, by a request on `aios.agents.control`. Returns what was done.
    pub async fn request_stop(
        &self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<String, RuntimeError> {
        self.inner.hub.spec(agent_id)?;
        self.hub
            .require(caller, Role::Operator, "stop", Some(agent_id))?;
        if self.inner.info.attached.is_none() {
            return Ok(if self.stop(agent_id) {
                format!("stopping {agent_id}")
            } else {
                format!("{agent_id} is not generating")
            });
        }
        let env = crate::bus::Envelope::new(
            crate::bus::kinds::STOP,
            crate::bus::Source {
                operator: Some(caller.to_string()),
                ..crate::bus::Source::node(&self.inner.info.node)
            },
            Some(agent_id),
            serde_json::json!({}),
        );
        self.inner
            .bus
            .publish(channels::CONTROL, &env)
            .await
            .map_err(|e| RuntimeError::Rejected(e.to_string()))?;
        Ok(format!("asked the node running {agent_id} to stop it"))
    }

    /// Decide a waiting tool call: here when this runtime holds it, else (a watcher) ask the
    /// node that does, through the bus.
    pub async fn request_decision(
        &self,
        caller: &Caller,
        id: &str,
        decision: crate::approvals::DecisionInput,
    ) -> Result<String, RuntimeError> {
        // "Always" adds an approval rule: an admin's.
        let needed = if decision.always {
            Role::Admin
        } else {
            Role::Operator
        };
        self.hub.require(caller, needed, "decide_approval", None)?;
        let verb = if decision.approve {
            "approved"
        } else {
            "denied"
        };
        if let Some(approvals) = &self.inner.approvals {
            let p = approvals
                .decide(caller, id, decision)
                .map_err(|e| RuntimeError::Rejected(e.to_string()))?;
            return Ok(format!("{verb} {} for {}", p.tool, p.agent_id));
        }
        let env = crate::bus::Envelope::new(
            crate::bus::kinds::DECIDE,
            crate::bus::Source {
                operator: Some(caller.to_string()),
                ..crate::bus::Source::node(&self.inner.info.node)
            },
            None,
            serde_json::json!({"id": id, "decision": decision}),
        );
        self.inner
            .bus
            .publish(channels::CONTROL, &env)
            .await
            .map_err(|e| RuntimeError::Rejected(e.to_string()))?;
        Ok(format!("sent: {verb} ({id}) to the node that asked"))
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }
}

/// The flight recorder of `config`. One that cannot open is logged and left off: the
/// recording observes the runtime, it must not keep it from running.
fn open_recorder(config: &Config) -> crate::recorder::Recorder {
    if !config.recorder.enabled {
        return crate::recorder::Recorder::off();
    }
    match crate::recorder::Recorder::open(crate::recorder::RecorderOptions::from_config(config)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "running without a flight recording");
            crate::recorder::Recorder::off()
        }
    }
}
