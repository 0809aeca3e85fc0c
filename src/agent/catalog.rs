//! The catalog of the spec's 30 agents, merged with `[agents.<id>]` from config.
//! (Skeleton: the full catalog replaces this.)

use crate::config::Config;

use super::spec::{AgentSpec, is_valid_agent_id};

/// Every agent the runtime hosts, in catalog order (by category, then as the spec lists).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    agents: Vec<AgentSpec>,
}

impl Catalog {
    /// The spec's 30 agents with their defaults.
    pub fn builtin() -> Catalog {
        Catalog { agents: Vec::new() }
    }

    /// The built-in catalog with config's overrides and additions applied.
    pub fn from_config(config: &Config) -> Result<Catalog, String> {
        let mut catalog = Catalog::builtin();
        for (id, o) in &config.agents {
            if !is_valid_agent_id(id) {
                return Err(format!(
                    "[agents.{id}]: an agent id is lower-case kebab-case, e.g. `support-agent`"
                ));
            }
            match catalog.agents.iter_mut().find(|a| &a.id == id) {
                Some(spec) => spec.apply(o).map_err(|e| format!("[agents.{id}]: {e}"))?,
                None => {
                    let mut spec = AgentSpec::custom(id);
                    spec.apply(o).map_err(|e| format!("[agents.{id}]: {e}"))?;
                    catalog.agents.push(spec);
                }
            }
        }
        Ok(catalog)
    }

    pub fn agents(&self) -> &[AgentSpec] {
        &self.agents
    }

    pub fn get(&self, id: &str) -> Option<&AgentSpec> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn len(&self) -> usize {
        self.agents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}
