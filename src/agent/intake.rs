//! The intake: takes intents from the bus's durable queue and hands each to its agent's
//! task. An intent for an agent this node does not host, or without text, is answered
//! with an error (audited, shown, published, acknowledged) — never dropped silently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Delivery, IntentPayload, TAKE_WAIT};
use crate::context::{Call, Caller, ContextHub};
use crate::event::RuntimeEvent;

use super::intent::{Intent, publish_result};
use super::pending::Pending;

/// Intents taken from the bus per round.
const TAKE_BATCH: usize = 16;
/// Pause after a failed take (bus down) before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub struct Intake {
    pub bus: Arc<dyn Bus>,
    pub queues: HashMap<String, mpsc::Sender<Intent>>,
    pub hub: ContextHub,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub pending: Pending,
    pub node: String,
}

/// Who an intent came from, as the audit log and the context's cause name it.
pub fn caller_of(d: &Delivery) -> Caller {
    let src = &d.envelope.source;
    match (&src.agent_id, &src.operator) {
        (Some(agent), _) => Caller::agent(agent),
        (None, Some(op)) if src.node == "external" => Caller(format!("external:{op}")),
        // An aios node sends its caller verbatim (`operator:alice`, `cli:bob`, an MCP client).
        (None, Some(op)) => Caller(op.clone()),
        (None, None) => Caller(format!("node:{}", src.node)),
    }
}

impl Intake {
    pub async fn run(self, cancel: CancellationToken) {
        loop {
            let taken = tokio::select! {
                () = cancel.cancelled() => break,
                t = self.bus.take_intents(TAKE_BATCH, TAKE_WAIT) => t,
            };
            match taken {
                Ok(deliveries) => {
                    for d in deliveries {
                        if !self.route(d, &cancel).await {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "taking intents from the bus failed; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(RETRY_PAUSE) => {}
                    }
                }
            }
        }
    }

    /// Hand one delivery to its agent; false when shutting down.
    async fn route(&self, d: Delivery, cancel: &CancellationToken) -> bool {
        let env = &d.envelope;
        let agent_id = env.agent_id.clone().unwrap_or_default();
        let from = caller_of(&d);
        let payload = env.payload_as::<IntentPayload>();
        let depth = payload.as_ref().map_or(0, |p| p.depth);
        let text = payload.map(|p| p.text);
        let queue = self.queues.get(&agent_id);
        let problem = match (&text, queue) {
            (Err(_), _) => Some("the intent has no `payload.text`".to_string()),
            (Ok(_), None) => Some(match self.hub.spec(&agent_id) {
                Err(e) => e.to_string(),
                Ok(_) => format!("agent `{agent_id}` is not hosted on node {}", self.node),
            }),
            (Ok(_), Some(_)) => None,
        };
        if env.source.node == "external" {
            // An outside tool's intent was not audited where it was sent: audit it here.
            let _ = self.hub.record(
                &from,
                Call {
                    agent_id: self.hub.spec(&agent_id).ok().map(|_| agent_id.as_str()),
                    action: "dispatch_intent",
                    input: json!({"agent_id": agent_id, "intent_id": env.id, "payload": env.payload}),
                    context_id: None,
                    result: problem.clone().map_or(Ok(()), Err),
                    started: Instant::now(),
                },
            );
        }
        let intent = Intent {
            id: env.id.clone(),
            agent_id: agent_id.clone(),
            text: text.unwrap_or_default(),
            from: from.clone(),
            trace_id: env.trace_id.clone().unwrap_or_else(|| env.id.clone()),
            parent_id: env.parent_id.clone(),
            depth,
            delivery: Some(d.clone()),
        };
        if let Some(problem) = problem {
            tracing::warn!(intent = %intent.id, agent = %agent_id, problem = %problem, "intent refused");
            let _ = self.events.send(RuntimeEvent::IntentFailed {
                agent_id: agent_id.clone(),
                intent_id: intent.id.clone(),
                error: problem.clone(),
            });
            self.pending.resolve(&intent.id, Err(problem.clone()));
            publish_result(self.bus.as_ref(), &self.node, &intent, Err(problem)).await;
            if let Err(e) = self.bus.ack(&d).await {
                tracing::warn!(intent = %intent.id, error = %e, "could not acknowledge a refused intent");
            }
            return true;
        }
        let Some(queue) = queue else { return true };
        let _ = self.events.send(RuntimeEvent::IntentQueued {
            agent_id: agent_id.clone(),
            intent_id: intent.id.clone(),
            text: intent.text.clone(),
            operator: from.0.clone(),
        });
        // A full agent queue holds the intake back (the bus keeps the rest durable).
        tokio::select! {
            () = cancel.cancelled() => false,
            sent = queue.send(intent) => sent.is_ok(),
        }
    }
}
