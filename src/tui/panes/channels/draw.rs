//! Drawing the channels pane: a rate sparkline per channel, then one decoded line per message,
//! coloured by channel, rejected messages marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::view::{fit, pane_block, window_start};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn sparkline(values: impl Iterator<Item = u64> + Clone, width: usize) -> String {
    let v: Vec<u64> = values.collect();
    let v = &v[v.len().saturating_sub(width)..];
    let max = v.iter().copied().max().unwrap_or(0).max(1);
    v.iter()
        .map(|x| {
            if *x == 0 {
                ' '
            } else {
                BARS[((*x * 7) / max) as usize]
            }
        })
        .collect()
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let c = &app.channels;
    let mut extra = Vec::new();
    if c.paused {
        extra.push(format!("PAUSED ({} held)", c.held.len()));
    } else if c.cursor.follow {
        extra.push("following".into());
    } else {
        extra.push("scrolling (G follows)".into());
    }
    if !c.filter.is_empty() {
        extra.push(format!("/{}", c.filter));
    }
    if c.dropped > 0 {
        extra.push(format!("{} dropped", c.dropped));
    }
    let block = pane_block(app, Pane::Channels, extra.join(" · "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    // Rates: at most a third of the pane.
    let rate_rows = (inner.height as usize / 3).min(c.rates.len());
    let name_w = 22.min(width / 3);
    for (name, r) in c.rates.iter().take(rate_rows) {
        let last = r.iter().rev().nth(1).copied().unwrap_or(0);
        let label = format!("{last:>6}/s ");
        let spark_w = width.saturating_sub(name_w + 1 + label.len());
        lines.push(Line::from(vec![
            Span::styled(fit(name, name_w), app.theme.channel(name)),
            Span::raw(" "),
            Span::styled(label, app.theme.dim()),
            Span::styled(
                sparkline(r.iter().copied(), spark_w),
                app.theme.channel(name),
            ),
        ]));
    }
    let height = (inner.height as usize).saturating_sub(lines.len());
    if c.visible.is_empty() {
        let msg = if c.lines.is_empty() {
            "no traffic yet"
        } else {
            "nothing matches the filter"
        };
        lines.push(Line::from(Span::styled(msg, app.theme.dim())));
    }
    let start = window_start(c.visible.len(), c.cursor.selected, height);
    let chan_w = 14.min(width / 4);
    for n in start..(start + height).min(c.visible.len()) {
        let Some(l) = c.line_at(n) else { continue };
        let short = l.channel.rsplit('.').next().unwrap_or(&l.channel);
        let rest = width.saturating_sub(9 + chan_w + 1);
        let summary_style = if l.rejected {
            app.theme.rejected()
        } else {
            app.theme.text()
        };
        let mut line = Line::from(vec![
            Span::styled(format!("{} ", l.time), app.theme.dim()),
            Span::styled(fit(short, chan_w), app.theme.channel(&l.channel)),
            Span::raw(" "),
            Span::styled(fit(&l.summary, rest), summary_style),
        ]);
        if n == c.cursor.selected && app.focus == Pane::Channels {
            line = line.style(app.theme.selection());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
