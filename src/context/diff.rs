//! Diffs between context versions (similar): unified text and structured hunks.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

/// Lines of unchanged context around each change.
const CONTEXT_RADIUS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffLineKind {
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    /// 1-based line in the old text, for context and removed lines.
    pub old_line: Option<usize>,
    /// 1-based line in the new text, for context and added lines.
    pub new_line: Option<usize>,
    /// The line without its newline.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    /// 1-based start and length in the old text, as in a unified diff header.
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<DiffLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextDiff {
    pub agent_id: String,
    pub from: u64,
    pub to: u64,
    pub added: usize,
    pub removed: usize,
    /// The unified diff, `--- v1` / `+++ v2` headers included.
    pub unified: String,
    pub hunks: Vec<Hunk>,
}

/// Diff two texts line by line.
pub fn diff_texts(agent_id: &str, from: u64, old: &str, to: u64, new: &str) -> ContextDiff {
    let diff = TextDiff::from_lines(old, new);
    let unified = diff
        .unified_diff()
        .context_radius(CONTEXT_RADIUS)
        .header(&format!("{agent_id} v{from}"), &format!("{agent_id} v{to}"))
        .to_string();
    let mut hunks = Vec::new();
    let (mut added, mut removed) = (0, 0);
    for group in diff.grouped_ops(CONTEXT_RADIUS) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut lines = Vec::new();
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => DiffLineKind::Context,
                    ChangeTag::Insert => {
                        added += 1;
                        DiffLineKind::Added
                    }
                    ChangeTag::Delete => {
                        removed += 1;
                        DiffLineKind::Removed
                    }
                };
                let text = change.to_string_lossy();
                lines.push(DiffLine {
                    kind,
                    old_line: change.old_index().map(|i| i + 1),
                    new_line: change.new_index().map(|i| i + 1),
                    text: text.trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
        hunks.push(Hunk {
            old_start: old_range.start + 1,
            old_len: old_range.len(),
            new_start: new_range.start + 1,
            new_len: new_range.len(),
            lines,
        });
    }
    ContextDiff {
        agent_id: agent_id.to_string(),
        from,
        to,
        added,
        removed,
        unified,
        hunks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_hunks_match_the_change() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nB\nc\nd\ne\n";
        let d = diff_texts("x", 1, old, 2, new);
        assert_eq!((d.added, d.removed), (2, 1));
        assert_eq!(d.hunks.len(), 1);
        let kinds: Vec<_> = d.hunks[0].lines.iter().map(|l| l.kind).collect();
        assert!(kinds.contains(&DiffLineKind::Removed));
        assert!(d.unified.contains("-b\n"));
        assert!(d.unified.contains("+B\n"));
        assert!(d.unified.contains("+e\n"));
        assert!(d.unified.starts_with("--- x v1\n+++ x v2\n"));
    }

    #[test]
    fn identical_texts_have_no_hunks() {
        let d = diff_texts("x", 1, "same\n", 2, "same\n");
        assert!(d.hunks.is_empty());
        assert_eq!((d.added, d.removed), (0, 0));
    }
}
