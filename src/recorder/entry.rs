//! One line of a recording: what happened, when, about whom, sealed into the hash chain.

use serde::{Deserialize, Serialize};

/// What an entry holds; `body`'s shape follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The recording of one process begins: `{source, info, agents}`.
    Start,
    /// A `RuntimeEvent`, as the TUI got it (tokens gathered per agent per ~50 ms).
    Event,
    /// A bus message heard (`Received`), on every channel but the activity one, whose
    /// messages are the `event` entries again.
    Bus,
    /// An audit record (`AuditRecord`).
    Audit,
    /// An agent's goals, traits and hooks (`AgentState`): at start and after each change.
    AgentState,
    /// A context version, whole (`ContextVersion`).
    ContextVersion,
    /// What recall found for an intent: `{query, items: [{id, kind, score, text, in_prompt}]}`.
    Recall,
    /// The request the model got: `{request}` (messages, tools, options).
    ModelRequest,
    /// A model turn ended: `{usage}`.
    ModelUsage,
    /// A tool call ran or was refused, whole: `{call_id, name, origin, arguments, ok, result}`.
    ToolCall,
    /// Entries were lost (the recorder fell behind, or the disk was full): `{lost, why}`.
    Gap,
    /// The recording of this process ends cleanly: `{entries}`.
    Stop,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Event => "event",
            Kind::Bus => "bus",
            Kind::Audit => "audit",
            Kind::AgentState => "agent_state",
            Kind::ContextVersion => "context_version",
            Kind::Recall => "recall",
            Kind::ModelRequest => "model_request",
            Kind::ModelUsage => "model_usage",
            Kind::ToolCall => "tool_call",
            Kind::Gap => "gap",
            Kind::Stop => "stop",
        }
    }
}

/// One line of a recording. Field order is the canonical order (`hash` last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain: one more than the entry before, across files and restarts.
    pub seq: u64,
    /// When it happened: RFC 3339, UTC, microseconds.
    pub t: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    pub body: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The entry without its `hash`: what the hash covers.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    t: &'a str,
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_id: &'a Option<String>,
    body: &'a serde_json::value::RawValue,
    prev_hash: &'a str,
}

/// What the writer seals: an entry whose body is already JSON text (serialized once, on
/// the writer thread, and redacted there).
pub(super) struct Sealing<'a> {
    pub seq: u64,
    pub t: &'a str,
    pub kind: Kind,
    pub agent_id: &'a Option<String>,
    pub intent_id: &'a Option<String>,
    pub body: &'a serde_json::value::RawValue,
    pub prev_hash: &'a str,
}

impl Sealing<'_> {
    /// The line (newline included) and its hash.
    pub(super) fn seal(&self) -> (String, Vec<u8>) {
        let canonical = serde_json::to_vec(&Canonical {
            seq: self.seq,
            t: self.t,
            kind: self.kind,
            agent_id: self.agent_id,
            intent_id: self.intent_id,
            body: self.body,
            prev_hash: self.prev_hash,
        })
        // Serializing plain data into a Vec cannot fail.
        .unwrap_or_default();
        crate::chain::seal_line(self.prev_hash, &canonical)
    }
}

impl Entry {
    /// Compute `hash` (linking to `prev_hash`) and return the line, newline included.
    pub fn seal(&mut self) -> Vec<u8> {
        let body = serde_json::value::to_raw_value(&self.body).unwrap_or_default();
        let (hash, line) = Sealing {
            seq: self.seq,
            t: &self.t,
            kind: self.kind,
            agent_id: &self.agent_id,
            intent_id: &self.intent_id,
            body: &body,
            prev_hash: &self.prev_hash,
        }
        .seal();
        self.hash = hash;
        line
    }

    /// The entry's time, if `t` is valid RFC 3339.
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.t)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

/// `t` of an entry: RFC 3339, UTC, microseconds (`2026-12-01T10:00:00.000001Z`). Written
/// once per entry on the writer thread: the fixed-format writer, not a format string
/// parsed each time.
pub fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_entry_is_its_serde_form_and_links() {
        let mut e = Entry {
            seq: 3,
            t: "2026-12-01T10:00:00.000001Z".into(),
            kind: Kind::ToolCall,
            agent_id: Some("ops-agent".into()),
            intent_id: None,
            body: serde_json::json!({"name": "set_goals", "arguments": {"b": 1, "a": "é"}}),
            prev_hash: crate::chain::GENESIS_HASH.into(),
            hash: String::new(),
        };
        let line = e.seal();
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            serde_json::to_string(&e).unwrap() + "\n"
        );
        assert_eq!(
            crate::chain::line_hash(&e.prev_hash, &line),
            Some(e.hash.clone())
        );
        let back: Entry = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, e);
        assert!(back.time().is_some());
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00.000001Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(t), "2026-12-01T10:00:00.000001Z");
    }
}
