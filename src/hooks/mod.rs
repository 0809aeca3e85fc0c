//! Protocol hooks that fire: an agent's `{name, on, action}` hooks (from its state, added
//! over MCP, and from `[agents.<id>] protocol_hooks`) turn runtime events and schedules into
//! deliveries — a signed webhook, an HTTP action, an intent, an outside MCP tool — written
//! to a durable outbox first, then attempted, retried with backoff and dead-lettered.
//!
//! ```text
//!  RuntimeEvent ─► router ─┐                       ┌─► webhook (signed POST)
//!  clock ───────► scheduler ┴─► Outbox ─► worker ──┼─► action:<name> / mcp:<server>.<tool>
//!                 (durable: redb or Redis)  (gate)  └─► intent:<agent> <text>
//! ```
//!
//! Decisions are pure ([`spec`], [`event`], [`retry`], [`schedule`], [`sign`]); the router,
//! scheduler and worker are the thin async edges.

pub mod config;
pub mod event;
pub mod outbox;
pub mod retry;
pub mod schedule;
pub mod sign;
pub mod spec;

mod deliver;
mod router;
mod scheduler;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::HooksConfig;
pub use outbox::{Delivery, Outbox, OutboxError, State};

/// Why the hooks of an agent could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No such agent.
    #[error(transparent)]
    Agent(#[from] crate::context::HubError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

use crate::approvals::{Approvals, Rule};
use crate::config::Config;
use crate::context::{Caller, ContextHub, ProtocolHook};
use crate::event::RuntimeEvent;
use spec::{Known, Target, Trigger};

/// How long an agent's hook list is used before it is read again (hooks added on another
/// node reach this one within this time; those added here, at once).
const HOOKS_FRESH: Duration = Duration::from_secs(5);

/// What may be named by a hook's target, from the configuration.
pub fn known_of(config: &Config) -> Known {
    let mut agents: std::collections::BTreeSet<String> = crate::agent::catalog::Catalog::builtin()
        .agents()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    agents.extend(config.agents.keys().cloned());
    Known {
        agents,
        actions: config.actions.keys().cloned().collect(),
        servers: config.mcp_servers.keys().cloned().collect(),
    }
}

/// The tool name approval rules match for a hook's deliveries: `hook:<hook name>`.
pub fn gate_tool(hook: &str) -> String {
    format!("hook:{hook}")
}

/// Sends intents for `intent:` targets (the runtime's dispatcher), so this module does
/// not depend on the agent runtime.
#[async_trait]
pub trait IntentSink: Send + Sync {
    /// Queue `text` for `agent_id` in the chain `trace_id` at `depth`; the intent id, or
    /// why it was refused (`retry` says whether trying again later could help).
    async fn send_intent(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
        trace_id: Option<String>,
        parent_id: Option<String>,
        depth: u32,
    ) -> Result<String, (bool, String)>;
}

/// The time, injectable so schedules are tested without waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// One delivery as shown in the TUI and by `aios hooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub agent_id: String,
    pub hook: String,
    pub event: String,
    /// webhook, action, intent or mcp.
    pub target: String,
    /// pending, waiting, delivered or dead.
    pub state: String,
    pub attempts: u32,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    /// When the event happened.
    pub created: String,
    /// When the next attempt is due (pending ones).
    #[serde(default)]
    pub next_attempt: Option<String>,
}

impl DeliveryRow {
    pub fn of(d: &Delivery) -> DeliveryRow {
        let kind = d.target.split(':').next().unwrap_or("").to_string();
        DeliveryRow {
            id: d.id.clone(),
            agent_id: d.agent_id.clone(),
            hook: d.hook.clone(),
            event: d.event.event.clone(),
            target: kind,
            state: d.state.as_str().to_string(),
            attempts: d.attempts,
            status: d.status,
            latency_ms: d.latency_ms,
            error: d.error.clone(),
            created: rfc3339(d.created_ms),
            next_attempt: (d.state == State::Pending).then(|| rfc3339(d.due_ms)),
        }
    }
}

/// One hook as `aios hooks` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRow {
    pub agent_id: String,
    pub name: String,
    pub on: String,
    pub action: String,
    /// `config` or `state` (added over MCP).
    pub source: String,
    /// Why the hook cannot fire (a hook stored before checks existed, an action since
    /// removed from config).
    #[serde(default)]
    pub problem: Option<String>,
    /// The next fire time of a schedule.
    #[serde(default)]
    pub next_fire: Option<String>,
    /// Latest first.
    pub deliveries: Vec<DeliveryRow>,
}

pub(crate) fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A hook ready to fire: parsed once per read of the agent's hooks.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub hook: ProtocolHook,
    pub source: &'static str,
    pub parsed: Result<(Trigger, Target), spec::HookError>,
}

/// What the worker needs to reach each kind of target.
pub struct Targets {
    pub http: reqwest::Client,
    pub actions: Arc<crate::actions::Actions>,
    pub mcp: crate::mcp_client::McpServers,
    pub intents: Arc<dyn IntentSink>,
}

/// Everything the hooks need from the runtime.
pub struct HooksOptions {
    pub config: HooksConfig,
    /// The signing secrets (at least one).
    pub secrets: SigningSecrets,
    pub node: String,
    pub outbox: Arc<dyn Outbox>,
    pub hub: ContextHub,
    pub known: Known,
    pub targets: Targets,
    pub approvals: Option<Approvals>,
    pub rules: Arc<Vec<Rule>>,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub clock: Arc<dyn Clock>,
}

/// An agent's hooks and when they were read.
type Cached = (Instant, Arc<Vec<Active>>);

pub(crate) struct Inner {
    pub opts: HooksOptions,
    pub wake: Notify,
    /// Ends work that outlives one call (a delivery waiting for a person) at shutdown.
    pub stop: CancellationToken,
    cache: Mutex<HashMap<String, Cached>>,
}

/// The running hooks of one node.
#[derive(Clone)]
pub struct Hooks {
    inner: Arc<Inner>,
}

impl Hooks {
    /// Start the router (events → deliveries), the scheduler and the delivery worker on
    /// `tasks`, until `cancel`.
    pub fn start(opts: HooksOptions, tasks: &TaskTracker, cancel: CancellationToken) -> Hooks {
        let hooks = Hooks::with_stop(opts, cancel.clone());
        tasks.spawn(router::run(
            hooks.inner.clone(),
            hooks.inner.opts.events.subscribe(),
            cancel.clone(),
        ));
        tasks.spawn(scheduler::run(hooks.inner.clone(), cancel.clone()));
        tasks.spawn(worker::run(hooks.inner.clone(), cancel));
        hooks
    }

    /// The hooks without their tasks (tests drive [`Hooks::tick_schedules`] and
    /// [`Hooks::deliver_due`] themselves).
    pub fn new(opts: HooksOptions) -> Hooks {
        Hooks::with_stop(opts, CancellationToken::new())
    }

    fn with_stop(opts: HooksOptions, stop: CancellationToken) -> Hooks {
        Hooks {
            inner: Arc::new(Inner {
                opts,
                wake: Notify::new(),
                stop,
                cache: Mutex::default(),
            }),
        }
    }

    /// Fire due schedules once, at the clock's time. Returns the deliveries written.
    pub async fn tick_schedules(&self) -> usize {
        scheduler::tick(&self.inner).await
    }

    /// Attempt every due delivery once and wait for the attempts. Returns how many ran.
    pub async fn deliver_due(&self) -> usize {
        worker::drain_once(&self.inner).await
    }

    /// Every hook of `agent` (or all agents) with its latest deliveries and next fire time.
    pub async fn report(&self, agent: Option<&str>) -> Result<Vec<HookRow>, ReportError> {
        let agents: Vec<String> = match agent {
            Some(a) => {
                self.inner.opts.hub.spec(a)?;
                vec![a.to_string()]
            }
            None => self
                .inner
                .opts
                .hub
                .catalog()
                .agents()
                .iter()
                .map(|a| a.id.clone())
                .collect(),
        };
        let deliveries = self.inner.opts.outbox.list(outbox::KEEP_FINISHED).await?;
        let mut by_hook: BTreeMap<(String, String), Vec<DeliveryRow>> = BTreeMap::new();
        for d in &deliveries {
            by_hook
                .entry((d.agent_id.clone(), d.hook.clone()))
                .or_default()
                .push(DeliveryRow::of(d));
        }
        let now = self.inner.opts.clock.now();
        let mut rows = Vec::new();
        for agent_id in agents {
            for a in self.inner.hooks_of(&agent_id).await.iter() {
                let next_fire = match &a.parsed {
                    Ok((Trigger::Schedule(s), _)) => s
                        .next_after(self.inner.opts.config.timezone, now)
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    _ => None,
                };
                let mut ds = by_hook
                    .remove(&(agent_id.clone(), a.hook.name.clone()))
                    .unwrap_or_default();
                ds.truncate(10);
                rows.push(HookRow {
                    agent_id: agent_id.clone(),
                    name: a.hook.name.clone(),
                    on: a.hook.on.clone(),
                    action: a.hook.action.clone(),
                    source: a.source.to_string(),
                    problem: a.parsed.as_ref().err().map(ToString::to_string),
                    next_fire,
                    deliveries: ds,
                });
            }
        }
        Ok(rows)
    }

    /// Send a dead delivery again.
    pub async fn retry(&self, id: &str) -> Result<DeliveryRow, OutboxError> {
        let now = self.inner.opts.clock.now().timestamp_millis();
        let d = outbox::retry_dead(&*self.inner.opts.outbox, id, now).await?;
        self.inner.wake.notify_one();
        Ok(DeliveryRow::of(&d))
    }
}

impl Inner {
    fn invalidate(&self, agent_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(agent_id);
    }

    /// The agent's hooks, config ones first, parsed; read again after [`HOOKS_FRESH`].
    pub(crate) async fn hooks_of(&self, agent_id: &str) -> Arc<Vec<Active>> {
        if let Some((at, hooks)) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(agent_id)
            && at.elapsed() < HOOKS_FRESH
        {
            return hooks.clone();
        }
        let mut out = Vec::new();
        if let Ok(spec) = self.opts.hub.spec(agent_id) {
            for h in &spec.protocol_hooks {
                out.push(self.activate(h.clone(), "config"));
            }
        }
        match self.opts.hub.hooks_for_firing(agent_id).await {
            Ok(stored) => out.extend(stored.into_iter().map(|h| self.activate(h, "state"))),
            Err(e) => {
                tracing::warn!(agent = agent_id, error = %e, "could not read the agent's hooks")
            }
        }
        let hooks = Arc::new(out);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agent_id.to_string(), (Instant::now(), hooks.clone()));
        hooks
    }

    fn activate(&self, hook: ProtocolHook, source: &'static str) -> Active {
        let parsed = spec::check(&hook.on, &hook.action, &self.opts.known);
        Active {
            hook,
            source,
            parsed,
        }
    }

    pub(crate) fn emit(&self, d: &Delivery) {
        let _ = self.opts.events.send(RuntimeEvent::HookDelivery {
            delivery: Box::new(DeliveryRow::of(d)),
        });
    }
}

/// The webhook signing secrets as they are now: those read at start, with each `vault:` one
/// as it was last read (a rotation in Vault signs from the next delivery on).
#[derive(Clone)]
pub struct SigningSecrets {
    /// `hooks.secret` as written, beside what each was at start (both empty when the
    /// secret is the generated one).
    configured: Vec<String>,
    at_start: Vec<String>,
    vault: crate::secrets::Secrets,
}

impl SigningSecrets {
    /// Secrets that never change.
    pub fn fixed(secrets: Vec<String>) -> SigningSecrets {
        SigningSecrets {
            configured: Vec::new(),
            at_start: secrets,
            vault: crate::secrets::Secrets::default(),
        }
    }

    pub fn current(&self) -> Vec<String> {
        if self.configured.len() != self.at_start.len() {
            return self.at_start.clone();
        }
        self.configured
            .iter()
            .zip(&self.at_start)
            .map(|(written, first)| {
                if crate::secrets::is_vault_ref(written) {
                    self.vault.lookup(written).unwrap_or_else(|| first.clone())
                } else {
                    first.clone()
                }
            })
            .collect()
    }
}

/// The signing secrets: the configured ones, else one generated in `<data>/hooks.secret`
/// (0600) and kept, so receivers can be set up once.
pub fn signing_secrets(
    config: &HooksConfig,
    secrets: &crate::secrets::Secrets,
    data_dir: &std::path::Path,
) -> Result<SigningSecrets, config::SecretError> {
    let resolved = config.resolve_secrets(&|name| secrets.lookup(name))?;
    if !resolved.is_empty() {
        return Ok(SigningSecrets {
            configured: config.secret.clone(),
            at_start: resolved,
            vault: secrets.clone(),
        });
    }
    // The same generator and file handling as the MCP HTTP token: 256 random bits, 0600,
    // written atomically, reused when valid.
    let path = data_dir.join("hooks.secret");
    crate::mcp::token::load_or_create(&path)
        .map(|s| SigningSecrets::fixed(vec![s]))
        .map_err(config::SecretError::from)
}
