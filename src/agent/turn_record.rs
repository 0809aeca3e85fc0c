//! What only an intent's turn knows, put on the flight recording: what recall found (and
//! which of it reached the prompt), the request the model got and its usage, and every tool
//! call whole, with its result or why it was refused. The runtime events say the same in
//! short for the screen; these entries are what `aios why` shows in full.

use serde_json::{Value, json};

use super::turn::{Effect, Event, Origin};
use crate::llm::{ChatRequest, ToolCall};
use crate::recorder::{Kind, Recorder};

/// Longest tool result kept whole; longer ones are cut, with their length said.
const RESULT_KEPT: usize = 64 * 1024;

/// What an awaited effect was about, kept until its outcome comes back.
pub(super) enum Pending {
    Recall { query: String },
    Tool { call: ToolCall, origin: Origin },
    Nothing,
}

impl Pending {
    pub(super) fn of(effect: &Effect) -> Self {
        match effect {
            Effect::Recall { query, .. } => Pending::Recall {
                query: query.clone(),
            },
            Effect::RunTool { call, origin } => Pending::Tool {
                call: call.clone(),
                origin: *origin,
            },
            _ => Pending::Nothing,
        }
    }
}

/// The recorder of one intent's turn, and what it recalled (to tell which reached the prompt).
pub(super) struct TurnRecord<'a> {
    rec: &'a Recorder,
    agent_id: &'a str,
    intent_id: &'a str,
    recalled: Vec<(String, String)>,
}

impl<'a> TurnRecord<'a> {
    pub(super) fn new(rec: &'a Recorder, agent_id: &'a str, intent_id: &'a str) -> Self {
        Self {
            rec,
            agent_id,
            intent_id,
            recalled: Vec::new(),
        }
    }

    fn note(&self, kind: Kind, body: Value) {
        self.rec
            .note(kind, self.agent_id, Some(self.intent_id), body);
    }

    /// An awaited effect's outcome.
    pub(super) fn outcome(&mut self, pending: Pending, event: &Event) {
        if !self.rec.is_on() {
            return;
        }
        match (pending, event) {
            (Pending::Recall { query }, Event::Recalled(items)) => {
                self.recalled = items
                    .iter()
                    .map(|i| (i.item.id.clone(), i.item.text.clone()))
                    .collect();
                let items: Vec<Value> = items
                    .iter()
                    .map(|i| {
                        json!({"id": i.item.id, "kind": i.item.kind, "score": i.score, "text": i.item.text})
                    })
                    .collect();
                self.note(Kind::Recall, json!({"query": query, "items": items}));
            }
            (Pending::Tool { call, origin }, Event::ToolResult { result, .. }) => {
                let (ok, result) = match result {
                    Ok(v) => (true, kept(v)),
                    Err(e) => (false, Value::String(e.clone())),
                };
                self.note(
                    Kind::ToolCall,
                    json!({"call_id": call.id, "name": call.name, "origin": origin.as_str(),
                           "arguments": call.arguments, "ok": ok, "result": result}),
                );
            }
            _ => {}
        }
    }

    /// A call refused before it ran (not allowed, denied, a loop).
    pub(super) fn refused(&self, call: &ToolCall, reason: &str) {
        self.note(
            Kind::ToolCall,
            json!({"call_id": call.id, "name": call.name, "arguments": call.arguments,
                   "ok": false, "refused": reason}),
        );
    }

    /// The request the model is about to get, and which recalled items it carries.
    pub(super) fn request(&self, request: &ChatRequest) {
        if !self.rec.is_on() {
            return;
        }
        let in_prompt: Vec<&str> = self
            .recalled
            .iter()
            .filter(|(_, text)| {
                request
                    .messages
                    .iter()
                    .any(|m| !text.is_empty() && m.content.contains(text.as_str()))
            })
            .map(|(id, _)| id.as_str())
            .collect();
        self.note(
            Kind::ModelRequest,
            json!({"request": request, "recalled_in_prompt": in_prompt}),
        );
    }

    /// A model turn ended with this usage.
    pub(super) fn usage(&self, event: &Event) {
        if let Event::TurnDone(usage) = event
            && self.rec.is_on()
        {
            self.note(Kind::ModelUsage, json!({"usage": usage}));
        }
    }
}

/// A tool result, cut to `RESULT_KEPT` bytes of JSON when longer.
fn kept(v: &Value) -> Value {
    let text = v.to_string();
    if text.len() <= RESULT_KEPT {
        return v.clone();
    }
    let mut cut = RESULT_KEPT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    json!({"truncated": true, "bytes": text.len(), "head": &text[..cut]})
}
