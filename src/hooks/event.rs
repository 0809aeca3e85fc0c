//! What a hook sees of the runtime: a [`HookEvent`] made from a [`RuntimeEvent`], and the
//! JSON body a webhook receives. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::event::RuntimeEvent;

use super::spec::{EventKind, Trigger};

/// One event a hook may fire on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    /// `intent.done`, `tool.called`, `schedule`, …
    pub event: String,
    pub agent_id: String,
    /// RFC 3339, when the event happened.
    pub ts: String,
    /// The node the event happened on.
    pub node: String,
    /// The intent it belongs to, if any.
    #[serde(default)]
    pub intent_id: Option<String>,
    /// The chain of that intent and its depth: an `intent:` hook continues the chain.
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub depth: u32,
    /// The event's own fields (the reply, the tool and its arguments, …).
    #[serde(default)]
    pub data: Value,
}

/// The kind of a runtime event, its agent, intent and fields; `None` for events no hook
/// waits for (tokens, status changes).
pub fn classify(ev: &RuntimeEvent) -> Option<(EventKind, &str, Option<&str>, Value)> {
    Some(match ev {
        RuntimeEvent::IntentDone {
            agent_id,
            intent_id,
            reply,
            context_version,
            runner,
            model,
            tokens,
        } => (
            EventKind::IntentDone,
            agent_id,
            Some(intent_id),
            json!({"reply": reply, "context_version": context_version, "runner": runner,
                   "model": model, "tokens": tokens}),
        ),
        RuntimeEvent::IntentFailed {
            agent_id,
            intent_id,
            error,
        } => (
            EventKind::IntentFailed,
            agent_id,
            Some(intent_id),
            json!({"error": error}),
        ),
        RuntimeEvent::ContextUpdated {
            agent_id,
            version,
            context_id,
            summary,
        } => (
            EventKind::ContextUpdated,
            agent_id,
            None,
            json!({"version": version, "context_id": context_id, "summary": summary}),
        ),
        RuntimeEvent::StateChanged { agent_id, part } if part == "goals" => (
            EventKind::GoalsChanged,
            agent_id,
            None,
            json!({"part": part}),
        ),
        RuntimeEvent::Remembered {
            agent_id,
            item_id,
            kind,
            text,
            tags,
        } => (
            EventKind::MemoryBroadcast,
            agent_id,
            None,
            json!({"item_id": item_id, "kind": kind, "text": text, "tags": tags}),
        ),
        RuntimeEvent::ToolCalled {
            agent_id,
            intent_id,
            call_id,
            name,
            arguments,
        } => (
            EventKind::ToolCalled,
            agent_id,
            Some(intent_id),
            json!({"tool": name, "call_id": call_id, "arguments": arguments}),
        ),
        RuntimeEvent::ApprovalAsked { approval } => (
            EventKind::ApprovalAsked,
            &approval.agent_id,
            Some(&approval.intent_id),
            json!({"approval_id": approval.id, "tool": approval.tool, "origin": approval.origin,
                   "preview": approval.preview}),
        ),
        _ => return None,
    })
}

/// Whether `trigger` fires on an event of `kind` with `data`.
pub fn fires(trigger: &Trigger, kind: EventKind, data: &Value) -> bool {
    match trigger {
        Trigger::Event(k) => *k == kind,
        Trigger::ToolCalled(pattern) => {
            kind == EventKind::ToolCalled
                && data
                    .get("tool")
                    .and_then(Value::as_str)
                    .is_some_and(|tool| crate::approvals::glob(pattern, tool))
        }
        Trigger::Schedule(_) => false,
    }
}

/// Fill `{field}` in an intent template from the event: top-level fields (`agent_id`,
/// `intent_id`, `event`, `ts`) and the event's data (`{reply}`, `{tool}`, …). An unknown
/// field stays as written, so a typo shows in the intent instead of vanishing.
pub fn fill(template: &str, ev: &HookEvent) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_field(&after[..close]) => {
                let name = &after[..close];
                match field(ev, name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_field(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn field(ev: &HookEvent, name: &str) -> Option<String> {
    let v = match name {
        "agent_id" => return Some(ev.agent_id.clone()),
        "event" => return Some(ev.event.clone()),
        "ts" => return Some(ev.ts.clone()),
        "node" => return Some(ev.node.clone()),
        "intent_id" => return ev.intent_id.clone(),
        _ => name.split('.').try_fold(&ev.data, |v, part| v.get(part))?,
    };
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// The arguments an `action:` or `mcp:` target gets: the event's data fields, plus
/// `agent_id`, `intent_id`, `event` and `ts`, flattened into one object.
pub fn arguments(ev: &HookEvent) -> serde_json::Map<String, Value> {
    let mut args = match &ev.data {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    args.insert("agent_id".into(), json!(ev.agent_id));
    args.insert("event".into(), json!(ev.event));
    args.insert("ts".into(), json!(ev.ts));
    if let Some(id) = &ev.intent_id {
        args.insert("intent_id".into(), json!(id));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> HookEvent {
        HookEvent {
            event: "intent.done".into(),
            agent_id: "support-agent".into(),
            ts: "2026-11-30T10:00:00Z".into(),
            node: "n1".into(),
            intent_id: Some("i-1".into()),
            trace_id: None,
            depth: 0,
            data: json!({"reply": "All set", "tokens": 12, "nested": {"a": "b"}}),
        }
    }

    #[test]
    fn templates_fill_from_the_event_and_keep_unknown_fields() {
        assert_eq!(
            fill(
                "Review {agent_id}'s reply: {reply} ({tokens} tokens, {nested.a})",
                &ev()
            ),
            "Review support-agent's reply: All set (12 tokens, b)"
        );
        assert_eq!(
            fill("{nope} and {} and {a b}", &ev()),
            "{nope} and {} and {a b}"
        );
        assert_eq!(fill("unclosed {reply", &ev()), "unclosed {reply");
    }

    #[test]
    fn tool_patterns_match_the_called_tool() {
        let t = Trigger::ToolCalled("helpdesk__*".into());
        assert!(fires(
            &t,
            EventKind::ToolCalled,
            &json!({"tool": "helpdesk__open"})
        ));
        assert!(!fires(
            &t,
            EventKind::ToolCalled,
            &json!({"tool": "remember"})
        ));
        assert!(!fires(
            &t,
            EventKind::IntentDone,
            &json!({"tool": "helpdesk__open"})
        ));
        assert!(fires(
            &Trigger::Event(EventKind::IntentDone),
            EventKind::IntentDone,
            &json!({})
        ));
    }

    #[test]
    fn only_goal_changes_count_as_goals_changed() {
        let goals = RuntimeEvent::StateChanged {
            agent_id: "a".into(),
            part: "goals".into(),
        };
        let persona = RuntimeEvent::StateChanged {
            agent_id: "a".into(),
            part: "persona_traits".into(),
        };
        assert_eq!(classify(&goals).unwrap().0, EventKind::GoalsChanged);
        assert!(classify(&persona).is_none());
    }
}
