//! The Redis bus: pub/sub for the seed channels and operator patterns, and a Redis Stream
//! with a consumer group as the durable, at-least-once intent queue shared by every node.
//!
//! Key layout (every name starts with `bus.prefix`, so deployments can share one Redis):
//!
//! | key | what |
//! |---|---|
//! | `{prefix}{channel}` | the pub/sub channels (`agent.action.intents`, …) |
//! | `{prefix}aios:intents` | the shared intent stream, consumer group `runtime` |
//! | `{prefix}aios:intents:node:{node}` | intents for agents pinned to `node` |
//! | `{prefix}aios:intents:dead` | dead letters: undecodable or delivered too often |
//! | `{prefix}aios:intent:{id}` | the claim of an intent id (`SET NX EX`): queued once |
//! | `{prefix}aios:intent:{id}:refused` | the node that refused the id (it alone answers) |
//!
//! Four connections over RESP3. Two subscription links of our own (`SubLink`): one hears
//! `agent.action.intents` and waits while heard intents wait to be claimed (so a flood slows
//! the socket instead of being dropped), one hears every other channel and never waits.
//! Two `ConnectionManager`s that reconnect by themselves: one runs commands, one waits in
//! `XREADGROUP … BLOCK` (a blocked connection would stall every other command on it). A
//! supervisor task pings, reports `Reconnecting` while Redis is away, counts reconnections,
//! re-subscribes and flushes the bounded outbox in order once it is back.
//!
//! A node keeps what it has taken and not yet acknowledged fresh (`XCLAIM … JUSTID`), so
//! that no node — itself included — takes it over while it still works on it; only entries
//! left idle for `claim_idle` by a node that stopped are taken over. The stream holds at
//! most `stream_max_len` entries, of which only handled ones are ever trimmed: when
//! unhandled ones fill it, new intents are refused, out loud.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{RedisError, Script, Value};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::envelope::{Envelope, Rejection, channels, decode, kinds};
use super::stats::BurstLog;
use super::stats::{BusStats, StatsBook};
use super::sub_link::{Heard, Sink, SubLink};
use super::{Bus, BusError, BusState, Delivery, Received, RefusedIntent, pattern_matches};
use crate::config::{BusConfig, RedisUrl};

mod link;
mod outbox;
mod queue;
mod scripts;

use link::supervise;
use queue::{keep_held_fresh, queue_heard_intents};
use scripts::{ENQUEUE_LUA, REFRESH_LUA};
/// The shared intent stream (after the prefix).
pub const INTENT_STREAM: &str = "aios:intents";
/// The dead-letter stream (after the prefix).
pub const DEAD_LETTER_STREAM: &str = "aios:intents:dead";
/// The consumer group every node reads the intent streams in.
pub const CONSUMER_GROUP: &str = "runtime";
/// The stream entry field holding the envelope's JSON.
const ENVELOPE_FIELD: &str = "envelope";

/// Messages a slow subscriber may fall behind by before it loses the oldest.
const SUBSCRIBER_BUFFER: usize = 4096;
/// Intents heard on the channel and waiting to be claimed onto the stream. When this many
/// wait, the subscription reader waits too: the socket slows, and Redis holds the rest.
const HEARD_INTENTS: usize = 4096;
/// Heard intents claimed per pipelined round trip.
const CLAIM_BATCH: usize = 256;
/// Refused intents waiting for the runtime to answer them (audit, results channel); when
/// full, claiming waits.
const REFUSALS_WAITING: usize = 1024;
/// How long the id of a refused intent is remembered, so that of the nodes that heard it
/// only the first answers the refusal.
const REFUSED_TTL_S: u64 = 60;
/// After a shutdown is asked for, how long heard intents may still be claimed.
const DRAIN_ON_SHUTDOWN: Duration = Duration::from_secs(2);
/// How long `connect` tries before it names the URL that did not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A command that gets no answer for this long fails (the connection is then replaced).
const RESPONSE_TIMEOUT: Duration = crate::redis_conn::RESPONSE;
/// How often the supervisor checks a healthy connection.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Backoff between reconnection checks while Redis is away: doubles up to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a claimed intent id is remembered: the same id is not queued twice within it.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(3600);

/// How to reach Redis and how this node takes part.
#[derive(Debug, Clone)]
pub struct RedisBusOptions {
    /// `redis://[user:pass@]host:port[/db]`; RESP3 is switched on in code.
    pub url: RedisUrl,
    /// Put before every channel and key (`prod:`), so deployments can share one Redis.
    pub prefix: String,
    /// This node's name: its consumer name in the group and the owner of its pinned stream.
    pub node: String,
    pub max_message_bytes: usize,
    /// An intent taken but not acknowledged for this long is taken over by another node.
    pub claim_idle: Duration,
    /// A taken-over intent delivered more often than this goes to the dead letters.
    pub max_deliveries: u64,
    /// Most entries an intent stream holds. Handled entries are trimmed to make room;
    /// when unhandled ones fill it, new intents are refused out loud.
    pub stream_max_len: usize,
    /// Messages kept while Redis is away; more are refused with `BusError::BufferFull`.
    pub outbox: usize,
    /// Agent id → node name: such an agent's intents are taken only by that node.
    pub pins: HashMap<String, String>,
    /// How long a claimed intent id keeps the same id from being queued again.
    pub claim_ttl: Duration,
}

impl RedisBusOptions {
    /// The `[bus]` section's values for `node`, with agents pinned as given.
    pub fn from_config(
        bus: &BusConfig,
        node: &str,
        pins: HashMap<String, String>,
    ) -> RedisBusOptions {
        RedisBusOptions {
            url: bus.url.clone(),
            prefix: bus.prefix.clone(),
            node: node.to_string(),
            max_message_bytes: bus.max_message_bytes as usize,
            claim_idle: Duration::from_millis(u64::from(bus.claim_idle_ms)),
            max_deliveries: u64::from(bus.max_deliveries),
            stream_max_len: bus.stream_max_len as usize,
            outbox: bus.outbox as usize,
            pins,
            claim_ttl: DEFAULT_CLAIM_TTL,
        }
    }

    /// Everything from a whole config: `[bus]`, the node name and `[agents.<id>] node`.
    pub fn for_config(config: &crate::config::Config) -> RedisBusOptions {
        let pins = config
            .agents
            .iter()
            .filter_map(|(agent, o)| o.node.as_ref().map(|n| (agent.clone(), n.clone())))
            .collect();
        RedisBusOptions::from_config(&config.bus, &config.node_name(), pins)
    }
}

/// The Redis names of one deployment (one prefix).
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
    /// The prefix with glob characters escaped, for PSUBSCRIBE.
    pattern_prefix: String,
    intents: String,
    dead: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let mut pattern_prefix = String::new();
        for ch in prefix.chars() {
            if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
                pattern_prefix.push('\\');
            }
            pattern_prefix.push(ch);
        }
        Keys {
            prefix: prefix.to_string(),
            pattern_prefix,
            intents: format!("{prefix}{INTENT_STREAM}"),
            dead: format!("{prefix}{DEAD_LETTER_STREAM}"),
        }
    }

    fn channel(&self, channel: &str) -> String {
        format!("{}{channel}", self.prefix)
    }

    fn pattern(&self, pattern: &str) -> String {
        format!("{}{pattern}", self.pattern_prefix)
    }

    fn node_stream(&self, node: &str) -> String {
        format!("{}{INTENT_STREAM}:node:{node}", self.prefix)
    }

    fn claim(&self, id: &str) -> String {
        format!("{}aios:intent:{id}", self.prefix)
    }

    /// The node that refused intent `id` lately, so that it alone answers the refusal.
    fn refused(&self, id: &str) -> String {
        format!("{}aios:intent:{id}:refused", self.prefix)
    }

    /// The channel name as the rest of aios knows it.
    fn strip<'a>(&self, channel: &'a str) -> &'a str {
        channel.strip_prefix(&self.prefix).unwrap_or(channel)
    }
}

/// Something to send once Redis is back, in the order it was asked for.
#[derive(Debug, Clone)]
enum Outgoing {
    Publish {
        channel: String,
        bytes: Vec<u8>,
    },
    Intent {
        id: String,
        agent: Option<String>,
        bytes: Vec<u8>,
    },
    Ack {
        stream: String,
        entry: String,
    },
}

struct Inner {
    opts: RedisBusOptions,
    keys: Keys,
    /// The URL without its password, for messages.
    shown_url: String,
    cmd: ConnectionManager,
    /// The subscription links: one for `agent.action.intents` alone, whose reader waits
    /// while heard intents wait to be claimed, and one for every other channel, which never
    /// waits — so a flood of intents does not hold up results, heartbeats or context
    /// changes, nor pile them up in Redis's buffer for this node.
    sub_intents: SubLink,
    sub: SubLink,
    block: ConnectionManager,
    tx: broadcast::Sender<Received>,
    /// Operator patterns, unprefixed, in the order added.
    patterns: Mutex<Vec<String>>,
    stats: StatsBook,
    down: AtomicBool,
    attempt: AtomicU32,
    outbox: Mutex<VecDeque<Outgoing>>,
    /// Wakes the supervisor when a command saw the connection fail.
    wake: Notify,
    groups_ready: AtomicBool,
    /// Per stream, how far this node has taken back the entries a previous run of it (same
    /// node name) left pending: `None` once done.
    recovery: Mutex<HashMap<String, Option<String>>>,
    /// Per stream, the entries this node has taken and not yet acknowledged: queued for its
    /// agents or running. Kept fresh (`REFRESH_LUA`) and never taken over by this node.
    held: Mutex<HashMap<String, BTreeSet<String>>>,
    dead_letters: AtomicU64,
    enqueue: Script,
    refresh: Script,
    /// Refused intents for the runtime to answer; `answering` once it took the receiver.
    refusals_tx: mpsc::Sender<RefusedIntent>,
    refusals_rx: Mutex<Option<mpsc::Receiver<RefusedIntent>>>,
    answering: AtomicBool,
    /// Refusals are logged once per burst.
    refusal_log: Mutex<BurstLog>,
    /// Whether the subscription connection was lost (said once per loss).
    sub_lost: AtomicBool,
    /// Intents from the outbox refused while it was flushed, to refuse out loud after.
    flush_refused: Mutex<Vec<Refused>>,
}

/// A refused intent, why, and its bytes as sent.
type Refused = (Arc<Envelope>, Rejection, Vec<u8>);

/// What became of an intent offered to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enqueued {
    Queued,
    /// Its id was claimed before (another node, or an earlier publication).
    Duplicate,
    /// The stream is full of unhandled intents; `first`: this node answers the refusal
    /// (not when another node refused this publication already, or this bus never answers).
    Refused {
        unhandled: u64,
        first: bool,
    },
}

/// The Redis backend of the `Bus` seam. Dropping it stops its tasks; intents it took and
/// did not acknowledge are taken over by another node after `claim_idle`.
pub struct RedisBus {
    inner: Arc<Inner>,
    cancel: CancellationToken,
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// True for failures of the link rather than of the command.
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

/// The seed channels, prefixed: the intents channel, and the others.
fn seed_channels(keys: &Keys) -> (Vec<String>, Vec<String>) {
    let intents = vec![keys.channel(channels::INTENTS)];
    let others = channels::SEED
        .iter()
        .filter(|c| **c != channels::INTENTS)
        .map(|c| keys.channel(c))
        .collect();
    (intents, others)
}

fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        _ => None,
    }
}

impl RedisBus {
    /// Connect, subscribe to the seed channels and start the supervisor. Fails within
    /// seconds, naming the URL, when nothing answers there.
    pub async fn connect(opts: RedisBusOptions) -> Result<RedisBus, BusError> {
        let shown = opts.url.to_string();
        let unreachable = |e: &dyn std::fmt::Display| {
            BusError::Backend(format!("cannot reach Redis at {shown}: {e}"))
        };
        if opts.node.is_empty() {
            return Err(BusError::Backend("the node name is empty".into()));
        }
        let info = crate::redis_conn::info(&opts.url)
            .map_err(|e| BusError::Backend(format!("bus.url {shown}: {e}")))?;
        let client = crate::tls::redis_client(info.clone())
            .map_err(|e| BusError::Backend(format!("{shown}: {e}")))?;

        // Pushed messages are decoded where the connection reads them: no queue in between
        // that could grow while a subscriber falls behind — a slow reader slows the socket,
        // and Redis's own output limit for pub/sub clients bounds what waits there.
        let decoder: Arc<OnceLock<Weak<Inner>>> = Arc::new(OnceLock::new());
        let (claim_tx, claim_rx) = mpsc::channel::<Arc<Envelope>>(HEARD_INTENTS);
        let push_sink: Sink = {
            let decoder = decoder.clone();
            Arc::new(move |heard: Heard| {
                let inner = decoder.get().and_then(Weak::upgrade);
                let claim_tx = claim_tx.clone();
                Box::pin(async move {
                    if let Some(inner) = inner {
                        inner.heard(heard, &claim_tx).await;
                    }
                })
            })
        };
        let sub_intents = SubLink::new(info.clone(), push_sink.clone(), RESPONSE_TIMEOUT);
        let sub = SubLink::new(info.clone(), push_sink, RESPONSE_TIMEOUT);

        let connect_all = async {
            sub_intents.reconnect().await?;
            sub.reconnect().await?;
            let cmd = crate::redis_conn::manager(&client, Some(RESPONSE_TIMEOUT)).await?;
            // The blocking reader's calls are bounded by `take_intents` itself.
            let block = crate::redis_conn::manager(&client, None).await?;
            Ok::<_, RedisError>((cmd, block))
        };
        let (cmd, block) = match tokio::time::timeout(CONNECT_TIMEOUT, connect_all).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(unreachable(&e)),
            Err(_) => return Err(unreachable(&"no answer within 5 s")),
        };

        let keys = Keys::new(&opts.prefix);
        let (intents, others) = seed_channels(&keys);
        sub_intents
            .subscribe(&intents)
            .await
            .map_err(|e| unreachable(&e))?;
        sub.subscribe(&others).await.map_err(|e| unreachable(&e))?;

        let (tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (refusals_tx, refusals_rx) = mpsc::channel(REFUSALS_WAITING);
        let inner = Arc::new(Inner {
            opts,
            keys,
            shown_url: shown,
            cmd,
            sub_intents,
            sub,
            block,
            tx,
            patterns: Mutex::new(Vec::new()),
            stats: StatsBook::default(),
            down: AtomicBool::new(false),
            attempt: AtomicU32::new(0),
            outbox: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            groups_ready: AtomicBool::new(false),
            recovery: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            dead_letters: AtomicU64::new(0),
            enqueue: Script::new(ENQUEUE_LUA),
            refresh: Script::new(REFRESH_LUA),
            refusals_tx,
            refusals_rx: Mutex::new(Some(refusals_rx)),
            answering: AtomicBool::new(false),
            refusal_log: Mutex::new(BurstLog::default()),
            sub_lost: AtomicBool::new(false),
            flush_refused: Mutex::new(Vec::new()),
        });
        let _ = decoder.set(Arc::downgrade(&inner));
        // The groups exist before anything is sent, so no intent is missed; a failure here
        // is retried on the first take.
        let _ = inner.ensure_groups().await;

        let cancel = CancellationToken::new();
        tokio::spawn(queue_heard_intents(inner.clone(), claim_rx, cancel.clone()));
        tokio::spawn(supervise(inner.clone(), cancel.clone()));
        tokio::spawn(keep_held_fresh(inner.clone(), cancel.clone()));
        Ok(RedisBus { inner, cancel })
    }

    /// Publish raw bytes as an outside tool (redis-cli, n8n) would: no checks, no outbox.
    pub async fn publish_raw(&self, channel: &str, bytes: &[u8]) -> Result<(), BusError> {
        let mut con = self.inner.cmd.clone();
        redis::cmd("PUBLISH")
            .arg(self.inner.keys.channel(channel))
            .arg(bytes)
            .query_async::<i64>(&mut con)
            .await
            .map_err(backend)?;
        self.inner.stats.published(channel);
        Ok(())
    }

    /// Intents moved to the dead-letter stream by this bus.
    pub fn dead_lettered(&self) -> u64 {
        self.inner.dead_letters.load(Ordering::Relaxed)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.opts.node
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.inner.shown_url
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn state(&self) -> BusState {
        if self.inner.down.load(Ordering::SeqCst) {
            BusState::Reconnecting {
                attempt: self.inner.attempt.load(Ordering::SeqCst).max(1),
                buffered: self.inner.outbox_len(),
            }
        } else {
            BusState::Connected
        }
    }

    async fn publish(&self, channel: &str, envelope: &Envelope) -> Result<(), BusError> {
        let bytes = envelope.to_bytes(self.inner.opts.max_message_bytes)?;
        self.inner
            .send_or_buffer(Outgoing::Publish {
                channel: channel.to_string(),
                bytes,
            })
            .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Received> {
        self.inner.tx.subscribe()
    }

    async fn add_pattern(&self, pattern: &str) -> Result<(), BusError> {
        if pattern.is_empty() {
            return Err(BusError::Backend("an empty channel pattern".into()));
        }
        let new = match self.inner.patterns.lock() {
            Ok(mut p) if !p.iter().any(|x| x == pattern) => {
                p.push(pattern.to_string());
                true
            }
            _ => false,
        };
        if !new {
            return Ok(());
        }
        match self.inner.psubscribe(pattern).await {
            Ok(()) => Ok(()),
            // Kept: it is subscribed when the connection is back.
            Err(e) if is_connection_error(&e) => {
                self.inner.mark_down();
                Ok(())
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// A stream full of unhandled intents refuses it here, so the caller hears why; while
    /// Redis is away it waits in the outbox (and a refusal then is answered by the runtime).
    async fn send_intent(&self, envelope: &Envelope) -> Result<(), BusError> {
        let inner = &self.inner;
        let bytes = envelope.to_bytes(inner.opts.max_message_bytes)?;
        let agent = envelope.agent_id.as_deref();
        if !inner.down.load(Ordering::SeqCst) && inner.outbox_len() == 0 {
            match inner
                .enqueue_intent(&envelope.id, agent, &bytes, true)
                .await
            {
                Ok(Enqueued::Refused { unhandled, .. }) => {
                    let reason = inner.backlog_full(unhandled);
                    crate::metrics::intent_refused(reason.label());
                    return Err(BusError::Rejected(reason));
                }
                Ok(_) => {
                    inner.stats.published(channels::INTENTS);
                    return Ok(());
                }
                Err(e) if is_connection_error(&e) => inner.mark_down(),
                Err(e) => return Err(backend(e)),
            }
        }
        inner.buffer(Outgoing::Intent {
            id: envelope.id.clone(),
            agent: envelope.agent_id.clone(),
            bytes,
        })
    }

    /// While Redis is away this waits out `wait` and returns nothing (the state says why);
    /// intents taken before are redelivered after `claim_idle` if not acknowledged.
    async fn take_intents(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let started = tokio::time::Instant::now();
        let mut retried = false;
        loop {
            match self.inner.take(max, wait).await {
                Ok(d) => return Ok(d),
                Err(e) if e.code() == Some("NOGROUP") && !retried => {
                    // The streams are gone (Redis restarted without persistence).
                    self.inner.groups_ready.store(false, Ordering::SeqCst);
                    retried = true;
                }
                Err(e) if is_connection_error(&e) => {
                    self.inner.mark_down();
                    tokio::time::sleep(wait.saturating_sub(started.elapsed())).await;
                    return Ok(Vec::new());
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), BusError> {
        let Some((stream, entry)) = delivery.token.rsplit_once(' ') else {
            return Err(BusError::Backend(format!(
                "not a Redis delivery token: {}",
                delivery.token
            )));
        };
        self.inner
            .send_or_buffer(Outgoing::Ack {
                stream: stream.to_string(),
                entry: entry.to_string(),
            })
            .await
    }

    fn stats(&self) -> BusStats {
        self.inner.stats.snapshot()
    }

    fn refusals(&self) -> Option<mpsc::Receiver<RefusedIntent>> {
        let rx = self.inner.refusals_rx.lock().ok()?.take()?;
        self.inner.answering.store(true, Ordering::SeqCst);
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_prefix() {
        let k = Keys::new("prod:");
        assert_eq!(k.intents, "prod:aios:intents");
        assert_eq!(k.dead, "prod:aios:intents:dead");
        assert_eq!(k.node_stream("edge-1"), "prod:aios:intents:node:edge-1");
        assert_eq!(k.claim("abc"), "prod:aios:intent:abc");
        assert_eq!(k.channel(channels::MEMORY), "prod:agent.broadcast.memory");
        assert_eq!(k.strip("prod:agent.broadcast.memory"), channels::MEMORY);
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped_for_patterns() {
        let k = Keys::new("a*[b]:");
        assert_eq!(k.pattern("ops.*"), r"a\*\[b\]:ops.*");
    }
}
