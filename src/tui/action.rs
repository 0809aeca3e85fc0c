//! `Action`: everything that can change the UI's state. The keymap turns keys into actions
//! (by name, so a config can rebind them); panes never match raw keys. Variants that carry
//! data come from the runtime, the bus, the audit log or the effect runner, not from keys.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::audit::AuditRecord;
use crate::bus::Received;
use crate::context::{AgentState, ContextDiff, VersionInfo};
use crate::event::RuntimeEvent;

/// The six panes, in the order `1`–`6` jump to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pane {
    Agents,
    Goals,
    Channels,
    Diff,
    Stream,
    Audit,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Agents,
        Pane::Goals,
        Pane::Channels,
        Pane::Diff,
        Pane::Stream,
        Pane::Audit,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Agents => "Agents",
            Pane::Goals => "Goals",
            Pane::Channels => "Channels",
            Pane::Diff => "Context diff",
            Pane::Stream => "Token stream",
            Pane::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Quit (asks first while generations run).
    Quit,
    /// Move the selection down in the focused pane.
    Down,
    /// Move the selection up in the focused pane.
    Up,
    /// Scroll a page down.
    PageDown,
    /// Scroll a page up.
    PageUp,
    /// Jump to the top.
    Top,
    /// Jump to the newest line and follow.
    Bottom,
    /// Open: focus the agent, or show the full message or record.
    Open,
    /// Close an overlay, a prompt or a filter.
    Back,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Focus one pane.
    Focus(Pane),
    /// Zoom the focused pane to the whole screen, or back.
    Zoom,
    /// Show or hide the help.
    Help,
    /// Type an intent: `@agent-id text`.
    Intent,
    /// Command mode: `:theme`, `:goal add`, `:channel add`, `:pause`, `:quit`.
    Command,
    /// Filter the focused pane.
    Filter,
    /// Pause or resume the channels pane.
    Pause,
    /// Stop the selected agent's generation.
    Stop,
    /// Edit the selected agent's goals.
    EditGoals,
    /// The tool calls waiting for a person: preview, approve, deny, edit.
    Approvals,
    /// Jump to the next agent that needs a person (waiting, looping, stalled, failed).
    NextAttention,
    /// Diff: next hunk.
    NextHunk,
    /// Diff: previous hunk.
    PrevHunk,
    /// Diff: compare from an older version.
    OlderVersion,
    /// Diff: compare from a newer version.
    NewerVersion,
    /// Diff: unified or side by side.
    ToggleDiffView,
    /// Why? The causal chain of the selected row (audit record, message, version, agent).
    Why,
    /// Replay: play faster.
    Faster,
    /// Replay: play slower.
    Slower,
    /// Replay: to the next recorded event.
    StepForward,
    /// Replay: back one recorded event.
    StepBack,
    /// Replay: ten seconds back.
    SeekBack,
    /// Replay: ten seconds on.
    SeekForward,

    // —— not bindable: what the loop and the background tasks send ——
    /// Time moved on (clock, rates, ages).
    #[serde(skip)]
    Tick(DateTime<Utc>),
    /// The bus's connection state.
    #[serde(skip)]
    BusState(String),
    #[serde(skip)]
    Runtime(Box<RuntimeEvent>),
    /// The UI fell behind and this many runtime events were dropped.
    #[serde(skip)]
    Dropped(u64),
    #[serde(skip)]
    Bus(Received),
    /// Bus messages lost because the UI's receiver lagged.
    #[serde(skip)]
    BusDropped(u64),
    #[serde(skip)]
    Audit(Arc<AuditRecord>),
    /// The audit chain's state: `None` verified, `Some(seq)` broken at that record.
    #[serde(skip)]
    AuditChain {
        records: u64,
        broken_at: Option<u64>,
    },
    #[serde(skip)]
    AgentLoaded(Box<AgentState>),
    #[serde(skip)]
    Versions {
        agent_id: String,
        versions: Vec<VersionInfo>,
    },
    #[serde(skip)]
    Diff(Box<ContextDiff>),
    /// A message for the operator (errors of effects, confirmations).
    #[serde(skip)]
    Notice(String),
    /// The causal chain asked for with `Why`, ready to show.
    #[serde(skip)]
    WhyTree(Box<super::why_view::WhyView>),
    /// A terminal key that the focused text input takes.
    #[serde(skip)]
    Key(ratatui::crossterm::event::KeyEvent),
    /// Mouse: wheel and clicks at a cell.
    #[serde(skip)]
    Mouse(ratatui::crossterm::event::MouseEvent),
    #[serde(skip)]
    Resize(u16, u16),
    /// A key with no binding.
    #[serde(skip)]
    None,
}

impl Action {
    /// Keys that change the runtime (an intent, a stop, goals): hidden and refused in a
    /// read-only control center. A command line (`:`) may change things too; what it would
    /// change is refused where it becomes an effect.
    pub fn changes(&self) -> bool {
        matches!(self, Action::Intent | Action::Stop | Action::EditGoals)
    }
}

impl Action {
    /// The help line of a bindable action.
    pub fn describe(&self) -> String {
        match self {
            Action::Quit => "quit".into(),
            Action::Down => "down / next".into(),
            Action::Up => "up / previous".into(),
            Action::PageDown => "page down".into(),
            Action::PageUp => "page up".into(),
            Action::Top => "top".into(),
            Action::Bottom => "bottom, follow".into(),
            Action::Open => "focus agent / open full message or record".into(),
            Action::Back => "close / cancel".into(),
            Action::FocusNext => "next pane".into(),
            Action::FocusPrev => "previous pane".into(),
            Action::Focus(p) => format!("go to {}", p.title()),
            Action::Zoom => "zoom the focused pane".into(),
            Action::Help => "this help".into(),
            Action::Intent => "send an intent (@agent text)".into(),
            Action::Command => "command mode".into(),
            Action::Filter => "filter the focused pane".into(),
            Action::Pause => "pause / resume channels (replay: play / pause)".into(),
            Action::Stop => "stop the agent's generation".into(),
            Action::EditGoals => "edit goals".into(),
            Action::Approvals => "approvals waiting for you".into(),
            Action::NextAttention => "next agent needing attention".into(),
            Action::NextHunk => "next hunk".into(),
            Action::PrevHunk => "previous hunk".into(),
            Action::OlderVersion => "diff from an older version".into(),
            Action::NewerVersion => "diff from a newer version".into(),
            Action::ToggleDiffView => "unified / side by side".into(),
            Action::Why => "why? the causal chain of the selected row".into(),
            Action::Faster => "replay: faster".into(),
            Action::Slower => "replay: slower".into(),
            Action::StepForward => "replay: next event".into(),
            Action::StepBack => "replay: previous event".into(),
            Action::SeekBack => "replay: 10 s back".into(),
            Action::SeekForward => "replay: 10 s on".into(),
            other => format!("{other:?}"),
        }
    }
}
