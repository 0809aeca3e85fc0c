//! The token stream pane's state: an agent's model output, bounded, and its timings.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

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

    /// A fresh stream for an intent just queued; the time it was queued is kept when the
    /// prompt already started this one (no intent, no token yet).
    pub fn queued(
        before: Option<&StreamState>,
        intent_id: String,
        now: DateTime<Utc>,
        runner: String,
        model: String,
    ) -> StreamState {
        let queued_at = before
            .filter(|s| s.intent_id.is_empty() && s.tokens == 0)
            .and_then(|s| s.queued_at)
            .unwrap_or(now);
        StreamState {
            intent_id,
            queued_at: Some(queued_at),
            runner,
            model,
            ..StreamState::default()
        }
    }

    /// A token of an intent: one after a finished intent starts the stream over.
    pub fn token(&mut self, intent_id: String, text: &str, thinking: bool, now: DateTime<Utc>) {
        if self.intent_id != intent_id && !self.intent_id.is_empty() && self.done.is_some() {
            *self = StreamState {
                queued_at: Some(now),
                ..StreamState::default()
            };
        }
        self.intent_id = intent_id;
        self.push(text, thinking, now);
    }

    /// The intent is over: `stop`, with what ran it.
    pub fn finished(&mut self, runner: String, model: String) {
        self.runner = runner;
        self.model = model;
        self.done = Some("stop".into());
        self.tool = None;
    }

    /// The intent failed, with why.
    pub fn failed(&mut self, error: &str) {
        self.done = Some(crate::sanitize::one_line(error));
        self.tool = None;
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

/// The stream pane's data: each agent's stream, folded from the runtime's events.
#[derive(Debug, Clone, Default)]
pub struct Streams {
    by_agent: HashMap<String, StreamState>,
}

impl Streams {
    pub fn get(&self, agent_id: &str) -> Option<&StreamState> {
        self.by_agent.get(agent_id)
    }

    /// An intent sent from the prompt: the agent's stream starts over, timed from now.
    pub fn sent(&mut self, agent_id: String, now: DateTime<Utc>) {
        let fresh = StreamState {
            queued_at: Some(now),
            ..StreamState::default()
        };
        self.by_agent.insert(agent_id, fresh);
    }

    /// An intent queued: a fresh stream, run by the runtime's runner until told otherwise.
    pub fn queued(
        &mut self,
        agent_id: String,
        intent_id: String,
        now: DateTime<Utc>,
        runner: String,
        model: String,
    ) {
        let s = StreamState::queued(self.by_agent.get(&agent_id), intent_id, now, runner, model);
        self.by_agent.insert(agent_id, s);
    }

    pub fn token(
        &mut self,
        agent_id: String,
        intent_id: String,
        text: &str,
        thinking: bool,
        now: DateTime<Utc>,
    ) {
        let s = self.by_agent.entry(agent_id).or_default();
        s.token(intent_id, text, thinking, now);
    }

    pub fn finished(&mut self, agent_id: String, runner: String, model: String) {
        self.by_agent
            .entry(agent_id)
            .or_default()
            .finished(runner, model);
    }

    pub fn failed(&mut self, agent_id: String, error: &str) {
        self.by_agent.entry(agent_id).or_default().failed(error);
    }

    /// The tool the agent is calling now, `None` once it answered.
    pub fn calling(&mut self, agent_id: String, tool: Option<String>) {
        self.by_agent.entry(agent_id).or_default().tool = tool;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
