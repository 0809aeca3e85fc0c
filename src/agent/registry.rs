//! One catalog of the tools an agent's model can call: aios's own state tools, the tools of
//! outside MCP servers and HTTP actions, each with the schema the model sees and where it
//! comes from; and how an agent's `tools` list (its allowlist) resolves against it.
//!
//! An agent's list names tools, or stands for several:
//! - a tool's own name (`remember`, `helpdesk__create_ticket`, `erpnext_invoice`);
//! - the spec's store names: `vector_db`, `chromadb`, `qdrant` → the memory tools
//!   (`remember`, `recall`); `redis` → `broadcast` (the chat history an agent keeps in Redis
//!   is loaded for it, not called);
//! - an MCP server's name → every tool of that server (`<server>__<tool>`);
//! - a service name → every HTTP action named `<service>_…` (`fastapi` →
//!   `fastapi_create_ticket`).
//!
//! A name that resolves to nothing gives the agent nothing: `aios doctor` names it.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::Serialize;

use crate::llm::ToolSpec;

use super::turn::Origin;

/// The spec's names for stores that aios's own tools stand for.
const ALIASES: &[(&str, &[&str])] = &[
    ("vector_db", &["remember", "recall"]),
    ("chromadb", &["remember", "recall"]),
    ("qdrant", &["remember", "recall"]),
    ("redis", &["broadcast"]),
];

/// One tool of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolEntry {
    pub name: String,
    pub description: String,
    /// The JSON Schema of its arguments, as the model and MCP clients see it.
    pub parameters: serde_json::Value,
    pub origin: Origin,
    /// Where it comes from: `aios`, `mcp:<server>`, `action:<name>`.
    pub source: String,
}

impl ToolEntry {
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }
}

/// What an agent's list resolves to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resolved {
    /// The tools the agent can call, by name, each once.
    pub tools: Vec<ToolEntry>,
    /// Listed names that stand for no tool.
    pub unmapped: Vec<String>,
}

/// The catalog; tools of MCP servers come and go as servers start, stop and re-list.
#[derive(Default)]
pub struct Registry {
    tools: RwLock<BTreeMap<String, ToolEntry>>,
}

impl Registry {
    /// aios's own tools.
    pub fn builtin() -> Registry {
        let registry = Registry::default();
        for spec in super::tools::specs() {
            registry.insert(ToolEntry {
                name: spec.name,
                description: spec.description,
                parameters: spec.parameters,
                origin: Origin::Builtin,
                source: "aios".into(),
            });
        }
        registry
    }

    /// What a configuration gives before any outside server runs: aios's own tools, the
    /// HTTP actions, and each configured MCP server's name (its tools join when it starts).
    pub fn for_config(config: &crate::config::Config) -> Registry {
        let registry = Registry::builtin();
        // Checked at config load already; an error here leaves the actions out, loudly.
        match crate::actions::Actions::from_config(&config.actions) {
            Ok(actions) => registry.add_actions(&actions),
            Err(e) => tracing::error!(error = %e, "HTTP actions left out"),
        }
        registry
    }

    /// Add every HTTP action as a tool.
    pub fn add_actions(&self, actions: &crate::actions::Actions) {
        for a in actions.iter() {
            self.insert(ToolEntry {
                name: a.name().to_string(),
                description: a.description().to_string(),
                parameters: a.parameters(),
                origin: Origin::Http,
                source: format!("action:{}", a.name()),
            });
        }
    }

    /// Add or replace one tool.
    pub fn insert(&self, entry: ToolEntry) {
        let mut tools = self.tools.write().unwrap_or_else(|p| p.into_inner());
        tools.insert(entry.name.clone(), entry);
    }

    /// Replace every tool from `source` (an MCP server re-listed, or gone: `entries` empty).
    pub fn replace_source(&self, source: &str, entries: Vec<ToolEntry>) {
        let mut tools = self.tools.write().unwrap_or_else(|p| p.into_inner());
        tools.retain(|_, t| t.source != source);
        for e in entries {
            tools.insert(e.name.clone(), e);
        }
    }

    pub fn get(&self, name: &str) -> Option<ToolEntry> {
        let tools = self.tools.read().unwrap_or_else(|p| p.into_inner());
        tools.get(name).cloned()
    }

    /// Every tool, by name.
    pub fn all(&self) -> Vec<ToolEntry> {
        let tools = self.tools.read().unwrap_or_else(|p| p.into_inner());
        tools.values().cloned().collect()
    }

    /// The tools an agent's list gives it, in the list's order, and the names that give
    /// nothing.
    pub fn resolve(&self, listed: &[String]) -> Resolved {
        let tools = self.tools.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Resolved::default();
        let mut add = |entry: &ToolEntry, got: &mut bool| {
            *got = true;
            if !out.tools.iter().any(|t| t.name == entry.name) {
                out.tools.push(entry.clone());
            }
        };
        for name in listed {
            let mut got = false;
            if let Some(entry) = tools.get(name) {
                add(entry, &mut got);
            }
            if let Some((_, names)) = ALIASES.iter().find(|(alias, _)| alias == name) {
                for n in *names {
                    if let Some(entry) = tools.get(*n) {
                        add(entry, &mut got);
                    }
                }
            }
            // A group name only when it is no tool's own name: `recall` never pulls in a
            // `recall_…` action by accident.
            let server = format!("mcp:{name}");
            let family = format!("{name}_");
            let is_group = !got;
            for entry in tools.values().filter(|_| is_group) {
                let of_server = entry.source == server;
                let of_family = entry.origin == Origin::Http && entry.name.starts_with(&family);
                if of_server || of_family {
                    add(entry, &mut got);
                }
            }
            if !got {
                out.unmapped.push(name.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, origin: Origin, source: &str) -> ToolEntry {
        ToolEntry {
            name: name.into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
            origin,
            source: source.into(),
        }
    }

    fn registry() -> Registry {
        let r = Registry::builtin();
        r.insert(entry(
            "helpdesk__create_ticket",
            Origin::Mcp,
            "mcp:helpdesk",
        ));
        r.insert(entry("helpdesk__close_ticket", Origin::Mcp, "mcp:helpdesk"));
        r.insert(entry(
            "fastapi_create_ticket",
            Origin::Http,
            "action:fastapi_create_ticket",
        ));
        r.insert(entry(
            "erpnext_invoice",
            Origin::Http,
            "action:erpnext_invoice",
        ));
        r
    }

    fn names(r: &Resolved) -> Vec<&str> {
        r.tools.iter().map(|t| t.name.as_str()).collect()
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_specs_names_map_to_real_tools_and_the_rest_is_named() {
        let r = registry();
        let got = r.resolve(&list(&[
            "langchain",
            "vector_db",
            "fastapi",
            "redis",
            "helpdesk",
            "update_context",
            "recall",
        ]));
        assert_eq!(
            names(&got),
            [
                "remember",
                "recall",
                "fastapi_create_ticket",
                "broadcast",
                "helpdesk__close_ticket",
                "helpdesk__create_ticket",
                "update_context"
            ]
        );
        assert_eq!(got.unmapped, ["langchain"]);
    }

    #[test]
    fn a_tool_not_listed_is_not_given() {
        let r = registry();
        let got = r.resolve(&list(&["remember"]));
        assert_eq!(names(&got), ["remember"]);
        assert!(got.unmapped.is_empty());
        // A built-in name is not a family prefix: `recall` gives no `recall_…` action.
        r.insert(entry("recall_everything", Origin::Http, "action:x"));
        assert_eq!(names(&r.resolve(&list(&["recall"]))), ["recall"]);
    }

    #[test]
    fn a_server_that_relists_replaces_its_tools() {
        let r = registry();
        r.replace_source(
            "mcp:helpdesk",
            vec![entry("helpdesk__search", Origin::Mcp, "mcp:helpdesk")],
        );
        assert_eq!(
            names(&r.resolve(&list(&["helpdesk"]))),
            ["helpdesk__search"]
        );
        r.replace_source("mcp:helpdesk", Vec::new());
        assert_eq!(r.resolve(&list(&["helpdesk"])).unmapped, ["helpdesk"]);
    }

    #[test]
    fn builtin_schemas_come_from_the_argument_types() {
        let r = Registry::builtin();
        let recall = r.get("recall").unwrap();
        assert_eq!(recall.parameters["properties"]["k"]["maximum"], 20);
        assert_eq!(recall.parameters["required"], serde_json::json!(["query"]));
        assert_eq!(recall.parameters["additionalProperties"], false);
        assert!(recall.parameters.get("$schema").is_none());
        let handoff = r.get("handoff").unwrap();
        assert_eq!(
            handoff.parameters["required"],
            serde_json::json!(["agent_id", "text"])
        );
    }
}
