//! The approvals waiting for a person, kept on disk so a restart never loses one silently,
//! and the rules operators added with "always allow".
//!
//! Every step is on the audit chain: asked (by the agent), decided (by whom, with the edited
//! arguments or the reason), timed out, withdrawn (the intent stopped), or denied because
//! the runtime restarted while it waited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use crate::agent::turn::Decision;
use crate::context::{Call, Caller, ContextHub, now_rfc3339};
use crate::event::RuntimeEvent;
use crate::llm::ToolCall;

use super::rules::{Rule, RuleDecision};

/// The file under the data dir.
pub const FILE_NAME: &str = "approvals.json";

/// A short id to type in `aios approve ID`: 12 hex digits of a UUIDv7's random tail (the
/// head is the clock, alike for calls asked in the same millisecond).
fn short_id() -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    hex[hex.len() - 12..].to_string()
}

/// A call waiting for a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub id: String,
    pub agent_id: String,
    pub intent_id: String,
    pub call_id: String,
    pub tool: String,
    /// `builtin`, `mcp` or `http`.
    pub origin: String,
    pub arguments: Value,
    /// What the call will do, as text (a diff, the exact HTTP request, the MCP call);
    /// secrets masked.
    pub preview: String,
    pub asked_at: String,
    pub node: String,
}

/// A person's answer, as the CLI, MCP and the TUI give it (MCP's `decide_approval` takes
/// exactly these fields, its schema derived from this type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionInput {
    /// true runs the call, false refuses it.
    pub approve: bool,
    /// Why (a denial's reason is told to the model).
    #[serde(default)]
    pub reason: Option<String>,
    /// Run with these arguments instead of the model's.
    #[serde(default)]
    pub arguments: Option<Value>,
    /// Approve, and from now on allow this tool for this agent without asking.
    #[serde(default)]
    pub always: bool,
}

#[derive(Default, Serialize, Deserialize)]
struct OnDisk {
    #[serde(default)]
    pending: Vec<PendingApproval>,
    #[serde(default)]
    rules: Vec<Rule>,
}

struct State {
    pending: BTreeMap<String, (PendingApproval, Option<oneshot::Sender<Decision>>)>,
    /// "Always allow" rules, tried before the configured ones.
    added: Vec<Rule>,
}

/// Cheap-clone handle.
#[derive(Clone)]
pub struct Approvals {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    file: PathBuf,
    hub: ContextHub,
    events: broadcast::Sender<RuntimeEvent>,
    timeout: Duration,
    node: String,
}

/// Why an approval could not be opened, asked or decided.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The approvals file exists and is not one aios wrote.
    #[error("{}: not readable ({message}); move it away to start without it", path.display())]
    Unreadable { path: PathBuf, message: String },
    /// The file could not be read or written: an approval not kept could be lost by a
    /// restart, so it is not asked.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no pending approval `{0}` (decided, timed out, or never asked); `aios approvals` lists them"
    )]
    NotPending(String),
    #[error("edited arguments must be a JSON object")]
    ArgumentsNotObject,
}

impl Approvals {
    /// Open the approvals kept under `data_dir`. Any approval still pending there was asked
    /// by a run that is gone: it is denied with the reason "restarted" (and audited), so
    /// nobody approves a call that no longer waits.
    pub fn open(
        data_dir: &Path,
        hub: ContextHub,
        events: broadcast::Sender<RuntimeEvent>,
        timeout: Duration,
        node: String,
    ) -> Result<Approvals, ApprovalError> {
        let file = data_dir.join(FILE_NAME);
        let disk: OnDisk = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ApprovalError::Unreadable {
                path: file.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::default(),
            Err(source) => return Err(ApprovalError::Io { path: file, source }),
        };
        let approvals = Approvals {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    pending: BTreeMap::new(),
                    added: disk.rules,
                }),
                file,
                hub,
                events,
                timeout,
                node,
            }),
        };
        for p in disk.pending {
            tracing::warn!(approval = %p.id, agent = %p.agent_id, tool = %p.tool, "denied: asked before a restart");
            approvals.audit(
                &Caller::Runtime,
                &p,
                "approval_decided",
                json!({"approved": false, "by": "aios", "reason": "restarted"}),
            );
        }
        approvals.save(&approvals.state())?;
        Ok(approvals)
    }

    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is complete under the lock: a panic elsewhere leaves nothing half-done.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write the pending list and the added rules (atomically: temp file, then rename).
    fn save(&self, state: &State) -> Result<(), ApprovalError> {
        let disk = OnDisk {
            pending: state.pending.values().map(|(p, _)| p.clone()).collect(),
            rules: state.added.clone(),
        };
        let io = |source| ApprovalError::Io {
            path: self.inner.file.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&disk).map_err(|e| io(e.into()))?;
        let tmp = self.inner.file.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.inner.file))
            .map_err(io)
    }

    fn audit(&self, caller: &Caller, p: &PendingApproval, action: &str, extra: Value) {
        let mut input = json!({
            "approval_id": p.id,
            "intent_id": p.intent_id,
            "tool": p.tool,
            "arguments": p.arguments,
        });
        if let (Value::Object(a), Value::Object(b)) = (&mut input, extra) {
            a.extend(b);
        }
        // Decided by a person, still on behalf of the intent that asked: keep the cause in
        // force where there is one (the asking turn's), else the approval's intent.
        let mut cause = crate::audit::cause::current();
        if cause.intent_id.is_none() && !p.intent_id.is_empty() {
            cause.intent_id = Some(p.intent_id.clone());
        }
        let recorded = crate::audit::cause::sync_scope(cause, || {
            self.inner.hub.record(
                caller,
                Call {
                    agent_id: Some(&p.agent_id),
                    action,
                    input,
                    context_id: None,
                    result: Ok(()),
                    started: Instant::now(),
                },
            )
        });
        if let Err(e) = recorded {
            tracing::error!(approval = %p.id, action, error = %e, "approval step not audited");
        }
    }

    /// The operator-added rules ("always allow"), to try before the configured ones.
    pub fn added_rules(&self) -> Vec<Rule> {
        self.state().added.clone()
    }

    /// Put a call up for approval; the receiver gets the decision.
    pub fn ask(
        &self,
        agent_id: &str,
        intent_id: &str,
        call: &ToolCall,
        origin: &str,
        preview: String,
    ) -> Result<(PendingApproval, oneshot::Receiver<Decision>), ApprovalError> {
        let p = PendingApproval {
            id: short_id(),
            agent_id: agent_id.into(),
            intent_id: intent_id.into(),
            call_id: call.id.clone(),
            tool: call.name.clone(),
            origin: origin.into(),
            arguments: call.arguments.clone(),
            preview,
            asked_at: now_rfc3339(),
            node: self.inner.node.clone(),
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state();
            state.pending.insert(p.id.clone(), (p.clone(), Some(tx)));
            if let Err(e) = self.save(&state) {
                // Not kept on disk means a restart could lose it: refuse to ask.
                state.pending.remove(&p.id);
                return Err(e);
            }
        }
        self.audit(
            &Caller::agent(agent_id),
            &p,
            "approval_asked",
            json!({"origin": origin, "preview": p.preview}),
        );
        let _ = self.inner.events.send(RuntimeEvent::ApprovalAsked {
            approval: Box::new(p.clone()),
        });
        Ok((p, rx))
    }

    /// Whether this node holds the approval `id` (and so is the one to decide it).
    pub fn holds(&self, id: &str) -> bool {
        self.state().pending.contains_key(id)
    }

    /// Everything waiting, oldest first.
    pub fn list(&self) -> Vec<PendingApproval> {
        let mut out: Vec<_> = self
            .state()
            .pending
            .values()
            .map(|(p, _)| p.clone())
            .collect();
        out.sort_by(|a, b| a.asked_at.cmp(&b.asked_at).then(a.id.cmp(&b.id)));
        out
    }

    /// A person decides. Unknown or already decided ids are an error naming the id.
    pub fn decide(
        &self,
        caller: &Caller,
        id: &str,
        input: DecisionInput,
    ) -> Result<PendingApproval, ApprovalError> {
        if let Some(args) = &input.arguments
            && !args.is_object()
        {
            return Err(ApprovalError::ArgumentsNotObject);
        }
        let by = caller.to_string();
        let decision = if input.approve {
            Decision::Approve {
                by: by.clone(),
                arguments: input.arguments.clone(),
            }
        } else {
            Decision::Deny {
                by: by.clone(),
                reason: input
                    .reason
                    .clone()
                    .filter(|r| !r.trim().is_empty())
                    .unwrap_or_else(|| "no reason given".into()),
            }
        };
        let (p, tx) = {
            let mut state = self.state();
            let Some((p, tx)) = state.pending.remove(id) else {
                return Err(ApprovalError::NotPending(id.to_string()));
            };
            if input.approve && input.always {
                state.added.insert(
                    0,
                    Rule {
                        agent: p.agent_id.clone(),
                        tool: p.tool.clone(),
                        args: BTreeMap::new(),
                        decision: RuleDecision::Allow,
                        reason: None,
                    },
                );
            }
            if let Err(e) = self.save(&state) {
                tracing::error!(error = %e, "approvals file not updated");
            }
            (p, tx)
        };
        let mut extra = json!({"approved": input.approve, "by": by});
        if let Decision::Deny { reason, .. } = &decision {
            extra["reason"] = json!(reason);
        }
        if let Some(args) = &input.arguments {
            extra["edited_arguments"] = args.clone();
        }
        if input.always && input.approve {
            extra["always"] = json!(true);
        }
        self.audit(caller, &p, "approval_decided", extra);
        let _ = self.inner.events.send(RuntimeEvent::ApprovalDecided {
            id: p.id.clone(),
            agent_id: p.agent_id.clone(),
            approved: input.approve,
            by,
        });
        if let Some(tx) = tx {
            // The waiting intent may have stopped meanwhile; the decision is on record.
            let _ = tx.send(decision);
        }
        Ok(p)
    }

    /// Nobody decided in time, or the intent stopped: take it off the list, on record.
    pub fn withdraw(&self, id: &str, by: &str, reason: &str) {
        let removed = {
            let mut state = self.state();
            let removed = state.pending.remove(id);
            if removed.is_some()
                && let Err(e) = self.save(&state)
            {
                tracing::error!(error = %e, "approvals file not updated");
            }
            removed
        };
        if let Some((p, _)) = removed {
            self.audit(
                &Caller::Runtime,
                &p,
                "approval_decided",
                json!({"approved": false, "by": by, "reason": reason}),
            );
            let _ = self.inner.events.send(RuntimeEvent::ApprovalDecided {
                id: p.id.clone(),
                agent_id: p.agent_id.clone(),
                approved: false,
                by: by.into(),
            });
        }
    }
}
