//! The UI state and `update`: pure state changes. What needs I/O (dispatching, loading a
//! diff, saving goals) is returned as an `Effect` for the loop to run; its result comes
//! back as another `Action`.
//!
//! Each pane's state, its keys and its drawing are in `panes/`; `App` holds them and routes
//! by focus, mode and overlay: a key goes to the focused pane, which changes itself and
//! answers with a `Reply` for what only the app may do (a mode, a focus, an effect). The
//! effects are in `effect.rs`, the modes and the overlays' keys in `modes.rs`, the focused
//! agent and who needs attention in `agents.rs`, the text inputs and `:` commands in
//! `prompt.rs`, the mouse in `mouse.rs`, goal editing in `goals.rs`, the approvals view's
//! keys in `approvals.rs`, runtime events in `events.rs`, what code outside the TUI may
//! call in `outside.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;

use crate::agent::{AgentSpec, Runtime, RuntimeInfo};
use crate::bus::{Heartbeat, Received, channels};
use crate::event::{AgentStatus, RuntimeEvent};
use crate::sanitize::one_line;

use super::action::{Action, Pane};
use super::input::Completion;
use super::keymap::Keymap;
use super::panes::{
    AgentsState, ApprovalsState, AuditState, ChannelsState, Cursor, DiffState, GoalsState, Reply,
    StreamState, Streams,
};
use super::theme::Theme;
use super::why_view::WhyOf;

pub use super::panes::LastRecall;

mod agents;
mod approvals;
mod effect;
mod events;
mod goals;
mod modes;
mod mouse;
mod outside;
mod prompt;

pub use effect::{Effect, ReplayControl, ReplayState, diff_range};
pub use modes::Mode;

/// What a read-only TUI says when a key would change something.
const READ_ONLY: &str = "read-only: this control center watches only (started with --read-only)";

/// The whole UI state. Its fields are the TUI's own (`pub(super)`: the app, the panes'
/// drawing, the view and the loop read them); what is outside the TUI (the replay player,
/// the tests) goes through methods.
#[derive(Clone)]
pub struct App {
    /// Set when the app is driven by a recording (`aios replay`): keys move its cursor.
    pub(super) replay: Option<ReplayState>,
    pub(super) info: RuntimeInfo,
    /// The agents pane: the agents, their status and activity, the selection, the filter.
    pub(super) agents: AgentsState,
    /// The agent the other panes show.
    pub(super) focused_agent: Option<String>,
    /// The goals pane: the focused agent's state, the last recalls, the hook deliveries.
    pub(super) goals: GoalsState,
    /// The stream pane: each agent's model output.
    pub(super) streams: Streams,
    pub(super) channels: ChannelsState,
    pub(super) audit: AuditState,
    pub(super) diff: DiffState,
    /// Tool calls waiting for a person, oldest first, and the one selected.
    pub(super) approvals: ApprovalsState,
    pub(super) focus: Pane,
    /// The last pane other than the agents, shown on the right of a narrow screen.
    pub(super) detail_pane: Pane,
    pub(super) zoom: bool,
    pub(super) mode: Mode,
    pub(super) input: TextArea<'static>,
    pub(super) history: VecDeque<String>,
    history_pos: Option<usize>,
    pub(super) completion: Option<Completion>,
    pub(super) notice: Option<(String, DateTime<Utc>)>,
    pub(super) dropped: u64,
    pub(super) now: DateTime<Utc>,
    pub(super) clock: String,
    pub(super) bus_state: String,
    /// The last heartbeat of each node heard on `aios.nodes`, and when it came.
    nodes: BTreeMap<String, (Heartbeat, DateTime<Utc>)>,
    pub(super) theme: Theme,
    pub(super) keymap: Keymap,
    /// Started with `--read-only`: the keys that change anything are hidden from the help
    /// and refused, and no changing effect leaves the app.
    pub(super) read_only: bool,
    size: Rect,
    pub(super) effects: Vec<Effect>,
    pub(super) max_lines: usize,
    /// Seconds without a token before a working agent counts as stalled; 0 = never.
    pub(super) stall_s: u32,
    /// Agents needing attention at the last check: a newcomer raises an alert.
    attention_seen: std::collections::BTreeSet<String>,
    /// Alerts for the terminal (bell / OSC 9), taken by the loop after drawing.
    pub(super) alerts: Vec<String>,
    pub(super) notify: crate::config::Notify,
    quit: bool,
}

/// A node unheard for this long is no longer counted (heartbeats come every 5 s).
const NODE_GONE: chrono::Duration = chrono::Duration::seconds(20);

/// Intents kept in the history.
pub const HISTORY_KEEP: usize = 500;

pub use super::panes::AgentRow;

impl App {
    pub fn new(runtime: &Runtime, max_lines: usize) -> App {
        let agents = runtime.hub().catalog().agents().to_vec();
        let status = agents
            .iter()
            .map(|a| (a.id.clone(), runtime.status(&a.id).0))
            .collect();
        App::from_parts(runtime.info().clone(), agents, status, max_lines)
    }

    /// Remember a node's heartbeat: the status bar names the nodes alive.
    fn heard_node(&mut self, r: &Received) {
        if let Received::Message { channel, envelope } = r
            && channel == channels::NODES
            && let Ok(beat) = envelope.payload_as::<Heartbeat>()
        {
            self.nodes.insert(beat.node.clone(), (beat, self.now));
        }
    }

    /// The nodes whose heartbeat came within the last `NODE_GONE`, by name.
    pub fn live_nodes(&self) -> impl Iterator<Item = &Heartbeat> {
        self.nodes
            .values()
            .filter(|(_, at)| self.now.signed_duration_since(*at) < NODE_GONE)
            .map(|(beat, _)| beat)
    }

    pub fn from_parts(
        info: RuntimeInfo,
        agents: Vec<AgentSpec>,
        status: HashMap<String, AgentStatus>,
        max_lines: usize,
    ) -> App {
        let now = Utc::now();
        let focused_agent = agents.first().map(|a| a.id.clone());
        let mut app = App {
            replay: None,
            info,
            agents: AgentsState {
                specs: agents,
                status,
                ..AgentsState::default()
            },
            focused_agent,
            goals: GoalsState::default(),
            streams: Streams::default(),
            channels: ChannelsState {
                cursor: Cursor::following(),
                ..ChannelsState::default()
            },
            audit: AuditState {
                cursor: Cursor::following(),
                ..AuditState::default()
            },
            diff: DiffState::default(),
            focus: Pane::Agents,
            detail_pane: Pane::Stream,
            zoom: false,
            mode: Mode::Normal,
            input: TextArea::default(),
            history: VecDeque::new(),
            history_pos: None,
            completion: None,
            notice: None,
            dropped: 0,
            now,
            clock: String::new(),
            bus_state: String::new(),
            nodes: BTreeMap::new(),
            theme: Theme::default(),
            keymap: Keymap::default(),
            read_only: false,
            size: Rect::new(0, 0, 80, 24),
            effects: Vec::new(),
            max_lines: max_lines.max(100),
            approvals: ApprovalsState::default(),
            stall_s: 60,
            attention_seen: Default::default(),
            alerts: Vec::new(),
            notify: crate::config::Notify::Off,
            quit: false,
        };
        app.set_clock(now);
        // The first row is a category header: start on the first agent.
        app.agents.cursor = app.agents.first_row();
        if let Some(id) = app.focused_agent.clone() {
            app.load_agent(&id);
        }
        app
    }

    /// Time moved on: the clock, the rates' seconds, the notice's age. What a `Tick` does
    /// but for the attention check, so a replay can set the time of every event cheaply
    /// (it checks attention once per frame).
    pub fn advance_clock(&mut self, now: DateTime<Utc>) -> bool {
        let second_changed = now.timestamp() != self.now.timestamp();
        let passed = now.timestamp().saturating_sub(self.now.timestamp());
        self.set_clock(now);
        if second_changed {
            self.channels.roll_rates(u64::try_from(passed).unwrap_or(1));
        }
        if let Some((_, at)) = &self.notice
            && (now - *at).num_seconds() >= 6
        {
            self.notice = None;
        }
        second_changed
    }

    fn set_clock(&mut self, now: DateTime<Utc>) {
        // The text changes once a second; a replay ticks once per event.
        let same_second = now.timestamp() == self.now.timestamp() && !self.clock.is_empty();
        self.now = now;
        if !same_second {
            self.clock = now
                .with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string();
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn busy(&self) -> usize {
        self.agents.busy()
    }

    pub fn focused_stream(&self) -> Option<&StreamState> {
        self.streams.get(self.focused_agent.as_deref()?)
    }

    fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some((one_line(&text.into()), self.now));
    }

    /// Apply an action; returns whether anything visible changed.
    pub fn update(&mut self, action: Action) -> bool {
        // Not per token: a token can only end a stall, which the next tick (4 a second)
        // notices; every other event and every tick can change who needs a person.
        let checks = match &action {
            Action::Runtime(ev) => !matches!(**ev, RuntimeEvent::Token { .. }),
            Action::Tick(_) => true,
            _ => false,
        };
        let changed = self.update_inner(action);
        if checks {
            self.check_attention();
        }
        changed
    }

    /// `update` for a replay: the same state change without the attention check, whose
    /// only product (alerts to ring) was the live terminal's. The player checks once per
    /// frame, with its `Tick`.
    pub fn apply_recorded(&mut self, action: Action) -> bool {
        self.update_inner(action)
    }

    fn update_inner(&mut self, action: Action) -> bool {
        match action {
            Action::Tick(now) => self.advance_clock(now),
            Action::BusState(s) => {
                let changed = s != self.bus_state;
                self.bus_state = s;
                changed
            }
            Action::Dropped(n) => {
                self.dropped += n;
                true
            }
            Action::BusDropped(n) => {
                self.channels.dropped += n;
                true
            }
            Action::Runtime(ev) => self.apply(*ev),
            Action::Bus(r) => {
                self.heard_node(&r);
                self.channels.ingest(&r, self.max_lines);
                true
            }
            Action::Audit(r) => {
                self.audit.ingest(r, self.max_lines);
                true
            }
            Action::AuditChain { records, broken_at } => {
                self.audit.chain_checked(records, broken_at);
                true
            }
            Action::AgentLoaded(state) => {
                if self.focused_agent.as_deref() == Some(state.spec.id.as_str()) {
                    if let Some(a) = self.agents.activity.get_mut(&state.spec.id) {
                        a.goal = state.goals.first().cloned();
                    }
                    self.goals.agent = Some(*state);
                }
                true
            }
            Action::Versions { agent_id, versions } => {
                if self.focused_agent.as_deref() == Some(agent_id.as_str()) {
                    self.diff.set_versions(&agent_id, versions);
                }
                true
            }
            Action::Diff(d) => {
                if self.focused_agent.as_deref() == Some(d.agent_id.as_str()) {
                    self.diff.set_diff(*d);
                }
                true
            }
            Action::Notice(n) => {
                self.notify(n);
                true
            }
            Action::WhyTree(v) => {
                self.mode = Mode::Why(*v);
                true
            }
            Action::Resize(w, h) => {
                self.size = Rect::new(0, 0, w, h);
                true
            }
            Action::Mouse(m) => self.mouse(m),
            Action::Key(k) => self.key(k),
            other => self.command(other),
        }
    }

    /// A terminal key: text inputs take it first, else the keymap turns it into an action.
    pub fn key(&mut self, key: KeyEvent) -> bool {
        match self.mode.clone() {
            Mode::Normal => {
                let a = self.keymap.action(&key);
                self.command(a)
            }
            Mode::Help => self.help_key(key),
            Mode::ConfirmQuit => self.confirm_quit_key(key),
            Mode::Detail {
                title,
                text,
                scroll,
            } => self.detail_key(title, text, scroll, key),
            Mode::Filter(pane) => self.filter_key(pane, key),
            Mode::Prompt => self.prompt_key(key),
            Mode::Command => self.command_key(key),
            Mode::EditGoals => self.goals_key(key),
            Mode::Approvals => self.approvals_key(key),
            Mode::DenyReason => self.deny_key(key),
            Mode::EditArguments => self.edit_arguments_key(key),
            Mode::Why(view) => self.why_key(view, key),
        }
    }

    /// What "why?" asks about: the focused pane's selection, else the focused agent.
    fn why_of(&self) -> Option<WhyOf> {
        let agent = || self.focused_agent.clone().map(WhyOf::Agent);
        match self.focus {
            Pane::Audit => self.audit.why_of(),
            Pane::Channels => self.channels.why_of(),
            Pane::Diff => self.diff.why_of().or_else(agent),
            Pane::Agents | Pane::Goals | Pane::Stream => agent(),
        }
    }

    /// A replay key: the player moves; a live runtime has nothing to move.
    fn replay_control(&mut self, control: ReplayControl) {
        if self.replay.is_some() {
            self.effects.push(Effect::Replay(control));
        } else {
            self.notify("that key moves a replay: open one with `aios replay`");
        }
    }

    /// Ask for an effect that changes the runtime (an intent, a stop, goals, a decision):
    /// refused, and said, when the app is read-only.
    fn act(&mut self, effect: Effect) {
        if self.read_only {
            self.notify(READ_ONLY);
        } else {
            self.effects.push(effect);
        }
    }

    fn page(&self) -> usize {
        (self.size.height as usize / 2).max(5)
    }

    /// Keymap actions.
    fn command(&mut self, action: Action) -> bool {
        // Every key and every direct action comes through here: the one gate.
        if self.read_only && action.changes() {
            self.notify(READ_ONLY);
            return true;
        }
        match action {
            Action::Quit => {
                // A replay's busy agents are a recording: nothing stops when it closes.
                if self.busy() > 0 && self.mode != Mode::ConfirmQuit && self.replay.is_none() {
                    self.mode = Mode::ConfirmQuit;
                } else {
                    self.quit = true;
                }
            }
            Action::Help => {
                self.mode = if self.mode == Mode::Help {
                    Mode::Normal
                } else {
                    Mode::Help
                }
            }
            Action::Back => {
                self.mode = Mode::Normal;
                self.zoom = false;
            }
            Action::FocusNext | Action::FocusPrev => {
                let i = self.focus.index();
                let n = Pane::ALL.len();
                let next = if action == Action::FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.set_focus(Pane::ALL[next]);
            }
            Action::Focus(p) => self.set_focus(p),
            Action::Zoom => self.zoom = !self.zoom,
            Action::Intent => {
                let at = self
                    .focused_agent
                    .as_deref()
                    .map(|a| format!("@{a} "))
                    .unwrap_or_else(|| "@".into());
                self.open_input(Mode::Prompt, &at, "@agent-id what to do…");
            }
            Action::Command => self.open_input(
                Mode::Command,
                "",
                "theme NAME · goal add TEXT · channel add PATTERN · pause · stop · quit",
            ),
            Action::Filter => {
                // The channels and audit panes filter themselves; elsewhere, the agents.
                let pane = match self.focus {
                    Pane::Channels | Pane::Audit => self.focus,
                    _ => Pane::Agents,
                };
                let current = self.filter_of(pane).to_string();
                if pane == Pane::Agents {
                    self.focus = Pane::Agents;
                }
                self.open_input(Mode::Filter(pane), &current, "filter");
            }
            Action::Pause if self.replay.is_some() => {
                self.replay_control(ReplayControl::PlayPause);
            }
            Action::Pause => self.channels.toggle_pause(self.max_lines),
            Action::Why => match self.why_of() {
                Some(of) => {
                    self.notify(format!("why: {} …", super::why_view::describe(&of)));
                    self.effects.push(Effect::Why(of));
                }
                None => self.notify("nothing selected to ask why of"),
            },
            Action::Faster => self.replay_control(ReplayControl::Faster),
            Action::Slower => self.replay_control(ReplayControl::Slower),
            Action::StepForward => self.replay_control(ReplayControl::Step(1)),
            Action::StepBack => self.replay_control(ReplayControl::Step(-1)),
            Action::SeekForward => self.replay_control(ReplayControl::Seek(10)),
            Action::SeekBack => self.replay_control(ReplayControl::Seek(-10)),
            Action::Stop => match &self.focused_agent {
                Some(id) => self.act(Effect::Stop(id.clone())),
                None => self.notify("no agent focused"),
            },
            Action::EditGoals => self.edit_goals(),
            Action::Approvals => {
                self.approvals.clamp();
                self.mode = Mode::Approvals;
            }
            Action::NextAttention => self.next_attention(),
            // The diff's own keys work whatever the focus.
            Action::NextHunk
            | Action::PrevHunk
            | Action::OlderVersion
            | Action::NewerVersion
            | Action::ToggleDiffView => {
                let reply = self.diff.action(&action, self.page());
                self.reply(reply);
            }
            Action::Down
            | Action::Up
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom
            | Action::Open => self.pane_action(&action),
            Action::None => return false,
            _ => return false,
        }
        true
    }

    fn set_focus(&mut self, p: Pane) {
        self.focus = p;
        if p != Pane::Agents {
            self.detail_pane = p;
        }
    }

    /// A key for the focused pane: the pane moves or opens, and says what it needs here.
    fn pane_action(&mut self, action: &Action) {
        let page = self.page();
        let reply = match self.focus {
            Pane::Agents => self.agents.action(action, page),
            Pane::Channels => self.channels.action(action, page),
            Pane::Audit => self.audit.action(action, page),
            Pane::Diff => self.diff.action(action, page),
            Pane::Goals | Pane::Stream => Reply::Ignored,
        };
        self.reply(reply);
    }

    /// Do what a pane's key asks of the app.
    fn reply(&mut self, reply: Reply) {
        match reply {
            Reply::Ignored | Reply::Done => {}
            Reply::Detail(title, text) => {
                self.mode = Mode::Detail {
                    title,
                    text,
                    scroll: 0,
                }
            }
            Reply::Focus(id) => self.focus_agent(&id),
            Reply::LoadDiff(from, to) => {
                if let Some(id) = self.focused_agent.clone() {
                    self.effects.push(Effect::LoadDiff {
                        agent_id: id,
                        range: Some((from, to)),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
