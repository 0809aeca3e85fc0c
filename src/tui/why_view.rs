//! The "why?" overlay's state: the causal chain of a row as a flat list of tree lines, one
//! selected, details (the prompt, a whole tool result) folded until asked for.

/// What a `Why` asks about, from the focused pane's selection.
pub type WhyOf = crate::why::Target;

/// The target as the notice and the overlay's title name it.
pub fn describe(of: &WhyOf) -> String {
    match of {
        WhyOf::AuditSeq(s) => format!("audit record {s}"),
        WhyOf::Intent(id) => format!("intent {id}"),
        WhyOf::Envelope(id) => format!("message {id}"),
        WhyOf::ContextVersion { agent_id, version } => format!("{agent_id} context v{version}"),
        WhyOf::Agent(a) => format!("{a}'s latest intent"),
    }
}

/// The "why?" overlay for `of` built from `entries`, or a notice saying why there is none.
pub fn answer(entries: &[crate::recorder::Entry], of: WhyOf) -> super::Action {
    let title = describe(&of);
    match crate::why::build(entries, &of) {
        Ok(tree) => super::Action::WhyTree(Box::new(WhyView::from_tree(title, &tree))),
        Err(e) => super::Action::Notice(format!("why? {title}: {e}")),
    }
}

/// One line of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct WhyLine {
    pub depth: usize,
    pub label: String,
    /// Long text shown under the line when it is unfolded.
    pub detail: Option<String>,
    /// The recording entry it came from: where a replay jumps to.
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WhyView {
    pub title: String,
    pub lines: Vec<WhyLine>,
    pub cursor: usize,
    /// Lines whose detail is unfolded.
    pub open: Vec<bool>,
}

impl WhyView {
    /// The tree as lines, depth first, every detail folded.
    pub fn from_tree(title: String, tree: &crate::why::Node) -> Self {
        let lines = crate::why::flatten(tree)
            .into_iter()
            .map(|(depth, n)| WhyLine {
                depth,
                label: n.label.clone(),
                detail: n.detail.clone(),
                seq: n.seq,
            })
            .collect();
        Self::new(title, lines)
    }

    pub fn new(title: String, lines: Vec<WhyLine>) -> Self {
        let open = vec![false; lines.len()];
        Self {
            title,
            lines,
            cursor: 0,
            open,
        }
    }

    pub fn selected(&self) -> Option<&WhyLine> {
        self.lines.get(self.cursor)
    }

    pub fn down(&mut self) {
        self.cursor = (self.cursor + 1).min(self.lines.len().saturating_sub(1));
    }

    pub fn up(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Fold or unfold the selected line's detail.
    pub fn toggle(&mut self) {
        if let Some(o) = self.open.get_mut(self.cursor) {
            *o = !*o;
        }
    }

    /// The text rows to draw, with the index of the line each belongs to.
    pub fn rows(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let fold = match (&l.detail, self.open.get(i).copied().unwrap_or(false)) {
                (Some(_), false) => "▸ ",
                (Some(_), true) => "▾ ",
                (None, _) => "  ",
            };
            out.push((
                i,
                format!(
                    "{}{fold}{}",
                    "  ".repeat(l.depth),
                    crate::sanitize::one_line(&l.label)
                ),
            ));
            if let (Some(d), true) = (&l.detail, self.open.get(i).copied().unwrap_or(false)) {
                for row in d.lines() {
                    let row = crate::sanitize::one_line(row);
                    out.push((i, format!("{}    │ {row}", "  ".repeat(l.depth))));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_unfold_under_their_line_and_escapes_are_neutralised() {
        let mut v = WhyView::new(
            "t".into(),
            vec![
                WhyLine {
                    depth: 0,
                    label: "intent \u{1b}[31mred".into(),
                    detail: None,
                    seq: Some(1),
                },
                WhyLine {
                    depth: 1,
                    label: "prompt".into(),
                    detail: Some("system\nuser".into()),
                    seq: Some(2),
                },
            ],
        );
        assert_eq!(v.rows().len(), 2);
        assert!(!v.rows()[0].1.contains('\u{1b}'));
        v.down();
        v.toggle();
        let rows = v.rows();
        assert_eq!(rows.len(), 4);
        assert!(rows[2].1.ends_with("│ system"));
        assert_eq!(rows[3].0, 1);
    }
}
