//! Runtime events folded into the state each pane shows.

use crate::event::RuntimeEvent;
use crate::sanitize::one_line;

use super::{App, Effect, LastRecall};

impl App {
    pub(super) fn apply(&mut self, ev: RuntimeEvent) -> bool {
        let focused = ev.agent_id().is_some() && ev.agent_id() == self.focused_agent.as_deref();
        if let Some(id) = ev.agent_id() {
            self.agents.heard(id, self.now);
        }
        match ev {
            RuntimeEvent::Status { agent_id, status } => {
                self.agents.status_changed(agent_id, status)
            }
            RuntimeEvent::Token {
                agent_id,
                intent_id,
                text,
                thinking,
            } => {
                self.streams
                    .token(agent_id, intent_id, &text, thinking, self.now);
                return focused;
            }
            RuntimeEvent::IntentQueued {
                agent_id,
                intent_id,
                ..
            } => {
                let (runner, model) = (self.info.runner.clone(), self.info.model.clone());
                self.streams
                    .queued(agent_id, intent_id, self.now, runner, model);
            }
            RuntimeEvent::IntentDone {
                agent_id,
                runner,
                model,
                ..
            } => self.streams.finished(agent_id, runner, model),
            RuntimeEvent::IntentFailed {
                agent_id, error, ..
            } => self.streams.failed(agent_id, &error),
            RuntimeEvent::ToolCalled { agent_id, name, .. } => {
                self.streams.calling(agent_id, Some(one_line(&name)));
            }
            RuntimeEvent::ToolFinished { agent_id, .. } => self.streams.calling(agent_id, None),
            RuntimeEvent::ContextUpdated { agent_id, .. } => {
                if focused {
                    self.effects.push(Effect::LoadDiff {
                        agent_id,
                        range: None,
                    });
                }
            }
            RuntimeEvent::StateChanged { agent_id, .. }
            | RuntimeEvent::Remembered { agent_id, .. } => {
                if focused {
                    self.effects.push(Effect::LoadAgent(agent_id));
                }
            }
            RuntimeEvent::Recalled {
                agent_id,
                caller,
                query,
                embedder,
                items,
            } => {
                self.goals.recalls.insert(
                    agent_id,
                    LastRecall {
                        caller,
                        query,
                        embedder,
                        items,
                    },
                );
                if !focused {
                    return false;
                }
            }
            RuntimeEvent::Audited { .. } => return false,
            RuntimeEvent::Attention {
                agent_id, reason, ..
            } => {
                self.agents.looping.insert(agent_id, reason);
            }
            RuntimeEvent::ApprovalAsked { approval } => {
                self.approvals.asked(*approval);
            }
            RuntimeEvent::ApprovalDecided { id, .. } => {
                self.approvals.decided(&id);
            }
            RuntimeEvent::HookDelivery { delivery } => {
                self.goals.delivered(*delivery);
            }
        }
        true
    }
}
