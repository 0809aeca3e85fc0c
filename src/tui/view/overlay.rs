//! What floats above the panes: help (generated from the keymap), the intent and command
//! prompts, a full message or record, the quit question, and the hint line.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::super::action::Pane;
use super::super::app::{App, Mode};
use crate::sanitize::{for_terminal, one_line};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(r);
    r
}

fn popup<'a>(app: &App, title: &str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.pane_border(true))
        .title(Span::styled(format!(" {title} "), app.theme.title(true)))
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    match &app.mode {
        Mode::Help => help(frame, app, area),
        Mode::Prompt => prompt(
            frame,
            app,
            area,
            "Intent · enter sends · alt-enter new line · tab completes @agent · ↑↓ history · esc",
            5,
        ),
        Mode::Command => prompt(
            frame,
            app,
            area,
            "Command · tab completes · enter runs · esc",
            3,
        ),
        Mode::Detail {
            title,
            text,
            scroll,
        } => {
            let r = centered(area, area.width * 9 / 10, area.height * 8 / 10);
            frame.render_widget(Clear, r);
            let lines: Vec<Line> = text
                .lines()
                .skip(*scroll)
                .map(|l| Line::from(for_terminal(l).into_owned()))
                .collect();
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(popup(
                        app,
                        &format!("{} · j/k scroll · esc closes", one_line(title)),
                    )),
                r,
            );
        }
        Mode::Why(view) => why(frame, app, area, view),
        Mode::ConfirmQuit => {
            let r = centered(area, 52, 5);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::from(format!("{} agents are still working.", app.busy())),
                    Line::from(Span::styled(
                        "Quit anyway and stop them? y quits, any other key stays",
                        app.theme.warning(),
                    )),
                ])
                .wrap(Wrap { trim: true })
                .block(popup(app, "Quit?")),
                r,
            );
        }
        Mode::Approvals | Mode::EditArguments => {
            super::panes::approvals::draw(frame, app, area);
        }
        Mode::DenyReason => {
            super::panes::approvals::draw(frame, app, area);
            prompt(
                frame,
                app,
                area,
                "Deny · why (the agent's model reads it) · enter denies · esc",
                3,
            );
        }
        Mode::Normal | Mode::Filter(_) | Mode::EditGoals => {}
    }
}

fn help(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let rows = app.keymap.help_for(app.read_only);
    let key_w = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4)
        .min(22);
    let entry_w = key_w + 2 + 34;
    let inner_h = area.height.saturating_sub(6) as usize;
    let cols = rows.len().div_ceil(inner_h.max(1)).clamp(1, 3);
    let cols = if (entry_w * cols) as u16 + 4 > area.width {
        1
    } else {
        cols
    };
    let per_col = rows.len().div_ceil(cols);
    let mut lines = Vec::new();
    for i in 0..per_col {
        let mut spans = Vec::new();
        for c in 0..cols {
            if let Some((k, d)) = rows.get(c * per_col + i) {
                spans.push(Span::styled(format!("{k:>key_w$}  "), app.theme.accent()));
                spans.push(Span::raw(format!("{:<34}", super::fit(d, 34))));
            }
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "commands (:) theme NAME · goal add TEXT · goal rm N · channel add PATTERN · pause · stop · quit",
        app.theme.dim(),
    )));
    let w = ((entry_w * cols) as u16 + 4).max(60);
    let h = lines.len() as u16 + 2;
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup(app, "Keys · any key closes")),
        r,
    );
}

fn prompt(frame: &mut Frame<'_>, app: &App, area: Rect, title: &str, height: u16) {
    let lines = app.input.lines().len() as u16;
    let h = (lines + 2).clamp(3, height.max(3)) + u16::from(app.completion.is_some());
    let r = Rect {
        x: area.x,
        y: area.bottom().saturating_sub(h + 1),
        width: area.width,
        height: h,
    };
    frame.render_widget(Clear, r);
    let block = popup(app, title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut input_area = inner;
    if let Some(c) = &app.completion {
        input_area.height = input_area.height.saturating_sub(1);
        let line = Rect {
            y: inner.bottom().saturating_sub(1),
            height: 1,
            ..inner
        };
        frame.render_widget(
            Paragraph::new(Span::styled(
                one_line(&c.candidates.join("  ")),
                app.theme.dim(),
            )),
            line,
        );
    }
    frame.render_widget(&app.input, input_area);
}

/// The bottom line: what the keys do here, a filter being typed, or a notice.
pub fn hints(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme;
    if let Mode::Filter(p) = app.mode {
        let text = app.input.lines().join(" ");
        let hint = match p {
            Pane::Channels => "text, channel:NAME, agent:ID",
            Pane::Audit => "text, agent:ID, action:NAME",
            _ => "agent id, name or role",
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" filter {}: ", p.title()), t.accent()),
                Span::raw(format!("{}█", one_line(&text))),
                Span::styled(format!("   ({hint}; enter keeps, esc clears)"), t.dim()),
            ])),
            area,
        );
        return;
    }
    if let Some((n, _)) = &app.notice {
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {}", one_line(n)), t.warning())),
            area,
        );
        return;
    }
    if matches!(app.mode, Mode::Approvals | Mode::EditArguments) {
        let keys = if app.read_only {
            " read-only: j/k select · esc back"
        } else if app.mode == Mode::Approvals {
            " y approve · n deny (say why) · e edit arguments · A always allow · j/k select · esc back"
        } else {
            " ctrl-s approve with these arguments · esc back"
        };
        frame.render_widget(Paragraph::new(Span::styled(keys, t.accent())), area);
        return;
    }
    let pane = match (app.focus, app.read_only) {
        (Pane::Agents, _) => "j/k move · enter focus · / filter",
        (Pane::Goals, false) => "e edit goals · :goal add",
        (Pane::Goals, true) => "read-only",
        (Pane::Channels, _) => "space pause · / filter · enter JSON · G follow",
        (Pane::Diff, _) => "[ ] versions · n/p hunk · s side-by-side",
        (Pane::Stream, false) => "x stop generation",
        (Pane::Stream, true) => "read-only",
        (Pane::Audit, _) => "/ filter · enter record",
    };
    let global = if app.read_only {
        " │ read-only · tab/1-6 panes · z zoom · ? help · q quit"
    } else {
        " │ i intent · : command · tab/1-6 panes · z zoom · ? help · q quit"
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!(" {pane}"), t.accent()),
            Span::styled(global, t.dim()),
        ])),
        area,
    );
}

/// The causal chain of a row, the selected line kept in sight.
fn why(frame: &mut Frame<'_>, app: &App, area: Rect, view: &super::super::why_view::WhyView) {
    let r = centered(area, area.width * 9 / 10, area.height * 9 / 10);
    frame.render_widget(Clear, r);
    let rows = view.rows();
    let height = r.height.saturating_sub(2) as usize;
    let first_of_cursor = rows
        .iter()
        .position(|(i, _)| *i == view.cursor)
        .unwrap_or(0);
    let top = first_of_cursor.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = rows
        .iter()
        .skip(top)
        .take(height)
        .map(|(i, text)| {
            if *i == view.cursor {
                Line::from(Span::styled(text.clone(), app.theme.selection()))
            } else {
                Line::from(text.clone())
            }
        })
        .collect();
    let keys = if app.replay.is_some() {
        "enter jumps there · space unfolds · esc"
    } else {
        "enter/space unfold · esc"
    };
    frame.render_widget(
        Paragraph::new(lines).block(popup(
            app,
            &format!("Why? {} · {keys}", one_line(&view.title)),
        )),
        r,
    );
}
