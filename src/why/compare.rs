//! Two trees side by side: nodes aligned by kind and order, and the rows where what
//! matters differs (what recall found, a tool's arguments, a context diff, an intent's
//! text) marked. Also the specs `aios replay --diff A B` takes: an intent id, or a time
//! range whose intents are compared pairwise in order.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::build::tree_of_intent;
use super::index::Index;
use super::resolve::intent_named;
use super::{Node, WhyError};
use crate::recorder::{Entry, Kind};
use crate::sanitize::one_line;

/// One line of a side-by-side comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The left tree's node, indented by its depth; `None` when only the right has one.
    pub left: Option<String>,
    pub right: Option<String>,
    pub differs: bool,
}

/// Align `a` and `b` node by node.
pub fn compare(a: &Node, b: &Node) -> Vec<Row> {
    let mut rows = Vec::new();
    pair(&mut rows, 0, a, b);
    rows
}

fn text_of(depth: usize, n: &Node) -> String {
    format!("{}{}", "  ".repeat(depth), one_line(&n.label))
}

fn pair(rows: &mut Vec<Row>, depth: usize, a: &Node, b: &Node) {
    rows.push(Row {
        left: Some(text_of(depth, a)),
        right: Some(text_of(depth, b)),
        differs: a.kind != b.kind || a.compare_key != b.compare_key,
    });
    let matched = align(&a.children, &b.children);
    let (mut i, mut j) = (0, 0);
    for (mi, mj) in matched
        .into_iter()
        .chain([(a.children.len(), b.children.len())])
    {
        while i < mi {
            one_sided(rows, depth + 1, &a.children[i], true);
            i += 1;
        }
        while j < mj {
            one_sided(rows, depth + 1, &b.children[j], false);
            j += 1;
        }
        if mi < a.children.len() && mj < b.children.len() {
            pair(rows, depth + 1, &a.children[mi], &b.children[mj]);
            i = mi + 1;
            j = mj + 1;
        }
    }
}

/// A node (and everything under it) only one side has.
fn one_sided(rows: &mut Vec<Row>, depth: usize, n: &Node, left: bool) {
    for (d, node) in super::flatten(n) {
        let text = Some(text_of(depth + d, node));
        rows.push(if left {
            Row {
                left: text,
                right: None,
                differs: true,
            }
        } else {
            Row {
                left: None,
                right: text,
                differs: true,
            }
        });
    }
}

/// The longest common subsequence of the two lists' kinds, as index pairs in order.
fn align(a: &[Node], b: &[Node]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut best = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            best[i][j] = if a[i].kind == b[j].kind {
                best[i + 1][j + 1] + 1
            } else {
                best[i + 1][j].max(best[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i].kind == b[j].kind {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if best[i + 1][j] >= best[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The rows side by side in `width` columns, differing rows marked `≠` in the gutter.
pub fn render_compare(rows: &[Row], width: usize) -> String {
    let col = width.saturating_sub(3).max(20) / 2;
    let mut out = String::new();
    for r in rows {
        let left = fit(r.left.as_deref().unwrap_or(""), col);
        let right = fit(r.right.as_deref().unwrap_or(""), col);
        let gutter = if r.differs { " ≠ " } else { "   " };
        out.push_str(format!("{left}{gutter}{right}").trim_end());
        out.push('\n');
    }
    out
}

/// `s` cut or padded to exactly `width` characters.
fn fit(s: &str, width: usize) -> String {
    let s = one_line(s);
    let n = s.chars().count();
    if n > width {
        let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// The trees a spec names: one intent (an id or a unique prefix of one), or the intents
/// queued within `FROM..TO` (RFC 3339, or `HH:MM[:SS]` of the recording's day; either
/// side may be left open), in order.
pub fn resolve_spec(entries: &[Entry], spec: &str) -> Result<Vec<Node>, WhyError> {
    let ix = Index::new(entries);
    let spec = spec.trim();
    let Some((from, to)) = spec.split_once("..") else {
        let id = intent_named(&ix, spec)?;
        return Ok(vec![tree_of_intent(&ix, &id)]);
    };
    let bad = |why: String| WhyError::BadSpec {
        spec: spec.to_string(),
        why,
    };
    let day = entries
        .iter()
        .find_map(Entry::time)
        .map(|t| t.date_naive())
        .ok_or_else(|| bad("the recording has no entry with a time".into()))?;
    let from = bound(from, day).map_err(&bad)?;
    let to = bound(to, day).map_err(&bad)?;
    let queued: Vec<&String> = ix
        .order
        .iter()
        .filter(|id| {
            let Some(info) = ix.intents.get(*id) else {
                return false;
            };
            // When it was queued: the queued event, else its first mention.
            let at = entries
                .get(ix.queued_at.get(*id).copied().unwrap_or(info.first))
                .filter(|e| e.kind != Kind::Stop)
                .and_then(Entry::time);
            at.is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|u| t <= u))
        })
        .collect();
    if queued.is_empty() {
        return Err(WhyError::NotFound {
            what: format!("an intent queued within {spec}"),
            reach: super::reach(entries),
        });
    }
    Ok(queued
        .into_iter()
        .map(|id| tree_of_intent(&ix, id))
        .collect())
}

/// One side of a range: empty (open), RFC 3339, or a time of `day` (UTC).
fn bound(text: &str, day: NaiveDate) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map(|t| Some(day.and_time(t).and_utc()))
        .map_err(|_| format!("`{text}` is not RFC 3339 nor HH:MM[:SS]"))
}
