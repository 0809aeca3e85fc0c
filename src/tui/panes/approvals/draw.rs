//! Drawing the approvals view: the tool calls waiting for a person, and what the selected one will
//! do (the exact HTTP request, the diff, the MCP call), decided from the keyboard.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::sanitize::{for_terminal, one_line};
use crate::tui::app::{App, Mode};

/// Rows of the list at most; the preview gets the rest.
const LIST_ROWS: u16 = 6;

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    // Between the status bar and the hint line, which stay visible.
    let area = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(2),
        ..area
    };
    frame.render_widget(Clear, area);
    let n = app.approvals.len();
    let list_h = (n.max(1) as u16).min(LIST_ROWS) + 2;
    let [list_area, preview_area] =
        Layout::vertical([Constraint::Length(list_h), Constraint::Min(3)]).areas(area);

    let title = format!(" Approvals ({n}) · y approve · n deny · e edit · A always · j/k · esc ");
    let block = framed(app, &title, area, true);
    let width = list_area.width.saturating_sub(2) as usize;
    let rows = list_area.height.saturating_sub(2) as usize;
    let start = app.approvals.cursor.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = if n == 0 {
        vec![Line::from(Span::styled(
            "nothing is waiting for approval",
            app.theme.dim(),
        ))]
    } else {
        app.approvals
            .iter()
            .enumerate()
            .skip(start)
            .take(rows)
            .map(|(i, p)| {
                let text = format!(
                    "{} {:<12} {:<18} {:<28} {}",
                    if i == app.approvals.cursor {
                        "▶"
                    } else {
                        " "
                    },
                    one_line(&p.id),
                    one_line(&p.agent_id),
                    one_line(&p.tool),
                    p.origin,
                );
                let style = if i == app.approvals.cursor {
                    app.theme.selection()
                } else {
                    app.theme.text()
                };
                Line::from(Span::styled(crate::tui::view::fit(&text, width), style))
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), list_area);

    let Some(p) = app.selected_approval() else {
        return;
    };
    let editing = app.mode == Mode::EditArguments;
    let title = if editing {
        " Arguments (JSON) · ctrl-s approves with these · esc back ".to_string()
    } else {
        format!(
            " What it will do · {} · intent {} · asked {} ",
            one_line(&p.tool),
            one_line(&p.intent_id),
            one_line(&p.asked_at)
        )
    };
    let block = framed(app, &title, preview_area, editing);
    if editing {
        let inner = block.inner(preview_area);
        frame.render_widget(block, preview_area);
        frame.render_widget(&app.input, inner);
        return;
    }
    let lines: Vec<Line> = for_terminal(&p.preview)
        .lines()
        .map(|l| {
            let style = if l.starts_with('+') && !l.starts_with("+++") {
                app.theme.diff_add()
            } else if l.starts_with('-') && !l.starts_with("---") {
                app.theme.diff_remove()
            } else {
                app.theme.text()
            };
            Line::from(Span::styled(l.to_string(), style))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        preview_area,
    );
}

/// A bordered block whose title is cut to `area`'s inner width; `lit` when it has the keys.
fn framed<'a>(app: &App, title: &str, area: Rect, lit: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.pane_border(lit))
        .title(Span::styled(
            crate::tui::view::fit(title, area.width.saturating_sub(2) as usize),
            app.theme.title(lit),
        ))
}
