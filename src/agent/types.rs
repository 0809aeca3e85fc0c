//! The agent runtime's shared vocabulary: intents, their outcomes, the status board and the
//! runtime's errors. Imports nothing else from `agent/`, so every other module there can use
//! it without a cycle (the turn machine, the worker, the dispatcher and the runtime all do).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::bus::Delivery;
use crate::context::{Caller, HubError};
use crate::event::AgentStatus;
use crate::llm::Usage;

/// A request for an agent to act.
#[derive(Debug)]
pub struct Intent {
    /// UUIDv7: also the idempotency key.
    pub id: String,
    pub agent_id: String,
    pub text: String,
    /// Who asked (the audit `caller` of the dispatch).
    pub from: Caller,
    pub trace_id: String,
    pub parent_id: Option<String>,
    /// How many handoffs led here (0 for an operator's intent).
    pub depth: u32,
    /// The bus delivery to acknowledge once handled; `None` for intents not from the bus.
    pub delivery: Option<Delivery>,
}

/// The outcome of a handled intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentReply {
    pub intent_id: String,
    pub agent_id: String,
    pub reply: String,
    pub context_version: u64,
    pub context_id: String,
    pub runner: String,
    pub model: String,
    pub usage: Usage,
}

/// What the results channel carries for each intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentResult {
    pub intent_id: String,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<IntentReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a turn ended without a reply. Its text is what the results channel, the API and
/// the TUI show for the failed intent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnFailure {
    /// The model runner or the context store failed; their error's text.
    #[error("{0}")]
    Failed(String),
    /// Stopped by the operator or by shutdown; the reason.
    #[error("{0}")]
    Stopped(String),
    /// The machine was fed an event it cannot be in: a bug, said as one.
    #[error("internal: {0}")]
    Internal(String),
}

/// Why an intent ended without a reply, wherever it was handled. Its text is what the
/// results channel carries and every reader (API, TUI, CLI, MCP) shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntentFailure {
    /// This node's turn failed or was stopped.
    #[error(transparent)]
    Turn(#[from] TurnFailure),
    #[error("the agent task panicked while handling this intent")]
    Panicked,
    /// Refused before any agent saw it (too long, a duplicate, no such agent, …).
    #[error("{0}")]
    Refused(String),
    /// The bus did not take it; nobody will handle it.
    #[error("{0}")]
    NotSent(String),
    /// Queued here when the runtime shut down; it stays on the bus for another node.
    #[error("not handled: the runtime shut down first")]
    QueuedAtShutdown,
    /// Still awaited (from another node, say) when this runtime shut down.
    #[error("stopped: the runtime shut down before the intent was handled")]
    WaitingAtShutdown,
    /// The waiter was dropped unanswered: the runtime stopped first.
    #[error("the runtime stopped before the intent was handled")]
    Unanswered,
    /// Another node handled it and failed, or sent nothing.
    #[error(transparent)]
    Remote(#[from] ResultError),
}

/// Why a result from the results channel holds no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// The handling node's failure, as it wrote it (the channel carries text: nodes of
    /// other versions read and write it).
    #[error("{0}")]
    Failed(String),
    #[error("the handling node sent an empty result")]
    Empty,
}

impl IntentResult {
    pub fn into_outcome(self) -> Result<IntentReply, ResultError> {
        match (self.reply, self.error) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(ResultError::Failed(e)),
            (None, None) => Err(ResultError::Empty),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("{0}")]
    Config(String),
    #[error("cannot open {what}: {message}")]
    Open { what: String, message: String },
    #[error("{0}")]
    Rejected(String),
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

/// Each agent's current status, readable at any time (the UI's first frame, `status`).
#[derive(Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<HashMap<String, (AgentStatus, String)>>>,
    /// Intents this node's agents finished (done or failed), ever: the heartbeat's load.
    finished: Arc<std::sync::atomic::AtomicU64>,
}

impl StatusBoard {
    pub fn set(&self, agent_id: &str, status: AgentStatus) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                agent_id.to_string(),
                (status, crate::context::now_rfc3339()),
            );
        }
    }

    /// Status and the time it was entered (RFC 3339); idle with no time when never active.
    pub fn get(&self, agent_id: &str) -> (AgentStatus, Option<String>) {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(agent_id).map(|(s, t)| (*s, Some(t.clone()))))
            .unwrap_or((AgentStatus::Idle, None))
    }

    /// An agent finished an intent, done or failed.
    pub fn intent_finished(&self) {
        self.finished
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Intents finished so far.
    pub fn finished(&self) -> u64 {
        self.finished.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A dispatched intent: its id, and the outcome when it is done.
pub struct Ticket {
    pub intent_id: String,
    pub trace_id: String,
    pub outcome: oneshot::Receiver<Result<IntentReply, IntentFailure>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_without_a_reply_is_the_nodes_failure_or_empty() {
        let result = |error: Option<&str>| IntentResult {
            intent_id: "i".into(),
            agent_id: "ops-agent".into(),
            reply: None,
            error: error.map(String::from),
        };
        assert_eq!(
            result(Some("model down")).into_outcome(),
            Err(ResultError::Failed("model down".into()))
        );
        let empty = result(None).into_outcome().unwrap_err();
        assert_eq!(empty, ResultError::Empty);
        assert_eq!(empty.to_string(), "the handling node sent an empty result");
    }

    #[test]
    fn a_failures_text_is_what_the_results_channel_carries() {
        let turn = IntentFailure::from(TurnFailure::Internal("no agent state".into()));
        assert_eq!(turn.to_string(), "internal: no agent state");
        let stopped = IntentFailure::from(TurnFailure::Stopped("stopped by the operator".into()));
        assert_eq!(stopped.to_string(), "stopped by the operator");
        let remote = IntentFailure::from(ResultError::Failed("model down".into()));
        assert_eq!(remote.to_string(), "model down");
        assert_eq!(
            IntentFailure::QueuedAtShutdown.to_string(),
            "not handled: the runtime shut down first"
        );
        assert_eq!(
            IntentFailure::WaitingAtShutdown.to_string(),
            "stopped: the runtime shut down before the intent was handled"
        );
        assert_eq!(
            IntentFailure::Unanswered.to_string(),
            "the runtime stopped before the intent was handled"
        );
    }
}
