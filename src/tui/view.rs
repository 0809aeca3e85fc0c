//! Rendering: a pure function of the state. No I/O, no locks, no awaits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use crate::agent::Category;
use crate::event::AgentStatus;
use crate::sanitize::{for_terminal, one_line};

use super::app::App;

/// The smallest terminal the layout is made for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}×{}, aios needs at least {MIN_WIDTH}×{MIN_HEIGHT} (q quits)",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [status, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_status(frame, app, status);
    let [left, right] =
        Layout::horizontal([Constraint::Length(44), Constraint::Min(30)]).areas(body);
    draw_agents(frame, app, left);
    let [detail, stream, log] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Percentage(55),
        Constraint::Min(3),
    ])
    .areas(right);
    draw_detail(frame, app, detail);
    draw_stream(frame, app, stream);
    draw_log(frame, app, log);
    frame.render_widget(
        Paragraph::new(" q quit · j/k or ↑/↓ select agent")
            .style(Style::new().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn status_style(s: AgentStatus) -> Style {
    match s {
        AgentStatus::Idle => Style::new().add_modifier(Modifier::DIM),
        AgentStatus::Error => Style::new().fg(Color::Red),
        AgentStatus::Streaming => Style::new().fg(Color::Green),
        _ => Style::new().fg(Color::Yellow),
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let i = &app.info;
    let runner = if i.runner == "sim" {
        "sim (scripted)".to_string()
    } else {
        format!("{}:{}", i.runner, i.model)
    };
    let bus = if app.bus_state.is_empty() || app.bus_state == "in-process" {
        i.bus.clone()
    } else {
        format!("{} {}", i.bus, app.bus_state)
    };
    let mut text = format!(
        " aios · node {} · bus {} · store {} · memory {} · runner {} · agents {}/{} busy",
        one_line(&i.node),
        bus,
        i.store,
        i.memory,
        runner,
        app.busy(),
        app.agents.len()
    );
    if app.dropped > 0 {
        text.push_str(&format!(" · {} events dropped", app.dropped));
    }
    let clock = format!("{} ", app.clock);
    let [l, r] = Layout::horizontal([Constraint::Min(1), Constraint::Length(clock.len() as u16)])
        .areas(area);
    let style = Style::new().add_modifier(Modifier::REVERSED);
    frame.render_widget(Paragraph::new(text).style(style), l);
    frame.render_widget(Paragraph::new(clock).style(style), r);
}

fn draw_agents(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let mut items = Vec::new();
    let mut selected_row = None;
    for cat in Category::ALL {
        let mut header = false;
        for (idx, a) in app
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.category == cat)
        {
            if !header {
                items.push(ListItem::new(Line::from(Span::styled(
                    cat.title(),
                    Style::new().add_modifier(Modifier::BOLD),
                ))));
                header = true;
            }
            if idx == app.selected {
                selected_row = Some(items.len());
            }
            let status = app.status.get(&a.id).copied().unwrap_or_default();
            items.push(ListItem::new(Line::from(vec![
                Span::raw(format!("  {:<22}", one_line(&a.id))),
                Span::styled(status.as_str(), status_style(status)),
            ])));
        }
    }
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(" Agents "))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(selected_row);
    frame.render_stateful_widget(list, area, &mut state);
}

fn draw_detail(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" Agent ");
    let Some(a) = app.selected_agent() else {
        frame.render_widget(block, area);
        return;
    };
    let lines = vec![
        Line::from(vec![
            Span::styled(one_line(&a.name), Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("  {}", one_line(&a.role))),
        ]),
        Line::from(format!("goals: {}", one_line(&a.goals.join(", ")))),
        Line::from(format!(
            "persona: {}",
            one_line(&a.persona_traits.join(", "))
        )),
        Line::from(format!("tools: {}", one_line(&a.tools.join(", ")))),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

fn draw_stream(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = format!(
        " Token stream · {} ",
        if app.info.runner == "sim" {
            "sim"
        } else {
            &app.info.model
        }
    );
    let text = app
        .selected_agent()
        .and_then(|a| app.stream.get(&a.id))
        .map(|s| for_terminal(s).into_owned())
        .unwrap_or_default();
    // Keep the newest output in view.
    let height = area.height.saturating_sub(2) as usize;
    let lines: Vec<&str> = text.lines().collect();
    let shown = lines[lines.len().saturating_sub(height)..].join("\n");
    frame.render_widget(
        Paragraph::new(shown)
            .block(Block::default().borders(Borders::ALL).title(title))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn draw_log(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let height = area.height.saturating_sub(2) as usize;
    let items: Vec<ListItem> = app
        .log
        .iter()
        .skip(app.log.len().saturating_sub(height))
        .map(|l| ListItem::new(one_line(l)))
        .collect();
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::ALL).title(" Activity ")),
        area,
    );
}
