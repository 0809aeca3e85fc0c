//! The agents pane's state: its rows (category headers and the agents that pass the
//! filter), how the selection moves over them, and when each agent was last heard from.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::super::action::Action;
use super::{Reply, step_of};
use crate::agent::{AgentSpec, Category};
use crate::event::AgentStatus;

#[derive(Debug, Clone, Default)]
pub struct AgentActivity {
    pub last: Option<DateTime<Utc>>,
    pub goal: Option<String>,
}

/// How long ago, short: `5s`, `3m`, `2h`, `4d`.
pub fn ago(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = then else {
        return "-".into();
    };
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub type ActivityMap = HashMap<String, AgentActivity>;

/// The agents pane: every agent, what it is doing, the selection and the filter.
#[derive(Debug, Clone, Default)]
pub struct AgentsState {
    pub specs: Vec<AgentSpec>,
    pub status: HashMap<String, AgentStatus>,
    pub activity: ActivityMap,
    /// The selection: an index into `rows()`.
    pub cursor: usize,
    pub filter: String,
    /// Agents that looped in their current intent, with why.
    pub looping: HashMap<String, String>,
}

impl AgentsState {
    /// Category headers and the agents that pass the filter.
    pub fn rows(&self) -> Vec<AgentRow> {
        agent_rows(&self.specs, &self.filter)
    }

    /// The first agent's row: where the selection starts.
    pub fn first_row(&self) -> usize {
        first_agent_row(&self.rows())
    }

    pub fn selected(&self) -> Option<&AgentSpec> {
        match self.rows().get(self.cursor) {
            Some(AgentRow::Agent(i)) => self.specs.get(*i),
            _ => None,
        }
    }

    /// Agents doing something (neither idle nor failed).
    pub fn busy(&self) -> usize {
        self.status
            .values()
            .filter(|s| !matches!(s, AgentStatus::Idle | AgentStatus::Error))
            .count()
    }

    /// Something was heard from an agent: its "last" column.
    pub fn heard(&mut self, agent_id: &str, now: DateTime<Utc>) {
        self.activity.entry(agent_id.to_string()).or_default().last = Some(now);
    }

    pub fn status_changed(&mut self, agent_id: String, status: AgentStatus) {
        // A new intent starts with recalling: the last one's loop is over.
        if status == AgentStatus::Recalling {
            self.looping.remove(&agent_id);
        }
        self.status.insert(agent_id, status);
    }

    /// A new filter: the selection goes to the first agent that passes it.
    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.cursor = self.first_row();
    }

    /// A key for this pane: move over the agents (the headers are skipped), or show the
    /// selected one in the other panes.
    pub fn action(&mut self, action: &Action, page: usize) -> Reply {
        if let Some((n, down)) = step_of(action, page) {
            self.cursor = step_agent_row(&self.rows(), self.cursor, n, down);
            return Reply::Done;
        }
        match action {
            Action::Open => self
                .selected()
                .map_or(Reply::Done, |a| Reply::Focus(a.id.clone())),
            _ => Reply::Ignored,
        }
    }
}

/// One row of the agents pane.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentRow {
    Header(Category),
    Agent(usize),
}

/// Rows of the agents pane: category headers and the agents that pass the filter.
pub fn agent_rows(agents: &[AgentSpec], filter: &str) -> Vec<AgentRow> {
    let f = filter.to_lowercase();
    let mut rows = Vec::new();
    for cat in Category::ALL {
        let mut header = false;
        for (i, a) in agents.iter().enumerate() {
            if a.category != cat {
                continue;
            }
            if !f.is_empty()
                && !a.id.to_lowercase().contains(&f)
                && !a.name.to_lowercase().contains(&f)
                && !a.role.to_lowercase().contains(&f)
            {
                continue;
            }
            if !header {
                rows.push(AgentRow::Header(cat));
                header = true;
            }
            rows.push(AgentRow::Agent(i));
        }
    }
    rows
}

/// The first agent's row (the first row is a category header), 0 when none.
pub fn first_agent_row(rows: &[AgentRow]) -> usize {
    rows.iter()
        .position(|r| matches!(r, AgentRow::Agent(_)))
        .unwrap_or(0)
}

/// The selection `n` agents down or up from `cursor`, skipping the headers.
pub fn step_agent_row(rows: &[AgentRow], cursor: usize, n: usize, down: bool) -> usize {
    let mut c = cursor;
    let mut steps = n;
    while steps > 0 {
        let next = if down {
            (c + 1..rows.len()).find(|i| matches!(rows[*i], AgentRow::Agent(_)))
        } else {
            (0..c)
                .rev()
                .find(|i| matches!(rows[*i], AgentRow::Agent(_)))
        };
        match next {
            Some(i) => c = i,
            None => break,
        }
        steps -= 1;
    }
    c
}
