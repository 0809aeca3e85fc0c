//! The modes (what the keyboard is talking to), and the keys of the overlays that are the
//! app's own: help, the quit question, a message or record shown whole, "why?". The text
//! inputs' keys are in `prompt.rs`, goal editing's in `goals.rs`, the approvals view's in
//! `approvals.rs`.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::super::why_view::WhyView;
use super::{Action, App, Effect, Pane, ReplayControl};

/// What the keyboard is talking to.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a filter for a pane.
    Filter(Pane),
    Prompt,
    Command,
    EditGoals,
    /// A full message or record, scrolled.
    Detail {
        title: String,
        text: String,
        scroll: usize,
    },
    ConfirmQuit,
    /// The approvals view: waiting calls and the selected one's preview.
    Approvals,
    /// Typing why the selected call is denied.
    DenyReason,
    /// Editing the selected call's arguments (JSON) before approving them.
    EditArguments,
    /// The causal chain of a row ("why?").
    Why(WhyView),
}

impl App {
    /// Any key closes the help; the quit key still quits.
    pub(super) fn help_key(&mut self, key: KeyEvent) -> bool {
        let a = self.keymap.action(&key);
        if matches!(a, Action::Quit) {
            return self.command(Action::Quit);
        }
        self.mode = Mode::Normal;
        true
    }

    /// `y` quits (and stops the busy agents); any other key stays.
    pub(super) fn confirm_quit_key(&mut self, key: KeyEvent) -> bool {
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            self.quit = true;
        }
        self.mode = Mode::Normal;
        true
    }

    /// Scroll a message or record shown whole; the quit, back and open keys close it.
    pub(super) fn detail_key(
        &mut self,
        title: String,
        text: String,
        scroll: usize,
        key: KeyEvent,
    ) -> bool {
        let lines = text.lines().count();
        let scroll = match self.keymap.action(&key) {
            Action::Down => (scroll + 1).min(lines.saturating_sub(1)),
            Action::Up => scroll.saturating_sub(1),
            Action::PageDown => (scroll + 10).min(lines.saturating_sub(1)),
            Action::PageUp => scroll.saturating_sub(10),
            Action::Top => 0,
            Action::Quit | Action::Back | Action::Open => {
                self.mode = Mode::Normal;
                return true;
            }
            _ => scroll,
        };
        self.mode = Mode::Detail {
            title,
            text,
            scroll,
        };
        true
    }

    /// Keys in the "why?" view: move, unfold a detail, jump a replay to a line's place.
    pub(super) fn why_key(&mut self, mut view: WhyView, key: KeyEvent) -> bool {
        match self.keymap.action(&key) {
            Action::Down => view.down(),
            Action::Up => view.up(),
            Action::Pause => view.toggle(),
            Action::Open => match (view.selected().and_then(|l| l.seq), self.replay.is_some()) {
                (Some(seq), true) => {
                    self.effects.push(Effect::Replay(ReplayControl::Entry(seq)));
                    self.mode = Mode::Normal;
                    return true;
                }
                _ => view.toggle(),
            },
            Action::Quit | Action::Back | Action::Why => {
                self.mode = Mode::Normal;
                return true;
            }
            _ => return false,
        }
        self.mode = Mode::Why(view);
        true
    }
}
