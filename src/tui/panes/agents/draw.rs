//! Drawing the agents pane: every agent by category, its status, how long since it last did
//! something, tokens/s while streaming, and its current goal when there is room.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::ago;
use crate::event::AgentStatus;
use crate::sanitize::one_line;
use crate::tui::action::Pane;
use crate::tui::app::{AgentRow, App};
use crate::tui::view::{fit, pane_block, window_start};

fn glyph(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Idle => "·",
        AgentStatus::Recalling => "◌",
        AgentStatus::Thinking => "…",
        AgentStatus::Streaming => "▶",
        AgentStatus::CallingTool => "⚙",
        AgentStatus::Waiting => "⏸",
        AgentStatus::Error => "✗",
    }
}

/// Nine columns at most: the glyph already tells the states apart.
fn short_status(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::CallingTool => "tool call",
        other => other.as_str(),
    }
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let rows = app.agent_rows();
    let shown = rows
        .iter()
        .filter(|r| matches!(r, AgentRow::Agent(_)))
        .count();
    let extra = if app.agents.filter.is_empty() {
        format!("{}/{} busy", app.busy(), app.agents.specs.len())
    } else {
        format!("/{} {shown} shown", app.agents.filter)
    };
    let block = pane_block(app, Pane::Agents, extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let start = window_start(rows.len(), app.agents.cursor, height);
    let id_w = 18.min(width.saturating_sub(13));
    let mut lines = Vec::new();
    for (n, row) in rows.iter().enumerate().skip(start).take(height) {
        match row {
            AgentRow::Header(cat) => lines.push(Line::from(Span::styled(
                fit(cat.title(), width),
                app.theme.heading(),
            ))),
            AgentRow::Agent(i) => {
                let a = &app.agents.specs[*i];
                let st = app.agents.status.get(&a.id).copied().unwrap_or_default();
                let act = app.agents.activity.get(&a.id);
                let focused = app.focused_agent.as_deref() == Some(a.id.as_str());
                let mark = if focused { "▸" } else { " " };
                // An agent that needs a person shows `!` in red (`!` jumps to it).
                let glyph_span = if app.attention(&a.id).is_some() {
                    Span::styled("!", app.theme.rejected())
                } else {
                    Span::raw(glyph(st))
                };
                let mut spans = vec![
                    Span::raw(mark),
                    glyph_span,
                    Span::raw(" "),
                    Span::raw(fit(&one_line(&a.id), id_w)),
                    Span::raw(" "),
                    Span::styled(fit(short_status(st), 9), app.theme.agent_status(st)),
                ];
                let mut used = 3 + id_w + 1 + 9;
                if width >= used + 5 {
                    spans.push(Span::styled(
                        format!("{:>4} ", ago(act.and_then(|a| a.last), app.now)),
                        app.theme.dim(),
                    ));
                    used += 5;
                }
                let rate = (st == AgentStatus::Streaming)
                    .then(|| app.streams.get(&a.id).and_then(|s| s.tokens_per_second()))
                    .flatten();
                if width >= used + 8 {
                    let r = rate
                        .map(|r| format!("{r:>4.0}t/s "))
                        .unwrap_or_else(|| " ".repeat(8));
                    spans.push(Span::styled(r, app.theme.accent()));
                    used += 8;
                }
                if width > used + 8 {
                    let goal = act
                        .and_then(|a| a.goal.clone())
                        .or_else(|| a.goals.first().cloned())
                        .unwrap_or_default();
                    spans.push(Span::styled(
                        fit(&one_line(&goal), width - used),
                        app.theme.dim(),
                    ));
                }
                let mut line = Line::from(spans);
                if n == app.agents.cursor {
                    line = line.style(app.theme.selection());
                }
                lines.push(line);
            }
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
