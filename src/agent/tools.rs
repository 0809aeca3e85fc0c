//! The tools an agent's model may call, and running them. Every tool goes through the
//! ContextHub as the agent itself (`agent:<id>`), so each call is audited and seen by the
//! UI like any other client's; a handoff goes through the dispatcher as a new intent.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::{Caller, Cause, ContextHub};
use crate::llm::{ToolCall, ToolSpec};

use super::dispatcher::{Dispatcher, Lineage};

/// Most items a `recall` tool call may ask for.
const RECALL_MAX: usize = 20;

/// What a tool call runs within: whose call it is and which intent it serves.
pub struct ToolScope<'a> {
    pub hub: &'a ContextHub,
    pub dispatcher: &'a Dispatcher,
    pub agent_id: &'a str,
    pub intent_id: &'a str,
    pub trace_id: &'a str,
    /// The depth of the intent being handled; a handoff is one deeper.
    pub depth: u32,
}

/// A tool's spec with its parameter schema derived from its argument type: the schema the
/// model sees is the type the call is parsed into, so the two cannot drift apart.
fn spec<T: JsonSchema>(name: &str, description: &str) -> ToolSpec {
    let mut parameters = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(json!({}));
    if let Some(o) = parameters.as_object_mut() {
        // Noise for a model: the draft URI and the Rust type's name.
        o.remove("$schema");
        o.remove("title");
    }
    ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    }
}

/// The names of aios's own tools, in [`specs`]' order: a closed set to check a name
/// against without building every schema (a unit test keeps the two the same).
const NAMES: [&str; 6] = [
    "remember",
    "recall",
    "set_goals",
    "update_context",
    "broadcast",
    "handoff",
];

/// aios's own tools (the agent's state, through the ContextHub), offered to agents that
/// list them.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        spec::<Remember>(
            "remember",
            "Store a fact in your long-term memory so you can recall it in later requests.",
        ),
        spec::<Recall>(
            "recall",
            "Search your long-term memory for items related to a query; returns the closest first.",
        ),
        spec::<SetGoals>(
            "set_goals",
            "Replace your list of goals (each a short imperative sentence).",
        ),
        spec::<UpdateContext>(
            "update_context",
            "Replace your working context (the notes you keep between requests) with new text.",
        ),
        spec::<Remember>(
            "broadcast",
            "Share a piece of knowledge with all other agents on agent.broadcast.memory.",
        ),
        spec::<Handoff>(
            "handoff",
            "Pass a task to another agent (by id, e.g. content-agent) as a new request; it works on it separately.",
        ),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Remember {
    /// The fact, in one or two sentences.
    pub text: String,
    /// Optional labels.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// What to look for, in words.
    pub query: String,
    /// How many items (1 to 20, default 5).
    #[serde(default)]
    #[schemars(range(min = 1, max = 20))]
    pub k: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGoals {
    /// The complete new list of goals, each a short imperative sentence.
    #[schemars(length(min = 1))]
    pub goals: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContext {
    /// The whole new context document.
    pub context: String,
    /// What changed, in a few words.
    #[serde(default)]
    pub summary: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// The receiving agent's id.
    pub agent_id: String,
    /// What the other agent should do, self-contained.
    pub text: String,
}

/// Why a call of one of aios's own tools failed. The text goes to the model, which reads
/// it and may correct the call; it never fails the intent.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("bad arguments for `{tool}`: {source}")]
    BadArguments {
        tool: String,
        source: serde_json::Error,
    },
    #[error("a handoff goes to another agent, not to yourself")]
    HandoffToSelf,
    #[error("there is no tool `{}`; the tools are: {}", .0, NAMES.join(", "))]
    NoSuchTool(String),
    #[error(transparent)]
    Hub(#[from] crate::context::HubError),
    #[error(transparent)]
    Dispatch(#[from] super::RuntimeError),
}

fn args<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, ToolError> {
    serde_json::from_value(call.arguments.clone()).map_err(|source| ToolError::BadArguments {
        tool: call.name.clone(),
        source,
    })
}

/// The tool's name when it is one of ours, else `unknown`: a model may ask for any name,
/// and a metric label must come from a closed set.
pub fn label(name: &str) -> &str {
    if NAMES.contains(&name) {
        name
    } else {
        "unknown"
    }
}

/// Run one tool call. An error is text for the model to read (and correct), never a
/// failure of the intent.
pub async fn run(scope: &ToolScope<'_>, call: &ToolCall) -> Result<Value, ToolError> {
    let me = Caller::agent(scope.agent_id);
    let hub = scope.hub;
    let agent = scope.agent_id;
    let tag = format!("intent:{}", scope.intent_id);
    match call.name.as_str() {
        "remember" | "broadcast" => {
            let a: Remember = args(call)?;
            let kind = if call.name == "remember" {
                "fact"
            } else {
                "broadcast"
            };
            let mut tags = a.tags;
            tags.push(tag);
            let item = hub.remember(&me, agent, kind, &a.text, tags).await?;
            Ok(json!({"stored": item.id, "kind": kind}))
        }
        "recall" => {
            let a: Recall = args(call)?;
            let k = a.k.unwrap_or(5).clamp(1, RECALL_MAX);
            let found = hub.recall(&me, agent, &a.query, k, None).await?;
            Ok(json!(
                found
                    .iter()
                    .map(|s| json!({"text": s.item.text, "kind": s.item.kind, "ts": s.item.ts, "score": s.score}))
                    .collect::<Vec<_>>()
            ))
        }
        "set_goals" => {
            let a: SetGoals = args(call)?;
            let goals = hub.set_goals(&me, agent, a.goals).await?;
            Ok(json!({"goals": goals}))
        }
        "update_context" => {
            let a: UpdateContext = args(call)?;
            let summary = a
                .summary
                .unwrap_or_else(|| "updated by the model".to_string());
            let v = hub
                .update_context(
                    &me,
                    agent,
                    a.context,
                    summary,
                    Cause {
                        caller: me.to_string(),
                        intent_id: Some(scope.intent_id.to_string()),
                        tool: Some("update_context".into()),
                    },
                )
                .await?;
            Ok(json!({"version": v.version, "context_id": v.context_id}))
        }
        "handoff" => {
            let a: Handoff = args(call)?;
            if a.agent_id == agent {
                return Err(ToolError::HandoffToSelf);
            }
            let ticket = scope
                .dispatcher
                .dispatch(
                    &me,
                    "handoff",
                    &a.agent_id,
                    &a.text,
                    Lineage {
                        trace_id: Some(scope.trace_id.to_string()),
                        parent_id: Some(scope.intent_id.to_string()),
                        depth: scope.depth + 1,
                    },
                )
                .await?;
            // Not waited for: the other agent works on its own, and waiting here could
            // deadlock two agents handing work to each other.
            Ok(
                json!({"handed_off_to": a.agent_id, "intent_id": ticket.intent_id, "trace_id": ticket.trace_id}),
            )
        }
        other => Err(ToolError::NoSuchTool(other.to_string())),
    }
}

/// What a call of one of aios's own tools would change, without changing it: the
/// context or goal diff, the memory it would add, the intent it would send. Reads go
/// through the hub as the agent (audited, like every read).
pub async fn dry_run(hub: &ContextHub, agent_id: &str, call: &ToolCall) -> String {
    let me = Caller::agent(agent_id);
    match call.name.as_str() {
        "update_context" => {
            let a: UpdateContext = match args(call) {
                Ok(a) => a,
                Err(e) => return format!("will fail: {e}"),
            };
            let current = match hub.get_context(&me, agent_id, None).await {
                Ok(c) => c,
                Err(e) => return format!("cannot read the current context: {e}"),
            };
            let (from, old) = current.map_or((0, String::new()), |c| (c.version, c.text));
            crate::context::diff_texts(agent_id, from, &old, from + 1, &a.context).unified
        }
        "set_goals" => {
            let a: SetGoals = match args(call) {
                Ok(a) => a,
                Err(e) => return format!("will fail: {e}"),
            };
            let old = match hub.get_agent(&me, agent_id).await {
                Ok(s) => s.goals,
                Err(e) => return format!("cannot read the current goals: {e}"),
            };
            let lines = |g: &[String]| g.iter().map(|s| format!("{s}\n")).collect::<String>();
            let (old, new) = (lines(&old), lines(&a.goals));
            similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .header(
                    &format!("{agent_id} goals"),
                    &format!("{agent_id} goals (new)"),
                )
                .to_string()
        }
        "remember" | "broadcast" => match args::<Remember>(call) {
            Ok(a) => format!(
                "adds to {agent_id}'s memory ({}):\n+ {}{}",
                if call.name == "remember" {
                    "fact"
                } else {
                    "broadcast to every agent"
                },
                a.text,
                if a.tags.is_empty() {
                    String::new()
                } else {
                    format!("\n  tags: {}", a.tags.join(", "))
                }
            ),
            Err(e) => format!("will fail: {e}"),
        },
        "handoff" => match args::<Handoff>(call) {
            Ok(a) => format!("sends a new intent to {}:\n{}", a.agent_id, a.text),
            Err(e) => format!("will fail: {e}"),
        },
        "recall" => match args::<Recall>(call) {
            Ok(a) => format!(
                "reads {agent_id}'s memory for: {} (changes nothing)",
                a.query
            ),
            Err(e) => format!("will fail: {e}"),
        },
        other => format!("`{other}` is not one of aios's tools"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_specs() {
        let names: Vec<String> = specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, NAMES);
        assert_eq!(label("recall"), "recall");
        assert_eq!(label("rm_rf"), "unknown");
    }

    #[test]
    fn a_bad_call_says_which_tool_and_what_is_wrong() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "remember".into(),
            arguments: json!({"txt": "typo"}),
        };
        let Err(err) = args::<Remember>(&call) else {
            panic!("a call without `text` was read");
        };
        assert!(matches!(&err, ToolError::BadArguments { tool, .. } if tool == "remember"));
        assert!(
            err.to_string()
                .starts_with("bad arguments for `remember`: unknown field `txt`"),
            "{err}"
        );
        let err = ToolError::NoSuchTool("rm_rf".into()).to_string();
        assert!(err.starts_with("there is no tool `rm_rf`; the tools are: "));
        for spec in specs() {
            assert!(err.contains(spec.name.as_str()), "{err}");
        }
    }
}
