//! Between the runtime and the bus: context changes, shared memories and agent activity
//! go out on their channels (whoever made them), intent results from other nodes come in to waiting
//! callers, and a heartbeat says this node is alive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Envelope, Heartbeat, Received, Source, channels, kinds};
use crate::context::{Caller, now_rfc3339};
use crate::event::{AgentStatus, RuntimeEvent};

use super::activity;
use super::pending::Pending;
use super::types::{IntentFailure, IntentResult, StatusBoard};

/// Publish what other nodes and outside tools must hear of this node's runtime events:
/// context and state changes (so every node's MCP subscribers hear of them), shared
/// memories, and its agents' activity for attached watchers (tokens gathered for
/// `activity::FLUSH`). One subscriber for all of it: every token passes here once.
pub async fn publish_events(
    bus: Arc<dyn Bus>,
    mut events: broadcast::Receiver<RuntimeEvent>,
    node: String,
    cancel: CancellationToken,
) {
    let mut gathered = activity::Gathered::default();
    let mut tick = tokio::time::interval(activity::FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ev = tokio::select! {
            () = cancel.cancelled() => break,
            _ = tick.tick() => {
                activity::send_all(&*bus, &node, gathered.take()).await;
                continue;
            }
            ev = events.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    dropped = n,
                    "the bus relay fell behind; some notices were not published"
                );
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        if let Some((channel, env)) = notice(&node, &ev) {
            if let Err(e) = bus.publish(channel, &env).await {
                tracing::warn!(channel, error = %e, "could not publish");
            }
        } else if matches!(ev, RuntimeEvent::Token { .. }) {
            gathered.add(ev);
            if gathered.bytes >= activity::FLUSH_BYTES {
                activity::send_all(&*bus, &node, gathered.take()).await;
            }
        } else if activity::is_activity(&ev) {
            // Whatever streamed before this event goes out before it.
            let mut batch = gathered.take();
            batch.push(ev);
            activity::send_all(&*bus, &node, batch).await;
        }
    }
    activity::send_all(&*bus, &node, gathered.take()).await;
}

/// The seed-channel notice an event stands for, if any.
fn notice(node: &str, ev: &RuntimeEvent) -> Option<(&'static str, Envelope)> {
    Some(match ev {
        RuntimeEvent::ContextUpdated {
            agent_id,
            version,
            context_id,
            summary,
        } => (
            channels::CONTEXT,
            envelope(
                node,
                kinds::CONTEXT,
                agent_id,
                json!({"version": version, "context_id": context_id, "summary": summary}),
            ),
        ),
        RuntimeEvent::StateChanged { agent_id, part } => (
            channels::CONTEXT,
            envelope(node, kinds::STATE, agent_id, json!({"part": part})),
        ),
        RuntimeEvent::Remembered {
            agent_id,
            item_id,
            kind,
            text,
            tags,
        } => (
            channels::MEMORY,
            envelope(
                node,
                kinds::MEMORY,
                agent_id,
                json!({"item_id": item_id, "kind": kind, "text": text, "tags": tags}),
            ),
        ),
        _ => return None,
    })
}

fn envelope(node: &str, kind: &str, agent_id: &str, payload: serde_json::Value) -> Envelope {
    Envelope::new(
        kind,
        Source {
            node: node.to_string(),
            agent_id: Some(agent_id.to_string()),
            operator: None,
        },
        Some(agent_id),
        payload,
    )
}

/// Answer local callers waiting for intents that another node handled.
pub async fn receive_results(bus: Arc<dyn Bus>, pending: Pending, cancel: CancellationToken) {
    let mut rx = bus.subscribe();
    loop {
        let msg = tokio::select! {
            () = cancel.cancelled() => break,
            m = rx.recv() => m,
        };
        match msg {
            Ok(Received::Message { channel, envelope }) if channel == channels::RESULTS => {
                match envelope.payload_as::<IntentResult>() {
                    Ok(result) => {
                        let id = result.intent_id.clone();
                        pending.resolve(&id, result.into_outcome().map_err(IntentFailure::from));
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable intent result"),
                }
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => tracing::warn!(dropped = n, "result listener fell behind"),
            Err(RecvError::Closed) => break,
        }
    }
}

/// What a heartbeat says about its node.
pub struct HeartbeatOptions {
    pub node: String,
    pub agents: Vec<String>,
    pub runner: String,
    pub model: String,
    pub every: Duration,
}

/// Publish this node's heartbeat every `every` on `aios.nodes`.
pub async fn heartbeat(
    bus: Arc<dyn Bus>,
    opts: HeartbeatOptions,
    status: StatusBoard,
    cancel: CancellationToken,
) {
    let HeartbeatOptions {
        node,
        agents,
        runner,
        model,
        every,
    } = opts;
    let started_at = now_rfc3339();
    let mut tick = tokio::time::interval(every);
    // A counter, not an event subscription: the heartbeat need not see every token.
    let mut finished_before = status.finished();
    let mut since = Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = tick.tick() => {}
        }
        let finished = status.finished();
        let handled = finished - finished_before;
        let busy: std::collections::BTreeMap<String, AgentStatus> = agents
            .iter()
            .map(|a| (a.clone(), status.get(a).0))
            .filter(|(_, s)| !matches!(s, AgentStatus::Idle | AgentStatus::Error))
            .collect();
        let beat = Heartbeat {
            node: node.clone(),
            agents: agents.clone(),
            in_flight: busy.len() as u64,
            load: handled as f64 / since.elapsed().as_secs_f64().max(0.001),
            started_at: started_at.clone(),
            runner: runner.clone(),
            model: model.clone(),
            busy,
        };
        finished_before = finished;
        since = Instant::now();
        let Ok(payload) = serde_json::to_value(&beat) else {
            continue;
        };
        let env = Envelope::new(kinds::HEARTBEAT, Source::node(&node), None, payload);
        if let Err(e) = bus.publish(channels::NODES, &env).await {
            tracing::debug!(error = %e, "heartbeat not published");
        }
    }
}

/// Obey stop requests from watchers elsewhere (`aios.agents.control`, kind `stop`) for the
/// agents this node runs, until `cancel`. The caller has asked the bus for the channel.
pub async fn obey_stops(
    bus: Arc<dyn Bus>,
    running: Arc<std::sync::Mutex<std::collections::HashMap<String, CancellationToken>>>,
    approvals: Option<crate::approvals::Approvals>,
    cancel: CancellationToken,
) {
    let mut rx = bus.subscribe();
    loop {
        let heard = tokio::select! {
            () = cancel.cancelled() => break,
            r = rx.recv() => r,
        };
        match heard {
            Ok(Received::Message { channel, envelope })
                if channel == channels::CONTROL && envelope.kind == kinds::STOP =>
            {
                let Some(agent_id) = envelope.agent_id.as_deref() else {
                    continue;
                };
                let token = running.lock().ok().and_then(|m| m.get(agent_id).cloned());
                if let Some(t) = token {
                    tracing::info!(agent = agent_id, from = ?envelope.source, "stopped at a watcher's request");
                    t.cancel();
                }
            }
            Ok(Received::Message { channel, envelope })
                if channel == channels::CONTROL && envelope.kind == kinds::DECIDE =>
            {
                // Only the node that holds the approval has it; the others ignore it.
                let Some(approvals) = &approvals else {
                    continue;
                };
                decide_from_afar(approvals, &envelope);
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => tracing::warn!(dropped = n, "stop listener fell behind"),
            Err(RecvError::Closed) => break,
        }
    }
}

/// A watcher's decision on a waiting call, if this node holds it. The operator named in the
/// envelope is the decider on record, with the node it came from.
fn decide_from_afar(approvals: &crate::approvals::Approvals, envelope: &Envelope) {
    #[derive(serde::Deserialize)]
    struct Decide {
        id: String,
        decision: crate::approvals::DecisionInput,
    }
    let Ok(d) = serde_json::from_value::<Decide>(envelope.payload.value()) else {
        tracing::warn!(from = ?envelope.source, "a malformed approval decision was ignored");
        return;
    };
    if !approvals.holds(&d.id) {
        return;
    }
    let who = envelope
        .source
        .operator
        .as_deref()
        .map_or_else(|| Caller::operator("unknown"), Caller::parse);
    let caller = Caller::Relayed {
        caller: Box::new(who),
        node: envelope.source.node.clone(),
    };
    if let Err(e) = approvals.decide(&caller, &d.id, d.decision) {
        tracing::warn!(approval = %d.id, error = %e, "a watcher's decision was not applied");
    }
}
