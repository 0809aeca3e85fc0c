//! The bus: the spec's three channels (plus node heartbeats and any channel an operator
//! adds), a durable intent queue, and the `Bus` seam with its in-process backend.
//!
//! Pub/sub is at-most-once: a subscriber that is away misses what is published. Intents
//! therefore also go on a durable queue that a node takes from and acknowledges only after
//! the agent has finished, so none is lost.

mod envelope;
mod local;
pub(crate) mod redis;
mod stats;
mod sub_link;
pub mod tap;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use self::redis::{
    CONSUMER_GROUP, DEAD_LETTER_STREAM, INTENT_STREAM, RedisBus, RedisBusOptions,
};
pub use envelope::{
    ContextPayload, ENVELOPE_VERSION, Envelope, Heartbeat, IntentPayload, MINIMAL_FORM_CHANNELS,
    MINIMAL_MEMORY_KIND, MemoryPayload, Payload, Rejection, Source, StatePayload, channels, decode,
    kinds,
};
pub use local::LocalBus;
pub use stats::{BurstLog, BusStats, ChannelStats, RejectedMessage, StatsBook};

/// Largest message accepted by default (`bus.max_message_bytes`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The connection state shown in the status bar and by `doctor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BusState {
    InProcess,
    Connected,
    /// Disconnected; outgoing messages wait in a bounded buffer while it retries.
    Reconnecting {
        attempt: u32,
        buffered: usize,
    },
}

impl BusState {
    pub fn label(&self) -> String {
        match self {
            BusState::InProcess => "in-process".into(),
            BusState::Connected => "connected".into(),
            BusState::Reconnecting { attempt, buffered } => {
                format!("reconnecting (attempt {attempt}, {buffered} waiting)")
            }
        }
    }
}

/// What a subscriber hears: a decoded message, or one that was rejected and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Received {
    /// Shared, so handing one message to many subscribers copies a pointer, not the tree.
    Message {
        channel: String,
        envelope: Arc<Envelope>,
    },
    Rejected(RejectedMessage),
}

impl<'de> Deserialize<'de> for Received {
    /// The same JSON the derived form writes. Read through one flat struct because serde
    /// buffers an internally tagged enum's fields, and a buffered payload can no longer be
    /// taken as the raw JSON text `Payload` keeps.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Type {
            Message,
            Rejected,
        }
        #[derive(Deserialize)]
        struct Wire {
            #[serde(rename = "type")]
            kind: Type,
            channel: String,
            envelope: Option<Arc<Envelope>>,
            ts: Option<String>,
            reason: Option<Rejection>,
            preview: Option<String>,
        }
        let w = Wire::deserialize(d)?;
        Ok(match w.kind {
            Type::Message => Received::Message {
                channel: w.channel,
                envelope: w
                    .envelope
                    .ok_or_else(|| D::Error::missing_field("envelope"))?,
            },
            Type::Rejected => Received::Rejected(RejectedMessage {
                channel: w.channel,
                ts: w.ts.ok_or_else(|| D::Error::missing_field("ts"))?,
                reason: w.reason.ok_or_else(|| D::Error::missing_field("reason"))?,
                preview: w.preview.unwrap_or_default(),
            }),
        })
    }
}

impl Received {
    /// The channel it was heard on.
    pub fn channel(&self) -> &str {
        match self {
            Received::Message { channel, .. } => channel,
            Received::Rejected(r) => &r.channel,
        }
    }
}

/// An intent that reached the bus but could not be taken (the stream is full of unhandled
/// intents, or Redis refused it): the runtime answers it on the results channel and audits
/// it, so a refusal is never silent.
#[derive(Debug, Clone)]
pub struct RefusedIntent {
    pub envelope: Arc<Envelope>,
    pub reason: Rejection,
}

/// An intent taken from the durable queue; acknowledge it when the agent is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub envelope: Envelope,
    /// The backend's handle for `ack` (a stream entry id on Redis).
    pub token: String,
    /// How many times it has been delivered (more than 1 after a node died holding it).
    pub attempts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus: {0}")]
    Backend(String),
    #[error("bus: the outgoing buffer is full ({0} messages waiting for the connection)")]
    BufferFull(usize),
    #[error("bus: {0}")]
    Rejected(#[from] Rejection),
    #[error("bus: closed")]
    Closed,
}

#[async_trait]
pub trait Bus: Send + Sync {
    /// `redis` or `in-process`.
    fn name(&self) -> &'static str;
    fn state(&self) -> BusState;

    /// Publish on a channel (at-most-once).
    async fn publish(&self, channel: &str, envelope: &Envelope) -> Result<(), BusError>;

    /// Everything the bus hears on the seed channels and the patterns added, decoded or
    /// rejected. A slow receiver loses the oldest and learns how many.
    fn subscribe(&self) -> broadcast::Receiver<Received>;

    /// Also hear channels matching a glob pattern (`*`, `?`, `[…]`), e.g. `ops.*`.
    async fn add_pattern(&self, pattern: &str) -> Result<(), BusError>;

    /// Put an intent on the durable queue and announce it on `agent.action.intents`.
    async fn send_intent(&self, envelope: &Envelope) -> Result<(), BusError>;

    /// Take up to `max` queued intents for this node, waiting up to `wait` for one.
    async fn take_intents(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;

    /// The intent is done and will not be delivered again.
    async fn ack(&self, delivery: &Delivery) -> Result<(), BusError>;

    /// Counters per channel and the latest rejected messages.
    fn stats(&self) -> BusStats;

    /// The intents this bus heard and had to refuse, for the runtime to answer and audit.
    /// Given once (later calls get `None`); a bus that never refuses gives `None`. Until
    /// it is taken, refusals are counted and shown but left to another node to answer.
    fn refusals(&self) -> Option<tokio::sync::mpsc::Receiver<RefusedIntent>> {
        None
    }
}

/// Glob match as Redis PSUBSCRIBE does it: `*` any run, `?` one character, `[abc]` a set,
/// `\` escapes.
pub fn pattern_matches(pattern: &str, channel: &str) -> bool {
    fn go(p: &[char], c: &[char]) -> bool {
        match p.first() {
            None => c.is_empty(),
            Some('*') => (0..=c.len()).any(|i| go(&p[1..], &c[i..])),
            Some('?') => !c.is_empty() && go(&p[1..], &c[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&ch| ch == ']') else {
                    return !c.is_empty() && c[0] == '[' && go(&p[1..], &c[1..]);
                };
                let set = &p[1..end];
                let (negate, set) = match set.first() {
                    Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let Some(&ch) = c.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= ch && ch <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == ch;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &c[1..])
            }
            Some('\\') if p.len() > 1 => !c.is_empty() && c[0] == p[1] && go(&p[2..], &c[1..]),
            Some(&ch) => !c.is_empty() && c[0] == ch && go(&p[1..], &c[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let c: Vec<char> = channel.chars().collect();
    go(&p, &c)
}

/// How long `take_intents` waits by default when nothing is queued.
pub const TAKE_WAIT: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_subscriber_hears_reads_back_as_written() {
        let envelope = Envelope::new(
            kinds::MEMORY,
            Source {
                node: "n1".into(),
                agent_id: None,
                operator: Some("ops".into()),
            },
            Some("ops-agent"),
            serde_json::json!({"text": "staging is on v2", "tags": ["deploy"]}),
        );
        let heard = [
            Received::Message {
                channel: channels::MEMORY.into(),
                envelope: Arc::new(envelope),
            },
            Received::Rejected(RejectedMessage {
                channel: channels::INTENTS.into(),
                ts: "2026-11-24T12:00:00.000Z".into(),
                reason: Rejection::NotUtf8,
                preview: "\\xff".into(),
            }),
        ];
        for r in heard {
            let text = serde_json::to_string(&r).unwrap();
            assert!(text.starts_with(r#"{"type":"#), "{text}");
            // As the control socket carries it: nested in another value.
            let nested = serde_json::to_string(&serde_json::json!({ "bus": &r })).unwrap();
            #[derive(Deserialize)]
            struct Outer {
                bus: Received,
            }
            assert_eq!(serde_json::from_str::<Received>(&text).unwrap(), r);
            assert_eq!(serde_json::from_str::<Outer>(&nested).unwrap().bus, r);
        }
    }

    #[test]
    fn globs_match_like_psubscribe() {
        assert!(pattern_matches("ops.*", "ops.deploy"));
        assert!(pattern_matches("*", "anything"));
        assert!(!pattern_matches("ops.*", "sec.audit"));
        assert!(pattern_matches("h?llo", "hello"));
        assert!(pattern_matches("h[ae]llo", "hallo"));
        assert!(!pattern_matches("h[^e]llo", "hello"));
        assert!(pattern_matches("h[a-c]t", "hbt"));
        assert!(pattern_matches(r"a\*", "a*"));
        assert!(!pattern_matches(r"a\*", "ab"));
        assert!(pattern_matches("agent.*.intents", "agent.action.intents"));
    }
}
