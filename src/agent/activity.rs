//! Agent activity across nodes. A node publishes what its agents do (status, streamed
//! tokens, tool calls, outcomes) on `aios.agents.activity` (through `relay::publish_events`); a watcher attached through
//! Redis turns those messages — and the seed channels' context, state and memory notices —
//! back into the `RuntimeEvent`s a local runtime emits, so the TUI draws a runtime that
//! runs elsewhere exactly as it draws its own.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::bus::{
    Bus, ContextPayload, Envelope, Heartbeat, MemoryPayload, Received, Source, StatePayload,
    channels, kinds,
};
use crate::event::RuntimeEvent;

use super::types::StatusBoard;

/// Tokens are gathered this long before they go out: one message per streaming agent per
/// interval instead of one per token.
pub(crate) const FLUSH: Duration = Duration::from_millis(50);
/// Gathered token text past this many bytes goes out at once.
pub(crate) const FLUSH_BYTES: usize = 16 * 1024;

/// The events a watcher needs that no seed channel carries.
pub(crate) fn is_activity(ev: &RuntimeEvent) -> bool {
    matches!(
        ev,
        RuntimeEvent::IntentQueued { .. }
            | RuntimeEvent::Status { .. }
            | RuntimeEvent::Token { .. }
            | RuntimeEvent::IntentDone { .. }
            | RuntimeEvent::IntentFailed { .. }
            | RuntimeEvent::ToolCalled { .. }
            | RuntimeEvent::ToolFinished { .. }
            | RuntimeEvent::ApprovalAsked { .. }
            | RuntimeEvent::ApprovalDecided { .. }
            | RuntimeEvent::Attention { .. }
            | RuntimeEvent::HookDelivery { .. }
            | RuntimeEvent::Recalled { .. }
    )
}

/// Tokens waiting to go out, merged per agent while nothing else happened to it.
#[derive(Default)]
pub(crate) struct Gathered {
    tokens: Vec<RuntimeEvent>,
    pub(crate) bytes: usize,
}

impl Gathered {
    pub(crate) fn add(&mut self, ev: RuntimeEvent) {
        let RuntimeEvent::Token {
            agent_id,
            intent_id,
            text,
            thinking,
        } = ev
        else {
            return;
        };
        self.bytes += text.len();
        // Only the agent's latest entry may grow: merging further back would reorder
        // thinking and answer text.
        let last = self
            .tokens
            .iter_mut()
            .rev()
            .find(|t| t.agent_id() == Some(agent_id.as_str()));
        if let Some(RuntimeEvent::Token {
            intent_id: i,
            text: t,
            thinking: th,
            ..
        }) = last
            && *i == intent_id
            && *th == thinking
        {
            t.push_str(&text);
            return;
        }
        self.tokens.push(RuntimeEvent::Token {
            agent_id,
            intent_id,
            text,
            thinking,
        });
    }

    pub(crate) fn take(&mut self) -> Vec<RuntimeEvent> {
        self.bytes = 0;
        std::mem::take(&mut self.tokens)
    }
}

/// Publish `batch` on `aios.agents.activity`, one message per event, in order.
pub(crate) async fn send_all(bus: &dyn Bus, node: &str, batch: Vec<RuntimeEvent>) {
    for ev in batch {
        let Ok(payload) = serde_json::to_value(&ev) else {
            continue;
        };
        let env = Envelope::new(kinds::ACTIVITY, Source::node(node), ev.agent_id(), payload);
        if let Err(e) = bus.publish(channels::ACTIVITY, &env).await {
            tracing::debug!(error = %e, "activity not published");
        }
    }
}

/// The runtime event a message heard on the bus stands for, if any.
pub fn event_of(channel: &str, env: &Envelope) -> Option<RuntimeEvent> {
    let agent_id = || env.agent_id.clone().unwrap_or_default();
    match (channel, env.kind.as_str()) {
        (channels::ACTIVITY, kinds::ACTIVITY) => {
            env.payload_as::<RuntimeEvent>().ok().filter(is_activity)
        }
        (channels::CONTEXT, kinds::CONTEXT) => {
            let p = env.payload_as::<ContextPayload>().ok()?;
            Some(RuntimeEvent::ContextUpdated {
                agent_id: agent_id(),
                version: p.version,
                context_id: p.context_id,
                summary: p.summary,
            })
        }
        (channels::CONTEXT, kinds::STATE) => {
            let p = env.payload_as::<StatePayload>().ok()?;
            Some(RuntimeEvent::StateChanged {
                agent_id: agent_id(),
                part: p.part,
            })
        }
        (channels::MEMORY, kinds::MEMORY) => {
            let p = env.payload_as::<MemoryPayload>().ok()?;
            Some(RuntimeEvent::Remembered {
                agent_id: agent_id(),
                item_id: p.item_id,
                kind: p.kind,
                text: p.text,
                tags: p.tags,
            })
        }
        _ => None,
    }
}

/// A watcher's side: replay what the bus says other nodes' agents do as local events and
/// statuses, until `cancel`. The caller has asked the bus for `aios.agents.activity`.
pub async fn follow(
    bus: Arc<dyn Bus>,
    events: broadcast::Sender<RuntimeEvent>,
    status: StatusBoard,
    cancel: CancellationToken,
) {
    let mut rx = bus.subscribe();
    // Agents whose status an activity message told: a heartbeat's snapshot is older news.
    let mut told: HashSet<String> = HashSet::new();
    loop {
        let heard = tokio::select! {
            () = cancel.cancelled() => break,
            r = rx.recv() => r,
        };
        let (channel, env) = match heard {
            Ok(Received::Message { channel, envelope }) => (channel, envelope),
            Ok(_) => continue,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(dropped = n, "the attached view fell behind the bus");
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        if channel == channels::NODES {
            let Ok(beat) = env.payload_as::<Heartbeat>() else {
                continue;
            };
            for (agent_id, s) in beat.busy {
                if told.insert(agent_id.clone()) {
                    status.set(&agent_id, s);
                    let _ = events.send(RuntimeEvent::Status {
                        agent_id,
                        status: s,
                    });
                }
            }
            continue;
        }
        let Some(ev) = event_of(&channel, &env) else {
            continue;
        };
        if let RuntimeEvent::Status {
            agent_id,
            status: s,
        } = &ev
        {
            told.insert(agent_id.clone());
            status.set(agent_id, *s);
        }
        if matches!(
            ev,
            RuntimeEvent::IntentDone { .. } | RuntimeEvent::IntentFailed { .. }
        ) {
            status.intent_finished();
        }
        // No receiver (the TUI not yet subscribed) is fine.
        let _ = events.send(ev);
    }
}

/// Copy a watcher's own hub events to the events its TUI reads, until `cancel`.
pub async fn forward(
    mut from: broadcast::Receiver<RuntimeEvent>,
    to: broadcast::Sender<RuntimeEvent>,
    cancel: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            () = cancel.cancelled() => break,
            ev = from.recv() => ev,
        };
        match ev {
            Ok(ev) => {
                let _ = to.send(ev);
            }
            Err(RecvError::Lagged(n)) => tracing::warn!(dropped = n, "hub events fell behind"),
            Err(RecvError::Closed) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(agent: &str, intent: &str, text: &str, thinking: bool) -> RuntimeEvent {
        RuntimeEvent::Token {
            agent_id: agent.into(),
            intent_id: intent.into(),
            text: text.into(),
            thinking,
        }
    }

    #[test]
    fn tokens_merge_per_agent_without_reordering_thinking_and_answer() {
        let mut g = Gathered::default();
        g.add(token("a", "i1", "Hel", false));
        g.add(token("b", "i2", "x", false));
        g.add(token("a", "i1", "lo", false));
        g.add(token("a", "i1", "hmm", true));
        g.add(token("a", "i1", " world", false));
        assert_eq!(g.bytes, 15);
        assert_eq!(
            g.take(),
            vec![
                token("a", "i1", "Hello", false),
                token("b", "i2", "x", false),
                token("a", "i1", "hmm", true),
                token("a", "i1", " world", false),
            ]
        );
        assert_eq!(g.bytes, 0);
        assert!(g.take().is_empty());
    }

    fn env_on(kind: &str, agent: &str, payload: serde_json::Value) -> Envelope {
        Envelope::new(
            kind,
            Source {
                node: "edge-1".into(),
                agent_id: None,
                operator: None,
            },
            Some(agent),
            payload,
        )
    }

    #[test]
    fn bus_notices_become_the_events_a_local_runtime_emits() {
        let ev = RuntimeEvent::Status {
            agent_id: "ops-agent".into(),
            status: crate::event::AgentStatus::Streaming,
        };
        let env = env_on(
            kinds::ACTIVITY,
            "ops-agent",
            serde_json::to_value(&ev).unwrap(),
        );
        assert_eq!(event_of(channels::ACTIVITY, &env), Some(ev));

        let env = env_on(
            kinds::STATE,
            "ops-agent",
            serde_json::json!({"part": "goals"}),
        );
        assert_eq!(
            event_of(channels::CONTEXT, &env),
            Some(RuntimeEvent::StateChanged {
                agent_id: "ops-agent".into(),
                part: "goals".into()
            })
        );
        let env = env_on(
            kinds::CONTEXT,
            "ops-agent",
            serde_json::json!({"version": 3, "context_id": "c3", "summary": "s"}),
        );
        assert!(matches!(
            event_of(channels::CONTEXT, &env),
            Some(RuntimeEvent::ContextUpdated { version: 3, .. })
        ));
        // An audit notice is not activity, and a malformed payload is ignored, not fatal.
        let audited = RuntimeEvent::Audited {
            agent_id: None,
            action: "x".into(),
            outcome: "ok".into(),
        };
        let env = env_on(
            kinds::ACTIVITY,
            "ops-agent",
            serde_json::to_value(&audited).unwrap(),
        );
        assert_eq!(event_of(channels::ACTIVITY, &env), None);
        let env = env_on(kinds::STATE, "ops-agent", serde_json::json!({"nope": 1}));
        assert_eq!(event_of(channels::CONTEXT, &env), None);
    }
}
