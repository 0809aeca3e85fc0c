//! What the app shows to code outside the TUI (the replay player, the tests, the benches):
//! methods instead of fields, so the state's shape stays the TUI's own.

use ratatui::layout::Rect;

use super::super::keymap::Keymap;
use super::super::panes::{ApprovalsState, AuditState, ChannelsState};
use super::super::theme::Theme;
use super::{App, Effect, Mode, Pane, ReplayState};

/// What the operator set up, kept when the data under it is replaced (a replay's seek to a
/// checkpoint, a new process's start): a small copy, not the whole app.
#[derive(Clone)]
pub struct OperatorView {
    focus: Pane,
    detail_pane: Pane,
    zoom: bool,
    size: Rect,
    theme: Theme,
    keymap: Keymap,
    stall_s: u32,
    agent_cursor: usize,
    agent_filter: String,
    mode: Mode,
    focused_agent: Option<String>,
    /// The audit pane's count is the recording's, set once on the template: carried over
    /// a new process's start (a seek restores the count of its checkpoint).
    audit_total: u64,
    audit_verified: bool,
}

impl OperatorView {
    /// The agent the operator was looking at.
    pub fn focused_agent(&self) -> Option<&str> {
        self.focused_agent.as_deref()
    }
}

impl App {
    /// The operator's view, to lay out again over other data.
    pub fn operator_view(&self) -> OperatorView {
        OperatorView {
            focus: self.focus,
            detail_pane: self.detail_pane,
            zoom: self.zoom,
            size: self.size,
            theme: self.theme.clone(),
            keymap: self.keymap.clone(),
            stall_s: self.stall_s,
            agent_cursor: self.agents.cursor,
            agent_filter: self.agents.filter.clone(),
            mode: self.mode.clone(),
            focused_agent: self.focused_agent.clone(),
            audit_total: self.audit.total,
            audit_verified: self.audit.verified,
        }
    }

    /// Panes, size and looks as in `view`.
    pub fn lay_out(&mut self, view: &OperatorView) {
        self.focus = view.focus;
        self.detail_pane = view.detail_pane;
        self.zoom = view.zoom;
        self.size = view.size;
        self.theme = view.theme.clone();
        self.keymap = view.keymap.clone();
        self.stall_s = view.stall_s;
    }

    /// The audit pane's count and check as in `view` (a new process's start).
    pub fn keep_audit_count(&mut self, view: &OperatorView) {
        self.audit.total = view.audit_total;
        self.audit.verified = view.audit_verified;
    }

    /// The agents' selection and filter, and the mode, as in `view` (a seek).
    pub fn keep_selection(&mut self, view: &OperatorView) {
        self.agents.cursor = view.agent_cursor;
        self.agents.filter = view.agent_filter.clone();
        self.mode = view.mode.clone();
    }

    /// The agent the other panes show.
    pub fn focused_agent(&self) -> Option<&str> {
        self.focused_agent.as_deref()
    }

    /// Every agent, in the catalog's order.
    pub fn agents(&self) -> &[crate::agent::AgentSpec] {
        &self.agents.specs
    }

    pub fn focus(&self) -> Pane {
        self.focus
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The notice on the bottom line, if one is shown.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|(text, _)| text.as_str())
    }

    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    pub fn channels(&self) -> &ChannelsState {
        &self.channels
    }

    pub fn audit(&self) -> &AuditState {
        &self.audit
    }

    pub fn approvals(&self) -> &ApprovalsState {
        &self.approvals
    }

    pub fn max_lines(&self) -> usize {
        self.max_lines
    }

    /// What a replay's status bar says; `None` when live.
    pub fn replay(&self) -> Option<&ReplayState> {
        self.replay.as_ref()
    }

    /// Set by the player before each frame: the app is a replay's from then on.
    pub fn set_replay(&mut self, state: ReplayState) {
        self.replay = Some(state);
    }

    /// The effects asked for and not yet taken.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// The effects asked for, for the loop (or a player) to run.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Effects taken and not run, handed back to wait for whoever runs them.
    pub fn give_back_effects(&mut self, effects: Vec<Effect>) {
        self.effects.extend(effects);
    }

    /// The alerts raised and not yet rung.
    pub fn alerts(&self) -> &[String] {
        &self.alerts
    }

    /// The alerts raised, for the terminal to ring (or a replay to drop).
    pub fn take_alerts(&mut self) -> Vec<String> {
        std::mem::take(&mut self.alerts)
    }

    /// Started with `--read-only`: what changes anything is refused.
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// Seconds without a token before a working agent counts as stalled; 0 = never.
    pub fn set_stall_s(&mut self, seconds: u32) {
        self.stall_s = seconds;
    }

    /// Show `text` as the status bar's clock instead of the local time of `now` (until the
    /// next second): a test's screen does not depend on the time zone.
    pub fn set_clock_text(&mut self, text: &str) {
        self.clock = text.to_string();
    }

    /// Replace what the open text input holds, as a paste would.
    pub fn set_input(&mut self, text: &str) {
        self.input = ratatui_textarea::TextArea::new(text.split('\n').map(String::from).collect());
    }
}
