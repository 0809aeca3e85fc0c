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
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use redis::{IntoConnectionInfo, ProtocolVersion, RedisError, Script, Value};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::envelope::{Envelope, Rejection, channels, decode, kinds};
use super::stats::BurstLog;
use super::stats::{BusStats, StatsBook};
use super::sub_link::{Heard, Sink, SubLink};
use super::{Bus, BusError, BusState, Delivery, Received, RefusedIntent, pattern_matches};
use crate::config::BusConfig;

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
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the supervisor checks a healthy connection.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Backoff between reconnection checks while Redis is away: doubles up to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a claimed intent id is remembered: the same id is not queued twice within it.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(3600);

/// Claim an intent id and put the intent on its stream, atomically; optionally announce it.
///
/// The stream holds at most `cap` entries. Entries every consumer is done with (before the
/// oldest one still pending, and not after what the group has read) are trimmed to make
/// room; entries not yet handled never are. When unhandled ones fill it, the intent is
/// refused: the claim is released (so it can be published again later) and the refusing
/// node's name is kept on the id for a while, so it alone answers. Every node hears each
/// publication once: another node that hears this id while that mark stands is hearing the
/// same publication late (its reader lagged) and stays silent, even if there is room by
/// now; the refusing node hearing it again is hearing it published again, and takes it.
///
/// KEYS: claim key, stream, channel, refused key. ARGV: node, claim ttl s, cap, envelope,
/// publish?, group, answer refusals?, refused ttl s.
/// Returns the stream entry id; false when the id was already claimed; or, refused,
/// `{entries in the stream, 1 if this node answers the refusal else 0}`.
const ENQUEUE_LUA: &str = r"
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local refused_by = redis.call('GET', KEYS[4])
if refused_by and refused_by ~= ARGV[1] then
  return {0, 0}
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return false
end
local cap = tonumber(ARGV[3])
local len = redis.call('XLEN', KEYS[2])
if len >= cap then
  local keep = nil
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[2])
  if ok then
    for _, g in ipairs(groups) do
      local name, last = nil, nil
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] end
        if g[i] == 'last-delivered-id' then last = g[i + 1] end
      end
      if name == ARGV[6] and last then
        local ms, seq = parse(last)
        keep = ms .. '-' .. (seq + 1)
        local p = redis.call('XPENDING', KEYS[2], ARGV[6])
        if p[1] > 0 and before(p[2], keep) then keep = p[2] end
      end
    end
  end
  if keep then
    redis.call('XTRIM', KEYS[2], 'MINID', keep)
    len = redis.call('XLEN', KEYS[2])
  end
  if len >= cap then
    redis.call('DEL', KEYS[1])
    local first = 0
    if ARGV[7] == '1' then
      redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[8])
      first = 1
    end
    return {len, first}
  end
end
local entry = redis.call('XADD', KEYS[2], '*', 'envelope', ARGV[4])
if ARGV[5] == '1' then
  redis.call('PUBLISH', KEYS[3], ARGV[4])
end
return entry
";

/// Keep the entries this node holds (queued for its agents or running) fresh, so no node —
/// this one included — takes them over while it still works on them: reset their idle time
/// with `XCLAIM … JUSTID` (which does not count a delivery), but only those still pending
/// for this consumer. KEYS: stream. ARGV: group, consumer, entry ids. Returns the ids that
/// are still this node's.
const REFRESH_LUA: &str = r"
local kept = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept[#kept + 1] = ARGV[i]
  end
end
return kept
";

/// Entry ids refreshed per script call.
const REFRESH_BATCH: usize = 500;

/// How to reach Redis and how this node takes part.
#[derive(Debug, Clone)]
pub struct RedisBusOptions {
    /// `redis://[user:pass@]host:port[/db]`; RESP3 is switched on in code.
    pub url: String,
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

/// The URL as it may be shown: any password replaced (the one URL display).
pub(crate) fn shown_url(url: &str) -> String {
    crate::config::url::ShownUrl(url).to_string()
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
        let shown = shown_url(&opts.url);
        let unreachable = |e: &dyn std::fmt::Display| {
            BusError::Backend(format!("cannot reach Redis at {shown}: {e}"))
        };
        if opts.node.is_empty() {
            return Err(BusError::Backend("the node name is empty".into()));
        }
        let info = opts
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| BusError::Backend(format!("bus.url {shown}: {e}")))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = crate::tls::redis_client(info.clone())
            .map_err(|e| BusError::Backend(format!("{shown}: {e}")))?;

        let manager_config = || {
            ConnectionManagerConfig::new()
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500))
                .set_number_of_retries(2)
                .set_connection_timeout(Some(Duration::from_secs(1)))
        };
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
        let cmd_config = manager_config().set_response_timeout(Some(RESPONSE_TIMEOUT));
        // The blocking reader's calls are bounded by `take_intents` itself.
        let block_config = manager_config().set_response_timeout(None);

        let connect_all = async {
            sub_intents.reconnect().await?;
            sub.reconnect().await?;
            let cmd = client
                .get_connection_manager_with_config(cmd_config)
                .await?;
            let block = client
                .get_connection_manager_with_config(block_config)
                .await?;
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

impl Inner {
    fn mark_down(&self) {
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(url = %self.shown_url, "bus: Redis connection lost; reconnecting");
        }
        self.wake.notify_one();
    }

    /// Say how many intents the last burst of refusals refused, once it is over.
    fn log_refusal_burst(&self) {
        let ended = self
            .refusal_log
            .lock()
            .ok()
            .and_then(|mut l| l.ended(Duration::from_secs(1)));
        if let Some((count, over, first)) = ended {
            tracing::warn!(
                count,
                seconds = over.as_secs_f64(),
                reason = %first,
                "bus: a burst of intents was refused, each answered on the results channel"
            );
        }
    }

    fn outbox_len(&self) -> usize {
        self.outbox.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Keep a message for later; refused when the outbox is full.
    fn buffer(&self, item: Outgoing) -> Result<(), BusError> {
        let Ok(mut o) = self.outbox.lock() else {
            return Err(BusError::Closed);
        };
        if o.len() >= self.opts.outbox {
            return Err(BusError::BufferFull(o.len()));
        }
        o.push_back(item);
        Ok(())
    }

    /// Send now, or keep it in the outbox while Redis is away (or older messages wait).
    async fn send_or_buffer(&self, item: Outgoing) -> Result<(), BusError> {
        if self.down.load(Ordering::SeqCst) || self.outbox_len() > 0 {
            return self.buffer(item);
        }
        match self.deliver(&item).await {
            Ok(()) => Ok(()),
            Err(e) if is_connection_error(&e) => {
                self.mark_down();
                self.buffer(item)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn deliver(&self, item: &Outgoing) -> Result<(), RedisError> {
        let mut con = self.cmd.clone();
        match item {
            Outgoing::Publish { channel, bytes } => {
                redis::cmd("PUBLISH")
                    .arg(self.keys.channel(channel))
                    .arg(bytes.as_slice())
                    .query_async::<i64>(&mut con)
                    .await?;
                self.stats.published(channel);
            }
            Outgoing::Intent { id, agent, bytes } => {
                let outcome = self
                    .enqueue_intent(id, agent.as_deref(), bytes, true)
                    .await?;
                if let Enqueued::Refused { unhandled, .. } = outcome {
                    // Sent while Redis was away; the caller was told it is on its way, so
                    // the refusal goes to the runtime to answer — once the flush is over
                    // (the supervisor does not wait for the runtime).
                    if let Ok(env) = serde_json::from_slice::<Envelope>(bytes)
                        && let Ok(mut r) = self.flush_refused.lock()
                    {
                        r.push((Arc::new(env), self.backlog_full(unhandled), bytes.clone()));
                    }
                } else {
                    self.stats.published(channels::INTENTS);
                }
            }
            Outgoing::Ack { stream, entry } => {
                redis::cmd("XACK")
                    .arg(stream)
                    .arg(CONSUMER_GROUP)
                    .arg(entry)
                    .query_async::<i64>(&mut con)
                    .await?;
                self.release(stream, entry);
            }
        }
        Ok(())
    }

    /// The stream an agent's intents go on: its node's when pinned, else the shared one.
    fn stream_for(&self, agent: Option<&str>) -> String {
        match agent.and_then(|a| self.opts.pins.get(a)) {
            Some(node) => self.keys.node_stream(node),
            None => self.keys.intents.clone(),
        }
    }

    /// The invocation of the enqueue script for one intent.
    fn enqueue_call(
        &self,
        id: &str,
        agent: Option<&str>,
        bytes: &[u8],
        announce: bool,
    ) -> redis::Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.enqueue.get_hash())
            .arg(4)
            .arg(self.keys.claim(id))
            .arg(self.stream_for(agent))
            .arg(self.keys.channel(channels::INTENTS))
            .arg(self.keys.refused(id))
            .arg(&self.opts.node)
            .arg(self.opts.claim_ttl.as_secs().max(1))
            .arg(self.opts.stream_max_len.max(1))
            .arg(bytes)
            .arg(if announce { "1" } else { "0" })
            .arg(CONSUMER_GROUP)
            .arg(if self.answering.load(Ordering::SeqCst) {
                "1"
            } else {
                "0"
            })
            .arg(REFUSED_TTL_S);
        cmd
    }

    fn enqueued(reply: Value) -> Result<Enqueued, RedisError> {
        match reply {
            Value::Nil => Ok(Enqueued::Duplicate),
            Value::Array(v) => {
                let num = |v: Option<&Value>| match v {
                    Some(Value::Int(n)) => *n,
                    _ => 0,
                };
                Ok(Enqueued::Refused {
                    unhandled: num(v.first()).max(0) as u64,
                    first: num(v.get(1)) == 1,
                })
            }
            Value::ServerError(e) => Err(e.into()),
            _ => Ok(Enqueued::Queued),
        }
    }

    /// Offer intents to their streams, claimed by id (once across all nodes), in one
    /// pipelined round trip; one outcome per intent, in order. `Err` when the round trip
    /// failed as a whole (the link).
    async fn enqueue_many(
        &self,
        intents: &[(&str, Option<&str>, &[u8])],
        announce: bool,
    ) -> Result<Vec<Result<Enqueued, RedisError>>, RedisError> {
        let mut con = self.cmd.clone();
        let mut out: Vec<Option<Result<Enqueued, RedisError>>> = vec![None; intents.len()];
        let mut todo: Vec<usize> = (0..intents.len()).collect();
        for attempt in 0..2 {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for &i in &todo {
                let (id, agent, bytes) = intents[i];
                pipe.add_command(self.enqueue_call(id, agent, bytes, announce));
            }
            let replies: Vec<Value> = pipe.query_async(&mut con).await?;
            let mut again = Vec::new();
            for (&i, reply) in todo.iter().zip(replies) {
                let noscript = matches!(&reply, Value::ServerError(e) if e.code() == "NOSCRIPT");
                if noscript && attempt == 0 {
                    again.push(i);
                } else {
                    out[i] = Some(Self::enqueued(reply));
                }
            }
            if again.is_empty() {
                break;
            }
            // Redis restarted (or flushed its scripts): load it and send those again.
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(ENQUEUE_LUA)
                .query_async::<String>(&mut con)
                .await?;
            todo = again;
        }
        Ok(out
            .into_iter()
            .map(|o| o.unwrap_or(Ok(Enqueued::Duplicate)))
            .collect())
    }

    /// Claim the id and queue the intent (once across all nodes); announce it if asked.
    async fn enqueue_intent(
        &self,
        id: &str,
        agent: Option<&str>,
        bytes: &[u8],
        announce: bool,
    ) -> Result<Enqueued, RedisError> {
        self.enqueue_many(&[(id, agent, bytes)], announce)
            .await?
            .pop()
            .unwrap_or(Ok(Enqueued::Duplicate))
    }

    fn backlog_full(&self, unhandled: u64) -> Rejection {
        Rejection::BacklogFull {
            unhandled,
            max: self.opts.stream_max_len as u64,
        }
    }

    /// An intent that reached Redis and cannot be taken: counted, kept and shown as a
    /// rejection on the intents channel, logged once per burst, and passed to the runtime
    /// to answer (results channel) and audit.
    async fn refuse(&self, envelope: Arc<Envelope>, reason: Rejection, bytes: &[u8]) {
        crate::metrics::intent_refused(reason.label());
        let text = reason.to_string();
        let first = self
            .refusal_log
            .lock()
            .map(|mut l| l.add(&text))
            .unwrap_or(false);
        if first {
            tracing::warn!(
                reason = %text,
                "bus: refusing intents heard on the channel; each is answered on the results \
                 channel, further refusals of this burst are counted, not logged"
            );
        }
        let kept = self
            .stats
            .rejected(channels::INTENTS, reason.clone(), bytes);
        let _ = self.tx.send(Received::Rejected(kept));
        if self.answering.load(Ordering::SeqCst)
            && self
                .refusals_tx
                .send(RefusedIntent {
                    envelope: envelope.clone(),
                    reason,
                })
                .await
                .is_err()
        {
            tracing::debug!(intent = %envelope.id, "bus: a refusal with nobody left to answer it");
        }
    }

    /// Claim heard intents onto their streams, pipelined; waits out a lost connection
    /// (the claims are idempotent) until `give_up`, refuses what cannot be taken.
    async fn queue_heard(&self, batch: &[Arc<Envelope>], give_up: &CancellationToken) {
        // As every message this bus sends: secrets masked, size checked.
        let mut encoded: Vec<(Arc<Envelope>, Vec<u8>)> = Vec::with_capacity(batch.len());
        for e in batch {
            match e.to_bytes(self.opts.max_message_bytes) {
                Ok(b) => encoded.push((e.clone(), b)),
                Err(reason) => {
                    let raw = serde_json::to_vec(&**e).unwrap_or_default();
                    self.refuse(e.clone(), reason, &raw).await;
                }
            }
        }
        let mut todo: Vec<usize> = (0..encoded.len()).collect();
        let mut pause = BACKOFF_MIN;
        while !todo.is_empty() {
            let offered: Vec<(&str, Option<&str>, &[u8])> = todo
                .iter()
                .map(|&i| {
                    let (env, bytes) = &encoded[i];
                    (env.id.as_str(), env.agent_id.as_deref(), bytes.as_slice())
                })
                .collect();
            let outcomes = match self.enqueue_many(&offered, false).await {
                Ok(o) => o,
                Err(e) => {
                    if is_connection_error(&e) {
                        self.mark_down();
                    } else {
                        tracing::warn!(error = %e, "bus: could not queue heard intents; retrying");
                    }
                    tokio::select! {
                        () = give_up.cancelled() => {
                            tracing::warn!(
                                count = todo.len(),
                                error = %e,
                                "bus: heard intents not queued before shutdown (other nodes that heard them queue them)"
                            );
                            return;
                        }
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            let mut retry = Vec::new();
            for (&i, outcome) in todo.iter().zip(outcomes) {
                let (env, bytes) = &encoded[i];
                match outcome {
                    Ok(Enqueued::Queued | Enqueued::Duplicate) => {}
                    Ok(Enqueued::Refused { unhandled, first }) => {
                        if first {
                            self.refuse(env.clone(), self.backlog_full(unhandled), bytes)
                                .await;
                        }
                    }
                    Err(e) if is_connection_error(&e) => retry.push(i),
                    Err(e) => {
                        let reason = Rejection::NotQueued {
                            message: e.to_string(),
                        };
                        self.refuse(env.clone(), reason, bytes).await;
                    }
                }
            }
            todo = retry;
        }
    }

    /// The streams this node reads: the shared one and its own.
    fn own_streams(&self) -> [String; 2] {
        [
            self.keys.intents.clone(),
            self.keys.node_stream(&self.opts.node),
        ]
    }

    /// Create the consumer group on both streams (from the start, so intents sent before
    /// any node ran are delivered); an existing group is fine.
    async fn ensure_groups(&self) -> Result<(), RedisError> {
        if self.groups_ready.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut con = self.cmd.clone();
        for stream in self.own_streams() {
            let created = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&stream)
                .arg(CONSUMER_GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async::<()>(&mut con)
                .await;
            match created {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e),
            }
        }
        self.groups_ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether this node holds the entry (taken, not yet acknowledged).
    fn holds(&self, stream: &str, entry: &str) -> bool {
        self.held
            .lock()
            .map(|h| h.get(stream).is_some_and(|s| s.contains(entry)))
            .unwrap_or(false)
    }

    fn hold(&self, stream: &str, entry: &str) {
        if let Ok(mut h) = self.held.lock() {
            h.entry(stream.to_string())
                .or_default()
                .insert(entry.to_string());
        }
    }

    fn release(&self, stream: &str, entry: &str) {
        if let Ok(mut h) = self.held.lock()
            && let Some(s) = h.get_mut(stream)
        {
            s.remove(entry);
        }
    }

    /// Reset the idle time of every entry this node holds, so that no node takes them
    /// over while this one still works on them; forget the ones another node has taken
    /// meanwhile (this node was cut off for longer than `claim_idle`).
    async fn refresh_held(&self) -> Result<(), RedisError> {
        let held: Vec<(String, Vec<String>)> = self
            .held
            .lock()
            .map(|h| {
                h.iter()
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(s, ids)| (s.clone(), ids.iter().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default();
        let mut con = self.cmd.clone();
        for (stream, ids) in held {
            for chunk in ids.chunks(REFRESH_BATCH) {
                let mut call = self.refresh.key(&stream);
                call.arg(CONSUMER_GROUP).arg(&self.opts.node);
                for id in chunk {
                    call.arg(id);
                }
                let kept: Vec<String> = call.invoke_async(&mut con).await?;
                if kept.len() == chunk.len() {
                    continue;
                }
                let kept: std::collections::HashSet<&str> =
                    kept.iter().map(String::as_str).collect();
                for id in chunk.iter().filter(|id| !kept.contains(id.as_str())) {
                    // Acknowledged just now, or taken over while this node was away.
                    if self.holds(&stream, id) {
                        tracing::debug!(stream, entry = %id, "bus: an intent this node held is no longer pending for it");
                        self.release(&stream, id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Claim `candidates` (id, deliveries so far) for this node, if still idle for
    /// `min_idle`, and turn them into deliveries; poison ones (delivered more than
    /// `max_deliveries` times) go to the dead letters.
    async fn claim(
        &self,
        stream: &str,
        candidates: &[(String, u64)],
        min_idle: Duration,
    ) -> Result<Vec<Delivery>, RedisError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut con = self.cmd.clone();
        let mut xclaim = redis::cmd("XCLAIM");
        xclaim
            .arg(stream)
            .arg(CONSUMER_GROUP)
            .arg(&self.opts.node)
            .arg(min_idle.as_millis() as u64);
        for (id, _) in candidates {
            xclaim.arg(id);
        }
        // Entries trimmed or deleted meanwhile are skipped (and dropped from the pending
        // list) by Redis; entries another node refreshed meanwhile are no longer idle.
        let reply: StreamClaimReply = xclaim.query_async(&mut con).await?;
        let before: HashMap<&str, u64> = candidates.iter().map(|(i, n)| (i.as_str(), *n)).collect();
        let mut out = Vec::new();
        for entry in &reply.ids {
            let attempts = before.get(entry.id.as_str()).copied().unwrap_or(0) + 1;
            if attempts > self.opts.max_deliveries {
                let reason = format!(
                    "delivered {attempts} times (bus.max_deliveries = {})",
                    self.opts.max_deliveries
                );
                self.dead_letter(stream, entry, attempts, &reason).await?;
                continue;
            }
            if let Some(d) = self.delivery(stream, entry, attempts).await? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Take back what a previous run of this node (same name: killed, restarted) left
    /// pending, without waiting for `claim_idle`: nothing in this process holds it.
    async fn recover(&self, stream: &str, max: usize) -> Result<Vec<Delivery>, RedisError> {
        let cursor = match self.recovery.lock() {
            Ok(r) => match r.get(stream) {
                Some(None) => return Ok(Vec::new()),
                Some(Some(c)) => format!("({c}"),
                None => "-".to_string(),
            },
            Err(_) => return Ok(Vec::new()),
        };
        let mut con = self.cmd.clone();
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(CONSUMER_GROUP)
            .arg(&cursor)
            .arg("+")
            .arg(max.max(1))
            .arg(&self.opts.node)
            .query_async(&mut con)
            .await?;
        let next = pending.ids.last().map(|p| p.id.clone());
        if let Ok(mut r) = self.recovery.lock() {
            r.insert(stream.to_string(), next);
        }
        let candidates: Vec<(String, u64)> = pending
            .ids
            .iter()
            .filter(|p| !self.holds(stream, &p.id))
            .map(|p| (p.id.clone(), p.times_delivered as u64))
            .collect();
        if !candidates.is_empty() {
            tracing::info!(
                stream,
                count = candidates.len(),
                "bus: taking back intents an earlier run of this node left unfinished"
            );
        }
        self.claim(stream, &candidates, Duration::ZERO).await
    }

    /// Take over entries left idle for `claim_idle` by a node that stopped working on them
    /// (crashed, cut off). Never what this node holds: those it keeps fresh, and taking
    /// them again would run them twice and count deliveries towards the dead letters.
    async fn take_over(&self, stream: &str, max: usize) -> Result<Vec<Delivery>, RedisError> {
        let mut con = self.cmd.clone();
        let idle = self.opts.claim_idle;
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(stream)
            .arg(CONSUMER_GROUP)
            .arg("IDLE")
            .arg(idle.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(max.max(1))
            .query_async(&mut con)
            .await?;
        let candidates: Vec<(String, u64)> = pending
            .ids
            .iter()
            .filter(|p| !(p.consumer == self.opts.node && self.holds(stream, &p.id)))
            .map(|p| (p.id.clone(), p.times_delivered as u64))
            .collect();
        self.claim(stream, &candidates, idle).await
    }

    /// New entries for this node, waiting up to `wait` when there are none.
    async fn read_new(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, RedisError> {
        let streams = self.own_streams();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(CONSUMER_GROUP)
            .arg(&self.opts.node)
            .arg("COUNT")
            .arg(max.max(1));
        let block_ms = wait.as_millis() as u64;
        if block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS").arg(&streams[..]).arg(">").arg(">");
        let mut con = self.block.clone();
        let limit = wait + RESPONSE_TIMEOUT;
        let reply: Option<StreamReadReply> =
            match tokio::time::timeout(limit, cmd.query_async(&mut con)).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "XREADGROUP got no answer",
                    )));
                }
            };
        let mut out = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in &key.ids {
                if let Some(d) = self.delivery(&key.key, entry, 1).await? {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Turn a stream entry into a delivery, or deal with it: an entry that does not decode
    /// goes to the dead letters; one for an agent pinned elsewhere moves to that node.
    async fn delivery(
        &self,
        stream: &str,
        entry: &StreamId,
        attempts: u64,
    ) -> Result<Option<Delivery>, RedisError> {
        let raw = entry.map.get(ENVELOPE_FIELD).and_then(bytes_of);
        let decoded = match raw {
            Some(bytes) => decode(channels::INTENTS, bytes, self.opts.max_message_bytes),
            None => Err(Rejection::NotEnvelope {
                message: format!("stream entry without `{ENVELOPE_FIELD}`"),
            }),
        };
        let envelope = match decoded {
            Ok(env) => env,
            Err(reason) => {
                let label = self.keys.strip(stream);
                self.stats
                    .rejected(label, reason.clone(), raw.unwrap_or_default());
                self.dead_letter(stream, entry, attempts, &reason.to_string())
                    .await?;
                return Ok(None);
            }
        };
        if stream == self.keys.intents
            && let Some(node) = envelope
                .agent_id
                .as_deref()
                .and_then(|a| self.opts.pins.get(a))
            && *node != self.opts.node
        {
            // Sent by a node that did not know the pin: hand it to its node.
            self.move_entry(
                stream,
                &entry.id,
                &self.keys.node_stream(node),
                raw.unwrap_or_default(),
                &[],
            )
            .await?;
            return Ok(None);
        }
        self.hold(stream, &entry.id);
        Ok(Some(Delivery {
            envelope,
            token: format!("{stream} {}", entry.id),
            attempts,
        }))
    }

    /// Copy an entry's envelope (plus `fields`) onto `target` and acknowledge it on
    /// `stream`, in one transaction, so it is never on both or on neither.
    async fn move_entry(
        &self,
        stream: &str,
        entry_id: &str,
        target: &str,
        raw: &[u8],
        fields: &[(&str, &str)],
    ) -> Result<(), RedisError> {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(target);
        // The dead letters are history, trimmed; an intent handed to its node's stream is
        // not handled yet, so nothing may trim it.
        if target == self.keys.dead {
            xadd.arg("MAXLEN")
                .arg("~")
                .arg(self.opts.stream_max_len.max(1));
        }
        xadd.arg("*").arg(ENVELOPE_FIELD).arg(raw);
        for (name, value) in fields {
            xadd.arg(*name).arg(*value);
        }
        let mut con = self.cmd.clone();
        redis::pipe()
            .atomic()
            .add_command(xadd)
            .ignore()
            .cmd("XACK")
            .arg(stream)
            .arg(CONSUMER_GROUP)
            .arg(entry_id)
            .ignore()
            .query_async::<()>(&mut con)
            .await
    }

    /// Move an entry to the dead-letter stream and acknowledge it, in one transaction.
    async fn dead_letter(
        &self,
        stream: &str,
        entry: &StreamId,
        attempts: u64,
        reason: &str,
    ) -> Result<(), RedisError> {
        let raw = entry
            .map
            .get(ENVELOPE_FIELD)
            .and_then(bytes_of)
            .unwrap_or_default();
        let attempts = attempts.to_string();
        self.move_entry(
            stream,
            &entry.id,
            &self.keys.dead,
            raw,
            &[
                ("stream", stream),
                ("entry", &entry.id),
                ("deliveries", &attempts),
                ("reason", reason),
                ("node", &self.opts.node),
            ],
        )
        .await?;
        self.dead_letters.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(stream, entry = %entry.id, reason, "bus: intent moved to the dead letters");
        Ok(())
    }

    async fn take(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, RedisError> {
        self.ensure_groups().await?;
        let mut out = Vec::new();
        for stream in self.own_streams() {
            if out.len() >= max {
                break;
            }
            out.extend(self.recover(&stream, max - out.len()).await?);
        }
        for stream in self.own_streams() {
            if out.len() >= max {
                break;
            }
            out.extend(self.take_over(&stream, max - out.len()).await?);
        }
        if out.len() < max {
            let wait = if out.is_empty() { wait } else { Duration::ZERO };
            out.extend(self.read_new(max - out.len(), wait).await?);
        }
        Ok(out)
    }

    /// Hear a pattern from now on (and after every reconnection).
    async fn psubscribe(&self, pattern: &str) -> Result<(), RedisError> {
        self.sub.psubscribe(&[self.keys.pattern(pattern)]).await
    }

    /// After a reconnection: every subscription in place again on the subscription link,
    /// and the groups exist.
    async fn restore(&self) -> Result<(), RedisError> {
        let (intents, others) = seed_channels(&self.keys);
        self.sub_intents.subscribe(&intents).await?;
        self.sub.subscribe(&others).await?;
        let patterns: Vec<String> = self
            .patterns
            .lock()
            .map(|p| p.iter().map(|p| self.keys.pattern(p)).collect())
            .unwrap_or_default();
        self.sub.psubscribe(&patterns).await?;
        self.groups_ready.store(false, Ordering::SeqCst);
        self.ensure_groups().await
    }

    /// Send what waited in the outbox, oldest first; stops at the first failure.
    async fn flush(&self) -> Result<(), RedisError> {
        loop {
            let Some(item) = self.outbox.lock().ok().and_then(|o| o.front().cloned()) else {
                return Ok(());
            };
            match self.deliver(&item).await {
                Ok(()) => {}
                Err(e) if is_connection_error(&e) => return Err(e),
                Err(e) => {
                    // Not the link's fault: retrying would not help.
                    tracing::warn!(error = %e, "bus: dropped a buffered message");
                }
            }
            if let Ok(mut o) = self.outbox.lock() {
                o.pop_front();
            }
        }
    }

    async fn ping(&self, con: &ConnectionManager) -> Result<(), RedisError> {
        let mut con = con.clone();
        redis::cmd("PING").query_async::<Value>(&mut con).await?;
        Ok(())
    }

    /// Decode one pushed message and pass it on; intents also go to the queuer. Runs on the
    /// subscription's reader: while the queuer is full this waits, and so does the socket.
    async fn heard(&self, heard: Heard, queue: &mpsc::Sender<Arc<Envelope>>) {
        let (channel, payload) = match &heard {
            Heard::Message { channel, payload } => (channel, payload),
            Heard::PMessage {
                pattern,
                channel,
                payload,
            } => {
                if !self.first_pattern_for(pattern, channel) {
                    return;
                }
                (channel, payload)
            }
            Heard::Disconnected { error } => {
                if !self.sub_lost.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        url = %self.shown_url,
                        error,
                        "bus: the subscription connection closed; re-subscribing. Messages \
                         published until then are lost to this node (if it fell behind a \
                         flood, Redis's client-output-buffer-limit for pub/sub cut it); \
                         intents are also on the stream"
                    );
                }
                self.mark_down();
                return;
            }
        };
        let channel = String::from_utf8_lossy(channel);
        let channel = self.keys.strip(&channel).to_string();
        let decoded = decode(&channel, payload, self.opts.max_message_bytes).map(Arc::new);
        let received = match decoded {
            Ok(envelope) => {
                if channel == channels::INTENTS
                    && envelope.kind == kinds::INTENT
                    && queue.send(envelope.clone()).await.is_err()
                {
                    // Only when the bus is being dropped.
                    let reason = Rejection::NotQueued {
                        message: "the node is shutting down".into(),
                    };
                    let kept = self.stats.rejected(&channel, reason, payload);
                    let _ = self.tx.send(Received::Rejected(kept));
                    return;
                }
                self.stats.received(&channel);
                Received::Message { channel, envelope }
            }
            Err(reason) => Received::Rejected(self.stats.rejected(&channel, reason, payload)),
        };
        let _ = self.tx.send(received);
    }

    /// A channel matched by several subscriptions arrives once per subscription: keep only
    /// the plain subscription's copy for a seed channel, and the first pattern's otherwise.
    fn first_pattern_for(&self, pattern: &[u8], channel: &[u8]) -> bool {
        let channel = String::from_utf8_lossy(channel);
        let channel = self.keys.strip(&channel);
        if channels::SEED.contains(&channel) {
            return false;
        }
        let Ok(patterns) = self.patterns.lock() else {
            return true;
        };
        match patterns.iter().find(|p| pattern_matches(p, channel)) {
            Some(first) => self.keys.pattern(first).as_bytes() == pattern,
            None => true,
        }
    }
}

/// Intents heard on the channel (an outside tool's, or another node's) → the stream, once
/// across all nodes: every node that hears one tries, the claim lets one through. Claimed
/// in pipelined batches; while this falls behind, the subscription reader waits for it.
async fn queue_heard_intents(
    inner: Arc<Inner>,
    mut heard: mpsc::Receiver<Arc<Envelope>>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::with_capacity(CLAIM_BATCH);
    loop {
        batch.clear();
        let n = tokio::select! {
            _ = cancel.cancelled() => break,
            n = heard.recv_many(&mut batch, CLAIM_BATCH) => n,
        };
        if n == 0 {
            return;
        }
        inner.queue_heard(&batch, &cancel).await;
    }
    // Shutting down: what was heard still goes on the stream, for a little while.
    heard.close();
    let give_up = CancellationToken::new();
    let stop = give_up.clone();
    let drain = async {
        loop {
            batch.clear();
            if heard.recv_many(&mut batch, CLAIM_BATCH).await == 0 {
                return;
            }
            inner.queue_heard(&batch, &give_up).await;
        }
    };
    if tokio::time::timeout(DRAIN_ON_SHUTDOWN, drain)
        .await
        .is_err()
    {
        stop.cancel();
        tracing::warn!(
            left = heard.len(),
            "bus: heard intents not queued before shutdown (other nodes that heard them queue them)"
        );
    }
}

/// Keep what this node holds from being taken over (by itself too) while it works on it:
/// refresh it well within `claim_idle`.
async fn keep_held_fresh(inner: Arc<Inner>, cancel: CancellationToken) {
    let every =
        (inner.opts.claim_idle / 3).clamp(Duration::from_millis(10), Duration::from_secs(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if inner.down.load(Ordering::SeqCst) {
            continue;
        }
        if let Err(e) = inner.refresh_held().await {
            tracing::debug!(error = %e, "bus: could not refresh the intents this node holds");
            if is_connection_error(&e) {
                inner.mark_down();
            }
        }
    }
}

/// Watches the link: reports `Reconnecting` while Redis is away, counts reconnections,
/// restores subscriptions and flushes the outbox when it is back.
async fn supervise(inner: Arc<Inner>, cancel: CancellationToken) {
    let mut delay = HEALTH_INTERVAL;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
            _ = inner.wake.notified() => {}
        }
        let healthy = async {
            inner.ping(&inner.cmd).await?;
            for link in [&inner.sub_intents, &inner.sub] {
                if link.ping().await.is_err() {
                    // A new link; subscribing on it again is `restore`'s job, just below.
                    inner.down.store(true, Ordering::SeqCst);
                    link.reconnect().await?;
                    inner.sub_lost.store(false, Ordering::SeqCst);
                }
            }
            if inner.down.load(Ordering::SeqCst)
                && let Err(e) = inner.restore().await
            {
                if is_connection_error(&e) {
                    return Err(e);
                }
                // Redis answers: the link is up even if restoring hit a snag; the next
                // take retries the groups.
                tracing::warn!(error = %e, "bus: restoring after a reconnection");
            }
            let flushed = inner.flush().await;
            let refused = inner
                .flush_refused
                .lock()
                .map(|mut r| std::mem::take(&mut *r))
                .unwrap_or_default();
            if !refused.is_empty() {
                let inner = inner.clone();
                tokio::spawn(async move {
                    for (env, reason, bytes) in refused {
                        inner.refuse(env, reason, &bytes).await;
                    }
                });
            }
            flushed
        };
        inner.log_refusal_burst();
        match healthy.await {
            Ok(()) => {
                if inner.down.swap(false, Ordering::SeqCst) {
                    let attempts = inner.attempt.swap(0, Ordering::SeqCst);
                    inner.stats.reconnected();
                    tracing::info!(url = %inner.shown_url, attempts, "bus: Redis connection restored");
                }
                delay = HEALTH_INTERVAL;
            }
            Err(e) => {
                inner.down.store(true, Ordering::SeqCst);
                let attempt = inner.attempt.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::debug!(attempt, error = %e, "bus: Redis still unreachable");
                let exp = BACKOFF_MIN.saturating_mul(1 << attempt.min(6));
                delay = exp.min(BACKOFF_MAX);
            }
        }
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

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown_url("redis://user:secret@127.0.0.1:6380/0"),
            "redis://user:***@127.0.0.1:6380/0"
        );
        assert_eq!(
            shown_url("redis://127.0.0.1:6380"),
            "redis://127.0.0.1:6380"
        );
    }
}
