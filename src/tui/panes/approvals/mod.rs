//! The approvals view's state: the tool calls waiting for a person, oldest first, and the
//! one selected.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use super::super::action::Action;
use super::Reply;
use crate::approvals::PendingApproval;

#[derive(Debug, Clone, Default)]
pub struct ApprovalsState {
    pub waiting: Vec<PendingApproval>,
    pub cursor: usize,
}

impl ApprovalsState {
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, PendingApproval> {
        self.waiting.iter()
    }

    /// The waiting call selected.
    pub fn selected(&self) -> Option<&PendingApproval> {
        self.waiting.get(self.cursor)
    }

    /// Keep the selection on a waiting call.
    pub fn clamp(&mut self) {
        self.cursor = self.cursor.min(self.waiting.len().saturating_sub(1));
    }

    pub fn down(&mut self) {
        self.cursor += 1;
        self.clamp();
    }

    pub fn up(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// A key for this view's list: move over the waiting calls.
    pub fn action(&mut self, action: &Action) -> Reply {
        match action {
            Action::Down => self.down(),
            Action::Up => self.up(),
            _ => return Reply::Ignored,
        }
        Reply::Done
    }

    /// A call asks: it waits last (once, if asked again).
    pub fn asked(&mut self, approval: PendingApproval) {
        self.waiting.retain(|a| a.id != approval.id);
        self.waiting.push(approval);
    }

    /// A call was decided (here or elsewhere): it waits no more.
    pub fn decided(&mut self, id: &str) {
        self.waiting.retain(|a| a.id != id);
        self.clamp();
    }
}
