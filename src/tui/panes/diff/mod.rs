//! The context diff pane's state: two versions of an agent's context, as rows.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use similar::{ChangeTag, TextDiff};

use super::super::action::Action;
use super::super::why_view::WhyOf;
use super::{Reply, step_of};

use crate::context::{ContextDiff, DiffLineKind, VersionInfo};
use crate::sanitize::one_line;

/// A piece of a diff line: text, and whether it is a changed word.
pub type Segment = (String, bool);

#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    pub kind: DiffLineKind,
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub segments: Vec<Segment>,
    /// A hunk header row (`@@ -a,b +c,d @@`).
    pub header: Option<String>,
}

/// One row of the side-by-side view: the old side and the new side.
#[derive(Debug, Clone, PartialEq)]
pub struct SideRow {
    pub left: Option<DiffRow>,
    pub right: Option<DiffRow>,
    pub header: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DiffState {
    pub agent_id: String,
    pub versions: Vec<VersionInfo>,
    /// The versions compared (0 = empty, before version 1).
    pub from: u64,
    pub to: u64,
    pub diff: Option<ContextDiff>,
    pub rows: Vec<DiffRow>,
    pub side: Vec<SideRow>,
    /// Indexes into `rows` (or `side`) where each hunk starts.
    pub hunk_starts: Vec<usize>,
    pub side_hunk_starts: Vec<usize>,
    pub scroll: usize,
    pub side_by_side: bool,
}

/// Word-level segments for a removed/added pair of lines.
fn word_segments(old: &str, new: &str) -> (Vec<Segment>, Vec<Segment>) {
    let d = TextDiff::from_words(old, new);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for c in d.iter_all_changes() {
        let t = c.value().to_string();
        match c.tag() {
            ChangeTag::Equal => {
                l.push((t.clone(), false));
                r.push((t, false));
            }
            ChangeTag::Delete => l.push((t, true)),
            ChangeTag::Insert => r.push((t, true)),
        }
    }
    (l, r)
}

impl DiffState {
    pub fn set_versions(&mut self, agent_id: &str, versions: Vec<VersionInfo>) {
        if self.agent_id != agent_id {
            *self = DiffState {
                side_by_side: self.side_by_side,
                ..DiffState::default()
            };
            self.agent_id = agent_id.to_string();
        }
        self.versions = versions;
    }

    /// The newest kept version, 0 when none.
    pub fn latest(&self) -> u64 {
        self.versions.last().map_or(0, |v| v.version)
    }

    /// Versions that can be diffed from: 0 (empty) and every kept one.
    pub fn choices(&self) -> Vec<u64> {
        let mut c = vec![0];
        c.extend(self.versions.iter().map(|v| v.version));
        c
    }

    pub fn info(&self, version: u64) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub fn set_diff(&mut self, diff: ContextDiff) {
        self.rows.clear();
        self.side.clear();
        self.hunk_starts.clear();
        self.side_hunk_starts.clear();
        for h in &diff.hunks {
            let header = format!(
                "@@ -{},{} +{},{} @@",
                h.old_start, h.old_len, h.new_start, h.new_len
            );
            self.hunk_starts.push(self.rows.len());
            self.side_hunk_starts.push(self.side.len());
            self.rows.push(DiffRow {
                kind: DiffLineKind::Context,
                old_line: None,
                new_line: None,
                segments: Vec::new(),
                header: Some(header.clone()),
            });
            self.side.push(SideRow {
                left: None,
                right: None,
                header: Some(header),
            });
            let mut i = 0;
            while i < h.lines.len() {
                let line = &h.lines[i];
                if line.kind == DiffLineKind::Context {
                    let row = DiffRow {
                        kind: line.kind,
                        old_line: line.old_line,
                        new_line: line.new_line,
                        segments: vec![(one_line(&line.text), false)],
                        header: None,
                    };
                    self.side.push(SideRow {
                        left: Some(row.clone()),
                        right: Some(row.clone()),
                        header: None,
                    });
                    self.rows.push(row);
                    i += 1;
                    continue;
                }
                // A run of removed lines then added lines: pair them up for word diffs.
                let start = i;
                while i < h.lines.len() && h.lines[i].kind == DiffLineKind::Removed {
                    i += 1;
                }
                let mid = i;
                while i < h.lines.len() && h.lines[i].kind == DiffLineKind::Added {
                    i += 1;
                }
                let removed = &h.lines[start..mid];
                let added = &h.lines[mid..i];
                let mut left_rows = Vec::new();
                let mut right_rows = Vec::new();
                for k in 0..removed.len().max(added.len()) {
                    let (ls, rs) = match (removed.get(k), added.get(k)) {
                        (Some(o), Some(n)) => word_segments(&one_line(&o.text), &one_line(&n.text)),
                        (Some(o), None) => (vec![(one_line(&o.text), false)], Vec::new()),
                        (None, Some(n)) => (Vec::new(), vec![(one_line(&n.text), false)]),
                        (None, None) => (Vec::new(), Vec::new()),
                    };
                    if let Some(o) = removed.get(k) {
                        left_rows.push(DiffRow {
                            kind: DiffLineKind::Removed,
                            old_line: o.old_line,
                            new_line: None,
                            segments: ls,
                            header: None,
                        });
                    }
                    if let Some(n) = added.get(k) {
                        right_rows.push(DiffRow {
                            kind: DiffLineKind::Added,
                            old_line: None,
                            new_line: n.new_line,
                            segments: rs,
                            header: None,
                        });
                    }
                }
                for k in 0..left_rows.len().max(right_rows.len()) {
                    self.side.push(SideRow {
                        left: left_rows.get(k).cloned(),
                        right: right_rows.get(k).cloned(),
                        header: None,
                    });
                }
                self.rows.extend(left_rows);
                self.rows.extend(right_rows);
            }
        }
        self.from = diff.from;
        self.to = diff.to;
        self.diff = Some(diff);
        self.scroll = 0;
    }

    fn starts(&self) -> &[usize] {
        if self.side_by_side {
            &self.side_hunk_starts
        } else {
            &self.hunk_starts
        }
    }

    pub fn next_hunk(&mut self) {
        if let Some(s) = self.starts().iter().find(|s| **s > self.scroll) {
            self.scroll = *s;
        }
    }

    pub fn prev_hunk(&mut self) {
        if let Some(s) = self.starts().iter().rev().find(|s| **s < self.scroll) {
            self.scroll = *s;
        }
    }

    /// Which hunk the view is at (1-based) and how many there are.
    pub fn hunk_position(&self) -> (usize, usize) {
        let starts = self.starts();
        let at = starts.iter().filter(|s| **s <= self.scroll).count();
        (at.max(usize::from(!starts.is_empty())), starts.len())
    }

    pub fn len(&self) -> usize {
        if self.side_by_side {
            self.side.len()
        } else {
            self.rows.len()
        }
    }

    /// The versions to compare next: `[` (`older`) moves the start to an older version,
    /// `]` to a newer one; the end stays the newest unless the start reaches it. `None`
    /// when there is nothing to step between.
    pub fn step(&self, older: bool) -> Option<(u64, u64)> {
        let choices = self.choices();
        if choices.len() < 2 {
            return None;
        }
        let to = if self.to == 0 { self.latest() } else { self.to };
        let pos = choices.iter().position(|v| *v == self.from).unwrap_or(0);
        let from = if older {
            choices[pos.saturating_sub(1)]
        } else {
            choices[(pos + 1).min(choices.len() - 1)]
        };
        Some(if from >= to {
            // Past the end: move the window, N-1 → N.
            let i = choices.iter().position(|v| *v == from).unwrap_or(0);
            match choices.get(i + 1) {
                Some(n) => (from, *n),
                None => (choices[choices.len() - 2], from),
            }
        } else {
            (from, to)
        })
    }

    /// Scroll `n` rows down or up, within the diff.
    pub fn move_by(&mut self, n: usize, down: bool) {
        let len = self.len();
        self.scroll = if down {
            (self.scroll.saturating_add(n)).min(len.saturating_sub(1))
        } else {
            self.scroll.saturating_sub(n)
        };
    }

    /// A key for this pane: scroll, jump between hunks, switch the view, or step the
    /// compared versions (the app loads them).
    pub fn action(&mut self, action: &Action, page: usize) -> Reply {
        if let Some((n, down)) = step_of(action, page) {
            self.move_by(n, down);
            return Reply::Done;
        }
        match action {
            Action::NextHunk => self.next_hunk(),
            Action::PrevHunk => self.prev_hunk(),
            Action::ToggleDiffView => self.toggle_view(),
            Action::OlderVersion | Action::NewerVersion => {
                return match self.step(*action == Action::OlderVersion) {
                    Some((from, to)) => Reply::LoadDiff(from, to),
                    None => Reply::Done,
                };
            }
            _ => return Reply::Ignored,
        }
        Reply::Done
    }

    /// What "why?" asks about here: the version shown, once there is one.
    pub fn why_of(&self) -> Option<WhyOf> {
        (self.to > 0).then(|| WhyOf::ContextVersion {
            agent_id: self.agent_id.clone(),
            version: self.to,
        })
    }

    pub fn toggle_view(&mut self) {
        // Stay on the same hunk when switching.
        let (at, _) = self.hunk_position();
        self.side_by_side = !self.side_by_side;
        self.scroll = self
            .starts()
            .get(at.saturating_sub(1))
            .copied()
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::diff_texts;

    #[test]
    fn diff_rows_pair_changed_lines_and_mark_changed_words() {
        let d = diff_texts(
            "a",
            1,
            "one\ntwo three\nfour\n",
            2,
            "one\ntwo 3\nfour\nfive\n",
        );
        let mut st = DiffState::default();
        st.set_diff(d);
        let removed = st
            .rows
            .iter()
            .find(|r| r.kind == DiffLineKind::Removed)
            .unwrap();
        assert!(removed.segments.contains(&("three".to_string(), true)));
        assert!(removed.segments.contains(&("two".to_string(), false)));
        assert_eq!(st.hunk_starts.len(), 1);
        // Side by side: the pair sits on one row.
        assert!(st.side.iter().any(|r| {
            r.left
                .as_ref()
                .is_some_and(|l| l.kind == DiffLineKind::Removed)
                && r.right
                    .as_ref()
                    .is_some_and(|r| r.kind == DiffLineKind::Added)
        }));
    }

    #[test]
    fn version_steps_move_the_start_and_keep_the_end_newest() {
        let mut st = DiffState::default();
        let versions = (1..=3)
            .map(|version| VersionInfo {
                version,
                context_id: "c".into(),
                created_at: String::new(),
                summary: String::new(),
                cause: Default::default(),
                lines: 0,
            })
            .collect();
        st.set_versions("a", versions);
        // Nothing loaded yet: the end is the newest.
        assert_eq!(st.step(true), Some((0, 3)));
        (st.from, st.to) = (2, 3);
        assert_eq!(st.step(true), Some((1, 3)));
        // The start reaching the end moves the window: N-1 → N.
        assert_eq!(st.step(false), Some((2, 3)));
        (st.from, st.to) = (1, 2);
        assert_eq!(st.step(false), Some((2, 3)));
        st.set_versions("b", Vec::new());
        assert_eq!(st.step(true), None);
    }
}
