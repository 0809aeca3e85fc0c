//! Rendering: a pure function of the state. No I/O, no locks, no awaits. Each pane draws
//! itself (`panes/<pane>/draw.rs`); this module lays them out, calls them, and draws the
//! status bar (`status.rs`) and what floats above the panes (`overlay.rs`).

mod overlay;
mod status;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::action::Pane;
use super::app::App;
use super::panes;

/// The smallest terminal the layout is made for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// From this size on, all six panes are shown at once.
const WIDE: (u16, u16) = (140, 36);

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
    let [top, _, bottom] = rows(area);
    status::draw(frame, app, top);
    for (pane, rect) in pane_areas(area, app) {
        draw_pane(frame, app, pane, rect);
    }
    if let Some(tabs) = tab_line(area, app) {
        draw_tabs(frame, app, tabs);
    }
    overlay::hints(frame, app, bottom);
    overlay::draw(frame, app, area);
}

fn rows(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

fn narrow_split(body: Rect) -> (Rect, Rect) {
    let left = (body.width * 3 / 10).clamp(30, 44);
    let [l, r] = Layout::horizontal([Constraint::Length(left), Constraint::Min(20)]).areas(body);
    (l, r)
}

/// The row of pane tabs above the right side of a narrow screen.
fn tab_line(area: Rect, app: &App) -> Option<Rect> {
    let [_, body, _] = rows(area);
    if app.zoom || (area.width >= WIDE.0 && area.height >= WIDE.1) {
        return None;
    }
    let (_, r) = narrow_split(body);
    Some(Rect { height: 1, ..r })
}

/// Where each visible pane goes: the layout, as data, so a mouse click can be mapped back
/// to a pane.
pub fn pane_areas(area: Rect, app: &App) -> Vec<(Pane, Rect)> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return Vec::new();
    }
    let [_, body, _] = rows(area);
    if app.zoom {
        return vec![(app.focus, body)];
    }
    if area.width >= WIDE.0 && area.height >= WIDE.1 {
        let left = (body.width * 30 / 100).clamp(46, 64);
        let [l, m, r] = Layout::horizontal([
            Constraint::Length(left),
            Constraint::Percentage(50),
            Constraint::Percentage(50),
        ])
        .areas(body);
        let [agents, goals] =
            Layout::vertical([Constraint::Percentage(62), Constraint::Min(8)]).areas(l);
        let [stream, diff] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Min(8)]).areas(m);
        let [channels, audit] =
            Layout::vertical([Constraint::Percentage(58), Constraint::Min(6)]).areas(r);
        return vec![
            (Pane::Agents, agents),
            (Pane::Goals, goals),
            (Pane::Stream, stream),
            (Pane::Diff, diff),
            (Pane::Channels, channels),
            (Pane::Audit, audit),
        ];
    }
    let (l, r) = narrow_split(body);
    let detail = Rect {
        y: r.y + 1,
        height: r.height.saturating_sub(1),
        ..r
    };
    let shown = if app.focus == Pane::Agents {
        app.detail_pane
    } else {
        app.focus
    };
    vec![(Pane::Agents, l), (shown, detail)]
}

fn draw_tabs(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let shown = if app.focus == Pane::Agents {
        app.detail_pane
    } else {
        app.focus
    };
    let mut spans = Vec::new();
    for p in Pane::ALL.iter().skip(1) {
        let label = format!(" {} {} ", p.index() + 1, short_title(*p));
        spans.push(if *p == shown {
            Span::styled(label, app.theme.selection())
        } else {
            Span::styled(label, app.theme.dim())
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn short_title(p: Pane) -> &'static str {
    match p {
        Pane::Diff => "Diff",
        Pane::Stream => "Stream",
        other => other.title(),
    }
}

/// Draw one pane in its area (borders included); tests draw panes one by one.
pub fn draw_pane(frame: &mut Frame<'_>, app: &App, pane: Pane, area: Rect) {
    match pane {
        Pane::Agents => panes::agents::draw(frame, app, area),
        Pane::Goals => panes::goals::draw(frame, app, area),
        Pane::Channels => panes::channels::draw(frame, app, area),
        Pane::Diff => panes::diff::draw(frame, app, area),
        Pane::Stream => panes::stream::draw(frame, app, area),
        Pane::Audit => panes::audit::draw(frame, app, area),
    }
}

/// A pane's frame: `N Title` and extra text, the border showing focus.
pub(super) fn pane_block<'a>(app: &App, pane: Pane, extra: String) -> Block<'a> {
    let focused = app.focus == pane;
    let mut title = vec![Span::styled(
        format!(" {} {} ", pane.index() + 1, pane.title()),
        app.theme.title(focused),
    )];
    if !extra.is_empty() {
        title.push(Span::styled(
            format!("{} ", crate::sanitize::one_line(&extra)),
            app.theme.dim(),
        ));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.pane_border(focused))
        .title(Line::from(title))
}

/// The first row to show so that `selected` is visible in `height` rows.
pub(super) fn window_start(len: usize, selected: usize, height: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let selected = selected.min(len - 1);
    (selected + 1).saturating_sub(height).min(len - height)
}

/// Cut `text` to `width` characters, with `…` when cut.
pub(super) fn fit(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return format!("{text:<width$}");
    }
    if width == 0 {
        return String::new();
    }
    let mut s: String = text.chars().take(width - 1).collect();
    s.push('…');
    s
}
