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
    pub outcome: oneshot::Receiver<Result<IntentReply, String>>,
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
}
