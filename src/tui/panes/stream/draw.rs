//! Drawing the token stream pane: the focused agent's output as it arrives, thinking dimmed, with
//! the generation's figures on top.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize::one_line;
use crate::tui::action::Pane;
use crate::tui::app::App;
use crate::tui::view::{fit, pane_block};

/// A screen line: runs of (thinking, text).
type ScreenLine = Vec<(bool, String)>;

/// The last `rows` screen lines of runs of (thinking, text) wrapped at `width`: between
/// words where a line has a space to break at, inside a word only when the word alone is
/// wider than the line; a newline always breaks, and the space a line breaks at is not
/// shown. Only the paragraphs that can reach the screen are wrapped ([`tail`]).
fn wrap(runs: &[(bool, &str)], width: usize, rows: usize) -> Vec<ScreenLine> {
    let width = width.max(1);
    // A row holds at most `width` characters and the space it breaks at.
    let chars = tail(runs, rows.saturating_add(1).saturating_mul(width + 1));
    let mut lines: Vec<Vec<(bool, char)>> = vec![Vec::new()];
    let mut word: Vec<(bool, char)> = Vec::new();
    // Put the pending word on the current line, or on a new one when it does not fit.
    let flush = |lines: &mut Vec<Vec<(bool, char)>>, word: &mut Vec<(bool, char)>| {
        for piece in word.chunks(width) {
            let line = lines.last_mut().expect("never empty");
            if !line.is_empty() && line.len() + piece.len() > width {
                // The break replaces the space before the word.
                if line.last().is_some_and(|(_, c)| *c == ' ') {
                    line.pop();
                }
                lines.push(Vec::new());
            }
            lines
                .last_mut()
                .expect("never empty")
                .extend_from_slice(piece);
        }
        word.clear();
    };
    for (thinking, ch) in chars {
        match ch {
            '\n' => {
                flush(&mut lines, &mut word);
                lines.push(Vec::new());
            }
            ' ' | '\t' => {
                flush(&mut lines, &mut word);
                let line = lines.last_mut().expect("never empty");
                if line.len() < width {
                    line.push((thinking, ' '));
                } else {
                    // A space that ends a full line is the break itself.
                    lines.push(Vec::new());
                }
            }
            c => word.push((thinking, c)),
        }
    }
    flush(&mut lines, &mut word);
    let start = lines.len().saturating_sub(rows);
    lines[start..].iter().map(|l| runs_of(l)).collect()
}

/// The text from the start of the line (after a newline, or the start of what is kept)
/// that holds the last `budget` characters: where a wrap of everything would be at a line
/// start too, so the rows it gives are exactly the rows of a wrap of everything. The cost
/// is the budget plus the rest of that paragraph, never more than the stream keeps.
fn tail(runs: &[(bool, &str)], budget: usize) -> Vec<(bool, char)> {
    let mut out: Vec<(bool, char)> = Vec::new();
    'runs: for (thinking, text) in runs.iter().rev() {
        for ch in text.chars().rev() {
            if out.len() >= budget && ch == '\n' {
                break 'runs;
            }
            out.push((*thinking, ch));
        }
    }
    out.reverse();
    out
}

/// Characters with their kind, joined into runs of one kind.
fn runs_of(line: &[(bool, char)]) -> ScreenLine {
    let mut out: ScreenLine = Vec::new();
    for (thinking, ch) in line {
        match out.last_mut() {
            Some((t, s)) if t == thinking => s.push(*ch),
            _ => out.push((*thinking, ch.to_string())),
        }
    }
    out
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
        .and_then(|a| app.agents.status.get(a))
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
    let runner = crate::llm::runner_shown(runner, model, " · ");
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
            for l in &wrap(&runs, width, height) {
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

    fn flat(lines: &[Vec<(bool, String)>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.iter().map(|(_, s)| s.as_str()).collect())
            .collect()
    }

    #[test]
    fn lines_break_between_words_and_at_newlines() {
        let l = wrap(
            &[(false, "the orchestration of an edge cluster\nok")],
            16,
            100,
        );
        assert_eq!(
            flat(&l),
            vec!["the", "orchestration of", "an edge cluster", "ok"]
        );
        // A word wider than the line is cut at the width; tabs are spaces.
        let l = wrap(&[(false, "a\tsupercalifragilistic b")], 8, 100);
        assert_eq!(flat(&l), vec!["a", "supercal", "ifragili", "stic b"]);
    }

    #[test]
    fn thinking_stays_apart_within_a_line() {
        let l = wrap(&[(true, "think "), (false, "say more")], 10, 100);
        assert_eq!(flat(&l), vec!["think say", "more"]);
        assert_eq!(
            l[0],
            vec![(true, "think ".to_string()), (false, "say".to_string())]
        );
    }

    #[test]
    fn only_the_last_rows_are_given() {
        let l = wrap(&[(false, "one two three four five")], 5, 2);
        assert_eq!(flat(&l), vec!["four", "five"]);
    }

    #[test]
    fn the_tail_wraps_as_the_whole_text_would() {
        // A long stream, paragraphs and one very long one: the rows shown from the bounded
        // tail are the rows a wrap of everything shows.
        let words = [
            "orchestration",
            "edge",
            "cluster",
            "a",
            "of",
            "the",
            "latency",
            "p99",
            "ok",
            "rebalancing",
            "shards",
            "across",
            "nodes",
        ];
        let mut text = String::new();
        for i in 0..20_000usize {
            text.push_str(words[(i * 7 + i / 3) % words.len()]);
            text.push(if i % 997 == 0 { '\n' } else { ' ' });
        }
        for width in [20, 37, 80, 158] {
            for rows in [5, 22, 46] {
                let tail = wrap(&[(false, &text)], width, rows);
                let all = wrap_everything(&text, width);
                let last = &all[all.len() - rows..];
                assert_eq!(flat(&tail), last, "width {width}, rows {rows}");
            }
        }
    }

    /// The reference: the same greedy wrap over the whole text.
    fn wrap_everything(text: &str, width: usize) -> Vec<String> {
        flat(&wrap(&[(false, text)], width, usize::MAX / 4))
    }
}
