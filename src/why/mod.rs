//! "Why?": the causal chain of an intent as a tree, read from the flight recording.
//!
//! Who asked (an operator, an outside publisher, another agent's handoff, a hook, a
//! schedule) → the intent → what recall found → the prompt the model saw → its tokens →
//! each tool call with its approval and result → the context diff it wrote → what it caused
//! downstream (handoffs as child intents, memory broadcasts, hook deliveries).
//!
//! Pure: [`build`] turns recording entries into a [`Node`] tree, [`render`] and [`flatten`]
//! show it, [`compare`] aligns two trees. The one function that reads files is [`load`].
//!
//! - `index`: what the entries say about each intent, gathered once.
//! - `resolve`: which intent a [`Target`] means.
//! - `build`: the tree of an intent (`build/steps`: the nodes of its steps).
//! - `render`: the text tree and the flat list a TUI shows.
//! - `compare`: two trees side by side, and the specs `aios replay --diff` takes.
//! - `load`: a data dir, a recording dir or file, or (without a recording) the audit log.

mod build;
mod compare;
mod index;
mod load;
mod render;
mod resolve;

use serde::Serialize;

pub use build::{AUDIT_ONLY, build};
pub use compare::{Row, compare, render_compare, resolve_spec};
pub use load::load;
pub use render::{flatten, render};

/// What to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An audit record, by its `seq` in the audit log: its intent, or the record alone.
    AuditSeq(u64),
    /// An intent id (a unique prefix of one is enough).
    Intent(String),
    /// A bus envelope id: the intent it carried, or the one its agent was handling then.
    Envelope(String),
    /// The intent that wrote this context version.
    ContextVersion { agent_id: String, version: u64 },
    /// The agent's latest intent.
    Agent(String),
}

impl Target {
    /// A number is an audit seq; anything else an intent id.
    pub fn parse(text: &str) -> Target {
        let text = text.trim();
        match text.parse::<u64>() {
            Ok(seq) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                Target::AuditSeq(seq)
            }
            _ => Target::Intent(text.to_string()),
        }
    }
}

/// What a node of the tree stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Who asked: an operator, an outside publisher, a hook, a schedule.
    Asker,
    Intent,
    /// What recall found (children: the items, with scores, in the prompt or not).
    Recall,
    /// The request the model got (detail: its messages).
    Prompt,
    /// The model's output in one round (detail: the text).
    Tokens,
    ToolCall,
    /// A person's decision on a tool call.
    Approval,
    ToolResult,
    /// The context version the intent wrote, as a diff from the one before.
    ContextDiff,
    /// A new intent for another agent (its child is that intent).
    Handoff,
    /// A memory item shared on `agent.broadcast.memory`.
    Broadcast,
    HookDelivery,
    /// The intent ended (detail: the reply).
    Reply,
    Failure,
    /// An audit record with no intent, shown alone.
    Record,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Asker => "asker",
            NodeKind::Intent => "intent",
            NodeKind::Recall => "recall",
            NodeKind::Prompt => "prompt",
            NodeKind::Tokens => "tokens",
            NodeKind::ToolCall => "tool_call",
            NodeKind::Approval => "approval",
            NodeKind::ToolResult => "tool_result",
            NodeKind::ContextDiff => "context_diff",
            NodeKind::Handoff => "handoff",
            NodeKind::Broadcast => "broadcast",
            NodeKind::HookDelivery => "hook_delivery",
            NodeKind::Reply => "reply",
            NodeKind::Failure => "failure",
            NodeKind::Record => "record",
        }
    }
}

/// One step of the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub kind: NodeKind,
    /// One line.
    pub label: String,
    /// Long text shown when expanded: the prompt, the whole tool result, the diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The recording entry it came from (the audit seq when built from the audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// What [`compare`] holds against the other tree's node (recall ids and scores, a
    /// tool's name and arguments, a diff's changed lines); `None` compares nothing.
    #[serde(skip)]
    pub compare_key: Option<String>,
}

impl Node {
    pub fn new(kind: NodeKind, label: impl Into<String>) -> Node {
        Node {
            kind,
            label: label.into(),
            detail: None,
            seq: None,
            t: None,
            children: Vec::new(),
            compare_key: None,
        }
    }

    fn at(mut self, seq: u64, t: &str) -> Node {
        self.seq = Some(seq);
        self.t = Some(t.to_string());
        self
    }

    fn with_detail(mut self, detail: impl Into<String>) -> Node {
        let d = detail.into();
        self.detail = (!d.is_empty()).then_some(d);
        self
    }

    fn keyed(mut self, key: String) -> Node {
        self.compare_key = Some(key);
        self
    }

    /// Every node of the tree, this one first (depth first, in order).
    pub fn walk(&self) -> Vec<&Node> {
        flatten(self).into_iter().map(|(_, n)| n).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WhyError {
    #[error("{what} is not in the recording, which {reach}")]
    NotFound { what: String, reach: String },
    #[error("`{prefix}` names more than one intent ({}): give more of the id", .matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error(
        "{} holds no recording and no audit log: give a data dir, a recording dir or a \
         rec-*.jsonl file (--recording PATH)",
        .0.display()
    )]
    Empty(std::path::PathBuf),
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the audit log: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error(
        "`{spec}` is neither an intent id nor a time range FROM..TO (RFC 3339, or HH:MM[:SS] \
         of the recording's day): {why}"
    )]
    BadSpec { spec: String, why: String },
}

/// How far the entries reach, for "not in the recording" errors.
fn reach(entries: &[crate::recorder::Entry]) -> String {
    match (entries.first(), entries.last()) {
        (Some(first), Some(last)) => format!(
            "reaches from seq {} ({}) to seq {} ({}); older entries may have been removed \
             (recorder.keep_mb)",
            first.seq, first.t, last.seq, last.t
        ),
        _ => "is empty".into(),
    }
}

#[cfg(test)]
mod tests;
