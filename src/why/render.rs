//! Showing a tree: as text with `├─ └─ │` (details indented beneath when expanded), or as
//! a flat list of (depth, node) for a TUI. Every piece of recorded text is sanitized here:
//! a model's output or a bus message never reaches a terminal with its escape sequences.

use super::Node;
use crate::sanitize::{for_terminal, one_line};

/// The tree as text; `expanded` adds each node's detail beneath it.
pub fn render(node: &Node, expanded: bool) -> String {
    let mut out = String::new();
    line(&mut out, "", node);
    if expanded {
        detail(&mut out, &child_prefix("", node), node);
    }
    children(&mut out, "", node, expanded);
    out
}

fn children(out: &mut String, prefix: &str, node: &Node, expanded: bool) {
    let n = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == n;
        let (branch, cont) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        line(out, &format!("{prefix}{branch}"), child);
        let below = format!("{prefix}{cont}");
        if expanded {
            detail(out, &child_prefix(&below, child), child);
        }
        children(out, &below, child, expanded);
    }
}

/// What goes before a node's detail lines: the bar to its children, if it has any.
fn child_prefix(prefix: &str, node: &Node) -> String {
    if node.children.is_empty() {
        format!("{prefix}   ")
    } else {
        format!("{prefix}│  ")
    }
}

fn line(out: &mut String, prefix: &str, node: &Node) {
    out.push_str(prefix);
    out.push_str(&one_line(&node.label));
    let mut at = Vec::new();
    if let Some(seq) = node.seq {
        at.push(format!("#{seq}"));
    }
    if let Some(t) = &node.t {
        at.push(clock(t));
    }
    if !at.is_empty() {
        out.push_str(&format!("  [{}]", one_line(&at.join(" "))));
    }
    out.push('\n');
}

fn detail(out: &mut String, prefix: &str, node: &Node) {
    let Some(d) = &node.detail else { return };
    for l in for_terminal(d).lines() {
        out.push_str(prefix);
        out.push_str("┆ ");
        out.push_str(l);
        out.push('\n');
    }
}

/// `HH:MM:SS.mmm` of an RFC 3339 time, or the text as it is.
fn clock(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(t) => t.format("%H:%M:%S%.3f").to_string(),
        Err(_) => t.to_string(),
    }
}

/// Every node with its depth, depth first in order: the rows of a TUI list.
pub fn flatten(node: &Node) -> Vec<(usize, &Node)> {
    let mut out = Vec::new();
    let mut stack = vec![(0usize, node)];
    while let Some((depth, n)) = stack.pop() {
        out.push((depth, n));
        for child in n.children.iter().rev() {
            stack.push((depth + 1, child));
        }
    }
    out
}
