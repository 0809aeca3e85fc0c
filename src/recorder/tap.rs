//! The tasks that feed the recorder: runtime events, bus messages, audit records, and the
//! agent state and context versions those events announce.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::{Kind, Recorder};
use crate::agent::activity::{FLUSH, FLUSH_BYTES, Gathered};
use crate::audit::AuditRecord;
use crate::bus::{Received, channels};
use crate::context::ContextHub;
use crate::event::RuntimeEvent;

/// Record the start of this process's recording: what ran (for the status bar of a replay),
/// the agents and their status, then each agent's state.
pub async fn start(
    rec: &Recorder,
    hub: &ContextHub,
    info: &crate::agent::RuntimeInfo,
    status: &std::collections::HashMap<String, crate::event::AgentStatus>,
    source: &str,
) {
    if !rec.is_on() {
        return;
    }
    let agents = hub.catalog().agents();
    // A data dir need not be UTF-8; JSON text must be (the path is for reading, lossy is
    // enough). `json!` would panic on a value that does not serialize.
    let mut info = info.clone();
    info.data_dir = info.data_dir.to_string_lossy().into_owned().into();
    let body = (|| -> serde_json::Result<serde_json::Value> {
        Ok(json!({
            "source": source,
            "info": serde_json::to_value(&info)?,
            "agents": serde_json::to_value(agents)?,
            "status": serde_json::to_value(status)?,
        }))
    })();
    match body {
        Ok(body) => rec.global(Kind::Start, body),
        Err(e) => tracing::warn!(error = %e, "the recording's start entry could not be written"),
    }
    for spec in agents {
        snapshot_state(rec, hub, &spec.id).await;
    }
}

async fn snapshot_state(rec: &Recorder, hub: &ContextHub, agent_id: &str) {
    match hub.snapshot_agent(agent_id).await {
        Ok(state) => match serde_json::to_value(&state) {
            Ok(v) => rec.note(Kind::AgentState, agent_id, None, v),
            Err(e) => tracing::debug!(error = %e, "agent state not recordable"),
        },
        Err(e) => tracing::debug!(agent_id, error = %e, "agent state not recorded"),
    }
}

/// Runtime events until `cancel`: tokens gathered per agent and written every ~50 ms (as
/// the activity channel sends them), everything else at once and in order; a context
/// change is followed by the whole version, a state change (goals, memories) by the
/// agent's new state at the next tick.
pub async fn events(
    mut rx: broadcast::Receiver<RuntimeEvent>,
    rec: Recorder,
    hub: ContextHub,
    cancel: CancellationToken,
) {
    let mut gathered = Gathered::default();
    // Agents whose state changed since the last tick: snapshotted once per tick, so a
    // burst of memories costs one read per agent, not one per memory.
    let mut changed: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut tick = tokio::time::interval(FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let heard = tokio::select! {
            () = cancel.cancelled() => match rx.try_recv() {
                // Stopping: what was sent before the stop is still recorded.
                Ok(ev) => Ok(ev),
                Err(_) => break,
            },
            _ = tick.tick() => {
                flush(&rec, &mut gathered);
                for agent_id in std::mem::take(&mut changed) {
                    snapshot_state(&rec, &hub, &agent_id).await;
                }
                continue;
            }
            r = rx.recv() => r,
        };
        match heard {
            Ok(ev @ RuntimeEvent::Token { .. }) => {
                gathered.add(ev);
                if gathered.bytes >= FLUSH_BYTES {
                    flush(&rec, &mut gathered);
                }
            }
            Ok(ev) => {
                // Tokens before it stay before it.
                flush(&rec, &mut gathered);
                let follow = follow_up(&ev);
                rec.event(ev);
                match follow {
                    Some(FollowUp::State(agent_id)) => {
                        changed.insert(agent_id);
                    }
                    Some(FollowUp::Version(agent_id, version)) => {
                        if let Ok(Some(v)) = hub.peek_context(&agent_id, version).await
                            && let Ok(v) = serde_json::to_value(&v)
                        {
                            rec.note(Kind::ContextVersion, &agent_id, None, v);
                        }
                    }
                    None => {}
                }
            }
            Err(RecvError::Lagged(n)) => {
                flush(&rec, &mut gathered);
                rec.lost(n);
            }
            Err(RecvError::Closed) => break,
        }
    }
    flush(&rec, &mut gathered);
    for agent_id in changed {
        snapshot_state(&rec, &hub, &agent_id).await;
    }
}

enum FollowUp {
    State(String),
    Version(String, u64),
}

fn follow_up(ev: &RuntimeEvent) -> Option<FollowUp> {
    match ev {
        // What the goals pane shows: goals, traits, hooks, and the memory count.
        RuntimeEvent::StateChanged { agent_id, .. } | RuntimeEvent::Remembered { agent_id, .. } => {
            Some(FollowUp::State(agent_id.clone()))
        }
        RuntimeEvent::ContextUpdated {
            agent_id, version, ..
        } => Some(FollowUp::Version(agent_id.clone(), *version)),
        _ => None,
    }
}

fn flush(rec: &Recorder, gathered: &mut Gathered) {
    for ev in gathered.take() {
        rec.event(ev);
    }
}

/// Bus messages until `cancel`, but those of the activity channel: they are the runtime
/// events again, recorded as such.
pub async fn bus(mut rx: broadcast::Receiver<Received>, rec: Recorder, cancel: CancellationToken) {
    loop {
        let heard = tokio::select! {
            () = cancel.cancelled() => match rx.try_recv() {
                Ok(m) => Ok(m),
                Err(_) => break,
            },
            r = rx.recv() => r,
        };
        match heard {
            Ok(Received::Message { channel, .. }) if channel == channels::ACTIVITY => {}
            Ok(m) => rec.bus(m),
            Err(RecvError::Lagged(n)) => rec.lost(n),
            Err(RecvError::Closed) => break,
        }
    }
}

/// Audit records until `cancel`.
pub async fn audit(
    mut rx: broadcast::Receiver<Arc<AuditRecord>>,
    rec: Recorder,
    cancel: CancellationToken,
) {
    loop {
        let heard = tokio::select! {
            () = cancel.cancelled() => match rx.try_recv() {
                Ok(r) => Ok(r),
                Err(_) => break,
            },
            r = rx.recv() => r,
        };
        match heard {
            Ok(r) => rec.audit(r),
            Err(RecvError::Lagged(n)) => rec.lost(n),
            Err(RecvError::Closed) => break,
        }
    }
}
