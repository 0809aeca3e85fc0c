//! The intake: takes intents from the bus's durable queue and hands each to its agent's
//! task. An intent for an agent this node does not host, or without text, is answered
//! with an error (audited, shown, published, acknowledged) — never dropped silently. So is
//! an intent the bus heard but could not take (its stream full of unhandled intents).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bus::{BurstLog, Bus, Delivery, Envelope, IntentPayload, RefusedIntent, TAKE_WAIT};
use crate::context::{Call, Caller, ContextHub};
use crate::event::RuntimeEvent;

use super::intent::publish_result;
use super::pending::Pending;
use super::types::{Intent, IntentFailure};

/// Intents taken from the bus per round.
const TAKE_BATCH: usize = 16;
/// Pause after a failed take (bus down) before trying again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// A burst of refusals is over after this long without one; then its count is logged.
const BURST_QUIET: Duration = Duration::from_secs(1);
/// Refusals answered together, their results published in one pipelined burst.
const REFUSALS_AT_ONCE: usize = 256;

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
    sender_of(&d.envelope)
}

/// Who sent an envelope, as the audit log names the caller.
pub fn sender_of(env: &Envelope) -> Caller {
    let src = &env.source;
    match (&src.agent_id, &src.operator) {
        (Some(agent), _) => Caller::agent(agent),
        (None, Some(op)) if src.node == "external" => Caller::External(op.clone()),
        // An aios node sends its caller verbatim (`operator:alice`, `cli:bob`, an MCP client).
        (None, Some(op)) => Caller::parse(op),
        (None, None) => Caller::Node(src.node.clone()),
    }
}

/// Why an intent's payload cannot be handled, if it cannot: the same check of the text as
/// a dispatch makes (a full envelope published by hand may carry any text).
pub fn payload_problem(payload: &Result<IntentPayload, serde_json::Error>) -> Option<String> {
    match payload {
        Err(_) => Some("the intent has no `payload.text`".to_string()),
        Ok(p) => super::dispatcher::text_problem(&p.text),
    }
}

/// Answers intents that will not be handled: shown, the caller here told, published on the
/// results channel for callers elsewhere, and logged once per burst (a flood of refusals
/// is one log line and its count, not a line each).
#[derive(Clone)]
pub struct Refusals {
    pub bus: Arc<dyn Bus>,
    pub hub: ContextHub,
    pub events: broadcast::Sender<RuntimeEvent>,
    pub pending: Pending,
    pub node: String,
    log: Arc<Mutex<BurstLog>>,
}

impl Refusals {
    pub fn new(
        bus: Arc<dyn Bus>,
        hub: ContextHub,
        events: broadcast::Sender<RuntimeEvent>,
        pending: Pending,
        node: String,
    ) -> Refusals {
        Refusals {
            bus,
            hub,
            events,
            pending,
            node,
            log: Arc::default(),
        }
    }

    /// Audit the intent as a refused `dispatch_intent` of its sender.
    pub fn audit(&self, env: &Envelope, problem: &str) {
        let agent_id = env.agent_id.clone().unwrap_or_default();
        let _ = self.hub.record(
            &sender_of(env),
            Call {
                agent_id: self.hub.spec(&agent_id).ok().map(|_| agent_id.as_str()),
                action: "dispatch_intent",
                input: json!({"agent_id": agent_id, "intent_id": env.id, "payload": env.payload}),
                context_id: None,
                result: Err(problem.to_string()),
                started: Instant::now(),
            },
        );
    }

    /// Answer `intent` with `problem`: the waiting caller, the results channel, the UI
    /// (`event`: one `IntentFailed` each — not for a flood the bus refused, which the
    /// channels pane shows as rejections) and, once per burst, the log.
    pub async fn answer(&self, intent: &Intent, problem: String, event: bool) {
        let first = self.log.lock().map(|mut l| l.add(&problem)).unwrap_or(true);
        if first {
            tracing::warn!(
                intent = %intent.id,
                agent = %intent.agent_id,
                problem = %problem,
                "intent refused (answered on the results channel; more refusals in this \
                 burst are counted, not logged one by one)"
            );
        }
        if event {
            let _ = self.events.send(RuntimeEvent::IntentFailed {
                agent_id: intent.agent_id.clone(),
                intent_id: intent.id.clone(),
                error: problem.clone(),
            });
        }
        let failure = IntentFailure::Refused(problem);
        self.pending.resolve(&intent.id, Err(failure.clone()));
        publish_result(self.bus.as_ref(), &self.node, intent, Err(failure)).await;
    }

    /// Log how many the last burst refused, once it is over.
    fn log_burst(&self) {
        let ended = self.log.lock().ok().and_then(|mut l| l.ended(BURST_QUIET));
        if let Some((count, over, first)) = ended
            && count > 1
        {
            tracing::warn!(
                count,
                seconds = over.as_secs_f64(),
                first = %first,
                "a burst of intents was refused, each answered on the results channel"
            );
        }
    }

    /// Answer the intents the bus heard and could not take, until the bus or `cancel`
    /// ends: audited, answered on the results channel, the caller here told.
    pub async fn answer_bus_refusals(
        self,
        mut refused: mpsc::Receiver<RefusedIntent>,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(BURST_QUIET);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(REFUSALS_AT_ONCE);
        loop {
            batch.clear();
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick() => {
                    self.log_burst();
                    continue;
                }
                n = refused.recv_many(&mut batch, REFUSALS_AT_ONCE) => if n == 0 {
                    break;
                },
            };
            self.answer_all(&batch).await;
        }
        // What the bus refused before it stopped is still answered.
        refused.close();
        loop {
            batch.clear();
            if refused.recv_many(&mut batch, REFUSALS_AT_ONCE).await == 0 {
                break;
            }
            self.answer_all(&batch).await;
        }
        self.log_burst();
    }
}

impl Refusals {
    /// Audit and answer refused intents, their results published together (pipelined).
    async fn answer_all(&self, refused: &[RefusedIntent]) {
        let answers = refused.iter().map(|r| {
            let problem = r.reason.to_string();
            self.audit(&r.envelope, &problem);
            let intent = intent_of(&r.envelope, None);
            async move { self.answer(&intent, problem, false).await }
        });
        futures::future::join_all(answers).await;
    }
}

/// The intent an envelope carries (text empty when it has none).
fn intent_of(env: &Envelope, delivery: Option<Delivery>) -> Intent {
    let payload = env.payload_as::<IntentPayload>().ok();
    Intent {
        id: env.id.clone(),
        agent_id: env.agent_id.clone().unwrap_or_default(),
        text: payload.as_ref().map(|p| p.text.clone()).unwrap_or_default(),
        from: sender_of(env),
        trace_id: env.trace_id.clone().unwrap_or_else(|| env.id.clone()),
        parent_id: env.parent_id.clone(),
        depth: payload.map_or(0, |p| p.depth),
        delivery,
    }
}

impl Intake {
    pub async fn run(self, cancel: CancellationToken) {
        let refusals = Refusals::new(
            self.bus.clone(),
            self.hub.clone(),
            self.events.clone(),
            self.pending.clone(),
            self.node.clone(),
        );
        loop {
            let taken = tokio::select! {
                () = cancel.cancelled() => break,
                t = self.bus.take_intents(TAKE_BATCH, TAKE_WAIT) => t,
            };
            match taken {
                Ok(deliveries) => {
                    for d in deliveries {
                        if !self.route(d, &refusals, &cancel).await {
                            return;
                        }
                    }
                    refusals.log_burst();
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
    async fn route(&self, d: Delivery, refusals: &Refusals, cancel: &CancellationToken) -> bool {
        let env = &d.envelope;
        let agent_id = env.agent_id.clone().unwrap_or_default();
        let from = caller_of(&d);
        let queue = self.queues.get(&agent_id);
        let problem = payload_problem(&env.payload_as::<IntentPayload>()).or_else(|| {
            queue.is_none().then(|| match self.hub.spec(&agent_id) {
                Err(e) => e.to_string(),
                Ok(_) => format!("agent `{agent_id}` is not hosted on node {}", self.node),
            })
        });
        // A refusal is this node's decision: audited here, whoever sent the intent. An
        // outside tool's intent that goes on was not audited where it was sent: here too.
        match &problem {
            Some(p) => refusals.audit(env, p),
            None if env.source.node == "external" => {
                let _ = self.hub.record(
                        &from,
                        Call {
                            agent_id: self.hub.spec(&agent_id).ok().map(|_| agent_id.as_str()),
                            action: "dispatch_intent",
                            input: json!({"agent_id": agent_id, "intent_id": env.id, "payload": env.payload}),
                            context_id: None,
                            result: Ok(()),
                            started: Instant::now(),
                        },
                    );
            }
            None => {}
        }
        let intent = intent_of(env, Some(d.clone()));
        if let Some(problem) = problem {
            refusals.answer(&intent, problem, true).await;
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
            operator: from.to_string(),
            trace_id: Some(intent.trace_id.clone()),
            depth: intent.depth,
        });
        // A full agent queue holds the intake back (the bus keeps the rest durable).
        tokio::select! {
            () = cancel.cancelled() => false,
            sent = queue.send(intent) => sent.is_ok(),
        }
    }
}
