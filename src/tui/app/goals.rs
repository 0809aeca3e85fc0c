//! The goals pane's keys and commands: edit the focused agent's goals as text (ctrl-s
//! saves), `:goal add TEXT`, `:goal rm N`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::{App, Effect, Mode, Pane};

impl App {
    fn current_goals(&self) -> Option<(String, Vec<String>)> {
        let s = self.goals.agent.as_ref()?;
        Some((s.spec.id.clone(), s.goals.clone()))
    }

    pub(super) fn goals_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Char('s') if ctrl => {
                if let Some((id, _)) = self.current_goals() {
                    let goals: Vec<String> = self
                        .input
                        .lines()
                        .iter()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect();
                    self.act(Effect::SaveGoals {
                        agent_id: id,
                        goals,
                    });
                }
                self.mode = Mode::Normal;
            }
            _ => {
                self.input.input(key);
            }
        }
        true
    }

    /// `e`: the goals, one a line, in the editor.
    pub(super) fn edit_goals(&mut self) {
        match &self.goals.agent {
            Some(s) => {
                let text = s.goals.join("\n");
                self.open_input(Mode::EditGoals, "", "one goal per line");
                self.input = TextArea::new(text.split('\n').map(String::from).collect());
                self.focus = Pane::Goals;
            }
            None => self.notify("no agent loaded yet"),
        }
    }

    /// `:goal add TEXT`
    pub(super) fn add_goal(&mut self, goal: String) {
        match self.current_goals() {
            Some((id, mut goals)) => {
                goals.push(goal);
                self.act(Effect::SaveGoals {
                    agent_id: id,
                    goals,
                });
            }
            None => self.notify("no agent loaded yet"),
        }
    }

    /// `:goal rm N` (1-based)
    pub(super) fn remove_goal(&mut self, n: usize) {
        match self.current_goals() {
            Some((id, mut goals)) if n >= 1 && n <= goals.len() => {
                goals.remove(n - 1);
                self.act(Effect::SaveGoals {
                    agent_id: id,
                    goals,
                });
            }
            Some(_) => self.notify(format!("no goal {n}")),
            None => self.notify("no agent loaded yet"),
        }
    }
}
