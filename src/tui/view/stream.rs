//! The token stream pane: the focused agent's output as it arrives, thinking dimmed, with
//! the generation's figures on top.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::super::action::Pane;
use super::super::app::App;
use super::{fit, pane_block};
use crate::sanitize::one_line;

/// Wrap runs of (thinking, text) into screen lines of `width` characters.
fn wrap(runs: &[(bool, &str)], width: usize) -> Vec<Vec<(bool, String)>> {
    let width = width.max(1);
    let mut lines: Vec<Vec<(bool, String)>> = vec![Vec::new()];
    let mut col = 0;
    for (thinking, text) in runs {
        for ch in text.chars() {
            if ch == '\n' {
                lines.push(Vec::new());
                col = 0;
                continue;
            }
            let ch = if ch == '\t' { ' ' } else { ch };
            if col >= width {
                lines.push(Vec::new());
                col = 0;
            }
            let line = lines.last_mut().expect("never empty");
            match line.last_mut() {
                Some((t, s)) if t == thinking => s.push(ch),
                _ => line.push((*thinking, ch.to_string())),
            }
            col += 1;
        }
    }
    lines
}

pub fn draw(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let t = &app.theme;
    let agent = app
        .focused_agent
        .as_deref()
        .map(one_line)
        .unwrap_or_default();
    let s = app.focused_stream();
    let status = app
        .focused_agent
        .as_ref()
        .and_then(|a| app.status.get(a))
        .copied()
        .unwrap_or_default();
    let block = pane_block(
        app,
        Pane::Stream,
        format!("{agent} · {} · x stops", status.as_str()),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let runner = s
        .map(|s| s.runner.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or(&app.info.runner);
    let model = s
        .map(|s| s.model.as_str())
        .filter(|r| !r.is_empty())
        .unwrap_or(&app.info.model);
    let runner = if runner == "sim" {
        "sim (simulated)".to_string()
    } else {
        format!("{} · {}", one_line(runner), one_line(model))
    };
    let mut stats = vec![runner];
    if let Some(s) = s {
        if let Some(ms) = s.first_token_ms() {
            stats.push(format!("first token {ms} ms"));
        }
        if let Some(r) = s.tokens_per_second() {
            stats.push(format!("{r:.1} tok/s"));
        }
        stats.push(format!("{} tokens", s.tokens));
        if let Some(tool) = &s.tool {
            stats.push(format!("calling {tool}"));
        }
        if let Some(d) = &s.done {
            stats.push(format!("done: {d}"));
        }
    }
    let mut lines = vec![Line::from(Span::styled(
        fit(&stats.join(" · "), width),
        t.dim(),
    ))];
    let height = (inner.height as usize).saturating_sub(1);
    match s {
        Some(s) if s.chars > 0 => {
            let runs: Vec<(bool, &str)> = s.runs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let wrapped = wrap(&runs, width);
            let start = wrapped.len().saturating_sub(height);
            for l in &wrapped[start..] {
                lines.push(Line::from(
                    l.iter()
                        .map(|(thinking, text)| {
                            Span::styled(
                                text.clone(),
                                if *thinking { t.thinking() } else { t.text() },
                            )
                        })
                        .collect::<Vec<_>>(),
                ));
            }
        }
        _ => lines.push(Line::from(Span::styled(
            "no output yet: i sends an intent to this agent",
            t.dim(),
        ))),
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_breaks_at_width_and_newlines_and_keeps_thinking_apart() {
        let l = wrap(&[(true, "abcd"), (false, "ef\ngh")], 3);
        let flat: Vec<String> = l
            .iter()
            .map(|l| l.iter().map(|(_, s)| s.as_str()).collect())
            .collect();
        assert_eq!(flat, vec!["abc", "def", "gh"]);
        assert_eq!(
            l[1],
            vec![(true, "d".to_string()), (false, "ef".to_string())]
        );
    }
}
