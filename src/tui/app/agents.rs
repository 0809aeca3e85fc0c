//! The agents' part of the app beyond their pane (`panes/agents/`): the agent the other
//! panes show, and who needs a person (the attention marks, alerts, and jumping to the next).

use crate::agent::AgentSpec;
use crate::event::AgentStatus;

use super::{AgentRow, App, Effect, Pane};

impl App {
    /// Rows of the agents pane: category headers and the agents that pass the filter.
    pub fn agent_rows(&self) -> Vec<AgentRow> {
        self.agents.rows()
    }

    pub fn selected_agent(&self) -> Option<&AgentSpec> {
        self.agents.selected()
    }

    pub fn focused_spec(&self) -> Option<&AgentSpec> {
        let id = self.focused_agent.as_deref()?;
        self.agents.specs.iter().find(|a| a.id == id)
    }

    pub(super) fn load_agent(&mut self, id: &str) {
        self.effects.push(Effect::LoadAgent(id.to_string()));
        self.effects.push(Effect::LoadDiff {
            agent_id: id.to_string(),
            range: None,
        });
    }

    /// Show an agent in the goals, diff and stream panes.
    pub fn focus_agent(&mut self, id: &str) {
        if self.focused_agent.as_deref() != Some(id) {
            self.focused_agent = Some(id.to_string());
            self.goals.agent = None;
        }
        self.load_agent(id);
    }

    /// Why an agent needs a person now, if it does: waiting for an approval, looping,
    /// stalled (working, no token for `stall_s`), failed.
    pub fn attention(&self, agent_id: &str) -> Option<String> {
        let status = self
            .agents
            .status
            .get(agent_id)
            .copied()
            .unwrap_or_default();
        if status == AgentStatus::Waiting {
            return Some("waiting for approval".into());
        }
        if let Some(why) = self.agents.looping.get(agent_id) {
            return Some(why.clone());
        }
        if status == AgentStatus::Error {
            return Some("failed".into());
        }
        let working = matches!(status, AgentStatus::Streaming | AgentStatus::Thinking);
        if working && self.stall_s > 0 {
            let last = self.agents.activity.get(agent_id).and_then(|a| a.last)?;
            let quiet = (self.now - last).num_seconds();
            if quiet >= i64::from(self.stall_s) {
                return Some(format!("stalled: nothing for {quiet} s"));
            }
        }
        None
    }

    /// Raise an alert for each agent that newly needs attention.
    pub(super) fn check_attention(&mut self) {
        let now: std::collections::BTreeSet<String> = self
            .agents
            .specs
            .iter()
            .filter(|a| self.attention(&a.id).is_some())
            .map(|a| a.id.clone())
            .collect();
        for id in now.difference(&self.attention_seen) {
            if let Some(why) = self.attention(id) {
                self.alerts.push(format!("aios: {id} {why}"));
            }
        }
        self.attention_seen = now;
    }

    /// Select and focus the next agent (in list order, after the selected one) that needs
    /// attention.
    pub(super) fn next_attention(&mut self) {
        let rows = self.agent_rows();
        let n = rows.len();
        let found = (1..=n)
            .map(|k| (self.agents.cursor + k) % n.max(1))
            .find(|&r| match rows.get(r) {
                Some(AgentRow::Agent(i)) => self.attention(&self.agents.specs[*i].id).is_some(),
                _ => false,
            });
        match found {
            Some(r) => {
                self.agents.cursor = r;
                self.focus = Pane::Agents;
                if let Some(AgentRow::Agent(i)) = rows.get(r) {
                    let id = self.agents.specs[*i].id.clone();
                    let why = self.attention(&id).unwrap_or_default();
                    self.focus_agent(&id);
                    self.notify(format!("{id}: {why}"));
                }
            }
            None => self.notify("no agent needs attention"),
        }
    }
}
