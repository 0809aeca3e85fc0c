//! The panes, one module each: its state with its own bounded buffers (what arrives is
//! folded in here, in `update`), how its selection moves, and its `draw` (in `draw.rs`),
//! which only reads. `agents/`, `approvals/`, `channels/`, `stream/`, `audit/`, `diff/`,
//! `goals/`; this file holds what they share.

pub(super) mod agents;
pub(super) mod approvals;
pub(super) mod audit;
pub(super) mod channels;
pub(super) mod diff;
pub(super) mod goals;
pub(super) mod stream;

pub use agents::*;
pub use approvals::*;
pub use audit::*;
pub use channels::*;
pub use diff::*;
pub use goals::*;
pub use stream::*;

use super::action::Action;

/// What a pane's key asks of the app, which owns the modes, the focus and the effects: a
/// pane changes only itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Not a key of this pane.
    Ignored,
    /// Done within the pane.
    Done,
    /// Show this whole, scrolled: a title and the text.
    Detail(String, String),
    /// Show this agent in the other panes.
    Focus(String),
    /// Load the diff between these versions of the focused agent.
    LoadDiff(u64, u64),
}

/// A list that follows its newest line (channels, audit): its keys are the same, moving
/// (to the bottom, following again) or opening the selected line whole.
pub trait FollowedList {
    fn move_by(&mut self, n: usize, down: bool);
    fn follow(&mut self);
    /// The selected line whole: a title and the text.
    fn detail(&self) -> Option<(String, String)>;

    fn list_action(&mut self, action: &Action, page: usize) -> Reply {
        if let Some((n, down)) = step_of(action, page) {
            self.move_by(n, down);
            if *action == Action::Bottom {
                self.follow();
            }
            return Reply::Done;
        }
        match action {
            Action::Open => self
                .detail()
                .map_or(Reply::Done, |(title, text)| Reply::Detail(title, text)),
            _ => Reply::Ignored,
        }
    }
}

/// How far a moving key goes, and which way: `(rows, down)`, a page being `page` rows.
pub fn step_of(action: &Action, page: usize) -> Option<(usize, bool)> {
    // The top and the bottom are "far enough": half of usize::MAX leaves room to add.
    let far = usize::MAX / 2;
    match action {
        Action::Down => Some((1, true)),
        Action::Up => Some((1, false)),
        Action::PageDown => Some((page, true)),
        Action::PageUp => Some((page, false)),
        Action::Top => Some((far, false)),
        Action::Bottom => Some((far, true)),
        _ => None,
    }
}

/// A selection in a list that can follow its newest line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    pub selected: usize,
    /// Stick to the newest line as lines arrive.
    pub follow: bool,
}

impl Cursor {
    pub fn following() -> Cursor {
        Cursor {
            selected: 0,
            follow: true,
        }
    }

    pub fn clamp(&mut self, len: usize) {
        if self.follow || self.selected >= len {
            self.selected = len.saturating_sub(1);
        }
    }

    pub fn down(&mut self, n: usize, len: usize) {
        self.selected = (self.selected + n).min(len.saturating_sub(1));
        self.follow = self.selected + 1 >= len;
    }

    pub fn up(&mut self, n: usize) {
        self.selected = self.selected.saturating_sub(n);
        self.follow = false;
    }

    /// `n` down (in a list of `len`) or up: a pane's selection moved by the keys.
    pub fn move_by(&mut self, n: usize, down: bool, len: usize) {
        if down { self.down(n, len) } else { self.up(n) }
    }
}

/// A filter: space-separated words; `key:value` words go to `field` (None = not a field,
/// then the word is matched as text); other words must appear in `text`, ignoring case.
pub fn filter_matches(
    filter: &str,
    field: impl Fn(&str, &str) -> Option<bool>,
    text: &str,
) -> bool {
    let lower = text.to_lowercase();
    filter.split_whitespace().all(|w| {
        if let Some((k, v)) = w.split_once(':')
            && let Some(hit) = field(k, v)
        {
            return hit;
        }
        lower.contains(&w.to_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_fields_and_words() {
        let hit = |f: &str| {
            filter_matches(
                f,
                |k, v| (k == "agent").then(|| "ops-agent".contains(v)),
                "intent Deploy staging",
            )
        };
        assert!(hit("deploy"));
        assert!(hit("agent:ops deploy"));
        assert!(!hit("agent:sec"));
        assert!(!hit("rollback"));
    }
}
