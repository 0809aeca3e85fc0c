//! What a protocol hook means: its `on` text parsed into a [`Trigger`], its `action` text
//! into a [`Target`]. Pure, so a hook with a bad pattern or target is refused with the
//! reason when it is added (over MCP or in config), not when it would have fired.

use std::collections::BTreeSet;

use super::schedule::{Schedule, ScheduleError};

/// The events a hook can wait for (the `on` of `{name, on, action}`).
pub const EVENTS: [&str; 8] = [
    "intent.done",
    "intent.failed",
    "context.updated",
    "goals.changed",
    "memory.broadcast",
    "tool.called:<tool>",
    "approval.asked",
    "schedule:<cron>",
];

/// When a hook fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// One of the runtime's events, by name (`intent.done`, …).
    Event(EventKind),
    /// `tool.called:<pattern>`: a tool call whose name matches (`*` and `?` wildcards).
    ToolCalled(String),
    /// `schedule:<cron>`: on time, with no event.
    Schedule(Box<Schedule>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    IntentDone,
    IntentFailed,
    ContextUpdated,
    GoalsChanged,
    MemoryBroadcast,
    ToolCalled,
    ApprovalAsked,
    Schedule,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::IntentDone => "intent.done",
            EventKind::IntentFailed => "intent.failed",
            EventKind::ContextUpdated => "context.updated",
            EventKind::GoalsChanged => "goals.changed",
            EventKind::MemoryBroadcast => "memory.broadcast",
            EventKind::ToolCalled => "tool.called",
            EventKind::ApprovalAsked => "approval.asked",
            EventKind::Schedule => "schedule",
        }
    }

    fn parse(name: &str) -> Option<EventKind> {
        Some(match name {
            "intent.done" => EventKind::IntentDone,
            "intent.failed" => EventKind::IntentFailed,
            "context.updated" => EventKind::ContextUpdated,
            "goals.changed" => EventKind::GoalsChanged,
            "memory.broadcast" => EventKind::MemoryBroadcast,
            "approval.asked" => EventKind::ApprovalAsked,
            _ => return None,
        })
    }
}

/// What a hook does when it fires (the `action` of `{name, on, action}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `webhook:<url>`: POST the event as JSON, signed.
    Webhook(reqwest::Url),
    /// `action:<name>`: an HTTP action, its arguments taken from the event.
    Action(String),
    /// `intent:<agent> <text template>`: dispatch an intent; `{field}` in the text is
    /// filled from the event.
    Intent { agent_id: String, template: String },
    /// `mcp:<server>.<tool>`: call an outside MCP server's tool with the event as arguments.
    Mcp { server: String, tool: String },
}

impl Target {
    /// `webhook`, `action`, `intent` or `mcp`: the tool name approval rules match as
    /// `hook:<kind>` … see [`super::gate_tool`].
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Webhook(_) => "webhook",
            Target::Action(_) => "action",
            Target::Intent { .. } => "intent",
            Target::Mcp { .. } => "mcp",
        }
    }
}

/// What a target may name, for checks at add time.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub agents: BTreeSet<String>,
    pub actions: BTreeSet<String>,
    pub servers: BTreeSet<String>,
}

/// Longest `on` or `action` text accepted.
const MAX_TEXT: usize = 2048;

/// Why an `on` text is refused; the text says what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TriggerError {
    #[error("`on` is longer than {} bytes", MAX_TEXT)]
    TooLong,
    #[error("`{on}`: {source}")]
    Schedule { on: String, source: ScheduleError },
    #[error("`{on}`: name the tool after `tool.called:` (wildcards * and ? allowed, no spaces)")]
    NoToolPattern { on: String },
    #[error("`{on}` is not an event a hook can wait for; use one of: {}", EVENTS.join(", "))]
    UnknownEvent { on: String },
}

/// Parse `on`. The error says what is allowed.
pub fn parse_trigger(on: &str) -> Result<Trigger, TriggerError> {
    let on = on.trim();
    if on.len() > MAX_TEXT {
        return Err(TriggerError::TooLong);
    }
    if let Some(cron) = on.strip_prefix("schedule:") {
        return Schedule::parse(cron)
            .map(|s| Trigger::Schedule(Box::new(s)))
            .map_err(|source| TriggerError::Schedule {
                on: on.to_string(),
                source,
            });
    }
    if let Some(pattern) = on.strip_prefix("tool.called:") {
        let pattern = pattern.trim();
        if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
            return Err(TriggerError::NoToolPattern { on: on.to_string() });
        }
        return Ok(Trigger::ToolCalled(pattern.to_string()));
    }
    if on == "tool.called" {
        return Ok(Trigger::ToolCalled("*".into()));
    }
    EventKind::parse(on)
        .map(Trigger::Event)
        .ok_or_else(|| TriggerError::UnknownEvent { on: on.to_string() })
}

/// Why an `action` text is refused: a malformed target, or one naming what is not there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    #[error("`action` is longer than {} bytes", MAX_TEXT)]
    TooLong,
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("`action:{name}` names no configured HTTP action ([actions.{name}]); known: {known}")]
    UnknownAction { name: String, known: String },
    #[error("`intent:{agent} …` names no agent `{agent}`")]
    UnknownAgent { agent: String },
    #[error(
        "`intent:{agent}` needs the intent's text after the agent id, e.g. \
         `intent:{agent} Summarise {{reply}}`"
    )]
    NoIntentText { agent: String },
    #[error("`mcp:{rest}`: write `mcp:<server>.<tool>` (a server of [mcp_servers])")]
    NoMcpTool { rest: String },
    #[error("`mcp:{server}.{tool}` names no MCP server `{server}`; known: {known}")]
    UnknownServer {
        server: String,
        tool: String,
        known: String,
    },
    #[error("`mcp:{server}.`: name the server's tool")]
    EmptyTool { server: String },
    #[error(
        "`{action}` is not a hook target; use webhook:<url>, action:<name>, \
         intent:<agent> <text> or mcp:<server>.<tool>"
    )]
    UnknownKind { action: String },
}

/// Parse `action` and check that what it names exists.
pub fn parse_target(action: &str, known: &Known) -> Result<Target, TargetError> {
    let action = action.trim();
    if action.len() > MAX_TEXT {
        return Err(TargetError::TooLong);
    }
    let (kind, rest) = action.split_once(':').unwrap_or((action, ""));
    let rest = rest.trim();
    match kind {
        "webhook" => Ok(Target::Webhook(parse_webhook(rest)?)),
        "action" => {
            if known.actions.contains(rest) {
                Ok(Target::Action(rest.to_string()))
            } else {
                Err(TargetError::UnknownAction {
                    name: rest.to_string(),
                    known: list(&known.actions),
                })
            }
        }
        "intent" => {
            let (agent, template) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let template = template.trim();
            if !known.agents.contains(agent) {
                return Err(TargetError::UnknownAgent {
                    agent: agent.to_string(),
                });
            }
            if template.is_empty() {
                return Err(TargetError::NoIntentText {
                    agent: agent.to_string(),
                });
            }
            Ok(Target::Intent {
                agent_id: agent.to_string(),
                template: template.to_string(),
            })
        }
        "mcp" => {
            let Some((server, tool)) = rest.split_once('.') else {
                return Err(TargetError::NoMcpTool {
                    rest: rest.to_string(),
                });
            };
            if !known.servers.contains(server) {
                return Err(TargetError::UnknownServer {
                    server: server.to_string(),
                    tool: tool.to_string(),
                    known: list(&known.servers),
                });
            }
            if tool.is_empty() {
                return Err(TargetError::EmptyTool {
                    server: server.to_string(),
                });
            }
            Ok(Target::Mcp {
                server: server.to_string(),
                tool: tool.to_string(),
            })
        }
        _ => Err(TargetError::UnknownKind {
            action: action.to_string(),
        }),
    }
}

/// The first problem of a hook, prefixed with the half it is in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HookError {
    #[error("on: {0}")]
    On(#[from] TriggerError),
    #[error("action: {0}")]
    Action(#[from] TargetError),
}

/// Why a hook cannot be added to an agent over MCP.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HookRefused {
    /// Config owns that name; an MCP client cannot shadow or replace it.
    #[error("a hook named `{name}` comes from config ([agents.{agent_id}] protocol_hooks)")]
    FromConfig { name: String, agent_id: String },
    #[error(transparent)]
    Invalid(#[from] HookError),
}

/// Both halves of a hook; the error is the first problem, prefixed with the part.
pub fn check(on: &str, action: &str, known: &Known) -> Result<(Trigger, Target), HookError> {
    let trigger = parse_trigger(on)?;
    let target = parse_target(action, known)?;
    Ok((trigger, target))
}

/// Why a `webhook:` URL is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    #[error("a webhook URL must not hold backslashes or control characters")]
    Backslash,
    #[error("`{text}` is not a URL: {reason}")]
    NotAUrl { text: String, reason: String },
    #[error("webhook URLs are http or https, not `{scheme}`")]
    Scheme { scheme: String },
    #[error("`{text}` has no host")]
    NoHost { text: String },
    #[error("a webhook URL must not carry a user or password; the signature authenticates aios")]
    Credentials,
    #[error("a webhook URL must not have a #fragment")]
    Fragment,
}

/// A webhook URL: http or https with a host, no userinfo (credentials belong in headers
/// and secrets, not in a URL that is shown and audited), no fragment.
fn parse_webhook(text: &str) -> Result<reqwest::Url, WebhookError> {
    if text.contains('\\') || text.chars().any(char::is_control) {
        return Err(WebhookError::Backslash);
    }
    let url = reqwest::Url::parse(text).map_err(|e| WebhookError::NotAUrl {
        text: text.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookError::Scheme {
            scheme: url.scheme().to_string(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(WebhookError::NoHost {
            text: text.to_string(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(WebhookError::Fragment);
    }
    Ok(url)
}

fn list(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            agents: ["ops-agent", "billing-agent"].map(String::from).into(),
            actions: ["erpnext-invoice"].map(String::from).into(),
            servers: ["helpdesk"].map(String::from).into(),
        }
    }

    #[test]
    fn every_documented_event_parses() {
        for on in [
            "intent.done",
            "intent.failed",
            "context.updated",
            "goals.changed",
            "memory.broadcast",
            "approval.asked",
            "tool.called:remember",
            "tool.called:helpdesk__*",
            "schedule:*/5 * * * *",
            "schedule:@hourly",
        ] {
            parse_trigger(on).unwrap_or_else(|e| panic!("{on}: {e}"));
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_the_reason() {
        for (on, says) in [
            ("intent.received", "not an event"),
            ("tool.called:", "name the tool"),
            ("tool.called:a b", "name the tool"),
            ("schedule:61 * * * *", "schedule:61"),
            ("schedule:", "schedule:"),
            ("", "not an event"),
        ] {
            let e = parse_trigger(on).unwrap_err().to_string();
            assert!(e.contains(says), "{on}: {e}");
        }
        assert!(matches!(
            parse_trigger("schedule:61 * * * *"),
            Err(TriggerError::Schedule {
                source: ScheduleError::NotCron { .. },
                ..
            })
        ));
        assert_eq!(
            check("intent.received", "action:x", &known()),
            Err(HookError::On(TriggerError::UnknownEvent {
                on: "intent.received".into()
            }))
        );
        assert_eq!(
            check("intent.done", "intent:ops-agent", &known())
                .unwrap_err()
                .to_string(),
            "action: `intent:ops-agent` needs the intent's text after the agent id, e.g. \
             `intent:ops-agent Summarise {reply}`"
        );
    }

    #[test]
    fn targets_parse_and_name_what_exists() {
        let k = known();
        assert_eq!(
            parse_target("webhook:https://n8n.lan/webhook/x?a=1", &k).unwrap(),
            Target::Webhook(reqwest::Url::parse("https://n8n.lan/webhook/x?a=1").unwrap())
        );
        assert_eq!(
            parse_target("action:erpnext-invoice", &k).unwrap(),
            Target::Action("erpnext-invoice".into())
        );
        assert_eq!(
            parse_target("intent:ops-agent Check {reply}", &k).unwrap(),
            Target::Intent {
                agent_id: "ops-agent".into(),
                template: "Check {reply}".into()
            }
        );
        assert_eq!(
            parse_target("mcp:helpdesk.create_ticket", &k).unwrap(),
            Target::Mcp {
                server: "helpdesk".into(),
                tool: "create_ticket".into()
            }
        );
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let k = known();
        for (action, says) in [
            ("handoff:sec-agent", "not a hook target"),
            ("free text for the model", "not a hook target"),
            ("webhook:ftp://x/y", "http or https"),
            ("webhook:https://user:pw@x/y", "user or password"),
            ("webhook:https://x\\@y/", "backslashes"),
            ("webhook:not a url", "not a URL"),
            ("action:nope", "no configured HTTP action"),
            ("intent:nobody hi", "no agent `nobody`"),
            ("intent:ops-agent", "needs the intent's text"),
            ("mcp:helpdesk", "mcp:<server>.<tool>"),
            ("mcp:other.tool", "no MCP server `other`"),
        ] {
            let e = parse_target(action, &k).unwrap_err().to_string();
            assert!(e.contains(says), "{action}: {e}");
        }
        assert_eq!(
            parse_target("webhook:https://x/y#z", &k),
            Err(TargetError::Webhook(WebhookError::Fragment))
        );
        assert_eq!(
            parse_target("mcp:other.tool", &k),
            Err(TargetError::UnknownServer {
                server: "other".into(),
                tool: "tool".into(),
                known: "helpdesk".into()
            })
        );
    }
}
