//! The player: one time cursor over a timeline, and the app as it stood at that moment.
//!
//! Moving forward applies the steps in between through `App::update`, exactly as the live
//! loop did (the clock set to each step's time first). Moving back restores the nearest
//! checkpoint (a copy of the app taken while the timeline was first played through) and
//! applies forward from there, so a seek anywhere costs at most one checkpoint interval of
//! steps. The operator's own view (focus, zoom, selected agent, size, theme) is kept across
//! a seek; the data is the recording's.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::timeline::{Start, Timeline, What};
use crate::context::{VersionInfo, diff_texts};
use crate::tui::{Action, App, Effect, ReplayControl, ReplayState};

/// Speeds the faster/slower keys step through.
pub const SPEEDS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// How the app looks before the first step: theme, keymap, size, line limits.
pub type Template = App;

pub struct Player {
    tl: Arc<Timeline>,
    template: Template,
    pub app: App,
    /// Steps applied: `steps[..next]`.
    next: usize,
    pub cursor: DateTime<Utc>,
    pub playing: bool,
    speed: usize,
    /// (steps applied, the app then), in increasing order.
    checkpoints: Vec<(usize, App)>,
    every: usize,
}

impl Player {
    /// A player at the start of `tl`. Checkpoints are taken by playing the timeline
    /// through once, so every later seek is bounded.
    pub fn new(tl: Arc<Timeline>, template: Template) -> Player {
        // About 200 checkpoints: a seek applies at most ~0.5% of the recording.
        let every = (tl.len() / 200).max(1_000);
        let cursor = tl.first_time().unwrap_or_else(Utc::now);
        let mut p = Player {
            app: template.clone(),
            template,
            tl,
            next: 0,
            cursor,
            playing: false,
            speed: 1,
            checkpoints: Vec::new(),
            every,
        };
        p.take_checkpoints();
        p.seek_index(0);
        p.status();
        p
    }

    fn take_checkpoints(&mut self) {
        self.reset_app();
        let n = self.tl.len();
        let mut i = 0;
        while i < n {
            let to = (i + self.every).min(n);
            self.apply_until(to);
            i = to;
            if i < n {
                self.checkpoints.push((i, self.app.clone()));
            }
        }
    }

    fn reset_app(&mut self) {
        self.app = self.template.clone();
        self.app.take_effects();
        self.next = 0;
    }

    pub fn timeline(&self) -> &Timeline {
        &self.tl
    }

    pub fn position(&self) -> usize {
        self.next
    }

    pub fn speed(&self) -> f64 {
        SPEEDS[self.speed]
    }

    /// Set the speed to the nearest offered one.
    pub fn set_speed(&mut self, speed: f64) {
        self.speed = SPEEDS
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - speed).abs().total_cmp(&(b.1 - speed).abs()))
            .map_or(1, |(i, _)| i);
    }

    /// Tell the app where the replay stands (the status bar shows it).
    fn status(&mut self) {
        self.app.set_replay(ReplayState {
            cursor: self.cursor,
            playing: self.playing,
            speed: self.speed(),
            position: self.next,
            total: self.tl.len(),
        });
        self.app.update(Action::Tick(self.cursor));
        // A recording's attention was the live terminal's to ring, not a replay's.
        self.app.take_alerts();
    }

    /// Real time passed while playing: the cursor moves `real × speed`.
    pub fn advance(&mut self, real: Duration) -> bool {
        if !self.playing {
            return false;
        }
        let step = real.mul_f64(self.speed());
        let to = self.cursor + chrono::Duration::from_std(step).unwrap_or_default();
        let end = self.tl.last_time().unwrap_or(to);
        if to >= end {
            self.playing = false;
        }
        self.seek_time(to.min(end));
        true
    }

    pub fn control(&mut self, c: ReplayControl) {
        match c {
            ReplayControl::PlayPause => {
                if !self.playing && self.next >= self.tl.len() {
                    self.seek_index(0);
                }
                self.playing = !self.playing;
            }
            ReplayControl::Faster => self.speed = (self.speed + 1).min(SPEEDS.len() - 1),
            ReplayControl::Slower => self.speed = self.speed.saturating_sub(1),
            ReplayControl::Step(n) => {
                self.playing = false;
                let to = (self.next as i64 + n).clamp(0, self.tl.len() as i64) as usize;
                self.seek_index(to);
            }
            ReplayControl::Seek(secs) => {
                self.seek_time(self.cursor + chrono::Duration::seconds(secs))
            }
            ReplayControl::Goto(text) => match self.parse_time(&text) {
                Some(t) => self.seek_time(t),
                None => {
                    self.app.update(Action::Notice(format!(
                        "goto: {:?} is not a time (HH:MM[:SS] or RFC 3339)",
                        crate::sanitize::one_line(&text)
                    )));
                }
            },
            ReplayControl::AuditSeq(seq) => match self.tl.index_of_audit(seq) {
                Some(i) => {
                    self.seek_index(i);
                    self.app.update(Action::Focus(crate::tui::Pane::Audit));
                }
                None => {
                    self.app.update(Action::Notice(format!(
                        "audit record {seq} is not in this recording"
                    )));
                }
            },
            ReplayControl::Entry(seq) => {
                let i = self.tl.index_of_entry(seq);
                self.seek_index(i);
            }
        };
        self.status();
    }

    /// `HH:MM[:SS]` on the day (local time) the cursor stands on, or RFC 3339.
    fn parse_time(&self, text: &str) -> Option<DateTime<Utc>> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(t.with_timezone(&Utc));
        }
        let clock = chrono::NaiveTime::parse_from_str(text, "%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveTime::parse_from_str(text, "%H:%M"))
            .ok()?;
        let day = self.cursor.with_timezone(&chrono::Local).date_naive();
        day.and_time(clock)
            .and_local_timezone(chrono::Local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Move the cursor to `t`: every step at or before it applied, none after.
    pub fn seek_time(&mut self, t: DateTime<Utc>) {
        // Within the recording: past its ends there is nothing to show.
        let t = match (self.tl.first_time(), self.tl.last_time()) {
            (Some(first), Some(last)) => t.clamp(first, last),
            _ => t,
        };
        let i = self.tl.index_at(t);
        self.seek_index(i);
        self.cursor = t;
        self.status();
    }

    /// Move to "the first `i` steps applied"; the cursor goes to the last one's time.
    pub fn seek_index(&mut self, i: usize) {
        let i = i.min(self.tl.len());
        if i < self.next || i - self.next > self.every {
            let view = self.app.operator_view();
            match self.checkpoints.iter().rev().find(|(n, _)| *n <= i) {
                Some((n, app)) => {
                    self.app = app.clone();
                    self.next = *n;
                }
                None => self.reset_app(),
            }
            // After restoring a checkpoint: the operator's view as it was before the seek.
            self.app.lay_out(&view);
            self.app.keep_selection(&view);
            self.app.take_effects();
            if self.app.focused_agent() != view.focused_agent()
                && let Some(id) = view.focused_agent()
            {
                self.app.focus_agent(id);
                self.answer_loads();
            }
        }
        self.apply_until(i);
        self.cursor = match i.checked_sub(1) {
            Some(last) => self.tl.steps[last].t,
            None => self.tl.first_time().unwrap_or(self.cursor),
        };
        self.status();
    }

    fn apply_until(&mut self, to: usize) {
        while self.next < to {
            let i = self.next;
            self.next += 1;
            self.apply(i);
        }
    }

    fn apply(&mut self, i: usize) {
        let tl = self.tl.clone();
        let step = &tl.steps[i];
        match &step.what {
            What::Start(s) => self.start(s),
            What::Apply(a) => {
                self.app.advance_clock(step.t);
                self.app.apply_recorded(a.clone());
            }
            What::State(s) => {
                if self.app.focused_agent() == Some(s.spec.id.as_str()) {
                    self.app.update(Action::AgentLoaded(s.clone()));
                }
            }
            // Recorded just after the event that announced it, where the live app's load
            // of the new diff was answered from the store: answer it again now.
            What::Version(v) => {
                if self.app.focused_agent() == Some(v.agent_id.as_str()) {
                    self.load_diff(&v.agent_id, None);
                }
            }
            What::Mark(_) => {}
        }
        self.answer_loads();
    }

    /// A new process's recording: a fresh app with its info and agents, the view kept.
    fn start(&mut self, s: &Start) {
        let view = self.app.operator_view();
        self.app = App::from_parts(
            s.info.clone(),
            s.agents.clone(),
            s.status.clone(),
            self.template.max_lines(),
        );
        self.app.lay_out(&view);
        self.app.keep_audit_count(&view);
        if let Some(id) = view
            .focused_agent()
            .filter(|id| s.agents.iter().any(|a| a.id == *id))
        {
            self.app.focus_agent(id);
        }
    }

    /// Answer the app's loads from the recording up to the cursor, as the live effect
    /// runner answered them from the store; other effects wait for the driver.
    fn answer_loads(&mut self) {
        let effects = self.app.take_effects();
        let mut kept = Vec::new();
        for e in effects {
            match e {
                Effect::LoadAgent(id) => {
                    if let Some(s) = self.tl.state_before(&id, self.next) {
                        self.app.update(Action::AgentLoaded(Box::new(s.clone())));
                    }
                }
                Effect::LoadDiff { agent_id, range } => self.load_diff(&agent_id, range),
                Effect::SaveHistory(_) => {}
                other => kept.push(other),
            }
        }
        self.app.give_back_effects(kept);
    }

    fn load_diff(&mut self, agent_id: &str, range: Option<(u64, u64)>) {
        let tl = self.tl.clone();
        let versions = tl.versions_before(agent_id, self.next);
        let infos: Vec<VersionInfo> = versions.iter().map(|v| VersionInfo::from(*v)).collect();
        let (from, to) = crate::tui::diff_range(range, &infos);
        self.app.update(Action::Versions {
            agent_id: agent_id.to_string(),
            versions: infos,
        });
        if to == 0 {
            return;
        }
        let text = |n: u64| {
            versions
                .iter()
                .find(|v| v.version == n)
                .map(|v| v.text.as_str())
        };
        match (if from == 0 { Some("") } else { text(from) }, text(to)) {
            (Some(old), Some(new)) => {
                let d = diff_texts(agent_id, from, old, to, new);
                self.app.update(Action::Diff(Box::new(d)));
            }
            _ => {
                self.app.update(Action::Notice(format!(
                    "diff: {agent_id} v{from}→v{to} is not in the recording"
                )));
            }
        }
    }

    /// Effects the app asked for that the player does not answer itself (replay keys,
    /// "why?", and the writes a replay refuses).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        self.app.take_effects()
    }

    /// Apply an operator's action (a key, a resize) and answer what it loads.
    pub fn operator(&mut self, a: Action) -> bool {
        let changed = self.app.update(a);
        self.answer_loads();
        changed
    }
}
