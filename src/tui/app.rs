//! The UI state and `update`: pure state changes, no I/O.

use std::collections::{HashMap, VecDeque};

use crate::agent::{AgentSpec, Runtime, RuntimeInfo};
use crate::event::{AgentStatus, RuntimeEvent};
use crate::sanitize::one_line;

use super::action::Action;

pub struct App {
    pub info: RuntimeInfo,
    pub agents: Vec<AgentSpec>,
    pub status: HashMap<String, AgentStatus>,
    pub selected: usize,
    /// Latest activity, newest last; bounded by `max_lines`.
    pub log: VecDeque<String>,
    /// The selected agent's latest model output, per agent; bounded.
    pub stream: HashMap<String, String>,
    pub dropped: u64,
    pub clock: String,
    pub bus_state: String,
    max_lines: usize,
    quit: bool,
}

/// Characters of streamed output kept per agent.
const STREAM_KEEP: usize = 16 * 1024;

impl App {
    pub fn new(runtime: &Runtime, max_lines: usize) -> App {
        let agents = runtime.hub().catalog().agents().to_vec();
        let status = agents
            .iter()
            .map(|a| (a.id.clone(), runtime.status(&a.id).0))
            .collect();
        App::from_parts(runtime.info().clone(), agents, status, max_lines)
    }

    pub fn from_parts(
        info: RuntimeInfo,
        agents: Vec<AgentSpec>,
        status: HashMap<String, AgentStatus>,
        max_lines: usize,
    ) -> App {
        App {
            info,
            agents,
            status,
            selected: 0,
            log: VecDeque::new(),
            stream: HashMap::new(),
            dropped: 0,
            bus_state: String::new(),
            clock: chrono::Local::now().format("%H:%M:%S").to_string(),
            max_lines: max_lines.max(100),
            quit: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn selected_agent(&self) -> Option<&AgentSpec> {
        self.agents.get(self.selected)
    }

    pub fn busy(&self) -> usize {
        self.status
            .values()
            .filter(|s| !matches!(s, AgentStatus::Idle | AgentStatus::Error))
            .count()
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() >= self.max_lines {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// Apply an action; returns whether anything visible changed.
    pub fn update(&mut self, action: Action) -> bool {
        match action {
            Action::Quit => {
                self.quit = true;
                true
            }
            Action::Down => {
                if self.selected + 1 < self.agents.len() {
                    self.selected += 1;
                }
                true
            }
            Action::Up => {
                self.selected = self.selected.saturating_sub(1);
                true
            }
            Action::Tick => {
                let now = chrono::Local::now().format("%H:%M:%S").to_string();
                let changed = now != self.clock;
                self.clock = now;
                changed
            }
            Action::BusState(state) => {
                let changed = state != self.bus_state;
                self.bus_state = state;
                changed
            }
            Action::Dropped(n) => {
                self.dropped += n;
                true
            }
            Action::Runtime(ev) => self.apply(*ev),
            Action::None => false,
        }
    }

    fn apply(&mut self, ev: RuntimeEvent) -> bool {
        match ev {
            RuntimeEvent::Status { agent_id, status } => {
                self.status.insert(agent_id, status);
            }
            RuntimeEvent::Token {
                agent_id,
                text,
                thinking: false,
                ..
            } => {
                let s = self.stream.entry(agent_id).or_default();
                s.push_str(&text);
                if s.len() > STREAM_KEEP {
                    let cut = s.len() - STREAM_KEEP;
                    let cut = (cut..s.len())
                        .find(|i| s.is_char_boundary(*i))
                        .unwrap_or(s.len());
                    s.drain(..cut);
                }
            }
            RuntimeEvent::Token { .. } => return false,
            RuntimeEvent::IntentQueued {
                agent_id,
                text,
                operator,
                ..
            } => {
                self.stream.insert(agent_id.clone(), String::new());
                self.push_log(format!("→ {agent_id}: {} ({operator})", one_line(&text)));
            }
            RuntimeEvent::IntentDone {
                agent_id,
                context_version,
                tokens,
                ..
            } => {
                self.push_log(format!(
                    "✓ {agent_id}: done, {tokens} tokens, context v{context_version}"
                ));
            }
            RuntimeEvent::IntentFailed {
                agent_id, error, ..
            } => {
                self.push_log(format!("✗ {agent_id}: {}", one_line(&error)));
            }
            RuntimeEvent::ToolCalled {
                agent_id,
                name,
                arguments,
                ..
            } => {
                self.push_log(format!("⚙ {agent_id}: {name} {}", one_line(&arguments)));
            }
            RuntimeEvent::ToolFinished {
                agent_id,
                name,
                ok,
                summary,
                ..
            } => {
                let mark = if ok { "↳" } else { "✗" };
                self.push_log(format!(
                    "{mark} {agent_id}: {name} → {}",
                    one_line(&summary)
                ));
            }
            RuntimeEvent::ContextUpdated { .. }
            | RuntimeEvent::StateChanged { .. }
            | RuntimeEvent::Remembered { .. }
            | RuntimeEvent::Audited { .. } => return false,
        }
        true
    }
}
