//! The status bar: where things run and how they are doing, most important first, so a
//! narrow terminal drops the least important.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Paragraph;

use super::super::app::App;
use crate::sanitize::one_line;

pub fn status_segments(app: &App) -> Vec<String> {
    let i = &app.info;
    let nodes: Vec<_> = app.live_nodes().collect();
    // Attached, the runner is the watched nodes', told by their heartbeats.
    let (runner, model) = match (&i.attached, nodes.first()) {
        (Some(_), Some(n)) => (n.runner.as_str(), n.model.as_str()),
        (Some(_), None) => ("?", ""),
        (None, _) => (i.runner.as_str(), i.model.as_str()),
    };
    let runner = format!("runner {}", crate::llm::runner_shown(runner, model, " "));
    let bus = if app.bus_state.is_empty() || app.bus_state == "in-process" {
        format!("bus {}", i.bus)
    } else {
        format!("bus {} {}", i.bus, one_line(&app.bus_state))
    };
    let audit = match app.audit.broken_at {
        Some(n) => format!("audit {} BROKEN at {n}", app.audit.total),
        None if app.audit.verified => format!("audit {} ✓", app.audit.total),
        None => format!("audit {}", app.audit.total),
    };
    let names = |nodes: &[&crate::bus::Heartbeat]| {
        nodes
            .iter()
            .map(|n| one_line(&n.node))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let node = match &i.attached {
        Some(url) if nodes.is_empty() => format!("attached {} · no node heard yet", one_line(url)),
        Some(url) => format!("attached {} · nodes {}", one_line(url), names(&nodes)),
        None => {
            let others: Vec<_> = nodes.iter().filter(|n| n.node != i.node).copied().collect();
            if others.is_empty() {
                format!("node {}", one_line(&i.node))
            } else {
                format!("node {} (+ {})", one_line(&i.node), names(&others))
            }
        }
    };
    let mut s = vec![
        node,
        bus,
        format!("agents {}/{} busy", app.busy(), app.agents.specs.len()),
        runner,
        format!("{} msg/s", app.channels.per_second()),
        audit,
        format!(
            "memory {} · {}",
            i.memory,
            crate::memory::choose_embedder::short_label(&i.embedder)
        ),
        format!("store {}", i.store),
    ];
    if app.dropped > 0 {
        s.insert(4, format!("{} events dropped", app.dropped));
    }
    // A store an agent's memory_schema names did not answer: its memory is going to the
    // local index, which the operator should know before trusting recall.
    if !i.warnings.is_empty() {
        s.insert(
            1,
            format!(
                "⚠ {} memory store{} unreachable → local (aios doctor)",
                i.warnings.len(),
                if i.warnings.len() == 1 { "" } else { "s" }
            ),
        );
    }
    // Someone is waiting for the operator: say so first, with the key that shows them.
    if !app.approvals.is_empty() {
        s.insert(
            0,
            format!("⏸ {} waiting for approval (a)", app.approvals.len()),
        );
    }
    // A replay says so before anything else: nothing on screen is happening now.
    if let Some(r) = &app.replay {
        s.insert(0, replay_segment(r));
    }
    s
}

/// `REPLAY ▶ 10× 2026-12-01 12:30:05.120 · 1234/5678`
fn replay_segment(r: &super::super::app::ReplayState) -> String {
    let state = if r.playing { "▶" } else { "⏸" };
    let at = r
        .cursor
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S%.3f");
    let speed = if r.speed.fract() == 0.0 {
        format!("{}", r.speed as u64)
    } else {
        format!("{}", r.speed)
    };
    format!("REPLAY {state} {speed}× {at} · {}/{}", r.position, r.total)
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let clock = format!(" {} ", app.clock);
    let room = area.width.saturating_sub(clock.len() as u16 + 1) as usize;
    let mut text = String::from(" aios");
    for seg in status_segments(app) {
        let add = format!(" │ {seg}");
        if text.chars().count() + add.chars().count() > room {
            // Segments come most important first: stop at the first that does not fit.
            break;
        }
        text.push_str(&add);
    }
    let [l, r] = Layout::horizontal([
        Constraint::Min(1),
        Constraint::Length(clock.chars().count() as u16),
    ])
    .areas(area);
    let style = app.theme.status_bar();
    frame.render_widget(Paragraph::new(text).style(style), l);
    frame.render_widget(Paragraph::new(clock).style(style), r);
}
