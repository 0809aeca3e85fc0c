//! Which `aios://` resources changed, whoever changed them: this runtime's hub events (any
//! caller: an agent, the TUI, the CLI, another MCP client) and, on a shared Redis bus,
//! `mcp.update.context` messages (context and state changes) from other nodes. Every MCP
//! connection listens here and forwards the URIs its client subscribed to.

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::Runtime;
use crate::bus::Received;
use crate::event::RuntimeEvent;

use super::resources::ResourceUri;

/// Changed URIs buffered per listener; a slower one loses the oldest (a resource update is
/// a hint to re-read, so a missed duplicate costs nothing).
const CAPACITY: usize = 1024;

/// A cheap-clone fan-out of changed resource URIs. It carries the owner's token and
/// tracker, so each connection's forwarder runs where the owner's shutdown waits for it.
#[derive(Clone)]
pub struct Updates {
    tx: broadcast::Sender<String>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Updates {
    /// Start following `runtime` until `cancel`, on `tasks`.
    pub fn start(runtime: &Runtime, cancel: CancellationToken, tasks: &TaskTracker) -> Updates {
        let (tx, _) = broadcast::channel(CAPACITY);
        tasks.spawn(follow(
            runtime.subscribe(),
            runtime.bus().subscribe(),
            runtime.info().node.clone(),
            tx.clone(),
            cancel.clone(),
        ));
        Updates {
            tx,
            cancel,
            tasks: tasks.clone(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }

    /// Run `task` on the owner's tracker until it ends or the owner stops.
    pub fn spawn_until_stopped(&self, task: impl Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = task => {}
            }
        });
    }
}

async fn follow(
    mut events: broadcast::Receiver<RuntimeEvent>,
    mut bus: broadcast::Receiver<Received>,
    node: String,
    tx: broadcast::Sender<String>,
    cancel: CancellationToken,
) {
    loop {
        let uri = tokio::select! {
            () = cancel.cancelled() => break,
            ev = events.recv() => match ev {
                Ok(ev) => changed_by_event(&ev),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(dropped = n, "mcp updates fell behind the runtime events");
                    None
                }
                Err(RecvError::Closed) => break,
            },
            heard = bus.recv() => match heard {
                Ok(r) => changed_elsewhere(&r, &node),
                Err(RecvError::Lagged(_)) => None,
                // The bus is gone (shutdown); keep following local events.
                Err(RecvError::Closed) => { bus = broadcast::channel(1).1; None }
            },
        };
        if let Some(uri) = uri {
            // No listener is fine: nobody subscribed.
            let _ = tx.send(uri);
        }
    }
}

/// The resource a local event changed.
pub fn changed_by_event(ev: &RuntimeEvent) -> Option<String> {
    match ev {
        RuntimeEvent::ContextUpdated { agent_id, .. } => {
            Some(ResourceUri::part(agent_id, "context"))
        }
        RuntimeEvent::StateChanged { agent_id, part } => Some(ResourceUri::part(agent_id, part)),
        RuntimeEvent::Remembered { agent_id, .. } => {
            Some(ResourceUri::part(agent_id, "memory_embeddings"))
        }
        _ => None,
    }
}

/// The context or state another node changed; this node's own changes arrive as events
/// already.
fn changed_elsewhere(r: &Received, node: &str) -> Option<String> {
    match r {
        Received::Message { channel, envelope } if envelope.source.node != node => {
            match crate::agent::activity::event_of(channel, envelope)? {
                ev @ (RuntimeEvent::ContextUpdated { .. } | RuntimeEvent::StateChanged { .. }) => {
                    changed_by_event(&ev)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection's forwarder waits on its client; the owner's stop ends it anyway, so
    /// the shutdown that waits for the tracker is not held up by an idle client.
    #[tokio::test]
    async fn a_forwarder_ends_when_the_owner_stops() {
        let (tx, _) = broadcast::channel(1);
        let updates = Updates {
            tx,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        updates.spawn_until_stopped(std::future::pending());
        assert_eq!(updates.tasks.len(), 1);
        updates.cancel.cancel();
        updates.tasks.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), updates.tasks.wait())
            .await
            .expect("the forwarder ended at the stop");
    }

    #[test]
    fn goals_and_context_changes_name_their_resource() {
        let ev = RuntimeEvent::StateChanged {
            agent_id: "ops-agent".into(),
            part: "goals".into(),
        };
        assert_eq!(
            changed_by_event(&ev).as_deref(),
            Some("aios://agents/ops-agent/goals")
        );
        let ev = RuntimeEvent::ContextUpdated {
            agent_id: "ops-agent".into(),
            version: 2,
            context_id: "c".into(),
            summary: "s".into(),
        };
        assert_eq!(
            changed_by_event(&ev).as_deref(),
            Some("aios://agents/ops-agent/context")
        );
    }

    fn heard(node: &str, kind: &str, payload: serde_json::Value) -> Received {
        let env = crate::bus::Envelope::new(
            kind,
            crate::bus::Source {
                node: node.into(),
                agent_id: Some("ops-agent".into()),
                operator: None,
            },
            Some("ops-agent"),
            payload,
        );
        Received::Message {
            channel: crate::bus::channels::CONTEXT.into(),
            envelope: std::sync::Arc::new(env),
        }
    }

    #[test]
    fn another_nodes_goal_change_names_the_goals_resource() {
        let goals = serde_json::json!({"part": "goals"});
        assert_eq!(
            changed_elsewhere(&heard("edge-2", "state", goals.clone()), "edge-1").as_deref(),
            Some("aios://agents/ops-agent/goals")
        );
        // This node's own change already arrived as an event.
        assert_eq!(
            changed_elsewhere(&heard("edge-1", "state", goals), "edge-1"),
            None
        );
        let ctx = serde_json::json!({"version": 2, "context_id": "c", "summary": "s"});
        assert_eq!(
            changed_elsewhere(&heard("edge-2", "context", ctx), "edge-1").as_deref(),
            Some("aios://agents/ops-agent/context")
        );
        let bad = serde_json::json!({"part": 7});
        assert_eq!(
            changed_elsewhere(&heard("edge-2", "state", bad), "edge-1"),
            None
        );
    }
}
