//! What `update` asks of the world outside the app (`Effect`), what a replay is asked to
//! do (`ReplayControl`), and what the player tells the app of the replay (`ReplayState`).

use chrono::{DateTime, Utc};

use super::super::why_view::WhyOf;

/// What the UI asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Dispatch {
        agent_id: String,
        text: String,
    },
    /// Goals, traits, hooks and memory count of an agent.
    LoadAgent(String),
    /// The agent's context versions, then the diff `from → to` (the latest two when
    /// `None`).
    LoadDiff {
        agent_id: String,
        range: Option<(u64, u64)>,
    },
    SaveGoals {
        agent_id: String,
        goals: Vec<String>,
    },
    AddPattern(String),
    Stop(String),
    /// Append a line to the intent history file.
    SaveHistory(String),
    /// Decide a waiting tool call.
    Decide {
        id: String,
        decision: crate::approvals::DecisionInput,
    },
    /// Build the causal chain of a row (answered with `Action::WhyTree`).
    Why(WhyOf),
    /// Move a replay's cursor or change its pace (a live runtime answers with a notice).
    Replay(ReplayControl),
}

/// The versions a `LoadDiff` compares: `range`, or the latest two (N-1 → N, or empty → N
/// when N-1 is no longer kept); `(0, 0)` when there are none. The live effect runner and a
/// replay answer the same question.
pub fn diff_range(
    range: Option<(u64, u64)>,
    versions: &[crate::context::VersionInfo],
) -> (u64, u64) {
    match (range, versions.last()) {
        (Some(r), _) => r,
        (None, Some(l)) => (
            versions.iter().rev().nth(1).map_or(0, |v| v.version),
            l.version,
        ),
        (None, None) => (0, 0),
    }
}

/// What the replay keys and commands ask of the player.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayControl {
    PlayPause,
    Faster,
    Slower,
    /// Steps of one recorded event, forward (+) or back (−).
    Step(i64),
    /// Seconds forward (+) or back (−).
    Seek(i64),
    /// To a time as typed (`HH:MM[:SS]` or RFC 3339).
    Goto(String),
    /// To the audit record with this seq.
    AuditSeq(u64),
    /// To a recording entry (a "why?" line's place).
    Entry(u64),
}

/// What the status bar says of a replay; set by the player before each frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayState {
    pub cursor: DateTime<Utc>,
    pub playing: bool,
    pub speed: f64,
    /// Events applied, of all.
    pub position: usize,
    pub total: usize,
}
