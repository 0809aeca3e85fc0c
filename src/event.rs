//! `RuntimeEvent`: what the runtime tells the TUI and the CLI, over a `broadcast` channel.
//!
//! Events are small and cloned to every receiver; a lagging receiver loses the oldest ones
//! and says how many, it never blocks the runtime.

use serde::{Deserialize, Serialize};

/// What an agent is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    #[default]
    Idle,
    Recalling,
    Thinking,
    Streaming,
    CallingTool,
    /// Paused until a person approves or denies a tool call.
    Waiting,
    Error,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Recalling => "recalling",
            AgentStatus::Thinking => "thinking",
            AgentStatus::Streaming => "streaming",
            AgentStatus::CallingTool => "calling tool",
            AgentStatus::Waiting => "waiting",
            AgentStatus::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RuntimeEvent {
    /// An intent was accepted into an agent's queue.
    IntentQueued {
        agent_id: String,
        intent_id: String,
        text: String,
        operator: String,
        /// The chain the intent belongs to and how many handoffs led to it: hooks that
        /// dispatch intents continue the chain, so loops stop at `max_handoff_depth`.
        #[serde(default)]
        trace_id: Option<String>,
        #[serde(default)]
        depth: u32,
    },
    Status {
        agent_id: String,
        status: AgentStatus,
    },
    /// A piece of model output. `thinking` marks reasoning text.
    Token {
        agent_id: String,
        intent_id: String,
        text: String,
        thinking: bool,
    },
    /// The intent is done; `reply` is the whole answer.
    IntentDone {
        agent_id: String,
        intent_id: String,
        reply: String,
        context_version: u64,
        runner: String,
        model: String,
        tokens: u64,
    },
    IntentFailed {
        agent_id: String,
        intent_id: String,
        error: String,
    },
    /// A new context version was written.
    ContextUpdated {
        agent_id: String,
        version: u64,
        context_id: String,
        summary: String,
    },
    /// Goals, persona traits or protocol hooks changed.
    StateChanged { agent_id: String, part: String },
    /// A memory item was stored.
    Remembered {
        agent_id: String,
        item_id: String,
        kind: String,
        text: String,
        tags: Vec<String>,
    },
    /// The model asked for a tool; `arguments` is its JSON, shortened for display.
    ToolCalled {
        agent_id: String,
        intent_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A tool call finished; `summary` is its result or error, shortened for display.
    ToolFinished {
        agent_id: String,
        intent_id: String,
        call_id: String,
        name: String,
        ok: bool,
        summary: String,
    },
    /// A ContextHub call was audited (the record is in the audit log).
    Audited {
        agent_id: Option<String>,
        action: String,
        outcome: String,
    },
    /// An agent needs a person's look (it loops, say); the TUI marks it.
    Attention {
        agent_id: String,
        intent_id: String,
        reason: String,
    },
    /// A tool call waits for a person (the approvals view shows it, with its preview).
    ApprovalAsked {
        approval: Box<crate::approvals::PendingApproval>,
    },
    /// A hook delivery attempt ended (delivered, to be retried, waiting for a person, or
    /// dead-lettered): the goals pane shows each hook's latest.
    HookDelivery {
        delivery: Box<crate::hooks::DeliveryRow>,
    },
    /// What a recall found (the goals pane shows an agent's last one, with scores).
    Recalled {
        agent_id: String,
        /// Who asked: `agent:<id>` for an intent's own recall, `mcp:…`, `cli:…`.
        caller: String,
        query: String,
        /// The embedder that scored them, e.g. `minilm:all-MiniLM-L6-v2`.
        embedder: String,
        /// Best first, at most [`RecalledItem::MAX_SHOWN`], texts shortened.
        items: Vec<RecalledItem>,
    },
    /// It was decided, timed out or withdrawn.
    ApprovalDecided {
        id: String,
        agent_id: String,
        approved: bool,
        by: String,
    },
}

/// One recalled item as events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecalledItem {
    pub score: f32,
    pub kind: String,
    /// At most [`RecalledItem::MAX_TEXT`] characters.
    pub text: String,
}

impl RecalledItem {
    /// Items an event carries: the pane shows a handful; the full answer went to the caller.
    pub const MAX_SHOWN: usize = 10;
    /// Characters of text kept per item: enough for a line of the pane.
    pub const MAX_TEXT: usize = 200;

    pub fn of(hit: &crate::memory::ScoredItem) -> Self {
        Self {
            score: hit.score,
            kind: hit.item.kind.clone(),
            text: hit.item.text.chars().take(Self::MAX_TEXT).collect(),
        }
    }
}

impl RuntimeEvent {
    /// The agent the event is about, if any.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            RuntimeEvent::IntentQueued { agent_id, .. }
            | RuntimeEvent::Status { agent_id, .. }
            | RuntimeEvent::Token { agent_id, .. }
            | RuntimeEvent::IntentDone { agent_id, .. }
            | RuntimeEvent::IntentFailed { agent_id, .. }
            | RuntimeEvent::ContextUpdated { agent_id, .. }
            | RuntimeEvent::StateChanged { agent_id, .. }
            | RuntimeEvent::Remembered { agent_id, .. }
            | RuntimeEvent::Recalled { agent_id, .. }
            | RuntimeEvent::ToolCalled { agent_id, .. }
            | RuntimeEvent::ToolFinished { agent_id, .. }
            | RuntimeEvent::ApprovalDecided { agent_id, .. }
            | RuntimeEvent::Attention { agent_id, .. } => Some(agent_id),
            RuntimeEvent::ApprovalAsked { approval } => Some(&approval.agent_id),
            RuntimeEvent::HookDelivery { delivery } => Some(&delivery.agent_id),
            RuntimeEvent::Audited { agent_id, .. } => agent_id.as_deref(),
        }
    }

    /// The intent the event is about, if any.
    pub fn intent_id(&self) -> Option<&str> {
        match self {
            RuntimeEvent::IntentQueued { intent_id, .. }
            | RuntimeEvent::Token { intent_id, .. }
            | RuntimeEvent::IntentDone { intent_id, .. }
            | RuntimeEvent::IntentFailed { intent_id, .. }
            | RuntimeEvent::ToolCalled { intent_id, .. }
            | RuntimeEvent::ToolFinished { intent_id, .. }
            | RuntimeEvent::Attention { intent_id, .. } => Some(intent_id),
            RuntimeEvent::ApprovalAsked { approval } => Some(&approval.intent_id),
            _ => None,
        }
    }
}
