//! Answers a control `Request` against a running `Runtime`. The socket server and the CLI's
//! in-process path both call this, so a command behaves the same with or without an owner.

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::agent::{IntentFailure, Runtime, RuntimeError};
use crate::approvals::ApprovalError;
use crate::audit::AuditError;
use crate::bus::BusError;
use crate::context::{Caller, HubError};
use crate::event::RuntimeEvent;
use crate::hooks::{OutboxError, ReportError};

use super::protocol::{AgentRow, AgentTools, Request, Streamed, ToolRow};

/// Approvals and hooks live with the runtime that runs the agents.
const NOT_OWNER: &str = "this runtime only watches; approvals are decided and hooks fire on the node that runs the agents";

/// Why a request failed; its text is the `error` of the reply, one line.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Approvals or hooks asked of a runtime that only watches.
    #[error("{}", NOT_OWNER)]
    NotOwner,
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    HookReport(#[from] ReportError),
    #[error(transparent)]
    HookRetry(#[from] OutboxError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The waited-for intent failed.
    #[error(transparent)]
    IntentFailed(#[from] IntentFailure),
    #[error("the runtime stopped before the intent was handled")]
    Stopped,
    /// The answer could not be turned into JSON.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, HandleError> {
    Ok(serde_json::to_value(v)?)
}

/// Run one request. Events meant for the caller (streamed tokens of a waited-for intent)
/// go to `events`; the result or a one-line error comes back.
pub async fn handle(
    rt: &Runtime,
    caller: &Caller,
    request: Request,
    events: &mpsc::Sender<Streamed>,
) -> Result<Value, HandleError> {
    let hub = rt.hub();
    match request {
        Request::Info => {
            let mut info = to_value(rt.info())?;
            // For `aios health`: an owner whose audit writer cannot write refuses calls.
            if let Value::Object(map) = &mut info {
                let failure = hub.audit_log().failure();
                map.insert(
                    "audit".into(),
                    json!({"ok": failure.is_none(), "error": failure}),
                );
            }
            Ok(info)
        }
        Request::Agents => {
            let specs = hub.list_agents(caller).await?;
            let rows: Vec<AgentRow> = specs
                .into_iter()
                .map(|spec| {
                    let (status, since) = rt.status(&spec.id);
                    AgentRow {
                        spec,
                        status,
                        since,
                    }
                })
                .collect();
            to_value(rows)
        }
        Request::McpServers => to_value(rt.mcp_servers().status()),
        Request::Approvals => {
            let approvals = rt.approvals().ok_or(HandleError::NotOwner)?;
            to_value(approvals.list())
        }
        Request::Hooks { agent_id } => {
            let hooks = rt.hooks().ok_or(HandleError::NotOwner)?;
            to_value(hooks.report(agent_id.as_deref()).await?)
        }
        Request::HookRetry { id } => {
            let hooks = rt.hooks().ok_or(HandleError::NotOwner)?;
            let started = std::time::Instant::now();
            let result = hooks.retry(&id).await;
            let row = result.as_ref().ok();
            hub.record(
                caller,
                crate::context::Call {
                    agent_id: row.map(|r| r.agent_id.as_str()),
                    action: "hook_retry",
                    input: serde_json::json!({"delivery_id": id}),
                    context_id: None,
                    result: result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
                    started,
                },
            )?;
            to_value(result?)
        }
        Request::Decide { id, decision } => {
            let approvals = rt.approvals().ok_or(HandleError::NotOwner)?;
            to_value(approvals.decide(caller, &id, decision)?)
        }
        Request::Tools { agent_id } => {
            let specs = hub.list_agents(caller).await?;
            if let Some(id) = &agent_id {
                hub.spec(id)?;
            }
            let rows: Vec<AgentTools> = specs
                .into_iter()
                .filter(|s| agent_id.as_ref().is_none_or(|id| *id == s.id))
                .map(|spec| {
                    let resolved = rt.registry().resolve(&spec.tools);
                    AgentTools {
                        agent_id: spec.id,
                        tools: resolved
                            .tools
                            .into_iter()
                            .map(|t| ToolRow {
                                origin: t.origin.as_str().into(),
                                name: t.name,
                                source: t.source,
                                description: t.description,
                            })
                            .collect(),
                        unmapped: resolved.unmapped,
                    }
                })
                .collect();
            to_value(rows)
        }
        Request::Dispatch {
            agent_id,
            text,
            wait,
        } => {
            // Subscribe before dispatching so no token of this intent is missed.
            let mut sub = rt.subscribe();
            let ticket = rt.dispatch(caller, &agent_id, &text, None, None).await?;
            if !wait {
                return Ok(
                    json!({"intent_id": ticket.intent_id, "trace_id": ticket.trace_id, "agent_id": agent_id}),
                );
            }
            let mut outcome = ticket.outcome;
            loop {
                tokio::select! {
                    biased;
                    done = &mut outcome => {
                        return match done {
                            Ok(Ok(reply)) => to_value(reply),
                            Ok(Err(e)) => Err(HandleError::IntentFailed(e)),
                            Err(_) => Err(HandleError::Stopped),
                        };
                    }
                    ev = sub.recv() => match ev {
                        Ok(ev @ RuntimeEvent::Token { .. }) if token_of(&ev, &ticket.intent_id) => {
                            // A client that went away still gets its intent handled.
                            let _ = events.send(Streamed::Runtime(ev)).await;
                        }
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => {}
                    },
                }
            }
        }
        Request::Context { agent_id, version } => {
            let ctx = hub.get_context(caller, &agent_id, version).await?;
            to_value(ctx)
        }
        Request::Versions { agent_id } => {
            let v = hub.list_versions(caller, &agent_id).await?;
            to_value(v)
        }
        Request::Recall { agent_id, query, k } => {
            let hits = hub.recall(caller, &agent_id, &query, k, None).await?;
            to_value(super::protocol::RecallAnswer {
                agent_id,
                query,
                embedder: hub.embedder_name(),
                memory: hub.memory_name().to_string(),
                hits,
            })
        }
        Request::Watch { pattern } => watch(rt, pattern, events).await,
        Request::FlushAudit => {
            hub.audit_log().flush().await?;
            to_value(hub.audit_log().written())
        }
        Request::Diff { agent_id, from, to } => {
            let d = hub.diff_context(caller, &agent_id, from, to).await?;
            to_value(d)
        }
    }
}

/// Forward what the bus hears until the client goes away or the runtime stops.
async fn watch(
    rt: &Runtime,
    pattern: Option<String>,
    events: &mpsc::Sender<Streamed>,
) -> Result<Value, HandleError> {
    let bus = rt.bus();
    let mut rx = bus.subscribe();
    if let Some(p) = &pattern {
        bus.add_pattern(p).await?;
    }
    let wanted = |channel: &str| {
        pattern
            .as_deref()
            .is_none_or(|p| crate::bus::pattern_matches(p, channel))
    };
    let stop = rt.cancel_token();
    loop {
        let heard = tokio::select! {
            () = stop.cancelled() => return Ok(Value::Null),
            h = rx.recv() => h,
        };
        let item = match heard {
            Ok(m) if wanted(m.channel()) => Streamed::Bus(m),
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(n)) => Streamed::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => return Ok(Value::Null),
        };
        if events.send(item).await.is_err() {
            return Ok(Value::Null);
        }
    }
}

fn token_of(ev: &RuntimeEvent, intent: &str) -> bool {
    matches!(ev, RuntimeEvent::Token { intent_id, .. } if intent_id == intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::TurnFailure;

    #[test]
    fn texts_are_the_replies_errors() {
        assert_eq!(HandleError::NotOwner.to_string(), NOT_OWNER);
        assert_eq!(
            HandleError::Stopped.to_string(),
            "the runtime stopped before the intent was handled"
        );
        assert_eq!(
            HandleError::IntentFailed(IntentFailure::Turn(TurnFailure::Failed(
                "model unreachable".into()
            )))
            .to_string(),
            "model unreachable"
        );
        let hub = HubError::UnknownAgent {
            id: "nobody".into(),
            hint: None,
        };
        let text = hub.to_string();
        let e = HandleError::from(hub);
        assert!(matches!(e, HandleError::Hub(HubError::UnknownAgent { .. })));
        assert_eq!(e.to_string(), text);
    }
}
