//! `AgentSpec`: who an agent is (role, goals, persona, tools, model), and how config
//! overrides apply to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{AgentOverride, RunnerKind};

/// The spec's six agent families, plus agents that config adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    CoreSystem,
    BusinessLogic,
    MarketingGrowth,
    SalesSupport,
    KnowledgeContent,
    DomainSpecific,
    Custom,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::CoreSystem,
        Category::BusinessLogic,
        Category::MarketingGrowth,
        Category::SalesSupport,
        Category::KnowledgeContent,
        Category::DomainSpecific,
        Category::Custom,
    ];

    /// The kebab-case name used in config and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::CoreSystem => "core-system",
            Category::BusinessLogic => "business-logic",
            Category::MarketingGrowth => "marketing-growth",
            Category::SalesSupport => "sales-support",
            Category::KnowledgeContent => "knowledge-content",
            Category::DomainSpecific => "domain-specific",
            Category::Custom => "custom",
        }
    }

    /// The heading shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Category::CoreSystem => "Core system",
            Category::BusinessLogic => "Business logic",
            Category::MarketingGrowth => "Marketing & growth",
            Category::SalesSupport => "Sales & support",
            Category::KnowledgeContent => "Knowledge & content",
            Category::DomainSpecific => "Domain-specific",
            Category::Custom => "Custom",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Kebab-case id, e.g. `lead-router-agent`.
    pub id: String,
    /// Display name, e.g. `LeadRouterAgent`.
    pub name: String,
    pub category: Category,
    pub role: String,
    pub goals: Vec<String>,
    pub persona_traits: Vec<String>,
    pub tools: Vec<String>,
    /// Model name; empty = `llm.model`.
    pub model: String,
    /// Runner; `None` = `llm.runner`.
    pub runner: Option<RunnerKind>,
    /// The node this agent is pinned to; `None` = any node may host it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The spec's `memory_schema` block, as written (vector_store, chat_history, …).
    pub memory_schema: BTreeMap<String, serde_json::Value>,
    /// Hooks from `[agents.<id>] protocol_hooks`; those added over MCP live in the
    /// agent's state. Both fire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_hooks: Vec<crate::context::ProtocolHook>,
}

/// `[agents.<id>] category` names no category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown category `{}`, expected one of {}",
    .0,
    Category::ALL.map(Category::as_str).join(", ")
)]
pub struct UnknownCategory(pub String);

impl AgentSpec {
    /// Apply `[agents.<id>]`: set fields replace the spec's.
    pub fn apply(&mut self, o: &AgentOverride) -> Result<(), UnknownCategory> {
        if let Some(v) = &o.name {
            self.name = v.clone();
        }
        if let Some(v) = &o.category {
            self.category = Category::parse(v).ok_or_else(|| UnknownCategory(v.clone()))?;
        }
        if let Some(v) = &o.role {
            self.role = v.clone();
        }
        if let Some(v) = &o.goals {
            self.goals = v.clone();
        }
        if let Some(v) = &o.persona_traits {
            self.persona_traits = v.clone();
        }
        if let Some(v) = &o.tools {
            self.tools = v.clone();
        }
        if let Some(v) = &o.model {
            self.model = v.clone();
        }
        if let Some(v) = o.runner {
            self.runner = Some(v);
        }
        if let Some(v) = &o.node {
            self.node = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = &o.memory_schema {
            self.memory_schema = v.clone();
        }
        if let Some(v) = &o.protocol_hooks {
            self.protocol_hooks = v.clone();
        }
        Ok(())
    }

    /// A new agent that config adds: custom category, named after its id.
    pub fn custom(id: &str) -> AgentSpec {
        AgentSpec {
            id: id.to_string(),
            name: display_name(id),
            category: Category::Custom,
            role: String::new(),
            goals: Vec::new(),
            persona_traits: Vec::new(),
            tools: Vec::new(),
            model: String::new(),
            runner: None,
            node: None,
            memory_schema: BTreeMap::new(),
            protocol_hooks: Vec::new(),
        }
    }
}

/// `lead-router-agent` → `LeadRouterAgent`; `seo-agent` → `SEOAgent` is the catalog's
/// business; this is only the fallback for agents config adds.
pub fn display_name(id: &str) -> String {
    id.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// An agent id is lower-case kebab-case: `[a-z0-9]+(-[a-z0-9]+)*`.
pub fn is_valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.split('-').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
