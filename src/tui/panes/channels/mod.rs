//! The channels pane's state: the bus messages, decoded once, filtered and rated.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::super::action::Action;
use super::super::why_view::WhyOf;
use super::{Cursor, FollowedList, Reply, filter_matches};
use crate::bus::{Envelope, Received};
use crate::sanitize::one_line;

/// One message as the channels pane shows it; decoded once, on arrival.
#[derive(Debug, Clone)]
pub struct ChannelLine {
    pub time: String,
    pub channel: String,
    pub agent: Option<String>,
    pub summary: String,
    pub rejected: bool,
    pub source: LineSource,
}

#[derive(Debug, Clone)]
pub enum LineSource {
    Envelope(Arc<Envelope>),
    Rejected(String),
}

/// Seconds of history in each channel's rate sparkline.
pub const RATE_SECONDS: usize = 60;

#[derive(Debug, Clone, Default)]
pub struct ChannelsState {
    pub lines: VecDeque<ChannelLine>,
    /// Messages that arrived while paused, shown on resume (bounded like `lines`).
    pub held: VecDeque<ChannelLine>,
    pub paused: bool,
    pub filter: String,
    pub cursor: Cursor,
    /// Per channel: messages per second, oldest first, the current second last.
    pub rates: BTreeMap<String, VecDeque<u64>>,
    pub dropped: u64,
    /// Patterns the operator added.
    pub patterns: Vec<String>,
    /// Positions (counted from the first line ever kept, see `base`) of the lines that
    /// pass the filter: dropping the oldest line does not renumber the rest.
    pub visible: VecDeque<usize>,
    /// How many lines were dropped from the front of `lines` so far.
    pub base: usize,
}

/// A short text for an envelope's payload: its `text`, `summary` or the raw JSON.
fn payload_summary(env: &Envelope) -> String {
    #[derive(serde::Deserialize)]
    struct Peek {
        text: Option<String>,
        summary: Option<String>,
        version: Option<u64>,
        node: Option<String>,
        error: Option<String>,
    }
    let raw = env.payload.get();
    let mut s = match serde_json::from_str::<Peek>(raw) {
        Ok(Peek { text: Some(t), .. }) => t,
        Ok(Peek {
            summary: Some(s),
            version,
            ..
        }) => match version {
            Some(v) => format!("v{v} {s}"),
            None => s,
        },
        Ok(Peek { error: Some(e), .. }) => format!("error: {e}"),
        Ok(Peek { node: Some(n), .. }) => format!("node {n}"),
        _ => raw.chars().take(120).collect(),
    };
    if s.len() > 160 {
        let cut = (0..=160)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    one_line(&s)
}

fn time_of(ts: &str) -> String {
    // RFC 3339: the clock part is enough on screen.
    ts.get(11..19).unwrap_or(ts).to_string()
}

impl ChannelsState {
    pub fn line_of(received: &Received) -> ChannelLine {
        match received {
            Received::Message { channel, envelope } => {
                let who = envelope
                    .source
                    .agent_id
                    .as_deref()
                    .or(envelope.source.operator.as_deref())
                    .unwrap_or(&envelope.source.node);
                let target = envelope
                    .agent_id
                    .as_deref()
                    .map(|a| format!(" → {a}"))
                    .unwrap_or_default();
                ChannelLine {
                    time: time_of(&envelope.ts),
                    channel: one_line(channel),
                    agent: envelope.agent_id.as_deref().map(one_line),
                    summary: one_line(&format!(
                        "{} {who}{target}: {}",
                        envelope.kind,
                        payload_summary(envelope)
                    )),
                    rejected: false,
                    source: LineSource::Envelope(envelope.clone()),
                }
            }
            Received::Rejected(r) => ChannelLine {
                time: time_of(&r.ts),
                channel: one_line(&r.channel),
                agent: None,
                summary: one_line(&format!("{r}: {}", r.preview)),
                rejected: true,
                source: LineSource::Rejected(one_line(&r.preview)),
            },
        }
    }

    pub fn ingest(&mut self, received: &Received, max_lines: usize) {
        let line = ChannelsState::line_of(received);
        let rate = self
            .rates
            .entry(line.channel.clone())
            .or_insert_with(|| VecDeque::from([0]));
        if let Some(last) = rate.back_mut() {
            *last += 1;
        }
        if self.paused {
            if self.held.len() >= max_lines {
                self.held.pop_front();
            }
            self.held.push_back(line);
            return;
        }
        if self.lines.len() >= max_lines {
            self.lines.pop_front();
            if self.visible.front() == Some(&self.base) {
                self.visible.pop_front();
                // The selection keeps pointing at the same line.
                self.cursor.selected = self.cursor.selected.saturating_sub(1);
            }
            self.base += 1;
        }
        self.lines.push_back(line);
        let idx = self.lines.len() - 1;
        if self.passes(&self.lines[idx]) {
            self.visible.push_back(self.base + idx);
        }
        self.cursor.clamp(self.visible.len());
    }

    /// Close the current second of every rate (called once a second).
    /// `seconds` whole seconds passed (more than one after a stall, or a replay's jump).
    pub fn roll_rates(&mut self, seconds: u64) {
        let n = seconds.clamp(1, RATE_SECONDS as u64);
        for r in self.rates.values_mut() {
            for _ in 0..n {
                r.push_back(0);
            }
            while r.len() > RATE_SECONDS {
                r.pop_front();
            }
        }
    }

    /// Messages per second across channels over the last full second.
    pub fn per_second(&self) -> u64 {
        self.rates
            .values()
            .map(|r| r.iter().rev().nth(1).copied().unwrap_or(0))
            .sum()
    }

    pub fn toggle_pause(&mut self, max_lines: usize) {
        self.paused = !self.paused;
        if !self.paused {
            for l in std::mem::take(&mut self.held) {
                if self.lines.len() >= max_lines {
                    self.lines.pop_front();
                    self.base += 1;
                }
                self.lines.push_back(l);
            }
            self.refilter();
        }
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.refilter();
        self.cursor = Cursor::following();
        self.cursor.clamp(self.visible.len());
    }

    fn passes(&self, l: &ChannelLine) -> bool {
        filter_matches(
            &self.filter,
            |key, value| match key {
                "channel" => Some(l.channel.contains(value)),
                "agent" => Some(l.agent.as_deref().is_some_and(|a| a.contains(value))),
                _ => None,
            },
            &l.summary,
        )
    }

    pub fn refilter(&mut self) {
        self.visible = (0..self.lines.len())
            .filter(|i| self.passes(&self.lines[*i]))
            .map(|i| i + self.base)
            .collect();
        self.cursor.clamp(self.visible.len());
    }

    /// The line at a position of `visible`.
    pub fn line_at(&self, n: usize) -> Option<&ChannelLine> {
        self.visible
            .get(n)
            .and_then(|i| self.lines.get(i.checked_sub(self.base)?))
    }

    pub fn selected_line(&self) -> Option<&ChannelLine> {
        self.line_at(self.cursor.selected)
    }

    /// A key for this pane: move (to the bottom, following again), or open the selected
    /// message whole.
    pub fn action(&mut self, action: &Action, page: usize) -> Reply {
        self.list_action(action, page)
    }

    /// What "why?" asks about here: the selected message (not a rejected one).
    pub fn why_of(&self) -> Option<WhyOf> {
        match self.selected_line().map(|l| &l.source) {
            Some(LineSource::Envelope(env)) => Some(WhyOf::Envelope(env.id.clone())),
            _ => None,
        }
    }
}

/// The full message, pretty-printed, for the detail overlay.
pub fn pretty_json(line: &ChannelLine) -> String {
    match &line.source {
        LineSource::Envelope(env) => {
            let v = serde_json::to_value(env.as_ref()).unwrap_or_default();
            serde_json::to_string_pretty(
                &serde_json::json!({"channel": line.channel, "envelope": v}),
            )
            .unwrap_or_default()
        }
        LineSource::Rejected(preview) => {
            format!("rejected message on {}\n\n{}", line.channel, preview)
        }
    }
}

impl FollowedList for ChannelsState {
    /// Move the selection `n` lines down or up.
    fn move_by(&mut self, n: usize, down: bool) {
        self.cursor.move_by(n, down, self.visible.len());
    }

    /// Stick to the newest line again.
    fn follow(&mut self) {
        self.cursor.follow = true;
    }

    /// The selected message, whole: a title and the text for the detail overlay.
    fn detail(&self) -> Option<(String, String)> {
        self.selected_line()
            .map(|l| (format!("{} message", l.channel), pretty_json(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_message_is_said_in_words() {
        let raw = br#"{"agent_id":x}"#;
        let reason = crate::bus::decode(crate::bus::channels::MEMORY, raw, 1024).unwrap_err();
        let line = ChannelsState::line_of(&Received::Rejected(crate::bus::RejectedMessage {
            channel: crate::bus::channels::MEMORY.into(),
            ts: "2026-11-24T12:00:00.000Z".into(),
            reason,
            preview: r#"{"agent_id":x}"#.into(),
        }));
        assert_eq!(
            line.summary,
            r#"rejected: not JSON at byte 12: expected value: {"agent_id":x}"#
        );
        assert!(line.rejected);
    }
}
