//! Drawing the context diff pane: versions, what caused the newer one, and the diff — unified or
//! side by side, changed words highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::DiffRow;
use crate::context::DiffLineKind;
use crate::sanitize::one_line;
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view::{fit, pane_block};

fn row_spans(t: &Theme, row: &DiffRow, width: usize) -> Vec<Span<'static>> {
    let (sign, base): (&str, Style) = match row.kind {
        DiffLineKind::Added => ("+", t.diff_add()),
        DiffLineKind::Removed => ("-", t.diff_remove()),
        DiffLineKind::Context => (" ", t.text()),
    };
    let num = row
        .new_line
        .or(row.old_line)
        .map(|n| format!("{n:>4}"))
        .unwrap_or_else(|| "    ".into());
    let mut spans = vec![
        Span::styled(num, t.dim()),
        Span::styled(sign.to_string(), base),
    ];
    let mut left = width.saturating_sub(5);
    for (text, changed) in &row.segments {
        if left == 0 {
            break;
        }
        let piece: String = text.chars().take(left).collect();
        left -= piece.chars().count();
        let style = if *changed {
            t.diff_word(row.kind == DiffLineKind::Added)
        } else {
            base
        };
        spans.push(Span::styled(piece, style));
    }
    spans
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let d = &app.diff;
    let t = &app.theme;
    let (at, hunks) = d.hunk_position();
    let extra = match &d.diff {
        Some(diff) => format!(
            "v{} → v{} · +{} -{} · hunk {at}/{hunks} · {}",
            diff.from,
            diff.to,
            diff.added,
            diff.removed,
            if d.side_by_side {
                "side by side"
            } else {
                "unified"
            }
        ),
        None => String::new(),
    };
    let block = pane_block(app, Pane::Diff, extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    if d.versions.is_empty() {
        lines.push(Line::from(Span::styled(
            "no context versions yet: dispatch an intent (i)",
            t.dim(),
        )));
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    // The version strip: the compared pair stands out.
    let mut strip = vec![Span::styled("versions ", t.accent())];
    for v in d.versions.iter().rev().take(12).rev() {
        let style = if v.version == d.from || v.version == d.to {
            t.selection()
        } else {
            t.dim()
        };
        strip.push(Span::styled(format!("v{}", v.version), style));
        strip.push(Span::raw(" "));
    }
    strip.push(Span::styled("([ ] pick, s view, n/p hunk)", t.dim()));
    lines.push(Line::from(strip));
    if let Some(info) = d.info(d.to) {
        let mut cause = format!("v{} by {}", info.version, one_line(&info.cause.caller));
        if let Some(i) = &info.cause.intent_id {
            cause.push_str(&format!(" · intent {}", one_line(&i[..i.len().min(13)])));
        }
        if let Some(tool) = &info.cause.tool {
            cause.push_str(&format!(" · tool {}", one_line(tool)));
        }
        cause.push_str(&format!(" · {}", one_line(&info.summary)));
        lines.push(Line::from(Span::styled(fit(&cause, width), t.dim())));
    }
    let height = (inner.height as usize).saturating_sub(lines.len());
    if d.len() == 0 {
        lines.push(Line::from(Span::styled(
            if d.diff.is_some() {
                "no changes"
            } else {
                "loading…"
            },
            t.dim(),
        )));
    }
    if d.side_by_side {
        let half = width.saturating_sub(1) / 2;
        for row in d.side.iter().skip(d.scroll).take(height) {
            if let Some(h) = &row.header {
                lines.push(Line::from(Span::styled(h.clone(), t.diff_hunk())));
                continue;
            }
            let mut spans = Vec::new();
            let l = row
                .left
                .as_ref()
                .map(|r| row_spans(t, r, half))
                .unwrap_or_default();
            let used: usize = l.iter().map(|s| s.content.chars().count()).sum();
            spans.extend(l);
            spans.push(Span::raw(" ".repeat(half.saturating_sub(used))));
            spans.push(Span::styled("│", t.dim()));
            if let Some(r) = &row.right {
                spans.extend(row_spans(t, r, half));
            }
            lines.push(Line::from(spans));
        }
    } else {
        for row in d.rows.iter().skip(d.scroll).take(height) {
            if let Some(h) = &row.header {
                lines.push(Line::from(Span::styled(h.clone(), t.diff_hunk())));
                continue;
            }
            lines.push(Line::from(row_spans(t, row, width)));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
