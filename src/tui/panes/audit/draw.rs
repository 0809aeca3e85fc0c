//! Drawing the audit pane: the tail of the audit log and the state of its hash chain.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::audit::Outcome;
use crate::sanitize::one_line;
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::view::{fit, pane_block, window_start};

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let a = &app.audit;
    let t = &app.theme;
    let mut extra = format!("{} records · {}", a.total, a.chain_label());
    if !a.filter.is_empty() {
        extra.push_str(&format!(" · /{}", a.filter));
    }
    let block = pane_block(app, Pane::Audit, extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let height = inner.height as usize;
    let mut lines = Vec::new();
    if let Some(n) = a.broken_at {
        lines.push(Line::from(Span::styled(
            fit(
                &format!("⚠ hash chain broken at record {n}: run `aios audit verify`"),
                width,
            ),
            t.warning(),
        )));
    }
    if a.visible.is_empty() {
        lines.push(Line::from(Span::styled(
            if a.records.is_empty() {
                "no records yet"
            } else {
                "nothing matches the filter"
            },
            t.dim(),
        )));
    }
    let rows = height.saturating_sub(lines.len());
    let start = window_start(a.visible.len(), a.cursor.selected, rows);
    for (n, idx) in a.visible.iter().enumerate().skip(start).take(rows) {
        let Some(r) = a.records.get(*idx) else {
            continue;
        };
        let time = r.timestamp.get(11..19).unwrap_or(&r.timestamp);
        let (mark, style) = match r.outcome {
            Outcome::Ok => ("ok ", t.ok()),
            Outcome::Error => ("ERR", t.rejected()),
        };
        let agent = r
            .agent_id
            .as_deref()
            .map(one_line)
            .unwrap_or_else(|| "-".into());
        let rest = width.saturating_sub(8 + 9 + 4 + 19 + 1);
        let mut line = Line::from(vec![
            Span::styled(format!("{:>7} ", r.seq), t.dim()),
            Span::styled(format!("{time} "), t.dim()),
            Span::styled(format!("{mark} "), style),
            Span::raw(fit(&one_line(&r.action), 18)),
            Span::raw(" "),
            Span::styled(
                fit(
                    &format!(
                        "{agent} by {}{}",
                        one_line(&r.caller),
                        r.error
                            .as_deref()
                            .map(|e| format!(": {}", one_line(e)))
                            .unwrap_or_default()
                    ),
                    rest,
                ),
                t.dim(),
            ),
        ]);
        if n == a.cursor.selected && app.focus == Pane::Audit {
            line = line.style(t.selection());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
