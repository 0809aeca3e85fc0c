//! Building the tree of an intent: up the chain of parents to whoever asked first, then
//! every step of each intent on the way (`steps`), and everything the target intent caused
//! below it.

mod steps;

use std::collections::HashSet;

use serde_json::Value;

use super::index::{Index, IntentInfo, event_of, text};
use super::resolve::{Resolved, resolve};
use super::{Node, NodeKind, Target, WhyError};
use crate::recorder::{Entry, Kind};
use steps::{audited_step, one, pretty, quote, reply};

/// What the root detail says when only the audit log was there to read.
pub const AUDIT_ONLY: &str = "built from the audit log only: no recall, prompt or tokens";

/// The tree that explains `target`.
pub fn build(entries: &[Entry], target: &Target) -> Result<Node, WhyError> {
    let ix = Index::new(entries);
    let id = match resolve(&ix, target)? {
        Resolved::Intent(id) => id,
        Resolved::Record(i) => return Ok(with_note(&ix, record(&entries[i]))),
        Resolved::Version(i) => {
            let b = Builder::new(&ix, "");
            return Ok(with_note(&ix, b.context_diff(i)));
        }
    };
    Ok(with_note(&ix, tree(&ix, &id)))
}

/// The intents queued in the recording, in order, with their tree: for compare.
pub(super) fn tree_of_intent(ix: &Index<'_>, id: &str) -> Node {
    with_note(ix, tree(ix, id))
}

fn with_note(ix: &Index<'_>, mut root: Node) -> Node {
    if ix.audit_only {
        root.detail = Some(match root.detail.take() {
            Some(d) => format!("{AUDIT_ONLY}\n{d}"),
            None => AUDIT_ONLY.to_string(),
        });
    }
    root
}

/// The whole tree: whoever asked first, down the chain to `target` and all it caused.
fn tree(ix: &Index<'_>, target: &str) -> Node {
    let mut path = vec![target.to_string()];
    while let Some(parent) = path
        .last()
        .and_then(|id| ix.intents.get(id))
        .and_then(|i| i.parent.clone())
        .filter(|p| ix.knows(p) && !path.contains(p))
    {
        path.push(parent);
    }
    let root = path.last().cloned().unwrap_or_else(|| target.to_string());
    let mut b = Builder::new(ix, target);
    b.path = path.into_iter().collect();
    let mut asker = b.asker(&root);
    let intent = b.intent(&root, root == target);
    asker.children.push(intent);
    asker
}

/// An audit record with no intent, alone.
fn record(e: &Entry) -> Node {
    let b = &e.body;
    let outcome = match text(b, "outcome") {
        Some("error") => format!("error: {}", text(b, "error").unwrap_or("")),
        Some(o) => o.to_string(),
        None => String::new(),
    };
    Node::new(
        NodeKind::Record,
        format!(
            "audit #{}: {} by {}{} ({outcome}); no intent caused it",
            b.get("seq").and_then(Value::as_u64).unwrap_or(e.seq),
            text(b, "action").unwrap_or("?"),
            text(b, "caller").unwrap_or("?"),
            text(b, "agent_id")
                .map(|a| format!(" on {a}"))
                .unwrap_or_default(),
        ),
    )
    .at(e.seq, &e.t)
    .with_detail(pretty(b))
}

struct Builder<'i, 'a> {
    ix: &'i Index<'a>,
    target: String,
    /// The intents from the first asker down to the target: expanded even above it.
    path: HashSet<String>,
    seen: HashSet<String>,
}

impl<'i, 'a> Builder<'i, 'a> {
    fn new(ix: &'i Index<'a>, target: &str) -> Self {
        Self {
            ix,
            target: target.to_string(),
            path: HashSet::new(),
            seen: HashSet::new(),
        }
    }

    fn entry(&self, i: usize) -> &'a Entry {
        &self.ix.entries[i]
    }

    /// Who asked for intent `id` (the first of the chain the recording holds).
    fn asker(&self, id: &str) -> Node {
        let info = self.ix.intents.get(id).cloned().unwrap_or_default();
        let caller = if info.caller.is_empty() {
            "someone the recording does not name".to_string()
        } else {
            info.caller.clone()
        };
        let label = if let Some(hook) = caller.strip_prefix("hook:") {
            match self.hook_event(&caller, info.first) {
                Some(ev) if ev.starts_with("schedule") => {
                    format!("asked by a schedule ({ev}, hook {hook})")
                }
                Some(ev) => format!("asked by hook {hook} on {ev}"),
                None => format!("asked by hook {hook}"),
            }
        } else if info.node.as_deref() == Some("external") {
            format!("asked by an outside publisher ({caller}) on the bus")
        } else if let Some(agent) = caller.strip_prefix("agent:") {
            format!("asked by agent {agent}")
        } else {
            format!("asked by {caller}")
        };
        let label = match &info.parent {
            Some(p) if !self.ix.knows(p) => {
                format!("{label}, from intent {p} (not in the recording)")
            }
            _ => label,
        };
        // Where it was asked: the dispatch record, else where the intent first shows.
        let at = match self.ix.intents.get(id) {
            Some(i) => Some(i.dispatch.unwrap_or(i.first)),
            None => self.ix.entries_of(id).next().map(|(i, _)| i),
        };
        let mut node = Node::new(NodeKind::Asker, label);
        if let Some(e) = at.and_then(|at| self.ix.entries.get(at)) {
            node = node.at(e.seq, &e.t).with_detail(format!(
                "caller: {caller}\n{}",
                if info.action.is_empty() {
                    String::new()
                } else {
                    format!("recorded as: {} (audit)", info.action)
                }
            ));
        }
        node
    }

    /// The event of the hook delivery that sent an intent (audited after it).
    fn hook_event(&self, caller: &str, from: usize) -> Option<String> {
        self.ix.entries[from..].iter().find_map(|e| {
            (e.kind == Kind::Audit
                && text(&e.body, "action") == Some("hook_delivery")
                && text(&e.body, "caller") == Some(caller))
            .then(|| {
                e.body
                    .get("input")
                    .and_then(|i| text(i, "event"))
                    .map(str::to_string)
            })?
        })
    }

    /// A child intent: whole when on the path to the target or below it, else one line.
    fn child(&mut self, id: &str, expand_all: bool) -> Node {
        if expand_all || self.path.contains(id) {
            let below = expand_all || id == self.target;
            self.intent(id, below)
        } else {
            let mut n = self.intent_line(id);
            n.label.push_str(&format!(" (aios why {id})"));
            n
        }
    }

    fn intent_line(&self, id: &str) -> Node {
        let info = self
            .ix
            .intents
            .get(id)
            .cloned()
            .unwrap_or_else(|| IntentInfo {
                id: id.to_string(),
                agent: self
                    .ix
                    .entries_of(id)
                    .find_map(|(_, e)| e.agent_id.clone())
                    .unwrap_or_default(),
                ..IntentInfo::default()
            });
        let mut label = format!(
            "{}: «{}» (intent {id}, depth {})",
            if info.agent.is_empty() {
                "?"
            } else {
                &info.agent
            },
            quote(&info.text),
            info.depth
        );
        if id == self.target {
            label.push_str("  ◀ asked about");
        }
        let mut node = Node::new(NodeKind::Intent, label)
            .with_detail(format!(
                "intent: {id}\nagent: {}\ntrace: {}\ndepth: {}\nparent: {}\nasked by: {}\n\n{}",
                info.agent,
                info.trace.as_deref().unwrap_or("-"),
                info.depth,
                info.parent.as_deref().unwrap_or("-"),
                info.caller,
                info.text
            ))
            .keyed(format!("{}\n{}", info.agent, info.text));
        if let Some(e) = self
            .ix
            .entries
            .get(info.first)
            .filter(|_| self.ix.intents.contains_key(id))
        {
            node = node.at(e.seq, &e.t);
        } else if let Some((_, e)) = self.ix.entries_of(id).next() {
            node = node.at(e.seq, &e.t);
        }
        node
    }

    /// An intent and every step of it, in the order they happened.
    fn intent(&mut self, id: &str, expand_all: bool) -> Node {
        let mut node = self.intent_line(id);
        if !self.seen.insert(id.to_string()) {
            node.label.push_str(" (shown above)");
            return node;
        }
        let agent = self
            .ix
            .intents
            .get(id)
            .map(|i| i.agent.clone())
            .unwrap_or_default();
        let mut linked = HashSet::new();
        let mut steps: Vec<Node> = Vec::new();
        if let Some(reason) = self.ix.intents.get(id).and_then(|i| i.refused.clone()) {
            let mut f = Node::new(NodeKind::Failure, format!("refused: {}", one(&reason)));
            if let Some(e) = self
                .ix
                .intents
                .get(id)
                .and_then(|i| i.dispatch)
                .map(|i| self.entry(i))
            {
                f = f.at(e.seq, &e.t);
            }
            steps.push(f);
        }
        let mine: Vec<(usize, &Entry)> = self.ix.entries_of(id).collect();
        let requests: Vec<usize> = mine
            .iter()
            .filter(|(_, e)| e.kind == Kind::ModelRequest)
            .map(|(i, _)| *i)
            .collect();
        steps.extend(self.recalls(&mine, &requests));
        steps.extend(self.prompts(&requests));
        let tool_calls = self.tools(id, &mine, expand_all, &mut linked);
        steps.extend(tool_calls);
        for (_, e) in &mine {
            match event_of(e) {
                Some("intent_done") => steps.push(reply(e)),
                Some("intent_failed") => steps.push(
                    Node::new(
                        NodeKind::Failure,
                        format!("failed: {}", one(text(&e.body, "error").unwrap_or(""))),
                    )
                    .at(e.seq, &e.t)
                    .with_detail(text(&e.body, "error").unwrap_or("").to_string()),
                ),
                _ if self.ix.audit_only => {
                    if let Some(n) = audited_step(e, &agent) {
                        steps.push(n);
                    }
                }
                _ => {}
            }
        }
        for &i in self.ix.versions.get(id).into_iter().flatten() {
            steps.push(self.context_diff(i));
        }
        steps.extend(self.broadcasts(id, &agent));
        steps.extend(self.hook_deliveries(id, expand_all, &mut linked));
        for child in self.ix.children_of(id) {
            if linked.contains(&child.id) {
                continue;
            }
            let child = child.clone();
            steps.push(self.handoff(&child, expand_all));
        }
        // In the order they happened; a round's tokens right after its prompt (they reach
        // the recording in batches, sometimes after the next round's request).
        let mut ordered: Vec<((u64, u8), Node)> = steps
            .into_iter()
            .map(|n| ((n.seq.unwrap_or(u64::MAX), 0), n))
            .collect();
        ordered.extend(self.tokens(&mine, &requests));
        ordered.sort_by_key(|(key, _)| *key);
        node.children = ordered.into_iter().map(|(_, n)| n).collect();
        node
    }
}
