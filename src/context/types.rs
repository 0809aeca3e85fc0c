//! The shapes of per-agent state as stored and as served over MCP.

use serde::{Deserialize, Serialize};

/// A part of an agent's state kept as one value (the spec's memory structure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Goals,
    PersonaTraits,
    ProtocolHooks,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Goals => "goals",
            Part::PersonaTraits => "persona_traits",
            Part::ProtocolHooks => "protocol_hooks",
        }
    }
}

/// A protocol hook: when `on` happens, the agent does `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolHook {
    /// Unique per agent; `remove_protocol_hook` takes it.
    pub name: String,
    /// The event, e.g. `intent.done`, `schedule:@hourly` (see `hooks::spec`).
    pub on: String,
    /// What to do, e.g. `webhook:https://…`, `intent:sec-agent Review {reply}`.
    pub action: String,
}

/// One behavioral trace entry: something the agent did, kept for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Position in the agent's trace, assigned by the store.
    #[serde(default)]
    pub seq: u64,
    pub ts: String,
    /// e.g. `intent.handled`, `tool.call`.
    pub kind: String,
    pub summary: String,
    #[serde(default)]
    pub intent_id: Option<String>,
}

/// One turn of an agent's conversation (the spec's `chat_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatTurn {
    /// Position in the agent's history, assigned by the store.
    #[serde(default)]
    pub seq: u64,
    pub ts: String,
    /// `user` (the intent) or `assistant` (the agent's reply).
    pub role: String,
    pub text: String,
    #[serde(default)]
    pub intent_id: Option<String>,
}

/// What caused a context version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub caller: String,
    #[serde(default)]
    pub intent_id: Option<String>,
    #[serde(default)]
    pub tool: Option<String>,
}

/// A context update before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContext {
    pub text: String,
    pub summary: String,
    pub cause: Cause,
}

/// One version of an agent's context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextVersion {
    pub agent_id: String,
    /// 1, 2, 3, … strictly increasing per agent.
    pub version: u64,
    /// UUIDv7, unique across agents: the audit record's `context_id`.
    pub context_id: String,
    pub created_at: String,
    pub summary: String,
    pub cause: Cause,
    pub text: String,
}

impl ContextVersion {
    /// A new version with a fresh id and time; the store assigns its number.
    pub fn unnumbered(agent_id: &str, new: NewContext) -> ContextVersion {
        ContextVersion {
            agent_id: agent_id.to_string(),
            version: 0,
            context_id: uuid::Uuid::now_v7().to_string(),
            created_at: now_rfc3339(),
            summary: new.summary,
            cause: new.cause,
            text: new.text,
        }
    }
}

/// A version without its text, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: u64,
    pub context_id: String,
    pub created_at: String,
    pub summary: String,
    pub cause: Cause,
    pub lines: usize,
}

impl From<&ContextVersion> for VersionInfo {
    fn from(v: &ContextVersion) -> Self {
        VersionInfo {
            version: v.version,
            context_id: v.context_id.clone(),
            created_at: v.created_at.clone(),
            summary: v.summary.clone(),
            cause: v.cause.clone(),
            lines: v.text.lines().count(),
        }
    }
}

/// Now, as the RFC 3339 UTC text used everywhere in aios.
pub fn now_rfc3339() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
