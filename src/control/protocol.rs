//! The control socket's wire format: one JSON object per line each way.
//!
//! Client → owner: `{"id":1,"caller":"cli:alice","method":"dispatch","params":{…}}`.
//! Owner → client: any number of `{"id":1,"event":{…}}` (e.g. streamed tokens), then one
//! `{"id":1,"result":…}` or `{"id":1,"error":"…"}`.

use serde::{Deserialize, Serialize};

use crate::agent::AgentSpec;
use crate::bus::Received;
use crate::event::{AgentStatus, RuntimeEvent};

/// What a client can ask the owner; each maps onto the runtime or a ContextHub call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Request {
    /// Which backends run, node name, data dir.
    Info,
    /// Every agent with its live status.
    Agents,
    /// The tool calls waiting for a person.
    Approvals,
    /// The outside MCP servers: state, tools, last error.
    McpServers,
    /// Each agent's hooks (or one agent's) with their latest deliveries.
    Hooks {
        #[serde(default)]
        agent_id: Option<String>,
    },
    /// Send a dead hook delivery again.
    HookRetry {
        id: String,
    },
    /// Decide one.
    Decide {
        id: String,
        #[serde(flatten)]
        decision: crate::approvals::DecisionInput,
    },
    /// The tools each agent (or one) can call, and the listed names that give none.
    Tools {
        #[serde(default)]
        agent_id: Option<String>,
    },
    /// Queue an intent; with `wait`, stream its tokens and return its outcome.
    Dispatch {
        agent_id: String,
        text: String,
        #[serde(default)]
        wait: bool,
    },
    /// A context version (latest when `version` is absent).
    Context {
        agent_id: String,
        #[serde(default)]
        version: Option<u64>,
    },
    Versions {
        agent_id: String,
    },
    Diff {
        agent_id: String,
        from: u64,
        to: u64,
    },
    /// The `k` memory items of an agent closest to `query`, scored, with the embedder
    /// that scored them ([`RecallAnswer`]).
    Recall {
        agent_id: String,
        query: String,
        #[serde(default = "default_recall_k")]
        k: usize,
    },
    /// Write and fsync every audit record so far, so readers of the files see them all.
    FlushAudit,
    /// Stream what the bus hears (optionally also channels matching `pattern`, and only
    /// those) until the client goes away.
    Watch {
        #[serde(default)]
        pattern: Option<String>,
    },
}

fn default_recall_k() -> usize {
    5
}

/// What `aios memory search` prints: the hits and what made their scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallAnswer {
    pub agent_id: String,
    pub query: String,
    /// The embedder's name, e.g. `minilm:all-MiniLM-L6-v2` or `hash`.
    pub embedder: String,
    /// The vector memory's name, e.g. `local` or `qdrant`.
    pub memory: String,
    pub hits: Vec<crate::memory::ScoredItem>,
}

/// One agent's tools, for `aios tools`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentTools {
    pub agent_id: String,
    pub tools: Vec<ToolRow>,
    /// Listed names that stand for no tool.
    pub unmapped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRow {
    pub name: String,
    /// `builtin`, `mcp` or `http`.
    pub origin: String,
    /// `aios`, `mcp:<server>`, `action:<name>`.
    pub source: String,
    pub description: String,
}

/// What an owner streams to a client before the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Streamed {
    /// A runtime event (e.g. a token of a waited-for intent).
    Runtime(RuntimeEvent),
    /// A message the bus heard, or one it rejected.
    Bus(Received),
    /// The stream fell behind and this many items were dropped.
    Lagged(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestLine {
    pub id: u64,
    pub caller: String,
    #[serde(flatten)]
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Streamed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One line of `aios agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    #[serde(flatten)]
    pub spec: AgentSpec,
    pub status: AgentStatus,
    /// When the status was entered; absent while the agent has not been active.
    pub since: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_round_trips() {
        let line = RequestLine {
            id: 7,
            caller: "cli:alice".into(),
            request: Request::Dispatch {
                agent_id: "support-agent".into(),
                text: "hi".into(),
                wait: true,
            },
        };
        let json = serde_json::to_string(&line).unwrap();
        assert!(json.contains(r#""method":"dispatch""#), "{json}");
        assert_eq!(serde_json::from_str::<RequestLine>(&json).unwrap(), line);
    }
}
