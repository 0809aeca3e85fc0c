//! The approvals view's keys: approve (y, A), deny with a reason (n), edit the arguments
//! then approve (e), move over the waiting calls.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::super::panes::Reply;
use super::{Action, App, Effect, Mode};

impl App {
    /// The waiting call the approvals view has selected.
    pub fn selected_approval(&self) -> Option<&crate::approvals::PendingApproval> {
        self.approvals.selected()
    }

    pub(super) fn decide(&mut self, decision: crate::approvals::DecisionInput) {
        if let Some(p) = self.selected_approval() {
            let id = p.id.clone();
            self.act(Effect::Decide { id, decision });
        }
        self.mode = Mode::Approvals;
    }

    /// y approves, n denies (asks why), e edits the arguments, A always allows, esc leaves.
    pub(super) fn approvals_key(&mut self, key: KeyEvent) -> bool {
        use crate::approvals::DecisionInput;
        let approve = |arguments, always| DecisionInput {
            approve: true,
            reason: None,
            arguments,
            always,
        };
        if self.selected_approval().is_none()
            && matches!(key.code, KeyCode::Char('y' | 'n' | 'e' | 'A'))
        {
            self.notify("nothing is waiting for approval");
            return true;
        }
        match key.code {
            KeyCode::Char('y') => self.decide(approve(None, false)),
            KeyCode::Char('A') => self.decide(approve(None, true)),
            KeyCode::Char('n') => {
                self.open_input(Mode::DenyReason, "", "why (the agent's model reads it)");
            }
            KeyCode::Char('e') => {
                let args = self
                    .selected_approval()
                    .map(|p| serde_json::to_string_pretty(&p.arguments).unwrap_or_default())
                    .unwrap_or_default();
                self.open_input(Mode::EditArguments, "", "");
                self.input = TextArea::new(args.split('\n').map(String::from).collect());
            }
            _ => match self.keymap.action(&key) {
                Action::Quit | Action::Back | Action::Approvals => self.mode = Mode::Normal,
                other => {
                    if self.approvals.action(&other) == Reply::Ignored {
                        return false;
                    }
                }
            },
        }
        true
    }

    pub(super) fn deny_key(&mut self, key: KeyEvent) -> bool {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Approvals,
            KeyCode::Enter => {
                let reason = self.input_text();
                if reason.trim().is_empty() {
                    self.notify("say why: the agent's model reads the reason");
                    return true;
                }
                self.decide(crate::approvals::DecisionInput {
                    approve: false,
                    reason: Some(reason),
                    arguments: None,
                    always: false,
                });
            }
            _ => {
                self.input.input(key);
            }
        }
        true
    }

    /// ctrl-s approves with the edited arguments (a JSON object), esc goes back unchanged.
    pub(super) fn edit_arguments_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.mode = Mode::Approvals,
            KeyCode::Char('s') if ctrl => {
                match serde_json::from_str::<serde_json::Value>(&self.input_text()) {
                    Ok(v) if v.is_object() => self.decide(crate::approvals::DecisionInput {
                        approve: true,
                        reason: None,
                        arguments: Some(v),
                        always: false,
                    }),
                    Ok(_) => self.notify("the arguments must be a JSON object"),
                    Err(e) => self.notify(format!("not JSON: {e}")),
                }
            }
            _ => {
                self.input.input(key);
            }
        }
        true
    }
}
