//! The bus envelope (the contract every message on every channel follows) and the payload of
//! each seed channel; decoding raw bytes into an envelope or a reasoned rejection.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::context::now_rfc3339;

/// The envelope schema version this build reads and writes.
pub const ENVELOPE_VERSION: u64 = 1;

/// The spec's channels, exactly as named there, plus the node heartbeat channel.
pub mod channels {
    /// An operator's or agent's request for an agent to act.
    pub const INTENTS: &str = "agent.action.intents";
    /// An agent sharing a memory item with all others.
    pub const MEMORY: &str = "agent.broadcast.memory";
    /// A change of an agent's context.
    pub const CONTEXT: &str = "mcp.update.context";
    /// Node heartbeats: name, agents hosted, intents in flight, load.
    pub const NODES: &str = "aios.nodes";
    /// The outcome of each intent, so a caller on one node can wait for an intent that
    /// another node handles.
    pub const RESULTS: &str = "aios.intents.results";
    /// The channels every subscriber hears without asking.
    pub const SEED: [&str; 5] = [INTENTS, MEMORY, CONTEXT, NODES, RESULTS];
    /// What each node's agents are doing — status, streamed tokens (coalesced), tool
    /// calls, outcomes — for a TUI attached through Redis. Not a seed channel: only a
    /// watcher that asks for it pays for the token traffic.
    pub const ACTIVITY: &str = "aios.agents.activity";
    /// Requests to a node about its agents from a watcher elsewhere (kind `stop`: end the
    /// agent's current generation). Every node asks for it; not a seed channel.
    pub const CONTROL: &str = "aios.agents.control";
}

/// Message kinds of the seed channels; operator channels may carry others.
pub mod kinds {
    pub const INTENT: &str = "intent";
    pub const MEMORY: &str = "memory";
    pub const CONTEXT: &str = "context";
    pub const HEARTBEAT: &str = "heartbeat";
    pub const RESULT: &str = "result";
    /// On `mcp.update.context`: an agent's goals, persona traits or protocol hooks changed.
    pub const STATE: &str = "state";
    /// On `aios.agents.activity`: one runtime event of a node's agent.
    pub const ACTIVITY: &str = "activity";
    /// On `aios.agents.control`: stop the agent's current generation.
    pub const STOP: &str = "stop";
    /// On `aios.agents.control`: a watcher's decision on a waiting tool call
    /// (`{"id": …, "decision": {"approve": …, "reason": …, "arguments": …, "always": …}}`).
    pub const DECIDE: &str = "decide";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub node: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
}

impl Source {
    /// A node speaking for itself: no agent, no operator.
    pub fn node(name: &str) -> Source {
        Source {
            node: name.to_string(),
            agent_id: None,
            operator: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u64,
    /// UUIDv7 (or, for a minimal intent from an outside tool, derived from its bytes).
    pub id: String,
    /// RFC 3339 UTC with milliseconds.
    pub ts: String,
    pub kind: String,
    pub source: Source,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub payload: Payload,
}

/// An envelope's payload, kept as the JSON text it arrived in: decoding a message checks
/// it is well-formed JSON but builds no tree, which is most of what decoding would cost
/// (benches/bus_ingest.rs). Read it typed with `Envelope::payload_as`, or as a tree with
/// `Payload::value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(Box<RawValue>);

impl Payload {
    pub fn from_value(value: &Value) -> Payload {
        // A `Value` always serializes; `null` is only a fallback for the impossible.
        Payload(serde_json::value::to_raw_value(value).unwrap_or_else(|_| null_raw()))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The payload as a JSON tree (`Value::Null` if it were somehow not JSON).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).expect("`null` is JSON")
}

impl Default for Payload {
    fn default() -> Self {
        Payload(null_raw())
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::from_value(&value)
    }
}

impl Envelope {
    /// A new envelope with a fresh id and the current time.
    pub fn new(kind: &str, source: Source, agent_id: Option<&str>, payload: Value) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            id: uuid::Uuid::now_v7().to_string(),
            ts: now_rfc3339(),
            kind: kind.to_string(),
            source,
            agent_id: agent_id.map(str::to_string),
            trace_id: None,
            parent_id: None,
            payload: Payload::from_value(&payload),
        }
    }

    /// The wire form, refused when over `max` bytes (`bus.max_message_bytes`).
    /// Every string in it is masked first (the built-in secret patterns): whatever aios
    /// puts on the bus — an intent's text, a memory, a result — carries no secret.
    pub fn to_bytes(&self, max: usize) -> Result<Vec<u8>, Rejection> {
        let not_envelope = |e: serde_json::Error| Rejection::NotEnvelope {
            message: e.to_string(),
        };
        let mut tree = serde_json::to_value(self).map_err(not_envelope)?;
        crate::audit::builtin().redact_value(&mut tree);
        let bytes = serde_json::to_vec(&tree).map_err(not_envelope)?;
        if bytes.len() > max {
            return Err(Rejection::TooLarge {
                bytes: bytes.len(),
                max,
            });
        }
        Ok(bytes)
    }

    /// The payload as a typed value of its channel.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }

    /// One human line: what `aios watch` and the channels pane show.
    pub fn summary(&self) -> String {
        let payload = self.payload.value();
        let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_string);
        let body = match self.kind.as_str() {
            kinds::INTENT => text("text").unwrap_or_default(),
            kinds::MEMORY => text("text").unwrap_or_default(),
            kinds::CONTEXT => format!(
                "v{} {}",
                payload.get("version").and_then(Value::as_u64).unwrap_or(0),
                text("summary").unwrap_or_default()
            ),
            kinds::STATE => format!("{} changed", text("part").unwrap_or_default()),
            kinds::ACTIVITY => format!(
                "{} {}",
                text("event").unwrap_or_default(),
                text("status")
                    .or_else(|| text("name"))
                    .or_else(|| text("error"))
                    .or_else(|| text("text"))
                    .unwrap_or_default()
            ),
            kinds::RESULT => match text("error") {
                Some(e) => format!("failed: {e}"),
                None => format!(
                    "done: context v{}",
                    payload
                        .pointer("/reply/context_version")
                        .and_then(Value::as_u64)
                        .unwrap_or(0)
                ),
            },
            kinds::HEARTBEAT => format!(
                "{} agents, {} in flight",
                payload
                    .get("agents")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len),
                payload
                    .get("in_flight")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            ),
            _ => self.payload.get().to_string(),
        };
        crate::sanitize::one_line(&body).chars().take(200).collect()
    }
}

/// `agent.action.intents`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentPayload {
    pub text: String,
    /// How many handoffs led to this intent; 0 (and absent) for an operator's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub depth: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `agent.broadcast.memory`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryPayload {
    pub item_id: String,
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `mcp.update.context`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextPayload {
    pub version: u64,
    pub context_id: String,
    pub summary: String,
}

/// `mcp.update.context`, kind `state`: which part of an agent's state changed
/// (`goals`, `persona_traits`, `protocol_hooks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatePayload {
    pub part: String,
}

/// `aios.nodes`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: String,
    pub agents: Vec<String>,
    pub in_flight: u64,
    /// Intents handled per second over the last interval.
    pub load: f64,
    pub started_at: String,
    /// The node's model runner and model, for a watcher's status bar (absent from older
    /// nodes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// The agents not idle right now, so a watcher that attaches mid-generation starts
    /// from the truth rather than from "idle".
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub busy: std::collections::BTreeMap<String, crate::event::AgentStatus>,
}

/// Why a message was not accepted. Rejections are counted and kept, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    #[error("{bytes} bytes is over the {max}-byte limit (bus.max_message_bytes)")]
    TooLarge { bytes: usize, max: usize },
    #[error("not UTF-8 text")]
    NotUtf8,
    /// `message` says where, in words: `at byte 12: expected value`.
    #[error("not JSON{}", json_detail(message))]
    NotJson { message: String },
    #[error("not an aios envelope: {message}")]
    NotEnvelope { message: String },
    #[error("envelope schema version {version}; this build reads version {ENVELOPE_VERSION}")]
    UnknownVersion { version: u64 },
    /// An intent that reached Redis when the stream held `max` (`bus.stream_max_len`)
    /// intents not yet handled.
    #[error(
        "refused: {unhandled} intents are already waiting to be handled (bus.stream_max_len = {max}); publish it again later"
    )]
    BacklogFull { unhandled: u64, max: u64 },
    /// An intent that Redis would not put on the stream.
    #[error("refused: could not be queued: {message}")]
    NotQueued { message: String },
}

/// `: what` — or ` at byte N: what` when the message starts with its position.
fn json_detail(message: &str) -> String {
    if message.starts_with("at byte ") {
        format!(" {message}")
    } else {
        format!(": {message}")
    }
}

/// serde_json's error in words, its place as a byte offset into the message:
/// `at byte 12: expected value` (serde_json says `… at line 1 column 13`).
fn json_error(text: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let byte = (line_start + e.column().saturating_sub(1)).min(text.len());
    format!("at byte {byte}: {what}")
}

impl Rejection {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::NotUtf8 => "not_utf8",
            Rejection::NotJson { .. } => "not_json",
            Rejection::NotEnvelope { .. } => "not_envelope",
            Rejection::UnknownVersion { .. } => "unknown_version",
            Rejection::BacklogFull { .. } => "backlog_full",
            Rejection::NotQueued { .. } => "not_queued",
        }
    }
}

/// The channels on which an outside tool may publish the minimal form.
pub const MINIMAL_FORM_CHANNELS: [&str; 3] =
    [channels::INTENTS, channels::MEMORY, channels::CONTEXT];

/// Decode a message received on `channel`. On the three seed channels the minimal form an
/// outside tool may publish — `{"agent_id": "…", "text": "…"}` — is completed into a full
/// envelope: an intent, a shared memory item, a note on the agent's context. Its id is
/// derived from its bytes, so every node that hears the same publication derives the same
/// id (and of an intent exactly one node can claim it).
pub fn decode(channel: &str, bytes: &[u8], max_bytes: usize) -> Result<Envelope, Rejection> {
    if bytes.len() > max_bytes {
        return Err(Rejection::TooLarge {
            bytes: bytes.len(),
            max: max_bytes,
        });
    }
    // The common case — a well-formed envelope — straight into the struct, without an
    // intermediate JSON tree; anything else takes the slower path that says what is wrong.
    if let Ok(env) = serde_json::from_slice::<Envelope>(bytes)
        && env.v == ENVELOPE_VERSION
        && !env.id.is_empty()
        && !env.kind.is_empty()
    {
        return Ok(env);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|e| Rejection::NotJson {
        message: json_error(text, &e),
    })?;
    let Value::Object(map) = &value else {
        return Err(Rejection::NotEnvelope {
            message: "a JSON object is expected".into(),
        });
    };
    match map.get("v") {
        Some(v) => {
            let version = v.as_u64().ok_or_else(|| Rejection::NotEnvelope {
                message: "`v` must be a whole number".into(),
            })?;
            if version != ENVELOPE_VERSION {
                return Err(Rejection::UnknownVersion { version });
            }
            let env: Envelope =
                serde_json::from_value(value).map_err(|e| Rejection::NotEnvelope {
                    message: e.to_string(),
                })?;
            if env.id.is_empty() || env.kind.is_empty() {
                return Err(Rejection::NotEnvelope {
                    message: "`id` and `kind` must not be empty".into(),
                });
            }
            Ok(env)
        }
        None if MINIMAL_FORM_CHANNELS.contains(&channel) => complete_minimal(channel, map, bytes),
        None => Err(Rejection::NotEnvelope {
            message: "no schema version `v`".into(),
        }),
    }
}

/// The memory kind of a shared item published in the minimal form without one.
pub const MINIMAL_MEMORY_KIND: &str = "semantic";

/// Complete the minimal form `{"agent_id": "…", "text": "…"}` (optionally `"operator"`; on
/// the memory channel also `"kind"` and `"tags"`) as the envelope of `channel`.
fn complete_minimal(
    channel: &str,
    map: &serde_json::Map<String, Value>,
    bytes: &[u8],
) -> Result<Envelope, Rejection> {
    let field = |k: &str| map.get(k).and_then(Value::as_str).map(str::trim);
    let (Some(agent_id), Some(text)) = (field("agent_id"), field("text")) else {
        return Err(Rejection::NotEnvelope {
            message: "no schema version `v`, and not the minimal form either: it needs \
                      string fields `agent_id` and `text`"
                .into(),
        });
    };
    if agent_id.is_empty() || text.is_empty() {
        return Err(Rejection::NotEnvelope {
            message: "`agent_id` and `text` must not be empty".into(),
        });
    }
    let digest = Sha256::digest(bytes);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_custom_bytes(id).into_uuid().to_string();
    let (kind, payload) = match channel {
        channels::MEMORY => {
            let tags: Vec<&str> = map
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let memory_kind = field("kind")
                .filter(|k| !k.is_empty())
                .unwrap_or(MINIMAL_MEMORY_KIND);
            (
                kinds::MEMORY,
                serde_json::json!({"item_id": id, "kind": memory_kind, "text": text, "tags": tags}),
            )
        }
        channels::CONTEXT => (
            kinds::CONTEXT,
            serde_json::json!({"version": 0, "context_id": "", "summary": text}),
        ),
        _ => (kinds::INTENT, serde_json::json!({ "text": text })),
    };
    Ok(Envelope {
        v: ENVELOPE_VERSION,
        id,
        ts: now_rfc3339(),
        kind: kind.into(),
        source: Source {
            node: "external".into(),
            agent_id: None,
            operator: field("operator").map(str::to_string),
        },
        agent_id: Some(agent_id.to_string()),
        trace_id: None,
        parent_id: None,
        payload: payload.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1024 * 1024;

    #[test]
    fn a_full_envelope_round_trips() {
        let env = Envelope::new(
            kinds::INTENT,
            Source {
                node: "edge-1".into(),
                agent_id: None,
                operator: Some("alice".into()),
            },
            Some("support-agent"),
            serde_json::json!({"text": "Customer 42 cannot log in"}),
        );
        let bytes = serde_json::to_vec(&env).unwrap();
        assert_eq!(decode(channels::INTENTS, &bytes, MAX).unwrap(), env);
        assert_eq!(env.summary(), "Customer 42 cannot log in");
    }

    #[test]
    fn the_contract_example_decodes() {
        let raw = r#"{"v":1,"id":"0193a","ts":"2026-11-24T12:00:00.000Z","kind":"intent",
            "source":{"node":"edge-1","agent_id":null,"operator":"alice"},
            "agent_id":"support-agent","trace_id":"t","parent_id":null,
            "payload":{"text":"Customer 42 cannot log in"}}"#;
        let env = decode(channels::INTENTS, raw.as_bytes(), MAX).unwrap();
        assert_eq!(env.agent_id.as_deref(), Some("support-agent"));
        assert_eq!(
            env.payload_as::<IntentPayload>().unwrap().text,
            "Customer 42 cannot log in"
        );
    }

    #[test]
    fn the_minimal_intent_is_completed_with_a_stable_id() {
        let raw = br#"{"agent_id":"support-agent","text":"hello"}"#;
        let a = decode(channels::INTENTS, raw, MAX).unwrap();
        let b = decode(channels::INTENTS, raw, MAX).unwrap();
        assert_eq!(a.id, b.id, "every node derives the same id");
        assert_eq!(a.kind, "intent");
        assert_eq!(a.source.node, "external");
        assert_eq!(a.payload_as::<IntentPayload>().unwrap().text, "hello");
        let other = decode(
            channels::INTENTS,
            br#"{"agent_id":"support-agent","text":"bye"}"#,
            MAX,
        )
        .unwrap();
        assert_ne!(a.id, other.id);
        // Not on a channel of an operator's.
        assert!(matches!(
            decode("ops.deploy", raw, MAX),
            Err(Rejection::NotEnvelope { .. })
        ));
    }

    #[test]
    fn the_minimal_form_is_completed_on_the_memory_and_context_channels() {
        let raw = br#"{"agent_id":"ops-agent","text":"staging is on v2","operator":"n8n"}"#;
        let memory = decode(channels::MEMORY, raw, MAX).unwrap();
        assert_eq!(memory.kind, kinds::MEMORY);
        assert_eq!(memory.agent_id.as_deref(), Some("ops-agent"));
        assert_eq!(memory.source.node, "external");
        assert_eq!(memory.source.operator.as_deref(), Some("n8n"));
        let item: MemoryPayload = memory.payload_as().unwrap();
        assert_eq!(item.text, "staging is on v2");
        assert_eq!(item.kind, MINIMAL_MEMORY_KIND);
        assert_eq!(item.item_id, memory.id);
        assert!(item.tags.is_empty());
        assert_eq!(memory.summary(), "staging is on v2");
        assert_eq!(decode(channels::MEMORY, raw, MAX).unwrap().id, memory.id);

        let tagged =
            br#"{"agent_id":"ops-agent","text":"x","kind":"procedural","tags":["deploy",1]}"#;
        let item: MemoryPayload = decode(channels::MEMORY, tagged, MAX)
            .unwrap()
            .payload_as()
            .unwrap();
        assert_eq!(
            (item.kind.as_str(), item.tags),
            ("procedural", vec!["deploy".to_string()])
        );

        let context = decode(channels::CONTEXT, raw, MAX).unwrap();
        assert_eq!(context.kind, kinds::CONTEXT);
        let note: ContextPayload = context.payload_as().unwrap();
        assert_eq!(note.summary, "staging is on v2");
        assert_eq!(context.summary(), "v0 staging is on v2");

        for ch in MINIMAL_FORM_CHANNELS {
            let err = decode(ch, br#"{"agent_id":"ops-agent"}"#, MAX).unwrap_err();
            assert!(err.to_string().contains("`agent_id` and `text`"), "{err}");
        }
    }

    #[test]
    fn rejections_read_as_words() {
        let reason = decode(channels::MEMORY, br#"{"agent_id":x}"#, MAX).unwrap_err();
        assert_eq!(reason.to_string(), "not JSON at byte 12: expected value");
        let reason = decode(channels::MEMORY, b"{\n  \"a\": 1,\n  oops", MAX).unwrap_err();
        assert_eq!(
            reason.to_string(),
            "not JSON at byte 14: key must be a string"
        );
        assert_eq!(
            decode("x", &[0xff], MAX).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        assert_eq!(
            decode("x", &[b' '; 11], 10).unwrap_err().to_string(),
            "11 bytes is over the 10-byte limit (bus.max_message_bytes)"
        );
        assert_eq!(
            decode("x", br#"{"v":2,"id":"a","kind":"k"}"#, MAX)
                .unwrap_err()
                .to_string(),
            "envelope schema version 2; this build reads version 1"
        );
        // A reason kept from before positions were given still reads well.
        let old = Rejection::NotJson {
            message: "expected value".into(),
        };
        assert_eq!(old.to_string(), "not JSON: expected value");
    }

    #[test]
    fn bad_input_is_rejected_with_a_reason() {
        assert!(matches!(
            decode("x", b"not json", MAX),
            Err(Rejection::NotJson { .. })
        ));
        assert!(matches!(
            decode("x", &[0xff, 0xfe], MAX),
            Err(Rejection::NotUtf8)
        ));
        assert!(matches!(
            decode("x", b"[1,2]", MAX),
            Err(Rejection::NotEnvelope { .. })
        ));
        assert!(matches!(
            decode("x", br#"{"v":2,"id":"a","kind":"k"}"#, MAX),
            Err(Rejection::UnknownVersion { version: 2 })
        ));
        assert!(matches!(
            decode("x", br#"{"v":1,"id":"a"}"#, MAX),
            Err(Rejection::NotEnvelope { .. })
        ));
        assert!(matches!(
            decode("x", &[b' '; 11], 10),
            Err(Rejection::TooLarge { bytes: 11, max: 10 })
        ));
        assert!(matches!(
            decode(channels::INTENTS, br#"{"agent_id":"a"}"#, MAX),
            Err(Rejection::NotEnvelope { .. })
        ));
    }

    #[test]
    fn summaries_are_one_sanitized_line() {
        let env = Envelope::new(
            kinds::MEMORY,
            Source {
                node: "n".into(),
                agent_id: None,
                operator: None,
            },
            None,
            serde_json::json!({"text": "a\u{1b}[2Jb\nc"}),
        );
        assert_eq!(env.summary(), "ab c");
    }

    #[test]
    fn state_and_activity_notices_read_as_one_line() {
        let on = |kind: &str, payload: serde_json::Value| {
            let src = Source {
                node: "n".into(),
                agent_id: None,
                operator: None,
            };
            Envelope::new(kind, src, Some("ops-agent"), payload).summary()
        };
        assert_eq!(
            on(kinds::STATE, serde_json::json!({"part": "goals"})),
            "goals changed"
        );
        let status =
            serde_json::json!({"event": "status", "agent_id": "ops-agent", "status": "streaming"});
        assert_eq!(on(kinds::ACTIVITY, status), "status streaming");
        let token = serde_json::json!({"event": "token", "text": "Hel\u{1b}[31mlo"});
        assert_eq!(on(kinds::ACTIVITY, token), "token Hello");
    }
}
