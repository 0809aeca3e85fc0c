//! Drawing the goals pane: the focused agent's goals, persona traits, protocol hooks, memory
//! count and last recall (items and scores); `e` edits the goals in place.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::hooks::DeliveryRow;
use crate::memory::choose_embedder::short_label;
use crate::sanitize::{ellipsize, one_line};
use crate::tui::action::Pane;
use crate::tui::app::{App, LastRecall, Mode};
use crate::tui::view::pane_block;

/// A hook's latest delivery: state (coloured), attempts, HTTP status, latency, error.
fn delivery_line<'a>(app: &App, d: &DeliveryRow) -> Line<'a> {
    let t = &app.theme;
    let style = match d.state.as_str() {
        "delivered" => t.ok(),
        "dead" => t.rejected(),
        _ => t.warning(),
    };
    let mut detail = format!(
        " {} attempt{}",
        d.attempts,
        if d.attempts == 1 { "" } else { "s" }
    );
    if let Some(s) = d.status {
        detail.push_str(&format!(" · HTTP {s}"));
    }
    if let Some(ms) = d.latency_ms {
        detail.push_str(&format!(" · {ms} ms"));
    }
    if let Some(e) = &d.error {
        detail.push_str(&format!(" · {}", one_line(e)));
    }
    Line::from(vec![
        Span::styled(format!("    last: {}", d.state), style),
        Span::styled(detail, t.dim()),
    ])
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let name = app
        .focused_spec()
        .map(|a| one_line(&a.id))
        .unwrap_or_default();
    let editing = app.mode == Mode::EditGoals;
    let extra = if editing {
        format!("{name} · editing: ctrl-s saves, esc cancels")
    } else {
        name
    };
    let block = pane_block(app, Pane::Goals, extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if editing {
        frame.render_widget(&app.input, inner);
        return;
    }
    let t = &app.theme;
    let Some(s) = app.goals.agent.as_ref() else {
        let msg = match app.focused_spec() {
            Some(_) => "loading…",
            None => "no agent focused (Enter on an agent)",
        };
        frame.render_widget(Paragraph::new(Span::styled(msg, t.dim())), inner);
        return;
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(one_line(&s.spec.name), t.heading()),
        Span::styled(format!("  {}", one_line(&s.spec.role)), t.dim()),
    ])];
    lines.push(Line::from(Span::styled("Goals (e edits)", t.accent())));
    if s.goals.is_empty() {
        lines.push(Line::from(Span::styled("  none", t.dim())));
    }
    for (i, g) in s.goals.iter().enumerate() {
        lines.push(Line::from(format!(" {}. {}", i + 1, one_line(g))));
    }
    lines.push(Line::from(vec![
        Span::styled("Persona ", t.accent()),
        Span::raw(one_line(&s.persona_traits.join(", "))),
    ]));
    lines.push(Line::from(Span::styled("Protocol hooks", t.accent())));
    if s.protocol_hooks.is_empty() && s.spec.protocol_hooks.is_empty() {
        lines.push(Line::from(Span::styled("  none", t.dim())));
    }
    for h in s.spec.protocol_hooks.iter().chain(&s.protocol_hooks) {
        lines.push(Line::from(format!(
            "  {}: on {} → {}",
            one_line(&h.name),
            one_line(&h.on),
            one_line(&h.action)
        )));
        if let Some(d) = app
            .goals
            .deliveries
            .get(&(s.spec.id.clone(), h.name.clone()))
        {
            lines.push(delivery_line(app, d));
        }
    }
    lines.push(Line::from(vec![
        Span::styled("Memory ", t.accent()),
        Span::raw(format!("{} items", s.memory_count)),
        Span::styled("  Context ", t.accent()),
        Span::raw(
            s.context_version
                .map(|v| format!("v{v}"))
                .unwrap_or_else(|| "none yet".into()),
        ),
    ]));
    if let Some(r) = app.goals.recalls.get(&s.spec.id) {
        recall_lines(app, r, usize::from(inner.width), &mut lines);
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// `Last recall · MiniLM · "query"` and one `score [kind] text` line per item, each cut
/// to `width` so a long memory does not push the others out of the pane.
fn recall_lines<'a>(app: &App, r: &LastRecall, width: usize, lines: &mut Vec<Line<'a>>) {
    let t = &app.theme;
    lines.push(Line::from(vec![
        Span::styled("Last recall ", t.accent()),
        Span::styled(format!("· {} · ", short_label(&r.embedder)), t.dim()),
        Span::raw(format!("\"{}\"", one_line(&r.query))),
        Span::styled(format!(" ({})", one_line(&r.caller)), t.dim()),
    ]));
    if r.items.is_empty() {
        lines.push(Line::from(Span::styled("  nothing found", t.dim())));
    }
    for item in &r.items {
        let score = format!("  {:.3} ", item.score);
        let kind = format!("[{}] ", one_line(&item.kind));
        let room = width.saturating_sub(score.chars().count() + kind.chars().count());
        lines.push(Line::from(vec![
            Span::styled(score, t.ok()),
            Span::styled(kind, t.dim()),
            Span::raw(ellipsize(&one_line(&item.text), room)),
        ]));
    }
}
