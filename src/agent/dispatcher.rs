//! Sending intents: an operator's dispatch and an agent's handoff take the same path —
//! checked, put on the bus's durable queue, audited — so a handoff is an intent like any
//! other, carrying its trace and parent, one step deeper.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::bus::{Bus, Envelope, IntentPayload, Source, kinds};
use crate::context::{Call, Caller, ContextHub, HubError};

use super::pending::Pending;
use super::types::{IntentFailure, IntentReply, RuntimeError, Ticket};

/// Longest intent text accepted.
pub const MAX_INTENT_BYTES: usize = 64 * 1024;

/// Why an intent's text cannot be handled, if it cannot: empty, or over the limit. One
/// check for what a dispatch sends and what the intake takes from the bus.
pub fn text_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("the intent text is empty".into());
    }
    if text.len() > MAX_INTENT_BYTES {
        return Some(format!(
            "the intent text is {} bytes; the limit is {MAX_INTENT_BYTES}",
            text.len()
        ));
    }
    None
}

/// Where an intent sits in a chain of handoffs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// Shared by every intent of one chain; a new chain when `None`.
    pub trace_id: Option<String>,
    /// The intent that led to this one.
    pub parent_id: Option<String>,
    /// 0 for an operator's intent, one more for each handoff.
    pub depth: u32,
}

#[derive(Clone)]
pub struct Dispatcher {
    pub(crate) hub: ContextHub,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) pending: Pending,
    pub(crate) node: String,
    pub(crate) cancel: CancellationToken,
    /// Handoffs deeper than this are refused, so agents cannot pass work round forever.
    pub(crate) max_depth: u32,
}

impl Dispatcher {
    /// Send an intent and audit it as `action` (`dispatch_intent` or `handoff`). An unknown
    /// agent, an empty or oversized text, a chain too deep, or a bus that refuses it is an
    /// error here: an intent is never dropped silently.
    pub async fn dispatch(
        &self,
        from: &Caller,
        action: &str,
        agent_id: &str,
        text: &str,
        lineage: Lineage,
    ) -> Result<Ticket, RuntimeError> {
        let started = Instant::now();
        let intent_id = uuid::Uuid::now_v7().to_string();
        let trace_id = lineage
            .trace_id
            .clone()
            .unwrap_or_else(|| intent_id.clone());
        let input = json!({
            "agent_id": agent_id, "text": text, "intent_id": intent_id,
            "trace_id": trace_id, "parent_id": lineage.parent_id, "depth": lineage.depth,
        });
        let result = self
            .send(from, agent_id, text, &intent_id, &trace_id, &lineage)
            .await;
        let audit_result = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let known = self.hub.spec(agent_id).is_ok();
        // The dispatch is the new intent's first record: on its behalf, in its chain.
        let cause = crate::audit::cause::CallCause {
            intent_id: Some(intent_id.clone()),
            trace_id: Some(trace_id.clone()),
            parent_id: lineage.parent_id.clone(),
        };
        let audited = crate::audit::cause::sync_scope(cause, || {
            self.hub.record(
                from,
                Call {
                    agent_id: known.then_some(agent_id),
                    action,
                    input,
                    context_id: None,
                    result: audit_result,
                    started,
                },
            )
        });
        // The dispatch's own error (unknown agent, shutting down) says more than a closed
        // audit log does.
        let outcome = result?;
        audited?;
        Ok(Ticket {
            intent_id,
            trace_id,
            outcome,
        })
    }

    async fn send(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
        intent_id: &str,
        trace_id: &str,
        lineage: &Lineage,
    ) -> Result<oneshot::Receiver<Result<IntentReply, IntentFailure>>, RuntimeError> {
        if self.cancel.is_cancelled() {
            return Err(RuntimeError::ShuttingDown);
        }
        self.hub.spec(agent_id)?;
        if let Some(problem) = text_problem(text) {
            return Err(RuntimeError::Rejected(problem));
        }
        if lineage.depth > self.max_depth {
            return Err(RuntimeError::Rejected(format!(
                "handoff depth {} is over the limit of {} (runtime.max_handoff_depth): \
                 answer the request instead of passing it on",
                lineage.depth, self.max_depth
            )));
        }
        let (agent, operator) = match from.agent_id() {
            Some(a) => (Some(a.to_string()), None),
            None => (None, Some(from.to_string())),
        };
        let payload = IntentPayload {
            text: text.to_string(),
            depth: lineage.depth,
        };
        let mut env = Envelope::new(
            kinds::INTENT,
            Source {
                node: self.node.clone(),
                agent_id: agent,
                operator,
            },
            Some(agent_id),
            serde_json::to_value(&payload).unwrap_or_default(),
        );
        env.id = intent_id.to_string();
        env.trace_id = Some(trace_id.to_string());
        env.parent_id = lineage.parent_id.clone();
        let outcome = self.pending.register(intent_id);
        if let Err(e) = self.bus.send_intent(&env).await {
            self.pending
                .resolve(intent_id, Err(IntentFailure::NotSent(e.to_string())));
            return Err(RuntimeError::Rejected(e.to_string()));
        }
        Ok(outcome)
    }
}

/// Hooks with an `intent:` target send through the dispatcher, in the chain of the event
/// that fired them, so a loop of hooks stops at `runtime.max_handoff_depth`.
#[async_trait::async_trait]
impl crate::hooks::IntentSink for Dispatcher {
    async fn send_intent(
        &self,
        from: &Caller,
        agent_id: &str,
        text: &str,
        trace_id: Option<String>,
        parent_id: Option<String>,
        depth: u32,
    ) -> Result<String, (bool, String)> {
        let lineage = Lineage {
            trace_id,
            parent_id,
            depth,
        };
        match self
            .dispatch(from, "dispatch_intent", agent_id, text, lineage)
            .await
        {
            Ok(ticket) => Ok(ticket.intent_id),
            Err(
                e @ (RuntimeError::Rejected(_)
                | RuntimeError::Config(_)
                | RuntimeError::Hub(HubError::UnknownAgent { .. } | HubError::BadRequest(_))),
            ) => Err((false, e.to_string())),
            Err(e) => Err((true, e.to_string())),
        }
    }
}
