//! The intents the API can report on: a bounded in-memory table (the latest
//! [`MAX_TRACKED`] intents, and at most [`MAX_TRACKED_BYTES`] of replies and errors; the
//! oldest go first) fed by the runtime's events — every intent of this runtime, whoever sent
//! it — and by the outcome of each intent the API dispatched itself (which also covers an
//! intent handled on another node). Lost on restart: the audit log is the lasting record.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::{IntentFailure, IntentReply};
use crate::event::{AgentStatus, RuntimeEvent};

/// How many intents are kept.
pub const MAX_TRACKED: usize = 10_000;
/// How many bytes of replies and errors are kept, in all.
pub const MAX_TRACKED_BYTES: usize = 64 * 1024 * 1024;

/// Where an intent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Accepted, waiting for its agent.
    Queued,
    /// Its agent is working on it.
    Running,
    Done,
    Failed,
}

impl IntentStatus {
    pub fn is_final(self) -> bool {
        matches!(self, IntentStatus::Done | IntentStatus::Failed)
    }
}

/// An intent as `GET /v1/intents/{id}` shows it (the `Intent` schema of openapi.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentView {
    pub intent_id: String,
    pub agent_id: String,
    pub status: IntentStatus,
    /// Known for intents sent through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub reply: Option<String>,
    pub error: Option<String>,
    pub context_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    pub runner: Option<String>,
    pub model: Option<String>,
    pub completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// RFC 3339: when this table first heard of the intent.
    pub queued_at: String,
    pub finished_at: Option<String>,
}

impl IntentView {
    fn new(intent_id: &str, agent_id: &str, status: IntentStatus) -> IntentView {
        IntentView {
            intent_id: intent_id.to_string(),
            agent_id: agent_id.to_string(),
            status,
            trace_id: None,
            reply: None,
            error: None,
            context_version: None,
            context_id: None,
            runner: None,
            model: None,
            completion_tokens: None,
            prompt_tokens: None,
            queued_at: crate::context::now_rfc3339(),
            finished_at: None,
        }
    }

    /// The bytes this entry holds beyond its fixed size, for the table's budget.
    fn weight(&self) -> usize {
        self.reply.as_ref().map_or(0, String::len) + self.error.as_ref().map_or(0, String::len)
    }
}

struct Table {
    entries: HashMap<String, IntentView>,
    /// Ids, oldest first.
    order: VecDeque<String>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Table {
    /// The entry for `id`, made (as `status`) when new; the oldest entries go when over a bound.
    fn entry(&mut self, id: &str, agent_id: &str, status: IntentStatus) -> &mut IntentView {
        if !self.entries.contains_key(id) {
            self.entries
                .insert(id.to_string(), IntentView::new(id, agent_id, status));
            self.order.push_back(id.to_string());
            self.evict(id);
        }
        // Inserted just above when missing, and `evict` never removes `keep`. A lookup by
        // `&str`, not `entry(id.to_string())`: every streamed token passes here, and must
        // not cost an allocation.
        match self.entries.get_mut(id) {
            Some(e) => e,
            None => unreachable!("the entry for {id} was inserted above and evict keeps it"),
        }
    }

    /// Drop the oldest entries (never `keep`) while over either bound.
    fn evict(&mut self, keep: &str) {
        while (self.entries.len() > self.max_entries || self.bytes > self.max_bytes)
            && self.order.len() > 1
        {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if oldest == keep {
                self.order.push_back(oldest);
                continue;
            }
            if let Some(gone) = self.entries.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(gone.weight());
            }
        }
    }

    /// Set the final state of `id` (once: a later report of the same outcome changes nothing).
    fn finish(&mut self, id: &str, agent_id: &str, apply: impl FnOnce(&mut IntentView)) {
        let entry = self.entry(id, agent_id, IntentStatus::Queued);
        if entry.status.is_final() {
            return;
        }
        let before = entry.weight();
        apply(entry);
        entry.finished_at = Some(crate::context::now_rfc3339());
        let after = entry.weight();
        self.bytes = self.bytes.saturating_sub(before) + after;
        self.evict(id);
    }
}

/// The table, shared by the event follower and the handlers.
pub struct Tracker {
    table: Mutex<Table>,
}

impl Tracker {
    pub fn new(max_entries: usize, max_bytes: usize) -> Tracker {
        Tracker {
            table: Mutex::new(Table {
                entries: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                max_entries: max_entries.max(1),
                max_bytes,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        // A poisoned lock means a panic mid-update elsewhere; the table is still usable.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut table)
    }

    pub fn get(&self, id: &str) -> Option<IntentView> {
        self.with(|t| t.entries.get(id).cloned())
    }

    pub fn len(&self) -> usize {
        self.with(|t| t.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An intent the API just dispatched: queued, with its trace.
    pub fn dispatched(&self, id: &str, agent_id: &str, trace_id: &str) -> IntentView {
        self.with(|t| {
            let e = t.entry(id, agent_id, IntentStatus::Queued);
            e.trace_id = Some(trace_id.to_string());
            e.clone()
        })
    }

    /// The outcome of an intent the API dispatched, from its ticket: richer than the event
    /// (prompt tokens, context id) and there even when another node handled the intent.
    pub fn settle(&self, id: &str, agent_id: &str, outcome: Result<IntentReply, IntentFailure>) {
        self.with(|t| {
            t.finish(id, agent_id, |e| match outcome {
                Ok(r) => {
                    e.status = IntentStatus::Done;
                    e.reply = Some(r.reply);
                    e.context_version = Some(r.context_version);
                    e.context_id = Some(r.context_id);
                    e.runner = Some(r.runner);
                    e.model = Some(r.model);
                    e.completion_tokens = Some(r.usage.completion_tokens);
                    e.prompt_tokens = Some(r.usage.prompt_tokens);
                }
                Err(error) => {
                    e.status = IntentStatus::Failed;
                    e.error = Some(error.to_string());
                }
            })
        });
    }

    /// Take in one runtime event.
    pub fn observe(&self, event: &RuntimeEvent) {
        self.with(|t| match event {
            RuntimeEvent::IntentQueued {
                agent_id,
                intent_id,
                ..
            } => {
                t.entry(intent_id, agent_id, IntentStatus::Queued);
            }
            RuntimeEvent::Token {
                agent_id,
                intent_id,
                ..
            }
            | RuntimeEvent::ToolCalled {
                agent_id,
                intent_id,
                ..
            }
            | RuntimeEvent::ToolFinished {
                agent_id,
                intent_id,
                ..
            } => {
                let e = t.entry(intent_id, agent_id, IntentStatus::Running);
                if e.status == IntentStatus::Queued {
                    e.status = IntentStatus::Running;
                }
            }
            // An agent works through its queue in order, one intent at a time: when it
            // starts to work, it works on its oldest queued intent.
            RuntimeEvent::Status { agent_id, status }
                if !matches!(status, AgentStatus::Idle | AgentStatus::Error) =>
            {
                let oldest = t.order.iter().find(|id| {
                    t.entries.get(*id).is_some_and(|e| {
                        e.agent_id == *agent_id && e.status == IntentStatus::Queued
                    })
                });
                if let Some(id) = oldest.cloned()
                    && let Some(e) = t.entries.get_mut(&id)
                {
                    e.status = IntentStatus::Running;
                }
            }
            RuntimeEvent::IntentDone {
                agent_id,
                intent_id,
                reply,
                context_version,
                runner,
                model,
                tokens,
            } => t.finish(intent_id, agent_id, |e| {
                e.status = IntentStatus::Done;
                e.reply = Some(reply.clone());
                e.context_version = Some(*context_version);
                e.runner = Some(runner.clone());
                e.model = Some(model.clone());
                e.completion_tokens = Some(*tokens);
            }),
            RuntimeEvent::IntentFailed {
                agent_id,
                intent_id,
                error,
            } => t.finish(intent_id, agent_id, |e| {
                e.status = IntentStatus::Failed;
                e.error = Some(error.clone());
            }),
            _ => {}
        });
    }
}

/// Feed `tracker` from the runtime's events until `cancel` or the runtime is gone.
pub(crate) fn follow(
    tracker: Arc<Tracker>,
    mut events: broadcast::Receiver<RuntimeEvent>,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) {
    tasks.spawn(async move {
        loop {
            let received = tokio::select! {
                () = cancel.cancelled() => break,
                r = events.recv() => r,
            };
            match received {
                Ok(event) => tracker.observe(&event),
                Err(RecvError::Lagged(n)) => {
                    // The API's own intents still get their outcome from their tickets.
                    tracing::warn!(
                        dropped = n,
                        "the API's intent table fell behind the runtime's events"
                    );
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(agent: &str, id: &str, reply: &str) -> RuntimeEvent {
        RuntimeEvent::IntentDone {
            agent_id: agent.into(),
            intent_id: id.into(),
            reply: reply.into(),
            context_version: 3,
            runner: "sim".into(),
            model: "m".into(),
            tokens: 7,
        }
    }

    fn queued(agent: &str, id: &str) -> RuntimeEvent {
        RuntimeEvent::IntentQueued {
            agent_id: agent.into(),
            intent_id: id.into(),
            text: "t".into(),
            operator: "op".into(),
            trace_id: None,
            depth: 0,
        }
    }

    #[test]
    fn an_intent_goes_from_queued_to_running_to_done() {
        let t = Tracker::new(10, 1 << 20);
        t.observe(&queued("ops-agent", "a"));
        t.observe(&queued("ops-agent", "b"));
        assert_eq!(t.get("a").unwrap().status, IntentStatus::Queued);
        t.observe(&RuntimeEvent::Status {
            agent_id: "ops-agent".into(),
            status: AgentStatus::Thinking,
        });
        // The oldest queued intent of that agent, not the next one.
        assert_eq!(t.get("a").unwrap().status, IntentStatus::Running);
        assert_eq!(t.get("b").unwrap().status, IntentStatus::Queued);
        t.observe(&done("ops-agent", "a", "fine"));
        let a = t.get("a").unwrap();
        assert_eq!(a.status, IntentStatus::Done);
        assert_eq!(a.reply.as_deref(), Some("fine"));
        assert_eq!(a.completion_tokens, Some(7));
        assert!(a.finished_at.is_some());
        // A late failure report does not overwrite the outcome.
        t.observe(&RuntimeEvent::IntentFailed {
            agent_id: "ops-agent".into(),
            intent_id: "a".into(),
            error: "late".into(),
        });
        assert_eq!(t.get("a").unwrap().status, IntentStatus::Done);
        assert!(t.get("nope").is_none());
    }

    #[test]
    fn a_dispatch_recorded_after_its_outcome_keeps_the_outcome() {
        let t = Tracker::new(10, 1 << 20);
        t.observe(&done("ops-agent", "a", "quick"));
        let view = t.dispatched("a", "ops-agent", "trace-1");
        assert_eq!(view.status, IntentStatus::Done);
        assert_eq!(view.trace_id.as_deref(), Some("trace-1"));
    }

    #[test]
    fn the_table_keeps_the_latest_entries_within_both_bounds() {
        let t = Tracker::new(3, 1 << 20);
        for id in ["a", "b", "c", "d"] {
            t.observe(&queued("ops-agent", id));
        }
        assert_eq!(t.len(), 3);
        assert!(t.get("a").is_none());
        assert!(t.get("d").is_some());

        let t = Tracker::new(100, 10);
        t.observe(&done("ops-agent", "a", "12345678"));
        t.observe(&done("ops-agent", "b", "12345678"));
        // 16 bytes of replies is over the 10-byte budget: the older one went.
        assert!(t.get("a").is_none());
        assert_eq!(t.get("b").unwrap().reply.as_deref(), Some("12345678"));
    }
}
