//! The outbox: every hook delivery is written here before it is attempted, so none is lost
//! to a crash or a restart, and taken from here by exactly one worker at a time.
//!
//! Both backends keep the same shape: the delivery records by id, an index of pending ids
//! ordered by due time, and an index of finished ids (delivered or dead) by finish time,
//! trimmed to the last [`KEEP_FINISHED`]. A worker *claims* due deliveries by moving their
//! due time forward by a lease in one atomic step: another worker (another node on the same
//! Redis) cannot take them while the lease runs, and if the worker dies (a `kill -9`) they
//! become due again when it ends. That gives at-least-once delivery with a stable
//! idempotency key (`X-Aios-Delivery`), once across nodes in the normal case.
//!
//! Why a sorted index and not a Redis stream: retries need a due time, and a stream has
//! none; a stream would also need a second structure for the delayed retries and its
//! pending-entry list refreshed while a delivery waits. One index does both.

pub mod local;
pub mod redis;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::event::HookEvent;

/// Finished deliveries kept for `aios hooks` and `hooks retry`.
pub const KEEP_FINISHED: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its (next) attempt.
    Pending,
    /// Waiting for a person (an approval rule asks for this hook).
    Waiting,
    Delivered,
    /// Given up: out of attempts, refused by the receiver (4xx), or denied.
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Waiting => "waiting",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, State::Delivered | State::Dead)
    }
}

/// One delivery of one event to one hook's target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The idempotency key: the same on every attempt and across nodes.
    pub id: String,
    pub agent_id: String,
    pub hook: String,
    /// The hook's `action` text as it was when the event fired.
    pub target: String,
    pub event: HookEvent,
    pub state: State,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was written (ms since the epoch).
    pub created_ms: i64,
    /// When the next attempt is due (pending), or when it finished.
    pub due_ms: i64,
    /// The last attempt's HTTP status, if it got one.
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    /// How long the last attempt took.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// A person approved it (an `ask` rule): later attempts do not ask again.
    #[serde(default)]
    pub approved: bool,
    /// The node whose approvals hold it while it is waiting for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("hook outbox {backend}: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
    #[error("no delivery {0}")]
    NotFound(String),
    #[error("delivery {id} is {state}, only a dead delivery can be retried")]
    NotDead { id: String, state: &'static str },
}

pub(crate) fn backend_error(backend: &'static str, e: impl std::fmt::Display) -> OutboxError {
    OutboxError::Backend {
        backend,
        message: e.to_string(),
    }
}

/// Where deliveries are kept.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Write new deliveries; one whose id exists already is left as it is (the same event
    /// heard twice, a schedule fired by two nodes). Returns how many were new.
    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, OutboxError>;

    /// Take up to `max` deliveries due at `now_ms`, leasing them until `now_ms + lease_ms`.
    async fn claim(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Delivery>, OutboxError>;

    /// Write a delivery back after an attempt (its state says pending again, waiting,
    /// delivered or dead).
    async fn save(&self, delivery: &Delivery) -> Result<(), OutboxError>;

    async fn get(&self, id: &str) -> Result<Option<Delivery>, OutboxError>;

    /// Pending and waiting deliveries, then the latest finished ones, newest first.
    async fn list(&self, finished: usize) -> Result<Vec<Delivery>, OutboxError>;

    /// When a schedule hook last fired (ms), kept across restarts for catch-up.
    async fn last_fired(&self, hook_key: &str) -> Result<Option<i64>, OutboxError>;
    async fn set_last_fired(&self, hook_key: &str, ms: i64) -> Result<(), OutboxError>;
}

/// Send a dead delivery again: pending, due now, attempts from zero.
pub async fn retry_dead(
    outbox: &dyn Outbox,
    id: &str,
    now_ms: i64,
) -> Result<Delivery, OutboxError> {
    let mut d = outbox
        .get(id)
        .await?
        .ok_or_else(|| OutboxError::NotFound(id.to_string()))?;
    if d.state != State::Dead {
        return Err(OutboxError::NotDead {
            id: id.to_string(),
            state: d.state.as_str(),
        });
    }
    d.state = State::Pending;
    d.attempts = 0;
    d.due_ms = now_ms;
    d.error = None;
    outbox.save(&d).await?;
    Ok(d)
}
