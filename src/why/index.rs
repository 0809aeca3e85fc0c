//! What the entries say about each intent, gathered in one pass: who asked, its text and
//! chain, its parent, and which entries are about it.
//!
//! Bodies are read as JSON values, not as the runtime's types: a recording written by
//! another version still explains what it can.

use std::collections::HashMap;

use serde_json::Value;

use crate::recorder::{Entry, Kind};

/// One intent as the recording knows it.
#[derive(Debug, Clone, Default)]
pub(super) struct IntentInfo {
    pub id: String,
    pub agent: String,
    pub text: String,
    /// The caller that sent it (`tui:alice`, `agent:strategy-agent`, `hook:a.h`, …).
    pub caller: String,
    pub trace: Option<String>,
    pub depth: u64,
    pub parent: Option<String>,
    /// `dispatch_intent` or `handoff`.
    pub action: String,
    /// The node its envelope came from (`external` for an outside publisher).
    pub node: Option<String>,
    /// Where it first shows: the dispatch record, the bus envelope or the queued event.
    pub first: usize,
    /// The dispatch's audit entry, when recorded.
    pub dispatch: Option<usize>,
    /// Why the dispatch was refused, when it was.
    pub refused: Option<String>,
}

pub(super) struct Index<'a> {
    pub entries: &'a [Entry],
    pub intents: HashMap<String, IntentInfo>,
    /// Intent ids in the order they first show.
    pub order: Vec<String>,
    /// Entries whose `intent_id` is the intent, in order.
    pub about: HashMap<String, Vec<usize>>,
    /// Context version entries by the intent their cause names, in order.
    pub versions: HashMap<String, Vec<usize>>,
    /// When each intent was queued (its `intent_queued` event).
    pub queued_at: HashMap<String, usize>,
    /// Whether only audit records are present (built from the audit log).
    pub audit_only: bool,
}

/// `body[key]` as text.
pub(super) fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The runtime event an `event` entry holds, by its tag.
pub(super) fn event_of(e: &Entry) -> Option<&str> {
    (e.kind == Kind::Event).then(|| text(&e.body, "event"))?
}

/// The envelope a `bus` entry holds, and its channel.
pub(super) fn envelope_of(e: &Entry) -> Option<(&str, &Value)> {
    if e.kind != Kind::Bus {
        return None;
    }
    Some((text(&e.body, "channel")?, e.body.get("envelope")?))
}

impl<'a> Index<'a> {
    pub fn new(entries: &'a [Entry]) -> Index<'a> {
        let mut ix = Index {
            entries,
            intents: HashMap::new(),
            order: Vec::new(),
            about: HashMap::new(),
            versions: HashMap::new(),
            queued_at: HashMap::new(),
            audit_only: !entries.is_empty() && entries.iter().all(|e| e.kind == Kind::Audit),
        };
        for (i, e) in entries.iter().enumerate() {
            if let Some(id) = &e.intent_id {
                ix.about.entry(id.clone()).or_default().push(i);
            }
            match e.kind {
                Kind::Audit => ix.audit(i, e),
                Kind::Bus => ix.bus(i, e),
                Kind::Event if event_of(e) == Some("intent_queued") => ix.queued(i, e),
                Kind::ContextVersion => {
                    if let Some(id) = caused_by(e) {
                        ix.versions.entry(id.to_string()).or_default().push(i);
                    }
                }
                _ => {}
            }
        }
        ix
    }

    fn slot(&mut self, id: &str, i: usize) -> &mut IntentInfo {
        if !self.intents.contains_key(id) {
            self.order.push(id.to_string());
        }
        self.intents
            .entry(id.to_string())
            .or_insert_with(|| IntentInfo {
                id: id.to_string(),
                first: i,
                ..IntentInfo::default()
            })
    }

    /// A dispatch record names the new intent, its caller and its parent.
    fn audit(&mut self, i: usize, e: &Entry) {
        let b = &e.body;
        let action = text(b, "action").unwrap_or("");
        if action != "dispatch_intent" && action != "handoff" {
            return;
        }
        let input = b.get("input").cloned().unwrap_or(Value::Null);
        let Some(id) = text(b, "intent_id")
            .or_else(|| text(&input, "intent_id"))
            .map(str::to_string)
        else {
            return;
        };
        let refused = (text(b, "outcome") == Some("error"))
            .then(|| text(b, "error").unwrap_or("refused").to_string());
        let info = self.slot(&id, i);
        info.action = action.to_string();
        info.caller = text(b, "caller").unwrap_or("").to_string();
        fill(
            &mut info.agent,
            text(&input, "agent_id").or(text(b, "agent_id")),
        );
        fill(
            &mut info.text,
            text(&input, "text").or_else(|| {
                input
                    .get("payload")
                    .and_then(|p| p.get("text"))
                    .and_then(Value::as_str)
            }),
        );
        info.trace = info
            .trace
            .take()
            .or_else(|| text(b, "trace_id").map(str::to_string));
        info.parent = info
            .parent
            .take()
            .or_else(|| text(b, "parent_id").map(str::to_string));
        if let Some(d) = input.get("depth").and_then(Value::as_u64) {
            info.depth = d;
        }
        info.dispatch = Some(i);
        info.refused = refused;
    }

    /// An intent envelope carries the intent's id, its source and its parent.
    fn bus(&mut self, i: usize, e: &Entry) {
        let Some((_, env)) = envelope_of(e) else {
            return;
        };
        if text(env, "kind") != Some("intent") {
            return;
        }
        let Some(id) = text(env, "id").map(str::to_string) else {
            return;
        };
        let info = self.slot(&id, i);
        fill(&mut info.agent, text(env, "agent_id"));
        fill(
            &mut info.text,
            env.get("payload")
                .and_then(|p| p.get("text"))
                .and_then(Value::as_str),
        );
        let source = env.get("source").cloned().unwrap_or(Value::Null);
        info.node = text(&source, "node").map(str::to_string);
        if info.caller.is_empty() {
            info.caller = text(&source, "operator")
                .map(str::to_string)
                .or_else(|| text(&source, "agent_id").map(|a| format!("agent:{a}")))
                .unwrap_or_default();
        }
        info.trace = info
            .trace
            .take()
            .or_else(|| text(env, "trace_id").map(str::to_string));
        info.parent = info
            .parent
            .take()
            .or_else(|| text(env, "parent_id").map(str::to_string));
        if let Some(d) = env
            .get("payload")
            .and_then(|p| p.get("depth"))
            .and_then(Value::as_u64)
        {
            info.depth = d;
        }
    }

    fn queued(&mut self, i: usize, e: &Entry) {
        let b = &e.body;
        let Some(id) = text(b, "intent_id").map(str::to_string) else {
            return;
        };
        self.queued_at.entry(id.clone()).or_insert(i);
        let info = self.slot(&id, i);
        fill(&mut info.agent, text(b, "agent_id"));
        fill(&mut info.text, text(b, "text"));
        fill(&mut info.caller, text(b, "operator"));
        info.trace = info
            .trace
            .take()
            .or_else(|| text(b, "trace_id").map(str::to_string));
        if let Some(d) = b.get("depth").and_then(Value::as_u64) {
            info.depth = info.depth.max(d);
        }
    }

    /// The entries about `id`, in order.
    pub fn entries_of(&self, id: &str) -> impl Iterator<Item = (usize, &'a Entry)> + '_ {
        let entries = self.entries;
        self.about
            .get(id)
            .into_iter()
            .flatten()
            .map(move |&i| (i, &entries[i]))
    }

    /// Whether the recording mentions `id` at all.
    pub fn knows(&self, id: &str) -> bool {
        self.intents.contains_key(id) || self.about.contains_key(id)
    }

    /// The intents whose parent is `id`, in order.
    pub fn children_of(&self, id: &str) -> Vec<&IntentInfo> {
        self.order
            .iter()
            .filter_map(|c| self.intents.get(c))
            .filter(|c| c.parent.as_deref() == Some(id))
            .collect()
    }

    /// The first and last entry positions about `id` (its own entries, the dispatch and
    /// the context versions it caused).
    pub fn span(&self, id: &str) -> Option<(usize, usize)> {
        let mut positions: Vec<usize> = self.about.get(id).cloned().unwrap_or_default();
        if let Some(info) = self.intents.get(id) {
            positions.push(info.first);
        }
        positions.extend(self.versions.get(id).into_iter().flatten());
        Some((*positions.iter().min()?, *positions.iter().max()?))
    }

    /// Full ids known to the recording that start with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .intents
            .keys()
            .chain(self.about.keys())
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// The intent a `context_version` entry names as its cause.
pub(super) fn caused_by(e: &Entry) -> Option<&str> {
    e.body
        .get("cause")
        .and_then(|c| c.get("intent_id"))
        .and_then(Value::as_str)
}

fn fill(slot: &mut String, value: Option<&str>) {
    if slot.is_empty()
        && let Some(v) = value
    {
        *slot = v.to_string();
    }
}
