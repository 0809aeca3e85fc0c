//! A recording turned back into what the control center was told, in order: the same
//! `Action`s the live loop fed `App::update`, plus the agent states and context versions
//! the player answers the app's loads with.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::agent::{AgentSpec, RuntimeInfo};
use crate::audit::AuditRecord;
use crate::bus::Received;
use crate::context::{AgentState, ContextVersion};
use crate::event::{AgentStatus, RuntimeEvent};
use crate::recorder::{Entry, Kind};
use crate::tui::Action;

/// What one process's recording began with.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Start {
    pub info: RuntimeInfo,
    pub agents: Vec<AgentSpec>,
    #[serde(default)]
    pub status: HashMap<String, AgentStatus>,
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone)]
pub enum What {
    /// A new process's recording: the app starts afresh.
    Start(Box<Start>),
    /// Fed to `App::update` as it was live.
    Apply(Action),
    State(Box<AgentState>),
    Version(Box<ContextVersion>),
    /// On record but not shown by the panes (recall, a model request, a tool call, a gap).
    Mark(Kind),
}

#[derive(Debug, Clone)]
pub struct Step {
    /// The recording entry's seq.
    pub seq: u64,
    pub t: DateTime<Utc>,
    pub what: What,
}

#[derive(Debug, Default)]
pub struct Timeline {
    pub steps: Vec<Step>,
    /// Entries whose body could not be read as their kind says (skipped, counted).
    pub unreadable: usize,
    /// Per agent, the indexes of its state and version steps, in order.
    pub(super) states: HashMap<String, Vec<usize>>,
    pub(super) versions: HashMap<String, Vec<usize>>,
    /// Audit seq → step index.
    pub(super) audit: HashMap<u64, usize>,
}

impl Timeline {
    /// Build from entries in recording order. Entries before the first `start` have no app
    /// to go to and are kept as marks; entries without a valid time take the one before.
    pub fn build(entries: &[Entry]) -> Timeline {
        let mut tl = Timeline::default();
        let mut last_t = None;
        for e in entries {
            let Some(t) = e.time().or(last_t) else {
                tl.unreadable += 1;
                continue;
            };
            last_t = Some(t);
            let what = match what_of(e) {
                Some(w) => w,
                None => {
                    tl.unreadable += 1;
                    What::Mark(e.kind)
                }
            };
            let i = tl.steps.len();
            match &what {
                What::State(s) => tl.states.entry(s.spec.id.clone()).or_default().push(i),
                What::Version(v) => tl.versions.entry(v.agent_id.clone()).or_default().push(i),
                What::Apply(Action::Audit(r)) => {
                    tl.audit.insert(r.seq, i);
                }
                _ => {}
            }
            tl.steps.push(Step {
                seq: e.seq,
                t,
                what,
            });
        }
        tl
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Steps at or before `t`: the index the cursor stands at for that time.
    pub fn index_at(&self, t: DateTime<Utc>) -> usize {
        self.steps.partition_point(|s| s.t <= t)
    }

    /// The index just past the step of recording entry `seq` (or the first after it).
    pub fn index_of_entry(&self, seq: u64) -> usize {
        let i = self.steps.partition_point(|s| s.seq < seq);
        (i + 1).min(self.steps.len())
    }

    /// The index just past the audit record `seq`, if it was recorded.
    pub fn index_of_audit(&self, seq: u64) -> Option<usize> {
        self.audit.get(&seq).map(|i| i + 1)
    }

    /// The agent's latest state among the first `upto` steps.
    pub fn state_before(&self, agent_id: &str, upto: usize) -> Option<&AgentState> {
        let idx = self.states.get(agent_id)?;
        let n = idx.partition_point(|i| *i < upto);
        match &self.steps[*idx.get(n.checked_sub(1)?)?].what {
            What::State(s) => Some(s),
            _ => None,
        }
    }

    /// The agent's context versions among the first `upto` steps, oldest first.
    pub fn versions_before(&self, agent_id: &str, upto: usize) -> Vec<&ContextVersion> {
        let Some(idx) = self.versions.get(agent_id) else {
            return Vec::new();
        };
        idx.iter()
            .take_while(|i| **i < upto)
            .filter_map(|i| match &self.steps[*i].what {
                What::Version(v) => Some(v.as_ref()),
                _ => None,
            })
            .collect()
    }

    pub fn first_time(&self) -> Option<DateTime<Utc>> {
        self.steps.first().map(|s| s.t)
    }

    pub fn last_time(&self) -> Option<DateTime<Utc>> {
        self.steps.last().map(|s| s.t)
    }
}

/// Read straight from the entry's body (no copy of it first).
fn what_of(e: &Entry) -> Option<What> {
    fn read<'a, T: serde::Deserialize<'a>>(body: &'a serde_json::Value) -> Option<T> {
        T::deserialize(body).ok()
    }
    let body = &e.body;
    Some(match e.kind {
        Kind::Start => What::Start(Box::new(read(body)?)),
        Kind::Event => What::Apply(Action::Runtime(Box::new(read::<RuntimeEvent>(body)?))),
        Kind::Bus => What::Apply(Action::Bus(read::<Received>(body)?)),
        Kind::Audit => What::Apply(Action::Audit(Arc::new(read::<AuditRecord>(body)?))),
        Kind::AgentState => What::State(Box::new(read(body)?)),
        Kind::ContextVersion => What::Version(Box::new(read(body)?)),
        other => What::Mark(other),
    })
}
