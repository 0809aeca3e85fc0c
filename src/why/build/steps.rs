//! The steps of one intent as nodes: recall, prompts, tokens, tool calls with their
//! approvals and results, the context diff, memory shared, hook deliveries, handoffs, and
//! how it ended.

use std::collections::HashSet;

use serde_json::Value;

use super::Builder;
use crate::recorder::{Entry, Kind};
use crate::why::index::{IntentInfo, event_of, text};
use crate::why::{Node, NodeKind};

/// Longest quotation in a label.
const QUOTE: usize = 60;

impl Builder<'_, '_> {
    pub(super) fn recalls(&self, mine: &[(usize, &Entry)], requests: &[usize]) -> Vec<Node> {
        let mut out = Vec::new();
        for (i, e) in mine.iter().filter(|(_, e)| e.kind == Kind::Recall) {
            let in_prompt: HashSet<String> = requests
                .iter()
                .find(|r| **r > *i)
                .and_then(|r| self.entry(*r).body.get("recalled_in_prompt"))
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let items = e
                .body
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut key = String::new();
            let children: Vec<Node> = items
                .iter()
                .map(|item| {
                    let id = text(item, "id").unwrap_or("?");
                    let score = item.get("score").and_then(Value::as_f64).unwrap_or(0.0);
                    let shown = in_prompt.contains(id);
                    key.push_str(&format!("{id}:{score:.4}\n"));
                    Node::new(
                        NodeKind::Recall,
                        format!(
                            "{score:.3} {} «{}» ({})",
                            text(item, "kind").unwrap_or("item"),
                            quote(text(item, "text").unwrap_or("")),
                            if shown {
                                "in the prompt"
                            } else {
                                "not in the prompt"
                            }
                        ),
                    )
                    .at(e.seq, &e.t)
                    .with_detail(format!("item: {id}\n{}", text(item, "text").unwrap_or("")))
                    .keyed(format!("{id}:{score:.4}:{shown}"))
                })
                .collect();
            let shown = children
                .iter()
                .filter(|c| c.label.ends_with("(in the prompt)"))
                .count();
            let mut n = Node::new(
                NodeKind::Recall,
                format!(
                    "recall «{}»: {} item{}, {shown} in the prompt",
                    quote(text(&e.body, "query").unwrap_or("")),
                    items.len(),
                    plural(items.len())
                ),
            )
            .at(e.seq, &e.t)
            .keyed(key);
            n.children = children;
            out.push(n);
        }
        out
    }

    pub(super) fn prompts(&self, requests: &[usize]) -> Vec<Node> {
        requests
            .iter()
            .enumerate()
            .map(|(round, &i)| {
                let e = self.entry(i);
                let request = e.body.get("request").cloned().unwrap_or(Value::Null);
                let messages = request
                    .get("messages")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let tools = request
                    .get("tools")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let recalled = e
                    .body
                    .get("recalled_in_prompt")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let mut detail = String::new();
                for m in &messages {
                    detail.push_str(&format!("── {} ──\n", text(m, "role").unwrap_or("?")));
                    detail.push_str(text(m, "content").unwrap_or(""));
                    if let Some(calls) = m.get("tool_calls").filter(|c| !is_empty(c)) {
                        detail.push_str(&format!("\ntool calls: {calls}"));
                    }
                    if let Some(id) = text(m, "tool_call_id") {
                        detail.push_str(&format!("\n(result of call {id})"));
                    }
                    detail.push('\n');
                }
                Node::new(
                    NodeKind::Prompt,
                    format!(
                        "prompt{}: {} message{}, {tools} tool{}, model {}, {recalled} recalled item{} in it",
                        if requests.len() > 1 {
                            format!(" (round {})", round + 1)
                        } else {
                            String::new()
                        },
                        messages.len(),
                        plural(messages.len()),
                        plural(tools),
                        text(&request, "model").unwrap_or("?"),
                        plural(recalled)
                    ),
                )
                .at(e.seq, &e.t)
                .with_detail(detail)
            })
            .collect()
    }

    /// The model's output, one node per round, each keyed to sort right after its
    /// round's request. A round ends with a batch of tool calls: the tokens and tool events
    /// come through the same runtime event stream, so counting batches is reliable where
    /// comparing with the requests' positions is not.
    pub(super) fn tokens(
        &self,
        mine: &[(usize, &Entry)],
        requests: &[usize],
    ) -> Vec<((u64, u8), Node)> {
        let rounds = requests.len().max(1);
        let mut text_of = vec![(String::new(), String::new()); rounds];
        let mut first: Vec<Option<&Entry>> = vec![None; rounds];
        let mut usage: Vec<Option<u64>> = vec![None; rounds];
        let (mut round, mut in_tools) = (0usize, false);
        for (i, e) in mine {
            match event_of(e) {
                Some("tool_called" | "tool_finished") => in_tools = true,
                Some("token") => {
                    if in_tools {
                        round = (round + 1).min(rounds - 1);
                        in_tools = false;
                    }
                    let piece = text(&e.body, "text").unwrap_or("");
                    if e.body.get("thinking").and_then(Value::as_bool) == Some(true) {
                        text_of[round].0.push_str(piece);
                    } else {
                        text_of[round].1.push_str(piece);
                    }
                    first[round].get_or_insert(e);
                }
                _ if e.kind == Kind::ModelUsage => {
                    // Usage is noted by the turn itself, in order with its requests.
                    let at = requests
                        .iter()
                        .filter(|r| **r < *i)
                        .count()
                        .saturating_sub(1)
                        .min(rounds - 1);
                    usage[at] = e
                        .body
                        .get("usage")
                        .and_then(|u| u.get("completion_tokens"))
                        .and_then(Value::as_u64);
                    first[at].get_or_insert(e);
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        for round in 0..rounds {
            let Some(e) = first[round] else { continue };
            let (thinking, said) = &text_of[round];
            let count = match usage[round] {
                Some(n) => format!("{n} token{}", plural(n as usize)),
                None => "tokens".into(),
            };
            let mut detail = String::new();
            if !thinking.is_empty() {
                detail.push_str(&format!("── thinking ──\n{thinking}\n── said ──\n"));
            }
            detail.push_str(said);
            let key = requests.get(round).map_or(e.seq, |r| self.entry(*r).seq);
            out.push((
                (key, 1),
                Node::new(
                    NodeKind::Tokens,
                    format!(
                        "{count}{}: «{}»",
                        if thinking.is_empty() {
                            ""
                        } else {
                            " (with thinking)"
                        },
                        quote(said)
                    ),
                )
                .at(e.seq, &e.t)
                .with_detail(detail),
            ));
        }
        out
    }

    /// Each tool call with its approval, its result and, for a handoff, the new intent.
    pub(super) fn tools(
        &mut self,
        id: &str,
        mine: &[(usize, &Entry)],
        expand_all: bool,
        linked: &mut HashSet<String>,
    ) -> Vec<Node> {
        let mut out = Vec::new();
        let mut whole = HashSet::new();
        for (_, e) in mine.iter().filter(|(_, e)| e.kind == Kind::ToolCall) {
            let b = &e.body;
            let call_id = text(b, "call_id").unwrap_or("").to_string();
            whole.insert(call_id.clone());
            let name = text(b, "name").unwrap_or("?");
            let args = b.get("arguments").cloned().unwrap_or(Value::Null);
            let mut node = Node::new(
                NodeKind::ToolCall,
                format!("{name}({})", quote(&args.to_string())),
            )
            .at(e.seq, &e.t)
            .with_detail(format!(
                "call {call_id}{}\n{}",
                text(b, "origin")
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default(),
                pretty(&args)
            ))
            .keyed(format!("{name}\n{args}"));
            node.children.extend(self.approval(id, &call_id));
            let result = if let Some(reason) = text(b, "refused") {
                Node::new(NodeKind::ToolResult, format!("refused: {}", quote(reason)))
                    .with_detail(reason.to_string())
            } else {
                let value = b.get("result").cloned().unwrap_or(Value::Null);
                let ok = b.get("ok").and_then(Value::as_bool).unwrap_or(false);
                let shown = match &value {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                Node::new(
                    NodeKind::ToolResult,
                    format!("{}: {}", if ok { "ok" } else { "error" }, quote(&shown)),
                )
                .with_detail(match &value {
                    Value::String(s) => s.clone(),
                    v => pretty(v),
                })
            };
            node.children.push(result.at(e.seq, &e.t));
            if name == "handoff"
                && let Some(child) = b
                    .get("result")
                    .and_then(|r| text(r, "intent_id"))
                    .map(str::to_string)
            {
                linked.insert(child.clone());
                let info = self
                    .ix
                    .intents
                    .get(&child)
                    .cloned()
                    .unwrap_or_else(|| IntentInfo {
                        id: child.clone(),
                        agent: text(&args, "agent_id").unwrap_or("").to_string(),
                        text: text(&args, "text").unwrap_or("").to_string(),
                        ..IntentInfo::default()
                    });
                let mut h = self.handoff(&info, expand_all);
                h.seq = h.seq.or(Some(e.seq));
                node.children.push(h);
            }
            out.push(node);
        }
        // Without whole tool calls (an older recording), the runtime events in short.
        for (_, e) in mine.iter() {
            if event_of(e) != Some("tool_called") {
                continue;
            }
            let call_id = text(&e.body, "call_id").unwrap_or("").to_string();
            if whole.contains(&call_id) {
                continue;
            }
            let name = text(&e.body, "name").unwrap_or("?");
            let args = text(&e.body, "arguments").unwrap_or("");
            let mut node = Node::new(NodeKind::ToolCall, format!("{name}({})", quote(args)))
                .at(e.seq, &e.t)
                .with_detail(args.to_string())
                .keyed(format!("{name}\n{args}"));
            node.children.extend(self.approval(id, &call_id));
            if let Some((_, f)) = mine.iter().find(|(_, f)| {
                event_of(f) == Some("tool_finished") && text(&f.body, "call_id") == Some(&call_id)
            }) {
                let ok = f.body.get("ok").and_then(Value::as_bool).unwrap_or(false);
                let summary = text(&f.body, "summary").unwrap_or("");
                node.children.push(
                    Node::new(
                        NodeKind::ToolResult,
                        format!("{}: {}", if ok { "ok" } else { "error" }, quote(summary)),
                    )
                    .at(f.seq, &f.t)
                    .with_detail(summary.to_string()),
                );
            }
            out.push(node);
        }
        out
    }

    /// A person's look at a tool call: asked, and approved or denied by whom.
    fn approval(&self, intent: &str, call_id: &str) -> Option<Node> {
        let (at, asked) = self.ix.entries_of(intent).find(|(_, e)| {
            event_of(e) == Some("approval_asked")
                && e.body.get("approval").is_some_and(|a| {
                    text(a, "intent_id") == Some(intent) && text(a, "call_id") == Some(call_id)
                })
        })?;
        let approval = asked.body.get("approval")?;
        let approval_id = text(approval, "id").unwrap_or("");
        let decided = self.ix.entries[at..].iter().find(|e| {
            event_of(e) == Some("approval_decided") && text(&e.body, "id") == Some(approval_id)
        });
        let outcome = match decided {
            Some(d) => format!(
                "{} by {}",
                if d.body.get("approved").and_then(Value::as_bool) == Some(true) {
                    "approved"
                } else {
                    "denied"
                },
                text(&d.body, "by").unwrap_or("?")
            ),
            None => "no decision recorded".into(),
        };
        Some(
            Node::new(NodeKind::Approval, format!("approval asked → {outcome}"))
                .at(asked.seq, &asked.t)
                .with_detail(format!(
                    "approval {approval_id}\n{}",
                    text(approval, "preview").unwrap_or("")
                )),
        )
    }

    /// A new intent another sent on this one's behalf: a handoff, a hook, a dispatch.
    pub(super) fn handoff(&mut self, child: &IntentInfo, expand_all: bool) -> Node {
        let caller = crate::context::Caller::parse(&child.caller);
        let how = if caller.is_hook() {
            format!("{} sent", child.caller)
        } else if child.action == "handoff" || caller.agent_id().is_some() {
            "handoff".to_string()
        } else {
            format!(
                "{} by {}",
                non_empty(&child.action, "dispatch"),
                child.caller
            )
        };
        let mut node = Node::new(
            NodeKind::Handoff,
            format!(
                "{how} to {} → intent {}",
                non_empty(&child.agent, "?"),
                child.id
            ),
        );
        if self.ix.intents.contains_key(&child.id) {
            let e = self.entry(child.dispatch.unwrap_or(child.first));
            node = node.at(e.seq, &e.t);
        }
        node.children.push(self.child(&child.id, expand_all));
        node
    }

    /// The context version entry `i` as a diff from the agent's version before it.
    pub(super) fn context_diff(&self, i: usize) -> Node {
        let e = self.entry(i);
        let b = &e.body;
        let agent = text(b, "agent_id").unwrap_or("?");
        let version = b.get("version").and_then(Value::as_u64).unwrap_or(0);
        let previous = self.ix.entries[..i].iter().rev().find(|p| {
            p.kind == Kind::ContextVersion
                && text(&p.body, "agent_id") == Some(agent)
                && p.body
                    .get("version")
                    .and_then(Value::as_u64)
                    .is_some_and(|v| v < version)
        });
        let (from, old, note) = match previous {
            Some(p) => (
                p.body.get("version").and_then(Value::as_u64).unwrap_or(0),
                text(&p.body, "text").unwrap_or(""),
                String::new(),
            ),
            None if version <= 1 => (0, "", String::new()),
            None => (
                version - 1,
                "",
                format!(
                    " (v{} is not in the recording: diffed from nothing)",
                    version - 1
                ),
            ),
        };
        let diff =
            crate::context::diff_texts(agent, from, old, version, text(b, "text").unwrap_or(""));
        let changed: String = diff
            .hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.kind != crate::context::DiffLineKind::Context)
            .map(|l| format!("{:?} {}\n", l.kind, l.text))
            .collect();
        let cause = b.get("cause").cloned().unwrap_or(Value::Null);
        Node::new(
            NodeKind::ContextDiff,
            format!(
                "context {agent} v{from} → v{version}: +{} −{} lines «{}»{note}{}",
                diff.added,
                diff.removed,
                quote(text(b, "summary").unwrap_or("")),
                match (text(&cause, "tool"), text(&cause, "intent_id")) {
                    (Some(tool), _) => format!(" (by tool {tool})"),
                    (None, None) => format!(" (by {})", text(&cause, "caller").unwrap_or("?")),
                    _ => String::new(),
                }
            ),
        )
        .at(e.seq, &e.t)
        .with_detail(diff.unified)
        .keyed(changed)
    }

    /// Memory items the agent stored while on this intent (each is shared on the bus).
    pub(super) fn broadcasts(&self, id: &str, agent: &str) -> Vec<Node> {
        let Some((from, to)) = self.ix.span(id) else {
            return Vec::new();
        };
        let tag = format!("intent:{id}");
        self.ix
            .entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                event_of(e) == Some("remembered")
                    && text(&e.body, "agent_id") == Some(agent)
                    && (((from..=to).contains(i))
                        || e.body
                            .get("tags")
                            .and_then(Value::as_array)
                            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some(&tag))))
            })
            .map(|(_, e)| {
                let body = text(&e.body, "text").unwrap_or("");
                let tags: Vec<&str> = e
                    .body
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| t.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                Node::new(
                    NodeKind::Broadcast,
                    format!(
                        "memory {} shared: «{}»",
                        text(&e.body, "kind").unwrap_or("item"),
                        quote(body)
                    ),
                )
                .at(e.seq, &e.t)
                .with_detail(format!(
                    "item: {}\ntags: {}\n\n{body}",
                    text(&e.body, "item_id").unwrap_or("?"),
                    tags.join(", ")
                ))
            })
            .collect()
    }

    /// The hook deliveries this intent's events fired (latest attempt of each), with the
    /// intents `intent:` hooks sent.
    pub(super) fn hook_deliveries(
        &mut self,
        id: &str,
        expand_all: bool,
        linked: &mut HashSet<String>,
    ) -> Vec<Node> {
        let mut latest: Vec<(String, usize)> = Vec::new();
        for (i, e) in self.ix.entries.iter().enumerate() {
            if e.kind != Kind::Audit || text(&e.body, "action") != Some("hook_delivery") {
                continue;
            }
            let Some(input) = e.body.get("input") else {
                continue;
            };
            if text(input, "intent_id") != Some(id) {
                continue;
            }
            let delivery = text(input, "delivery_id").unwrap_or("").to_string();
            match latest.iter_mut().find(|(d, _)| *d == delivery) {
                Some(slot) => slot.1 = i,
                None => latest.push((delivery, i)),
            }
        }
        let mut out = Vec::new();
        for (delivery, i) in latest {
            let e = self.entry(i);
            let caller = text(&e.body, "caller").unwrap_or("").to_string();
            let input = e.body.get("input").cloned().unwrap_or(Value::Null);
            let attempts = input.get("attempt").and_then(Value::as_u64).unwrap_or(0);
            let mut node = Node::new(
                NodeKind::HookDelivery,
                format!(
                    "hook {} on {} → {}: {} after {attempts} attempt{}",
                    caller.strip_prefix("hook:").unwrap_or(&caller),
                    text(&input, "event").unwrap_or("?"),
                    quote(text(&input, "target").unwrap_or("?")),
                    text(&input, "state").unwrap_or("?"),
                    plural(attempts as usize)
                ),
            )
            .at(e.seq, &e.t)
            .with_detail(format!("delivery {delivery}\n{}", pretty(&e.body)));
            let sent: Vec<IntentInfo> = self
                .ix
                .children_of(id)
                .into_iter()
                .filter(|c| c.caller == caller && !linked.contains(&c.id))
                .cloned()
                .collect();
            for child in sent {
                linked.insert(child.id.clone());
                node.children.push(self.child(&child.id, expand_all));
            }
            out.push(node);
        }
        out
    }
}

/// An audit record of the intent's own calls, as a step (when the audit log is all there
/// is): what it did and how that ended.
pub(super) fn audited_step(e: &Entry, agent: &str) -> Option<Node> {
    const READS: [&str; 5] = [
        "dispatch_intent",
        "handoff",
        "get_agent",
        "get_context",
        "append_trace",
    ];
    if e.kind != Kind::Audit {
        return None;
    }
    let b = &e.body;
    let action = text(b, "action")?;
    if READS.contains(&action)
        || action == "hook_delivery"
        || text(b, "caller") != Some(&format!("agent:{agent}"))
    {
        return None;
    }
    let input = b.get("input").cloned().unwrap_or(Value::Null);
    let mut node = Node::new(
        NodeKind::ToolCall,
        format!("{action}({})", quote(&input.to_string())),
    )
    .at(e.seq, &e.t)
    .with_detail(pretty(&input))
    .keyed(format!("{action}\n{input}"));
    let result = match text(b, "outcome") {
        Some("error") => format!("error: {}", quote(text(b, "error").unwrap_or(""))),
        _ => "ok".to_string(),
    };
    node.children
        .push(Node::new(NodeKind::ToolResult, result).at(e.seq, &e.t));
    Some(node)
}

pub(super) fn reply(e: &Entry) -> Node {
    let b = &e.body;
    let tokens = b.get("tokens").and_then(Value::as_u64).unwrap_or(0);
    Node::new(
        NodeKind::Reply,
        format!(
            "done: {tokens} token{}, context v{}, {}/{}: «{}»",
            plural(tokens as usize),
            b.get("context_version")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            text(b, "runner").unwrap_or("?"),
            text(b, "model").unwrap_or("?"),
            quote(text(b, "reply").unwrap_or(""))
        ),
    )
    .at(e.seq, &e.t)
    .with_detail(text(b, "reply").unwrap_or("").to_string())
}

/// Text for a label: one line, cut to `QUOTE` characters.
pub(crate) fn quote(s: &str) -> String {
    let line = one(s);
    if line.chars().count() <= QUOTE {
        line
    } else {
        let mut cut: String = line.chars().take(QUOTE - 1).collect();
        cut.push('…');
        cut
    }
}

pub(super) fn one(s: &str) -> String {
    crate::sanitize::one_line(s).trim().to_string()
}

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(super) fn non_empty<'s>(s: &'s str, or: &'s str) -> &'s str {
    if s.is_empty() { or } else { s }
}

pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
