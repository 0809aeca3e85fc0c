//! The audit pane's state: the tail of the audit log and its live hash-chain check.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use std::collections::VecDeque;
use std::sync::Arc;

use super::super::action::Action;
use super::super::why_view::WhyOf;
use super::{Cursor, FollowedList, Reply, filter_matches};
use crate::audit::AuditRecord;

#[derive(Debug, Clone, Default)]
pub struct AuditState {
    pub records: VecDeque<Arc<AuditRecord>>,
    /// Records in the log (not only those kept here).
    pub total: u64,
    /// `Some(seq)`: the chain breaks at that record.
    pub broken_at: Option<u64>,
    /// Whether the startup verification has answered.
    pub verified: bool,
    pub last_hash: Option<String>,
    pub filter: String,
    pub cursor: Cursor,
    pub visible: Vec<usize>,
}

impl AuditState {
    pub fn ingest(&mut self, r: Arc<AuditRecord>, max_lines: usize) {
        // Live chain check: each record must link to the previous and hash to itself.
        if self.broken_at.is_none() {
            let links = self.last_hash.as_ref().is_none_or(|h| *h == r.prev_hash);
            if !links || !r.hash_matches() {
                self.broken_at = Some(r.seq);
            }
        }
        self.last_hash = Some(r.hash.clone());
        self.total = self.total.max(r.seq + 1);
        if self.records.len() >= max_lines {
            self.records.pop_front();
            self.records.push_back(r);
            self.refilter();
        } else {
            self.records.push_back(r);
            let i = self.records.len() - 1;
            if self.passes(&self.records[i]) {
                self.visible.push(i);
            }
            self.cursor.clamp(self.visible.len());
        }
    }

    fn passes(&self, r: &AuditRecord) -> bool {
        let text = format!(
            "{} {} {} {}",
            r.action,
            r.agent_id.as_deref().unwrap_or("-"),
            r.caller,
            r.error.as_deref().unwrap_or("")
        );
        filter_matches(
            &self.filter,
            |k, v| match k {
                "agent" => Some(r.agent_id.as_deref().is_some_and(|a| a.contains(v))),
                "action" => Some(r.action.contains(v)),
                _ => None,
            },
            &text,
        )
    }

    /// The startup verification answered: the log's size, and where the chain breaks.
    pub fn chain_checked(&mut self, records: u64, broken_at: Option<u64>) {
        self.total = self.total.max(records);
        self.verified = true;
        if broken_at.is_some() {
            self.broken_at = broken_at;
        }
    }

    pub fn set_filter(&mut self, f: String) {
        self.filter = f;
        self.cursor = Cursor::following();
        self.refilter();
    }

    pub fn refilter(&mut self) {
        self.visible = (0..self.records.len())
            .filter(|i| self.passes(&self.records[*i]))
            .collect();
        self.cursor.clamp(self.visible.len());
    }

    pub fn selected(&self) -> Option<&Arc<AuditRecord>> {
        self.visible
            .get(self.cursor.selected)
            .and_then(|i| self.records.get(*i))
    }

    /// A key for this pane: move (to the bottom, following again), or open the selected
    /// record whole.
    pub fn action(&mut self, action: &Action, page: usize) -> Reply {
        self.list_action(action, page)
    }

    /// What "why?" asks about here: the selected record.
    pub fn why_of(&self) -> Option<WhyOf> {
        self.selected().map(|r| WhyOf::AuditSeq(r.seq))
    }

    pub fn chain_label(&self) -> String {
        match (self.broken_at, self.verified) {
            (Some(n), _) => format!("chain broken at record {n}"),
            (None, true) => "chain verified".into(),
            (None, false) => "chain checking…".into(),
        }
    }
}

impl FollowedList for AuditState {
    /// Move the selection `n` records down or up.
    fn move_by(&mut self, n: usize, down: bool) {
        self.cursor.move_by(n, down, self.visible.len());
    }

    /// Stick to the newest record again.
    fn follow(&mut self) {
        self.cursor.follow = true;
    }

    /// The selected record, whole: a title and the text for the detail overlay.
    fn detail(&self) -> Option<(String, String)> {
        self.selected().map(|r| {
            (
                format!("audit record {}", r.seq),
                serde_json::to_string_pretty(r.as_ref()).unwrap_or_default(),
            )
        })
    }
}
