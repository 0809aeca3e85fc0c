//! The text inputs: the intent prompt with its history and completion, `:` commands, a
//! pane's filter.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::super::input::{self, Completion};
use super::super::theme::Theme;
use super::{Action, App, Effect, HISTORY_KEEP, Mode, Pane, ReplayControl};
use crate::sanitize::one_line;

impl App {
    pub(super) fn open_input(&mut self, mode: Mode, text: &str, title: &str) {
        let mut ta = TextArea::new(vec![text.to_string()]);
        ta.move_cursor(ratatui_textarea::CursorMove::End);
        ta.set_placeholder_text(title.to_string());
        self.input = ta;
        self.completion = None;
        self.history_pos = None;
        self.mode = mode;
    }

    pub(super) fn input_text(&self) -> String {
        self.input.lines().join("\n")
    }

    pub(super) fn filter_key(&mut self, pane: Pane, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => {
                self.apply_filter(pane, String::new());
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            _ => {
                self.input.input(key);
                let f = self.input_text();
                self.apply_filter(pane, f);
            }
        }
        true
    }

    /// A pane's filter as typed.
    pub(super) fn filter_of(&self, pane: Pane) -> &str {
        match pane {
            Pane::Channels => &self.channels.filter,
            Pane::Audit => &self.audit.filter,
            _ => &self.agents.filter,
        }
    }

    fn apply_filter(&mut self, pane: Pane, f: String) {
        match pane {
            Pane::Channels => self.channels.set_filter(f),
            Pane::Audit => self.audit.set_filter(f),
            _ => {
                self.agents.set_filter(f);
            }
        }
    }

    pub(super) fn prompt_key(&mut self, key: KeyEvent) -> bool {
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Enter if alt => {
                self.input.insert_newline();
            }
            KeyCode::Enter => {
                let text = self.input_text();
                match input::parse_intent(&text, &self.agents.specs) {
                    Ok((agent_id, body)) => {
                        self.remember_history(text.trim().to_string());
                        self.act(Effect::Dispatch {
                            agent_id: agent_id.clone(),
                            text: body,
                        });
                        self.focus_agent(&agent_id);
                        self.streams.sent(agent_id.clone(), self.now);
                        self.mode = Mode::Normal;
                    }
                    Err(e) => self.notify(e.to_string()),
                }
            }
            KeyCode::Tab => {
                let text = self.input_text();
                let ids: Vec<String> = self.agents.specs.iter().map(|a| a.id.clone()).collect();
                let done = input::complete_agent(&text, &ids);
                self.apply_completion(done);
            }
            KeyCode::Up if self.input.cursor().0 == 0 => self.history_step(true),
            KeyCode::Down if self.input.cursor().0 + 1 >= self.input.lines().len() => {
                self.history_step(false)
            }
            _ => {
                self.input.input(key);
                self.completion = None;
            }
        }
        true
    }

    fn apply_completion(&mut self, c: Completion) {
        if let Some(text) = &c.text {
            self.input = TextArea::new(text.split('\n').map(String::from).collect());
            self.input.move_cursor(ratatui_textarea::CursorMove::Bottom);
            self.input.move_cursor(ratatui_textarea::CursorMove::End);
        }
        self.completion = (c.candidates.len() > 1).then_some(c);
    }

    fn remember_history(&mut self, line: String) {
        if line.is_empty() || self.history.back() == Some(&line) {
            return;
        }
        if self.history.len() >= HISTORY_KEEP {
            self.history.pop_front();
        }
        self.history.push_back(line.clone());
        self.effects.push(Effect::SaveHistory(line));
    }

    fn history_step(&mut self, older: bool) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() - 1;
        let pos = match (self.history_pos, older) {
            (None, true) => Some(last),
            (None, false) => None,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p >= last => None,
            (Some(p), false) => Some(p + 1),
        };
        let text = pos
            .and_then(|p| self.history.get(p))
            .cloned()
            .unwrap_or_default();
        self.input = TextArea::new(text.split('\n').map(String::from).collect());
        self.input.move_cursor(ratatui_textarea::CursorMove::Bottom);
        self.input.move_cursor(ratatui_textarea::CursorMove::End);
        self.history_pos = pos;
    }

    pub(super) fn command_key(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Enter => {
                let text = self.input_text();
                self.mode = Mode::Normal;
                self.run_command(&text);
            }
            KeyCode::Tab => {
                let text = self.input_text();
                let ids: Vec<String> = self.agents.specs.iter().map(|a| a.id.clone()).collect();
                let c = input::complete_command(&text, &Theme::names(), &ids);
                self.apply_completion(c);
            }
            _ => {
                self.input.input(key);
                self.completion = None;
            }
        }
        true
    }

    /// `:theme NAME`, `:goal add TEXT`, `:goal rm N`, `:channel add PATTERN`, `:pause`,
    /// `:stop`, `:quit`.
    pub fn run_command(&mut self, text: &str) {
        match input::parse_command(text) {
            Ok(input::Command::Theme(name)) => match Theme::builtin(&name) {
                Ok(mut t) => {
                    t.monochrome = self.theme.monochrome;
                    self.theme = t;
                    self.notify(format!("theme {name}"));
                }
                Err(e) => self.notify(e.to_string()),
            },
            Ok(input::Command::GoalAdd(goal)) => self.add_goal(goal),
            Ok(input::Command::GoalRemove(n)) => self.remove_goal(n),
            Ok(input::Command::ChannelAdd(p)) => {
                self.channels.patterns.push(one_line(&p));
                self.effects.push(Effect::AddPattern(p));
            }
            Ok(input::Command::Pause) => {
                self.channels.toggle_pause(self.max_lines);
            }
            Ok(input::Command::Goto(t)) => self.replay_control(ReplayControl::Goto(t)),
            Ok(input::Command::Seq(n)) => self.replay_control(ReplayControl::AuditSeq(n)),
            Ok(input::Command::Stop) => {
                self.command(Action::Stop);
            }
            Ok(input::Command::Quit) => {
                self.command(Action::Quit);
            }
            Err(e) => self.notify(e.to_string()),
        }
    }
}
