//! The state behind each pane, with its own bounded buffers: what arrives is folded in
//! here, in `update`, so the view only reads.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use similar::{ChangeTag, TextDiff};

use crate::audit::AuditRecord;
use crate::bus::{Envelope, Received};
use crate::context::{ContextDiff, DiffLineKind, VersionInfo};
use crate::sanitize::one_line;

/// A selection in a list that can follow its newest line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    pub selected: usize,
    /// Stick to the newest line as lines arrive.
    pub follow: bool,
}

impl Cursor {
    pub fn following() -> Cursor {
        Cursor {
            selected: 0,
            follow: true,
        }
    }

    pub fn clamp(&mut self, len: usize) {
        if self.follow || self.selected >= len {
            self.selected = len.saturating_sub(1);
        }
    }

    pub fn down(&mut self, n: usize, len: usize) {
        self.selected = (self.selected + n).min(len.saturating_sub(1));
        self.follow = self.selected + 1 >= len;
    }

    pub fn up(&mut self, n: usize) {
        self.selected = self.selected.saturating_sub(n);
        self.follow = false;
    }
}

// ———————————————————————————— channels ————————————————————————————

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
}

/// A filter: space-separated words; `key:value` words go to `field` (None = not a field,
/// then the word is matched as text); other words must appear in `text`, ignoring case.
pub fn filter_matches(
    filter: &str,
    field: impl Fn(&str, &str) -> Option<bool>,
    text: &str,
) -> bool {
    let lower = text.to_lowercase();
    filter.split_whitespace().all(|w| {
        if let Some((k, v)) = w.split_once(':')
            && let Some(hit) = field(k, v)
        {
            return hit;
        }
        lower.contains(&w.to_lowercase())
    })
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

// ———————————————————————————— token stream ————————————————————————————

/// Characters of model output kept per agent.
pub const STREAM_KEEP: usize = 32 * 1024;

#[derive(Debug, Clone, Default)]
pub struct StreamState {
    pub intent_id: String,
    /// Runs of text, `true` for thinking; bounded to `STREAM_KEEP` characters.
    pub runs: VecDeque<(bool, String)>,
    pub chars: usize,
    pub queued_at: Option<DateTime<Utc>>,
    pub first_token_at: Option<DateTime<Utc>>,
    pub last_token_at: Option<DateTime<Utc>>,
    pub tokens: u64,
    pub runner: String,
    pub model: String,
    /// `stop`, `failed: …` or `stopped by the operator` once over.
    pub done: Option<String>,
    pub tool: Option<String>,
}

impl StreamState {
    pub fn push(&mut self, text: &str, thinking: bool, now: DateTime<Utc>) {
        if self.first_token_at.is_none() {
            self.first_token_at = Some(now);
        }
        self.last_token_at = Some(now);
        self.tokens += 1;
        let clean = crate::sanitize::for_terminal(text);
        self.chars += clean.len();
        match self.runs.back_mut() {
            Some((t, s)) if *t == thinking => s.push_str(&clean),
            _ => self.runs.push_back((thinking, clean.into_owned())),
        }
        while self.chars > STREAM_KEEP {
            let Some((_, front)) = self.runs.front_mut() else {
                break;
            };
            let excess = self.chars - STREAM_KEEP;
            if front.len() <= excess {
                self.chars -= front.len();
                self.runs.pop_front();
            } else {
                let cut = (excess..=front.len())
                    .find(|i| front.is_char_boundary(*i))
                    .unwrap_or(front.len());
                front.drain(..cut);
                self.chars -= cut;
            }
        }
    }

    /// Milliseconds from the intent to its first token.
    pub fn first_token_ms(&self) -> Option<i64> {
        Some((self.first_token_at? - self.queued_at?).num_milliseconds())
    }

    /// Tokens per second between the first and the latest token.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let span = (self.last_token_at? - self.first_token_at?).num_milliseconds();
        (span > 0 && self.tokens > 1).then(|| (self.tokens - 1) as f64 * 1000.0 / span as f64)
    }
}

// ———————————————————————————— audit ————————————————————————————

#[derive(Debug, Clone, Default)]
pub struct AuditState {
    pub records: VecDeque<Arc<AuditRecord>>,
    /// Records in the log (not only those kept here).
    pub total: u64,
    /// `Some(seq)`: the chain breaks at that record.
    pub broken_at: Option<u64>,
    /// Whether the startup verification has answered.
    pub verified: bool,
    pub last_hash: Option<String>,
    pub filter: String,
    pub cursor: Cursor,
    pub visible: Vec<usize>,
}

impl AuditState {
    pub fn ingest(&mut self, r: Arc<AuditRecord>, max_lines: usize) {
        // Live chain check: each record must link to the previous and hash to itself.
        if self.broken_at.is_none() {
            let links = self.last_hash.as_ref().is_none_or(|h| *h == r.prev_hash);
            if !links || !r.hash_matches() {
                self.broken_at = Some(r.seq);
            }
        }
        self.last_hash = Some(r.hash.clone());
        self.total = self.total.max(r.seq + 1);
        if self.records.len() >= max_lines {
            self.records.pop_front();
            self.records.push_back(r);
            self.refilter();
        } else {
            self.records.push_back(r);
            let i = self.records.len() - 1;
            if self.passes(&self.records[i]) {
                self.visible.push(i);
            }
            self.cursor.clamp(self.visible.len());
        }
    }

    fn passes(&self, r: &AuditRecord) -> bool {
        let text = format!(
            "{} {} {} {}",
            r.action,
            r.agent_id.as_deref().unwrap_or("-"),
            r.caller,
            r.error.as_deref().unwrap_or("")
        );
        filter_matches(
            &self.filter,
            |k, v| match k {
                "agent" => Some(r.agent_id.as_deref().is_some_and(|a| a.contains(v))),
                "action" => Some(r.action.contains(v)),
                _ => None,
            },
            &text,
        )
    }

    pub fn set_filter(&mut self, f: String) {
        self.filter = f;
        self.cursor = Cursor::following();
        self.refilter();
    }

    pub fn refilter(&mut self) {
        self.visible = (0..self.records.len())
            .filter(|i| self.passes(&self.records[*i]))
            .collect();
        self.cursor.clamp(self.visible.len());
    }

    pub fn selected(&self) -> Option<&Arc<AuditRecord>> {
        self.visible
            .get(self.cursor.selected)
            .and_then(|i| self.records.get(*i))
    }

    pub fn chain_label(&self) -> String {
        match (self.broken_at, self.verified) {
            (Some(n), _) => format!("chain broken at record {n}"),
            (None, true) => "chain verified".into(),
            (None, false) => "chain checking…".into(),
        }
    }
}

// ———————————————————————————— context diff ————————————————————————————

/// A piece of a diff line: text, and whether it is a changed word.
pub type Segment = (String, bool);

#[derive(Debug, Clone, PartialEq)]
pub struct DiffRow {
    pub kind: DiffLineKind,
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub segments: Vec<Segment>,
    /// A hunk header row (`@@ -a,b +c,d @@`).
    pub header: Option<String>,
}

/// One row of the side-by-side view: the old side and the new side.
#[derive(Debug, Clone, PartialEq)]
pub struct SideRow {
    pub left: Option<DiffRow>,
    pub right: Option<DiffRow>,
    pub header: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DiffState {
    pub agent_id: String,
    pub versions: Vec<VersionInfo>,
    /// The versions compared (0 = empty, before version 1).
    pub from: u64,
    pub to: u64,
    pub diff: Option<ContextDiff>,
    pub rows: Vec<DiffRow>,
    pub side: Vec<SideRow>,
    /// Indexes into `rows` (or `side`) where each hunk starts.
    pub hunk_starts: Vec<usize>,
    pub side_hunk_starts: Vec<usize>,
    pub scroll: usize,
    pub side_by_side: bool,
}

/// Word-level segments for a removed/added pair of lines.
fn word_segments(old: &str, new: &str) -> (Vec<Segment>, Vec<Segment>) {
    let d = TextDiff::from_words(old, new);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for c in d.iter_all_changes() {
        let t = c.value().to_string();
        match c.tag() {
            ChangeTag::Equal => {
                l.push((t.clone(), false));
                r.push((t, false));
            }
            ChangeTag::Delete => l.push((t, true)),
            ChangeTag::Insert => r.push((t, true)),
        }
    }
    (l, r)
}

impl DiffState {
    pub fn set_versions(&mut self, agent_id: &str, versions: Vec<VersionInfo>) {
        if self.agent_id != agent_id {
            *self = DiffState {
                side_by_side: self.side_by_side,
                ..DiffState::default()
            };
            self.agent_id = agent_id.to_string();
        }
        self.versions = versions;
    }

    /// The newest kept version, 0 when none.
    pub fn latest(&self) -> u64 {
        self.versions.last().map_or(0, |v| v.version)
    }

    /// Versions that can be diffed from: 0 (empty) and every kept one.
    pub fn choices(&self) -> Vec<u64> {
        let mut c = vec![0];
        c.extend(self.versions.iter().map(|v| v.version));
        c
    }

    pub fn info(&self, version: u64) -> Option<&VersionInfo> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub fn set_diff(&mut self, diff: ContextDiff) {
        self.rows.clear();
        self.side.clear();
        self.hunk_starts.clear();
        self.side_hunk_starts.clear();
        for h in &diff.hunks {
            let header = format!(
                "@@ -{},{} +{},{} @@",
                h.old_start, h.old_len, h.new_start, h.new_len
            );
            self.hunk_starts.push(self.rows.len());
            self.side_hunk_starts.push(self.side.len());
            self.rows.push(DiffRow {
                kind: DiffLineKind::Context,
                old_line: None,
                new_line: None,
                segments: Vec::new(),
                header: Some(header.clone()),
            });
            self.side.push(SideRow {
                left: None,
                right: None,
                header: Some(header),
            });
            let mut i = 0;
            while i < h.lines.len() {
                let line = &h.lines[i];
                if line.kind == DiffLineKind::Context {
                    let row = DiffRow {
                        kind: line.kind,
                        old_line: line.old_line,
                        new_line: line.new_line,
                        segments: vec![(one_line(&line.text), false)],
                        header: None,
                    };
                    self.side.push(SideRow {
                        left: Some(row.clone()),
                        right: Some(row.clone()),
                        header: None,
                    });
                    self.rows.push(row);
                    i += 1;
                    continue;
                }
                // A run of removed lines then added lines: pair them up for word diffs.
                let start = i;
                while i < h.lines.len() && h.lines[i].kind == DiffLineKind::Removed {
                    i += 1;
                }
                let mid = i;
                while i < h.lines.len() && h.lines[i].kind == DiffLineKind::Added {
                    i += 1;
                }
                let removed = &h.lines[start..mid];
                let added = &h.lines[mid..i];
                let mut left_rows = Vec::new();
                let mut right_rows = Vec::new();
                for k in 0..removed.len().max(added.len()) {
                    let (ls, rs) = match (removed.get(k), added.get(k)) {
                        (Some(o), Some(n)) => word_segments(&one_line(&o.text), &one_line(&n.text)),
                        (Some(o), None) => (vec![(one_line(&o.text), false)], Vec::new()),
                        (None, Some(n)) => (Vec::new(), vec![(one_line(&n.text), false)]),
                        (None, None) => (Vec::new(), Vec::new()),
                    };
                    if let Some(o) = removed.get(k) {
                        left_rows.push(DiffRow {
                            kind: DiffLineKind::Removed,
                            old_line: o.old_line,
                            new_line: None,
                            segments: ls,
                            header: None,
                        });
                    }
                    if let Some(n) = added.get(k) {
                        right_rows.push(DiffRow {
                            kind: DiffLineKind::Added,
                            old_line: None,
                            new_line: n.new_line,
                            segments: rs,
                            header: None,
                        });
                    }
                }
                for k in 0..left_rows.len().max(right_rows.len()) {
                    self.side.push(SideRow {
                        left: left_rows.get(k).cloned(),
                        right: right_rows.get(k).cloned(),
                        header: None,
                    });
                }
                self.rows.extend(left_rows);
                self.rows.extend(right_rows);
            }
        }
        self.from = diff.from;
        self.to = diff.to;
        self.diff = Some(diff);
        self.scroll = 0;
    }

    fn starts(&self) -> &[usize] {
        if self.side_by_side {
            &self.side_hunk_starts
        } else {
            &self.hunk_starts
        }
    }

    pub fn next_hunk(&mut self) {
        if let Some(s) = self.starts().iter().find(|s| **s > self.scroll) {
            self.scroll = *s;
        }
    }

    pub fn prev_hunk(&mut self) {
        if let Some(s) = self.starts().iter().rev().find(|s| **s < self.scroll) {
            self.scroll = *s;
        }
    }

    /// Which hunk the view is at (1-based) and how many there are.
    pub fn hunk_position(&self) -> (usize, usize) {
        let starts = self.starts();
        let at = starts.iter().filter(|s| **s <= self.scroll).count();
        (at.max(usize::from(!starts.is_empty())), starts.len())
    }

    pub fn len(&self) -> usize {
        if self.side_by_side {
            self.side.len()
        } else {
            self.rows.len()
        }
    }

    pub fn toggle_view(&mut self) {
        // Stay on the same hunk when switching.
        let (at, _) = self.hunk_position();
        self.side_by_side = !self.side_by_side;
        self.scroll = self
            .starts()
            .get(at.saturating_sub(1))
            .copied()
            .unwrap_or(0);
    }
}

// ———————————————————————————— agents ————————————————————————————

#[derive(Debug, Clone, Default)]
pub struct AgentActivity {
    pub last: Option<DateTime<Utc>>,
    pub goal: Option<String>,
}

/// How long ago, short: `5s`, `3m`, `2h`, `4d`.
pub fn ago(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = then else {
        return "-".into();
    };
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub type ActivityMap = HashMap<String, AgentActivity>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::diff_texts;

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

    #[test]
    fn the_stream_keeps_a_bounded_tail_and_splits_thinking() {
        let now = Utc::now();
        let mut s = StreamState::default();
        s.push("hmm ", true, now);
        s.push("answer", false, now);
        assert_eq!(s.runs.len(), 2);
        for _ in 0..10_000 {
            s.push("0123456789", false, now);
        }
        assert!(s.chars <= STREAM_KEEP);
        assert_eq!(s.runs.iter().map(|(_, t)| t.len()).sum::<usize>(), s.chars);
    }

    #[test]
    fn diff_rows_pair_changed_lines_and_mark_changed_words() {
        let d = diff_texts(
            "a",
            1,
            "one\ntwo three\nfour\n",
            2,
            "one\ntwo 3\nfour\nfive\n",
        );
        let mut st = DiffState::default();
        st.set_diff(d);
        let removed = st
            .rows
            .iter()
            .find(|r| r.kind == DiffLineKind::Removed)
            .unwrap();
        assert!(removed.segments.contains(&("three".to_string(), true)));
        assert!(removed.segments.contains(&("two".to_string(), false)));
        assert_eq!(st.hunk_starts.len(), 1);
        // Side by side: the pair sits on one row.
        assert!(st.side.iter().any(|r| {
            r.left
                .as_ref()
                .is_some_and(|l| l.kind == DiffLineKind::Removed)
                && r.right
                    .as_ref()
                    .is_some_and(|r| r.kind == DiffLineKind::Added)
        }));
    }

    #[test]
    fn filters_take_fields_and_words() {
        let hit = |f: &str| {
            filter_matches(
                f,
                |k, v| (k == "agent").then(|| "ops-agent".contains(v)),
                "intent Deploy staging",
            )
        };
        assert!(hit("deploy"));
        assert!(hit("agent:ops deploy"));
        assert!(!hit("agent:sec"));
        assert!(!hit("rollback"));
    }
}
