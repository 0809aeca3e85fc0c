//! `ContextHub`: the one door to agent state. Agents, the TUI, the CLI and MCP clients all
//! call these methods; each call writes one audit record and may emit `RuntimeEvent`s.
//!
//! Audit comes first: a call is refused before it acts when the audit writer cannot
//! write (its record could not be kept), and a call that changes state answers ok only
//! once its record is fsynced. If the disk fills between the two, the change is made
//! and the call fails saying so; the writer keeps that record and writes it when space
//! returns (it is lost only if the process dies before).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::caller::Caller;
use super::diff::{ContextDiff, diff_texts};
use super::store::{Modifier, Store, StoreError};
use super::types::{
    Cause, ChatTurn, ContextVersion, NewContext, Part, ProtocolHook, Trace, VersionInfo,
    now_rfc3339,
};
use crate::agent::{AgentSpec, Catalog};
use crate::audit::{AuditEntry, AuditError, AuditLog, Outcome};
use crate::event::{RecalledItem, RuntimeEvent};
use crate::memory::{Embedder, MemoryError, MemoryFilter, MemoryItem, ScoredItem, VectorMemory};
use crate::metrics::MemoryOp;
use crate::roles::Role;

/// Largest context text accepted, so one call cannot balloon the store.
pub const MAX_CONTEXT_BYTES: usize = 1024 * 1024;
/// Chat turns kept per agent.
pub const CHAT_KEPT: u32 = 500;
/// Largest list of goals or traits, and longest single entry.
const MAX_LIST_LEN: usize = 64;
const MAX_ENTRY_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("unknown agent `{id}`{}; `aios agents` lists them", hint.as_ref().map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default())]
    UnknownAgent { id: String, hint: Option<String> },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The caller's role may not do this (a handle lowered with [`ContextHub::lowered`]).
    #[error(transparent)]
    Forbidden(#[from] crate::roles::Denied),
    /// The call changed state but its audit record is not (yet) durable.
    #[error("`{action}` was carried out, but {problem}: {source}")]
    Unaudited {
        action: String,
        problem: &'static str,
        source: AuditError,
    },
}

/// Whether a call changes agent state; such a call waits for its record's fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Reads,
    Changes,
}

#[derive(Debug, Clone, Copy)]
pub struct HubOptions {
    /// Context versions kept per agent.
    pub keep_versions: u32,
    /// Behavioral traces kept per agent.
    pub trace_limit: u32,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            keep_versions: 100,
            trace_limit: 1000,
        }
    }
}

/// Everything about one agent, as `get_agent` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub spec: AgentSpec,
    pub goals: Vec<String>,
    pub persona_traits: Vec<String>,
    pub protocol_hooks: Vec<ProtocolHook>,
    pub memory_count: u64,
    pub context_version: Option<u64>,
    pub context_id: Option<String>,
}

#[derive(Clone)]
pub struct ContextHub {
    inner: Arc<Inner>,
    /// What this handle may do: admin for the runtime's own, lower for a handle given to a
    /// caller with less (a read-only control center). Every change needs admin.
    role: Role,
}

struct Inner {
    catalog: Catalog,
    store: Arc<dyn Store>,
    memory: Arc<dyn VectorMemory>,
    embedder: Arc<dyn Embedder>,
    audit: AuditLog,
    events: broadcast::Sender<RuntimeEvent>,
    opts: HubOptions,
    /// Checks a hook's `on` and `action` before it is added (set by the runtime, which
    /// knows the actions and MCP servers a target may name).
    hook_check: std::sync::OnceLock<HookCheck>,
    /// Each agent's context id in force (its latest version), for the audit records of
    /// calls that touch no version themselves.
    contexts: Mutex<HashMap<String, String>>,
}

/// Why a hook cannot be added to an agent, or `Ok`.
pub type HookCheck =
    Arc<dyn Fn(&str, &ProtocolHook) -> Result<(), crate::hooks::spec::HookRefused> + Send + Sync>;

/// One finished call, as the audit log records it.
pub struct Call<'a> {
    pub agent_id: Option<&'a str>,
    pub action: &'a str,
    pub input: Value,
    pub context_id: Option<String>,
    pub result: Result<(), String>,
    pub started: Instant,
}

/// The result of a call and the context id it touched, for the audit record.
type Touched<T> = (T, Option<String>);

impl ContextHub {
    pub fn new(
        catalog: Catalog,
        store: Arc<dyn Store>,
        memory: Arc<dyn VectorMemory>,
        embedder: Arc<dyn Embedder>,
        audit: AuditLog,
        events: broadcast::Sender<RuntimeEvent>,
        opts: HubOptions,
    ) -> Result<ContextHub, HubError> {
        if embedder.dims() != memory.dims() {
            return Err(HubError::BadRequest(format!(
                "embedder `{}` makes {}-dimensional vectors but the {} memory holds {} dimensions; \
                 set memory.dims to match the embedding model",
                embedder.name(),
                embedder.dims(),
                memory.name(),
                memory.dims()
            )));
        }
        Ok(ContextHub {
            role: Role::Admin,
            inner: Arc::new(Inner {
                catalog,
                store,
                memory,
                embedder,
                audit,
                events,
                opts,
                hook_check: std::sync::OnceLock::new(),
                contexts: Mutex::default(),
            }),
        })
    }

    fn contexts(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A plain map of ids: nothing a panic could leave half-written.
        self.inner
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn note_context(&self, agent_id: &str, context_id: &str) {
        self.contexts()
            .insert(agent_id.to_string(), context_id.to_string());
    }

    /// The agent's latest context id, read once from the store (later versions are noted
    /// as this hub writes them). An agent with none yet is asked again next time.
    async fn learn_context(&self, agent_id: &str) {
        if self.contexts().contains_key(agent_id) || self.spec(agent_id).is_err() {
            return;
        }
        if let Ok(Some(latest)) = self.inner.store.context(agent_id, None).await {
            self.contexts()
                .entry(agent_id.to_string())
                .or_insert(latest.context_id);
        }
    }

    /// This hub for a caller with at most `role`: the same state, and calls beyond the role
    /// refused (and audited). A handle can be lowered, never raised.
    pub fn lowered(&self, role: Role) -> ContextHub {
        ContextHub {
            inner: self.inner.clone(),
            role: self.role.lowered(role),
        }
    }

    /// The role of this handle.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `Ok` when this handle may do what `needed` may; else the refusal, audited under
    /// `caller` as `action` (the call is not carried out).
    pub fn require(
        &self,
        caller: &Caller,
        needed: Role,
        action: &str,
        agent_id: Option<&str>,
    ) -> Result<(), HubError> {
        let Err(denied) = self.role.check(needed) else {
            return Ok(());
        };
        let agent_id = agent_id.filter(|a| self.spec(a).is_ok());
        self.record(
            caller,
            Call {
                agent_id,
                action,
                input: denied.fields(),
                context_id: None,
                result: Err(denied.to_string()),
                started: Instant::now(),
            },
        )?;
        Err(HubError::Forbidden(denied))
    }

    /// Set how hooks are checked when added; the first call wins.
    pub fn set_hook_check(&self, check: HookCheck) {
        let _ = self.inner.hook_check.set(check);
    }

    /// The agent's stored hooks, for firing them. Not audited: the runtime reads them to
    /// decide what fires, and every delivery that follows is audited.
    pub async fn hooks_for_firing(&self, agent_id: &str) -> Result<Vec<ProtocolHook>, HubError> {
        self.read_hooks(agent_id).await
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.inner.audit
    }

    pub fn store_name(&self) -> &'static str {
        self.inner.store.name()
    }

    pub fn memory_name(&self) -> &'static str {
        self.inner.memory.name()
    }

    pub fn embedder_name(&self) -> String {
        self.inner.embedder.name()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }

    /// `text` with secrets masked by the audit log's redactor (built-in patterns and
    /// `audit.redact`): applied to every text a call writes, so no secret reaches the store
    /// (redb or Redis), the memory, or the events and bus messages made from them.
    fn mask(&self, text: &str) -> String {
        self.inner.audit.redactor().redact(text).into_owned()
    }

    fn mask_all(&self, items: Vec<String>) -> Vec<String> {
        items.iter().map(|item| self.mask(item)).collect()
    }

    fn emit(&self, event: RuntimeEvent) {
        // No receiver is fine: nobody is watching.
        let _ = self.inner.events.send(event);
    }

    /// The spec of a known agent, or `UnknownAgent` with a suggestion.
    pub fn spec(&self, agent_id: &str) -> Result<&AgentSpec, HubError> {
        self.inner
            .catalog
            .get(agent_id)
            .ok_or_else(|| HubError::UnknownAgent {
                id: agent_id.to_string(),
                hint: closest_id(&self.inner.catalog, agent_id),
            })
    }

    /// Write one audit record for a call made outside the hub's own methods (e.g. the
    /// runtime's `dispatch_intent`), so every interaction is on the chain.
    pub fn record(&self, caller: &Caller, call: Call<'_>) -> Result<(), HubError> {
        let (outcome, error) = match call.result {
            Ok(()) => (Outcome::Ok, None),
            Err(e) => (Outcome::Error, Some(e)),
        };
        let outcome_name = if error.is_some() { "error" } else { "ok" };
        // A call that touched no version ran under the agent's latest one.
        let context_id = call.context_id.or_else(|| {
            call.agent_id
                .and_then(|id| self.contexts().get(id).cloned())
        });
        self.inner.audit.append(AuditEntry {
            agent_id: call.agent_id.map(str::to_string),
            action: call.action.to_string(),
            input: call.input,
            context_id,
            caller: caller.to_string(),
            outcome,
            error,
            duration_ms: call.started.elapsed().as_secs_f64() * 1000.0,
            cause: crate::audit::cause::current(),
        })?;
        self.emit(RuntimeEvent::Audited {
            agent_id: call.agent_id.map(str::to_string),
            action: call.action.to_string(),
            outcome: outcome_name.into(),
        });
        Ok(())
    }

    /// Run one call that only reads and audit it, whatever its outcome.
    async fn call<T, F, Fut>(
        &self,
        caller: &Caller,
        agent_id: Option<&str>,
        action: &str,
        input: Value,
        f: F,
    ) -> Result<T, HubError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Touched<T>, HubError>>,
    {
        self.audited(caller, agent_id, action, input, Effect::Reads, f)
            .await
    }

    /// Run one call that changes state and audit it; it answers ok only once its record
    /// is on disk.
    async fn change<T, F, Fut>(
        &self,
        caller: &Caller,
        agent_id: Option<&str>,
        action: &str,
        input: Value,
        f: F,
    ) -> Result<T, HubError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Touched<T>, HubError>>,
    {
        self.audited(caller, agent_id, action, input, Effect::Changes, f)
            .await
    }

    async fn audited<T, F, Fut>(
        &self,
        caller: &Caller,
        agent_id: Option<&str>,
        action: &str,
        input: Value,
        effect: Effect,
        f: F,
    ) -> Result<T, HubError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Touched<T>, HubError>>,
    {
        if effect == Effect::Changes {
            // What agents are (goals, persona, hooks, context, memory) is an admin's.
            self.require(caller, Role::Admin, action, agent_id)?;
        }
        let started = Instant::now();
        // Write-ahead: a record that could not be kept means the call does not happen.
        self.inner.audit.ready()?;
        let result = match agent_id {
            Some(id) => match self.spec(id) {
                Ok(_) => f().await,
                Err(e) => Err(e),
            },
            None => f().await,
        };
        let (audit_result, context_id) = match &result {
            Ok((_, ctx)) => (Ok(()), ctx.clone()),
            Err(e) => (Err(e.to_string()), None),
        };
        if let Some(id) = agent_id {
            match (&context_id, effect) {
                // A change that wrote a version: it is the one in force from now on.
                (Some(ctx), Effect::Changes) => self.note_context(id, ctx),
                _ => self.learn_context(id).await,
            }
        }
        let audited = self.record(
            caller,
            Call {
                agent_id,
                action,
                input,
                context_id,
                result: audit_result,
                started,
            },
        );
        // The call's own error says more than a closed audit log does.
        let (value, _) = result?;
        let unaudited = |problem, source| HubError::Unaudited {
            action: action.to_string(),
            problem,
            source,
        };
        if effect == Effect::Changes {
            audited.map_err(|e| match e {
                HubError::Audit(source) => {
                    unaudited("its audit record could not be written", source)
                }
                other => other,
            })?;
            self.inner.audit.flush().await.map_err(|source| {
                unaudited(
                    "its audit record is not on disk yet (it is written when the audit log \
                     can be written again)",
                    source,
                )
            })?;
        } else {
            audited?;
        }
        Ok(value)
    }

    pub async fn list_agents(&self, caller: &Caller) -> Result<Vec<AgentSpec>, HubError> {
        self.call(caller, None, "list_agents", json!({}), || async {
            Ok((self.inner.catalog.agents().to_vec(), None))
        })
        .await
    }

    pub async fn get_agent(&self, caller: &Caller, agent_id: &str) -> Result<AgentState, HubError> {
        self.call(
            caller,
            Some(agent_id),
            "get_agent",
            json!({"agent_id": agent_id}),
            || async {
                let state = self.snapshot_agent(agent_id).await?;
                let ctx = state.context_id.clone();
                Ok((state, ctx))
            },
        )
        .await
    }

    /// An agent's state, read without an audit record: for the flight recorder, which is
    /// the runtime keeping its own record of what happened, not a caller acting on state.
    /// Not reachable over MCP.
    pub(crate) async fn snapshot_agent(&self, agent_id: &str) -> Result<AgentState, HubError> {
        let spec = self.spec(agent_id)?.clone();
        let latest = self.inner.store.context(agent_id, None).await?;
        Ok(AgentState {
            goals: self.read_list(agent_id, Part::Goals, &spec.goals).await?,
            persona_traits: self
                .read_list(agent_id, Part::PersonaTraits, &spec.persona_traits)
                .await?,
            protocol_hooks: self.read_hooks(agent_id).await?,
            memory_count: self
                .inner
                .memory
                .count(&MemoryFilter::agent(agent_id))
                .await?,
            context_version: latest.as_ref().map(|c| c.version),
            context_id: latest.as_ref().map(|c| c.context_id.clone()),
            spec,
        })
    }

    /// A context version, read without an audit record: for the flight recorder (see
    /// [`ContextHub::snapshot_agent`]).
    pub(crate) async fn peek_context(
        &self,
        agent_id: &str,
        version: u64,
    ) -> Result<Option<ContextVersion>, HubError> {
        Ok(self.inner.store.context(agent_id, Some(version)).await?)
    }

    async fn read_list(
        &self,
        agent_id: &str,
        part: Part,
        default: &[String],
    ) -> Result<Vec<String>, HubError> {
        match self.inner.store.get(agent_id, part).await? {
            Some(v) => serde_json::from_value(v).map_err(|e| corrupt(agent_id, part, e)),
            None => Ok(default.to_vec()),
        }
    }

    async fn read_hooks(&self, agent_id: &str) -> Result<Vec<ProtocolHook>, HubError> {
        match self.inner.store.get(agent_id, Part::ProtocolHooks).await? {
            Some(v) => {
                serde_json::from_value(v).map_err(|e| corrupt(agent_id, Part::ProtocolHooks, e))
            }
            None => Ok(Vec::new()),
        }
    }

    pub async fn get_goals(
        &self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<Vec<String>, HubError> {
        self.call(
            caller,
            Some(agent_id),
            "get_goals",
            json!({"agent_id": agent_id}),
            || async {
                let spec = self.spec(agent_id)?;
                Ok((
                    self.read_list(agent_id, Part::Goals, &spec.goals).await?,
                    None,
                ))
            },
        )
        .await
    }

    pub async fn set_goals(
        &self,
        caller: &Caller,
        agent_id: &str,
        goals: Vec<String>,
    ) -> Result<Vec<String>, HubError> {
        let input = json!({"agent_id": agent_id, "goals": goals});
        self.change(caller, Some(agent_id), "set_goals", input, || async {
            let goals = self.mask_all(clean_list("goal", goals)?);
            self.write_part(agent_id, Part::Goals, json!(goals)).await?;
            Ok((goals, None))
        })
        .await
    }

    pub async fn get_persona_traits(
        &self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<Vec<String>, HubError> {
        let input = json!({"agent_id": agent_id});
        self.call(
            caller,
            Some(agent_id),
            "get_persona_traits",
            input,
            || async {
                let spec = self.spec(agent_id)?;
                let traits = self
                    .read_list(agent_id, Part::PersonaTraits, &spec.persona_traits)
                    .await?;
                Ok((traits, None))
            },
        )
        .await
    }

    pub async fn set_persona_traits(
        &self,
        caller: &Caller,
        agent_id: &str,
        traits: Vec<String>,
    ) -> Result<Vec<String>, HubError> {
        let input = json!({"agent_id": agent_id, "persona_traits": traits});
        self.change(
            caller,
            Some(agent_id),
            "set_persona_traits",
            input,
            || async {
                let traits = self.mask_all(clean_list("persona trait", traits)?);
                self.write_part(agent_id, Part::PersonaTraits, json!(traits))
                    .await?;
                Ok((traits, None))
            },
        )
        .await
    }

    async fn write_part(&self, agent_id: &str, part: Part, value: Value) -> Result<(), HubError> {
        let modify: Modifier = Arc::new(move |_| Ok(value.clone()));
        self.inner.store.modify(agent_id, part, modify).await?;
        self.emit(RuntimeEvent::StateChanged {
            agent_id: agent_id.to_string(),
            part: part.as_str().to_string(),
        });
        Ok(())
    }

    pub async fn get_protocol_hooks(
        &self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<Vec<ProtocolHook>, HubError> {
        let input = json!({"agent_id": agent_id});
        self.call(
            caller,
            Some(agent_id),
            "get_protocol_hooks",
            input,
            || async { Ok((self.read_hooks(agent_id).await?, None)) },
        )
        .await
    }

    /// Add a hook; a hook of the same name is an error (remove it first).
    pub async fn add_protocol_hook(
        &self,
        caller: &Caller,
        agent_id: &str,
        hook: ProtocolHook,
    ) -> Result<Vec<ProtocolHook>, HubError> {
        let input = json!({"agent_id": agent_id, "hook": hook});
        self.change(
            caller,
            Some(agent_id),
            "add_protocol_hook",
            input,
            || async {
                for (field, value) in [
                    ("name", &hook.name),
                    ("on", &hook.on),
                    ("action", &hook.action),
                ] {
                    if value.trim().is_empty() {
                        return Err(HubError::BadRequest(format!(
                            "a protocol hook needs a non-empty `{field}`"
                        )));
                    }
                }
                if let Some(check) = self.inner.hook_check.get() {
                    check(agent_id, &hook).map_err(|e| {
                        HubError::BadRequest(format!("protocol hook `{}` refused: {e}", hook.name))
                    })?;
                }
                let masked_action = self.mask(&hook.action);
                let modify: Modifier = Arc::new(move |current| {
                    let mut hooks: Vec<ProtocolHook> = match current {
                        Some(v) => serde_json::from_value(v).map_err(|e| {
                            StoreError::Rejected(format!("stored hooks unreadable: {e}"))
                        })?,
                        None => Vec::new(),
                    };
                    if hooks.iter().any(|h| h.name == hook.name) {
                        return Err(StoreError::Rejected(format!(
                            "a protocol hook named `{}` exists; remove it first",
                            hook.name
                        )));
                    }
                    hooks.push(ProtocolHook {
                        action: masked_action.clone(),
                        ..hook.clone()
                    });
                    Ok(json!(hooks))
                });
                let hooks = self.modify_hooks(agent_id, modify).await?;
                Ok((hooks, None))
            },
        )
        .await
    }

    pub async fn remove_protocol_hook(
        &self,
        caller: &Caller,
        agent_id: &str,
        name: &str,
    ) -> Result<Vec<ProtocolHook>, HubError> {
        let input = json!({"agent_id": agent_id, "name": name});
        self.change(
            caller,
            Some(agent_id),
            "remove_protocol_hook",
            input,
            || async {
                let wanted = name.to_string();
                let modify: Modifier = Arc::new(move |current| {
                    let mut hooks: Vec<ProtocolHook> = match current {
                        Some(v) => serde_json::from_value(v).map_err(|e| {
                            StoreError::Rejected(format!("stored hooks unreadable: {e}"))
                        })?,
                        None => Vec::new(),
                    };
                    let before = hooks.len();
                    hooks.retain(|h| h.name != wanted);
                    if hooks.len() == before {
                        return Err(StoreError::Rejected(format!(
                            "no protocol hook named `{wanted}`"
                        )));
                    }
                    Ok(json!(hooks))
                });
                let hooks = self.modify_hooks(agent_id, modify).await?;
                Ok((hooks, None))
            },
        )
        .await
    }

    async fn modify_hooks(
        &self,
        agent_id: &str,
        modify: Modifier,
    ) -> Result<Vec<ProtocolHook>, HubError> {
        let value = self
            .inner
            .store
            .modify(agent_id, Part::ProtocolHooks, modify)
            .await
            .map_err(|e| match e {
                StoreError::Rejected(m) => HubError::BadRequest(m),
                other => HubError::Store(other),
            })?;
        self.emit(RuntimeEvent::StateChanged {
            agent_id: agent_id.to_string(),
            part: Part::ProtocolHooks.as_str().to_string(),
        });
        serde_json::from_value(value).map_err(|e| corrupt(agent_id, Part::ProtocolHooks, e))
    }

    pub async fn append_trace(
        &self,
        caller: &Caller,
        agent_id: &str,
        kind: &str,
        summary: &str,
        intent_id: Option<&str>,
    ) -> Result<u64, HubError> {
        let input =
            json!({"agent_id": agent_id, "kind": kind, "summary": summary, "intent_id": intent_id});
        self.change(caller, Some(agent_id), "append_trace", input, || async {
            if kind.trim().is_empty() {
                return Err(HubError::BadRequest(
                    "a trace needs a non-empty `kind`".into(),
                ));
            }
            let trace = Trace {
                seq: 0,
                ts: now_rfc3339(),
                kind: kind.to_string(),
                summary: self.mask(summary),
                intent_id: intent_id.map(str::to_string),
            };
            let seq = self
                .inner
                .store
                .append_trace(agent_id, trace, self.inner.opts.trace_limit)
                .await?;
            Ok((seq, None))
        })
        .await
    }

    pub async fn traces(
        &self,
        caller: &Caller,
        agent_id: &str,
        limit: usize,
    ) -> Result<Vec<Trace>, HubError> {
        let input = json!({"agent_id": agent_id, "limit": limit});
        self.call(caller, Some(agent_id), "get_traces", input, || async {
            Ok((self.inner.store.traces(agent_id, limit).await?, None))
        })
        .await
    }

    /// Add a turn to the agent's conversation history (kept: the newest `CHAT_KEPT`).
    pub async fn append_chat(
        &self,
        caller: &Caller,
        agent_id: &str,
        role: &str,
        text: &str,
        intent_id: Option<&str>,
    ) -> Result<u64, HubError> {
        let input = json!({"agent_id": agent_id, "role": role, "bytes": text.len(), "intent_id": intent_id});
        self.change(caller, Some(agent_id), "append_chat", input, || async {
            if !matches!(role, "user" | "assistant") {
                return Err(HubError::BadRequest(format!(
                    "a chat turn's role is `user` or `assistant`, not `{role}`"
                )));
            }
            let turn = ChatTurn {
                seq: 0,
                ts: now_rfc3339(),
                role: role.to_string(),
                text: self.mask(text),
                intent_id: intent_id.map(str::to_string),
            };
            let seq = self
                .inner
                .store
                .append_chat(agent_id, turn, CHAT_KEPT)
                .await?;
            Ok((seq, None))
        })
        .await
    }

    /// The newest `limit` turns of the agent's conversation, oldest first.
    pub async fn chat_history(
        &self,
        caller: &Caller,
        agent_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatTurn>, HubError> {
        let input = json!({"agent_id": agent_id, "limit": limit});
        self.call(
            caller,
            Some(agent_id),
            "get_chat_history",
            input,
            || async { Ok((self.inner.store.chat(agent_id, limit).await?, None)) },
        )
        .await
    }

    /// A context version, or the latest when `version` is `None`; `None` if the agent has
    /// no context yet.
    pub async fn get_context(
        &self,
        caller: &Caller,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Option<ContextVersion>, HubError> {
        let input = json!({"agent_id": agent_id, "version": version});
        self.call(caller, Some(agent_id), "get_context", input, || async {
            let found = self.inner.store.context(agent_id, version).await?;
            if let (Some(v), None) = (version, &found) {
                return Err(HubError::NotFound(self.missing_version(agent_id, v).await));
            }
            let ctx = found.as_ref().map(|c| c.context_id.clone());
            Ok((found, ctx))
        })
        .await
    }

    /// Write a new context version (latest + 1).
    pub async fn update_context(
        &self,
        caller: &Caller,
        agent_id: &str,
        text: String,
        summary: String,
        cause: Cause,
    ) -> Result<ContextVersion, HubError> {
        let input =
            json!({"agent_id": agent_id, "summary": summary, "bytes": text.len(), "cause": cause});
        self.change(caller, Some(agent_id), "update_context", input, || async {
            if text.len() > MAX_CONTEXT_BYTES {
                return Err(HubError::BadRequest(format!(
                    "context is {} bytes; the limit is {MAX_CONTEXT_BYTES}",
                    text.len()
                )));
            }
            let version = self
                .inner
                .store
                .push_context(
                    agent_id,
                    NewContext {
                        text: self.mask(&text),
                        summary: self.mask(&summary),
                        cause,
                    },
                    self.inner.opts.keep_versions,
                )
                .await?;
            crate::metrics::context_version_written(agent_id);
            self.emit(RuntimeEvent::ContextUpdated {
                agent_id: agent_id.to_string(),
                version: version.version,
                context_id: version.context_id.clone(),
                summary: version.summary.clone(),
            });
            let ctx = Some(version.context_id.clone());
            Ok((version, ctx))
        })
        .await
    }

    pub async fn list_versions(
        &self,
        caller: &Caller,
        agent_id: &str,
    ) -> Result<Vec<VersionInfo>, HubError> {
        let input = json!({"agent_id": agent_id});
        self.call(caller, Some(agent_id), "list_versions", input, || async {
            Ok((self.inner.store.versions(agent_id).await?, None))
        })
        .await
    }

    /// Diff two kept versions; version 0 stands for the empty context before version 1.
    pub async fn diff_context(
        &self,
        caller: &Caller,
        agent_id: &str,
        from: u64,
        to: u64,
    ) -> Result<ContextDiff, HubError> {
        let input = json!({"agent_id": agent_id, "from": from, "to": to});
        self.call(caller, Some(agent_id), "diff_context", input, || async {
            let old = self.version_text(agent_id, from).await?;
            let new = self.version_text(agent_id, to).await?;
            let ctx = new.1.clone();
            Ok((diff_texts(agent_id, from, &old.0, to, &new.0), ctx))
        })
        .await
    }

    async fn version_text(
        &self,
        agent_id: &str,
        version: u64,
    ) -> Result<(String, Option<String>), HubError> {
        if version == 0 {
            return Ok((String::new(), None));
        }
        match self.inner.store.context(agent_id, Some(version)).await? {
            Some(c) => Ok((c.text, Some(c.context_id))),
            None => Err(HubError::NotFound(
                self.missing_version(agent_id, version).await,
            )),
        }
    }

    async fn missing_version(&self, agent_id: &str, version: u64) -> String {
        match self.inner.store.versions(agent_id).await {
            Ok(v) if !v.is_empty() => format!(
                "{agent_id} has no context version {version} (kept: {}..{})",
                v[0].version,
                v[v.len() - 1].version
            ),
            _ => format!("{agent_id} has no context versions yet"),
        }
    }

    /// Store a memory item for an agent.
    pub async fn remember(
        &self,
        caller: &Caller,
        agent_id: &str,
        kind: &str,
        text: &str,
        tags: Vec<String>,
    ) -> Result<MemoryItem, HubError> {
        let input = json!({"agent_id": agent_id, "kind": kind, "text": text, "tags": tags});
        self.change(caller, Some(agent_id), "remember", input, || async {
            if text.trim().is_empty() {
                return Err(HubError::BadRequest(
                    "nothing to remember: `text` is empty".into(),
                ));
            }
            let item = MemoryItem {
                id: uuid::Uuid::now_v7().to_string(),
                agent_id: agent_id.to_string(),
                kind: if kind.is_empty() {
                    "fact".into()
                } else {
                    kind.to_string()
                },
                text: self.mask(text),
                ts: now_rfc3339(),
                tags: self.mask_all(tags),
            };
            let mut vectors = self
                .inner
                .embedder
                .embed(std::slice::from_ref(&item.text))
                .await?;
            let vector = vectors
                .pop()
                .ok_or_else(|| MemoryError::Embedder("the embedder returned no vector".into()))?;
            let upsert = self.inner.memory.upsert(vec![(item.clone(), vector)]);
            crate::metrics::memory_io(self.memory_name(), MemoryOp::Upsert, upsert).await?;
            self.emit(RuntimeEvent::Remembered {
                agent_id: agent_id.to_string(),
                item_id: item.id.clone(),
                kind: item.kind.clone(),
                text: item.text.clone(),
                tags: item.tags.clone(),
            });
            Ok((item, None))
        })
        .await
    }

    /// The `k` memory items of an agent closest to `query`.
    pub async fn recall(
        &self,
        caller: &Caller,
        agent_id: &str,
        query: &str,
        k: usize,
        kind: Option<&str>,
    ) -> Result<Vec<ScoredItem>, HubError> {
        let input = json!({"agent_id": agent_id, "query": query, "k": k, "kind": kind});
        self.call(caller, Some(agent_id), "recall", input, || async {
            let filter = MemoryFilter {
                agent_id: Some(agent_id.to_string()),
                kind: kind.map(str::to_string),
            };
            let mut vectors = self.inner.embedder.embed(&[query.to_string()]).await?;
            let vector = vectors
                .pop()
                .ok_or_else(|| MemoryError::Embedder("the embedder returned no vector".into()))?;
            let search = self.inner.memory.search(&vector, &filter, k.min(100));
            let found =
                crate::metrics::memory_io(self.memory_name(), MemoryOp::Search, search).await?;
            self.emit(RuntimeEvent::Recalled {
                agent_id: agent_id.to_string(),
                caller: caller.to_string(),
                query: query.chars().take(RecalledItem::MAX_TEXT).collect(),
                embedder: self.embedder_name(),
                items: found
                    .iter()
                    .take(RecalledItem::MAX_SHOWN)
                    .map(RecalledItem::of)
                    .collect(),
            });
            Ok((found, None))
        })
        .await
    }
}

fn corrupt(agent_id: &str, part: Part, e: serde_json::Error) -> HubError {
    HubError::Store(StoreError::Corrupt {
        what: format!("{agent_id}/{}", part.as_str()),
        message: e.to_string(),
    })
}

/// Trim entries, drop empty ones, and bound the list.
fn clean_list(what: &str, items: Vec<String>) -> Result<Vec<String>, HubError> {
    let items: Vec<String> = items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_LIST_LEN {
        return Err(HubError::BadRequest(format!(
            "{} {what}s given; at most {MAX_LIST_LEN}",
            items.len()
        )));
    }
    if let Some(long) = items.iter().find(|s| s.chars().count() > MAX_ENTRY_CHARS) {
        return Err(HubError::BadRequest(format!(
            "a {what} is longer than {MAX_ENTRY_CHARS} characters: `{}…`",
            long.chars().take(40).collect::<String>()
        )));
    }
    Ok(items)
}

/// The known id nearest to a mistyped one, when it is near enough to be a typo.
fn closest_id(catalog: &Catalog, wanted: &str) -> Option<String> {
    catalog
        .agents()
        .iter()
        .map(|a| (edit_distance(&a.id, wanted), &a.id))
        .filter(|(d, id)| *d <= 3.max(id.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, id)| id.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A hub on redb and the local memory in `dir`, whose audit log writes through a disk
    /// that fills up when `full` is set.
    fn hub_on_filling_disk(dir: &std::path::Path, full: Arc<AtomicBool>) -> ContextHub {
        use crate::audit::{AuditOptions, writer_tests::FillingDisk};
        let audit = AuditLog::open_on(
            AuditOptions {
                flush_interval: std::time::Duration::from_secs(3600),
                ..AuditOptions::new(dir.join("audit"))
            },
            Box::new(FillingDisk(full)),
        )
        .unwrap();
        let store = crate::context::EmbeddedStore::open(&dir.join("state.redb")).unwrap();
        let memory = crate::memory::LocalMemory::open(
            &dir.join("memory"),
            &crate::memory::VectorSpace::new("hash", 64),
        )
        .unwrap();
        ContextHub::new(
            Catalog::builtin(),
            Arc::new(store),
            Arc::new(memory),
            Arc::new(crate::memory::HashEmbedder::new(64)),
            audit,
            broadcast::channel(16).0,
            HubOptions::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_call_whose_record_cannot_be_written_fails_and_the_hub_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let full = Arc::new(AtomicBool::new(false));
        let hub = hub_on_filling_disk(dir.path(), full.clone());
        let me = Caller::cli();
        let count = |hub: &ContextHub| {
            let hub = hub.clone();
            async move {
                hub.inner
                    .memory
                    .count(&MemoryFilter::agent("ops-agent"))
                    .await
                    .unwrap()
            }
        };
        hub.remember(&me, "ops-agent", "fact", "before", vec![])
            .await
            .unwrap();

        // The disk fills: the change is made by a healthy hub, but it does not answer ok
        // while its record is not on disk.
        full.store(true, Ordering::SeqCst);
        let err = hub
            .remember(&me, "ops-agent", "fact", "while full", vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, HubError::Unaudited { .. }), "{err}");
        assert!(err.to_string().contains("not on disk"), "{err}");
        assert_eq!(count(&hub).await, 2);
        // Now the writer is known to be broken: calls are refused before they act.
        let err = hub
            .remember(&me, "ops-agent", "fact", "refused", vec![])
            .await
            .unwrap_err();
        assert!(
            matches!(err, HubError::Audit(AuditError::Unavailable(_))),
            "{err}"
        );
        assert!(err.to_string().contains("refused"), "{err}");
        assert_eq!(count(&hub).await, 2, "a refused call changed nothing");
        assert!(hub.get_goals(&me, "ops-agent").await.is_err());

        // Space returns: the writer takes the kept record and calls work again.
        full.store(false, Ordering::SeqCst);
        let mut tries = 0;
        while hub.audit_log().failure().is_some() {
            assert!(tries < 500, "the audit writer did not recover");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            tries += 1;
        }
        hub.remember(&me, "ops-agent", "fact", "after", vec![])
            .await
            .unwrap();
        hub.audit_log().close().await.unwrap();
        let report = crate::audit::verify_dir(&dir.path().join("audit")).unwrap();
        assert!(report.is_ok(), "{:?}", report.first_bad);
        let read = crate::audit::read_dir(&dir.path().join("audit")).unwrap();
        let texts: Vec<&str> = read
            .records
            .iter()
            .filter_map(|r| r.input["text"].as_str())
            .collect();
        assert_eq!(texts, vec!["before", "while full", "after"]);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("support-agent", "suport-agent"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn lists_are_trimmed_and_bounded() {
        let cleaned = clean_list("goal", vec!["  a ".into(), "".into(), "b".into()]).unwrap();
        assert_eq!(cleaned, vec!["a", "b"]);
        assert!(clean_list("goal", vec!["x".into(); 65]).is_err());
    }
}
