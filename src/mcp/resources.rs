//! `aios://` resources: the agent list and each agent's parts, read through the hub.

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::context::{Caller, ContextHub, HubError};

/// The parts of an agent served as `aios://agents/{agent_id}/{part}`.
pub const PARTS: [&str; 6] = [
    "goals",
    "persona_traits",
    "protocol_hooks",
    "behavioral_traces",
    "memory_embeddings",
    "context",
];

/// The list of agents.
pub const AGENTS_URI: &str = "aios://agents";
/// Behavioral traces served in a read, newest last.
const TRACES_READ: usize = 200;
/// Memory items served in a read of `memory_embeddings`.
const MEMORY_READ: usize = 50;

/// A parsed `aios://` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceUri {
    Agents,
    Part {
        agent_id: String,
        part: &'static str,
    },
}

/// What is wrong with a resource URI; the text is the MCP client's `resource not found`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error(
        "unknown resource `{0}`: expected aios://agents or aios://agents/{{agent_id}}/{{part}}"
    )]
    Unknown(String),
    #[error("resource `{0}` names no part; add one of: {parts}", parts = PARTS.join(", "))]
    NoPart(String),
    #[error("unknown part `{part}` in `{uri}`; the parts are: {parts}", parts = PARTS.join(", "))]
    UnknownPart { uri: String, part: String },
    #[error("resource `{0}` names no agent")]
    NoAgent(String),
}

impl ResourceUri {
    /// Parse a URI; `Err` says what is wrong with it.
    pub fn parse(uri: &str) -> Result<ResourceUri, UriError> {
        if uri == AGENTS_URI {
            return Ok(ResourceUri::Agents);
        }
        let rest = uri
            .strip_prefix("aios://agents/")
            .ok_or_else(|| UriError::Unknown(uri.to_string()))?;
        let (agent_id, part) = rest
            .split_once('/')
            .ok_or_else(|| UriError::NoPart(uri.to_string()))?;
        let part = PARTS
            .iter()
            .find(|p| **p == part)
            .ok_or_else(|| UriError::UnknownPart {
                uri: uri.to_string(),
                part: part.to_string(),
            })?;
        if agent_id.is_empty() {
            return Err(UriError::NoAgent(uri.to_string()));
        }
        Ok(ResourceUri::Part {
            agent_id: agent_id.to_string(),
            part,
        })
    }

    pub fn part(agent_id: &str, part: &str) -> String {
        format!("aios://agents/{agent_id}/{part}")
    }
}

/// The fixed resources (the agent list) for `resources/list`.
pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(AGENTS_URI, "agents")
            .with_title("All agents")
            .with_description(
                "Every agent of the runtime: id, name, category, role, default goals, persona \
                 traits and allowed tools (JSON).",
            )
            .with_mime_type("application/json"),
    ]
}

/// The per-agent templates for `resources/templates/list`.
pub fn templates() -> Vec<ResourceTemplate> {
    PARTS
        .iter()
        .map(|part| {
            ResourceTemplate::new(format!("aios://agents/{{agent_id}}/{part}"), *part)
                .with_description(describe(part))
                .with_mime_type("application/json")
        })
        .collect()
}

fn describe(part: &str) -> &'static str {
    match part {
        "goals" => "The agent's current goals (JSON list of strings). Subscribable.",
        "persona_traits" => "The agent's persona traits (JSON list of strings).",
        "protocol_hooks" => "The agent's protocol hooks: {name, on, action} objects.",
        "behavioral_traces" => "The agent's newest behavioral traces (up to 200), oldest first.",
        "memory_embeddings" => {
            "The agent's memory: how many items it holds and up to 50 of them, those closest to \
             its role and goals, as {text, kind, ts, tags, score}. Raw embedding vectors are not \
             served."
        }
        _ => {
            "The agent's latest context version: text, version, context_id, summary, cause. Subscribable."
        }
    }
}

/// Read a resource through the hub (audited with `caller`).
pub async fn read(hub: &ContextHub, caller: &Caller, uri: &ResourceUri) -> Result<Value, HubError> {
    match uri {
        ResourceUri::Agents => to_json(hub.list_agents(caller).await?),
        ResourceUri::Part { agent_id, part } => {
            let id = agent_id.as_str();
            match *part {
                "goals" => to_json(hub.get_goals(caller, id).await?),
                "persona_traits" => to_json(hub.get_persona_traits(caller, id).await?),
                "protocol_hooks" => to_json(hub.get_protocol_hooks(caller, id).await?),
                "behavioral_traces" => to_json(hub.traces(caller, id, TRACES_READ).await?),
                "memory_embeddings" => memory(hub, caller, id).await,
                _ => to_json(hub.get_context(caller, id, None).await?),
            }
        }
    }
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, HubError> {
    serde_json::to_value(value).map_err(|e| HubError::BadRequest(format!("cannot encode: {e}")))
}

/// The agent's memory without vectors: the count, and the items nearest its role and goals
/// (a listing the vector store can answer on any backend).
async fn memory(hub: &ContextHub, caller: &Caller, agent_id: &str) -> Result<Value, HubError> {
    let state = hub.get_agent(caller, agent_id).await?;
    let query = format!("{} {}", state.spec.role, state.goals.join(" "));
    let found = if state.memory_count == 0 {
        Vec::new()
    } else {
        hub.recall(caller, agent_id, &query, MEMORY_READ, None)
            .await?
    };
    let items: Vec<Value> = found
        .into_iter()
        .map(|s| {
            json!({"id": s.item.id, "text": s.item.text, "kind": s.item.kind, "ts": s.item.ts,
                   "tags": s.item.tags, "score": s.score})
        })
        .collect();
    Ok(json!({"agent_id": agent_id, "count": state.memory_count, "items": items}))
}

/// The contents of a read, as JSON text.
pub fn contents(uri: &str, value: &Value) -> ResourceContents {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    ResourceContents::text(text, uri).with_mime_type("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_or_say_why_not() {
        assert_eq!(ResourceUri::parse("aios://agents"), Ok(ResourceUri::Agents));
        assert_eq!(
            ResourceUri::parse("aios://agents/ops-agent/goals"),
            Ok(ResourceUri::Part {
                agent_id: "ops-agent".into(),
                part: "goals"
            })
        );
        let e = ResourceUri::parse("aios://agents/ops-agent/secrets").unwrap_err();
        assert!(matches!(&e, UriError::UnknownPart { part, .. } if part == "secrets"));
        assert_eq!(
            e.to_string(),
            format!(
                "unknown part `secrets` in `aios://agents/ops-agent/secrets`; the parts are: {}",
                PARTS.join(", ")
            )
        );
        assert_eq!(
            ResourceUri::parse("file:///etc/passwd"),
            Err(UriError::Unknown("file:///etc/passwd".into()))
        );
        assert!(
            ResourceUri::parse("file:///x")
                .unwrap_err()
                .to_string()
                .ends_with("expected aios://agents or aios://agents/{agent_id}/{part}")
        );
        assert_eq!(
            ResourceUri::parse("aios://agents//goals"),
            Err(UriError::NoAgent("aios://agents//goals".into()))
        );
        assert_eq!(
            ResourceUri::parse("aios://agents/ops-agent"),
            Err(UriError::NoPart("aios://agents/ops-agent".into()))
        );
    }

    #[test]
    fn every_part_has_a_template() {
        let t = templates();
        assert_eq!(t.len(), PARTS.len());
        assert!(
            t.iter()
                .all(|t| t.uri_template.starts_with("aios://agents/{agent_id}/"))
        );
    }
}
