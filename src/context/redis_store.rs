//! The Redis `Store`: agent state as `{prefix}aios:agent:{id}:…` keys, shared by every node
//! and every attached TUI.
//!
//! Key layout (one key per part of one agent):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{prefix}aios:agent:{id}:goals` | string | JSON value |
//! | `{prefix}aios:agent:{id}:persona_traits` | string | JSON value |
//! | `{prefix}aios:agent:{id}:protocol_hooks` | string | JSON value |
//! | `{prefix}aios:agent:{id}:traces` | sorted set | score = seq, member = JSON `Trace` |
//! | `{prefix}aios:agent:{id}:contexts` | sorted set | score = version, member = JSON `ContextVersion` |
//!
//! Atomicity: numbering, writing and pruning of traces and context versions happen in one
//! Lua script each, so they are atomic on the server however many nodes write. The next
//! number is the highest score + 1 (as the embedded store takes the last key + 1): one
//! source of truth, no counter key that could disagree with the set. `modify` is a
//! compare-and-set — read, run the `Modifier` here, then a script writes only if the value
//! is still the one read, else it reads again. Not WATCH/MULTI/EXEC: the connection manager
//! multiplexes every caller over one connection, and a WATCH would be shared by whoever
//! else is talking on it at the time.
//!
//! Reconnecting: the connection is a `redis::aio::ConnectionManager` speaking RESP3, so it
//! notices a dropped connection by itself and reconnects in the background with exponential
//! backoff, and the first call after a restart already finds the new connection (over RESP2
//! it would only notice when a call failed, so that call would be lost). While Redis is
//! away a call fails with `StoreError::Backend` within seconds. When the backoff has run out
//! before Redis returns, the manager holds a stale "refused" result that fails the next call
//! at once; such a call — one that failed without waiting, on a connection that was never
//! made, so nothing was sent — is tried once more, which waits for a fresh reconnect. RESP3 needs Redis 6 or newer.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::RedisError;
use redis::aio::ConnectionManager;
use serde_json::Value;

use crate::config::RedisUrl;

use super::store::{Modifier, Store, StoreError};
use super::types::{ChatTurn, ContextVersion, NewContext, Part, Trace, VersionInfo};

/// How long `connect` may take before it gives up, whatever the retries.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// A call that fails faster than this did not wait for a reconnect: its error is stale.
const STALE_FAILURE: Duration = Duration::from_millis(50);
/// A `modify` that keeps losing the race to other writers gives up after this many reads.
const MODIFY_ATTEMPTS: u32 = 100;

/// Append to a sorted set numbered by score: next = highest score + 1, the member is the
/// JSON body (`ARGV[1]`, an object without the number) with `"<ARGV[2]>":next` put first,
/// then everything at or below next - keep (`ARGV[3]`) is dropped. Returns next.
const APPEND_NUMBERED: &str = r#"
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local next = 1
if last[2] then next = tonumber(last[2]) + 1 end
local member = '{"' .. ARGV[2] .. '":' .. string.format('%d', next) .. ',' .. string.sub(ARGV[1], 2)
redis.call('ZADD', KEYS[1], next, member)
local floor = next - tonumber(ARGV[3])
if floor > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', floor) end
return next
"#;

/// Set `KEYS[1]` to `ARGV[3]` only if it still holds what was read: `ARGV[1]` is `1` when a
/// value was read (then `ARGV[2]` is its bytes), `0` when the key was missing. 1 = written.
const COMPARE_AND_SET: &str = r#"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"#;

/// Agent state in Redis; cheap to clone (clones share one connection manager).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    url: String,
    scripts: Arc<Scripts>,
}

struct Scripts {
    append_numbered: redis::Script,
    compare_and_set: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// `value` as a JSON object without `field`, for `APPEND_NUMBERED` to number.
fn body_without<T: serde::Serialize>(value: &T, field: &str) -> Result<String, StoreError> {
    let encode_err = |e: serde_json::Error| StoreError::Backend(format!("encoding for Redis: {e}"));
    match serde_json::to_value(value).map_err(encode_err)? {
        Value::Object(mut map) => {
            map.remove(field);
            if map.is_empty() {
                return Err(StoreError::Backend(format!(
                    "nothing to store besides {field}"
                )));
            }
            serde_json::to_string(&map).map_err(encode_err)
        }
        _ => Err(StoreError::Backend(format!(
            "expected a JSON object around {field}"
        ))),
    }
}

impl RedisStore {
    /// The newest `limit` members of an agent's numbered set (`traces`, `chat`), oldest
    /// first.
    async fn newest<T: serde::de::DeserializeOwned>(
        &self,
        agent_id: &str,
        name: &str,
        limit: usize,
        part: &str,
    ) -> Result<Vec<T>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let start = -i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<Vec<u8>> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.key(agent_id, name))
                    .arg(start)
                    .arg(-1),
            )
            .await
            .map_err(|e| self.backend(&format!("read {part}"), agent_id, e))?;
        let what = format!("{agent_id}/{part}");
        rows.iter().map(|row| decode(&what, row)).collect()
    }

    /// Connect to the Redis at `url`; every key starts with `prefix` (may be empty). Fails
    /// within a few seconds, naming the URL, when no Redis answers there.
    pub async fn connect(url: &RedisUrl, prefix: &str) -> Result<RedisStore, StoreError> {
        let shown = url.to_string();
        let unusable =
            |e: RedisError| StoreError::Backend(format!("Redis URL {shown} is not usable: {e}"));
        // RESP3 whatever the URL says: see the module doc on reconnecting.
        let client = crate::redis_conn::client(url).map_err(unusable)?;
        let config = crate::redis_conn::manager_config(Some(crate::redis_conn::RESPONSE));
        let conn = tokio::time::timeout(
            CONNECT_DEADLINE,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| {
            StoreError::Backend(format!(
                "no Redis answered at {shown} within {} s",
                CONNECT_DEADLINE.as_secs()
            ))
        })?
        .map_err(|e| StoreError::Backend(format!("no Redis answers at {shown}: {e}")))?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_string(),
            url: shown,
            scripts: Arc::new(Scripts {
                append_numbered: redis::Script::new(APPEND_NUMBERED),
                compare_and_set: redis::Script::new(COMPARE_AND_SET),
            }),
        })
    }

    /// The key prefix every key of this store starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, agent_id: &str, name: &str) -> String {
        format!("{}aios:agent:{agent_id}:{name}", self.prefix)
    }

    fn backend(&self, op: &str, agent_id: &str, e: RedisError) -> StoreError {
        StoreError::Backend(format!("Redis at {}: {op} for {agent_id}: {e}", self.url))
    }

    /// Run `call` on the connection; once more if it failed at once on a connection that
    /// was never made (see the module doc). Either way the command ran at most once.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let started = Instant::now();
        match call(self.conn.clone()).await {
            Err(e) if e.is_connection_refusal() && started.elapsed() < STALE_FAILURE => {
                call(self.conn.clone()).await
            }
            other => other,
        }
    }

    /// Run one command.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, RedisError> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    async fn get_raw(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Run `APPEND_NUMBERED` on `key`.
    async fn append_numbered(
        &self,
        key: &str,
        body: &str,
        field: &str,
        keep: u32,
    ) -> Result<u64, RedisError> {
        self.run(|mut conn| async move {
            self.scripts
                .append_numbered
                .key(key)
                .arg(body)
                .arg(field)
                .arg(keep.max(1))
                .invoke_async(&mut conn)
                .await
        })
        .await
    }
}

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, agent_id: &str, part: Part) -> Result<Option<Value>, StoreError> {
        let key = self.key(agent_id, part.as_str());
        match self
            .get_raw(&key)
            .await
            .map_err(|e| self.backend(&format!("get {}", part.as_str()), agent_id, e))?
        {
            Some(bytes) => decode(&format!("{agent_id}/{}", part.as_str()), &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn modify(
        &self,
        agent_id: &str,
        part: Part,
        modify: Modifier,
    ) -> Result<Value, StoreError> {
        let key = self.key(agent_id, part.as_str());
        let op = format!("modify {}", part.as_str());
        for attempt in 0..MODIFY_ATTEMPTS {
            let read = self
                .get_raw(&key)
                .await
                .map_err(|e| self.backend(&op, agent_id, e))?;
            let current = match &read {
                Some(bytes) => Some(decode(&format!("{agent_id}/{}", part.as_str()), bytes)?),
                None => None,
            };
            let new = modify(current)?;
            let encoded = serde_json::to_vec(&new)
                .map_err(|e| StoreError::Backend(format!("encoding for Redis: {e}")))?;
            let written: i64 = self
                .run(|mut conn| {
                    let (key, read, encoded) = (&key, &read, &encoded);
                    async move {
                        self.scripts
                            .compare_and_set
                            .key(key)
                            .arg(if read.is_some() { "1" } else { "0" })
                            .arg(read.as_deref().unwrap_or_default())
                            .arg(encoded)
                            .invoke_async(&mut conn)
                            .await
                    }
                })
                .await
                .map_err(|e| self.backend(&op, agent_id, e))?;
            if written == 1 {
                return Ok(new);
            }
            // Another writer got in between: give it room, then read again.
            tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(20)))).await;
        }
        Err(StoreError::Backend(format!(
            "Redis at {}: {op} for {agent_id}: other writers changed it {MODIFY_ATTEMPTS} times in a row",
            self.url
        )))
    }

    async fn append_trace(
        &self,
        agent_id: &str,
        trace: Trace,
        keep: u32,
    ) -> Result<u64, StoreError> {
        let body = body_without(&trace, "seq")?;
        self.append_numbered(&self.key(agent_id, "traces"), &body, "seq", keep)
            .await
            .map_err(|e| self.backend("append trace", agent_id, e))
    }

    async fn traces(&self, agent_id: &str, limit: usize) -> Result<Vec<Trace>, StoreError> {
        self.newest(agent_id, "traces", limit, "behavioral_traces")
            .await
    }

    async fn append_chat(
        &self,
        agent_id: &str,
        turn: ChatTurn,
        keep: u32,
    ) -> Result<u64, StoreError> {
        let body = body_without(&turn, "seq")?;
        self.append_numbered(&self.key(agent_id, "chat"), &body, "seq", keep)
            .await
            .map_err(|e| self.backend("append chat", agent_id, e))
    }

    async fn chat(&self, agent_id: &str, limit: usize) -> Result<Vec<ChatTurn>, StoreError> {
        self.newest(agent_id, "chat", limit, "chat_history").await
    }

    async fn push_context(
        &self,
        agent_id: &str,
        new: NewContext,
        keep: u32,
    ) -> Result<ContextVersion, StoreError> {
        let mut version = ContextVersion::unnumbered(agent_id, new);
        let body = body_without(&version, "version")?;
        version.version = self
            .append_numbered(&self.key(agent_id, "contexts"), &body, "version", keep)
            .await
            .map_err(|e| self.backend("push context", agent_id, e))?;
        Ok(version)
    }

    async fn context(
        &self,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Option<ContextVersion>, StoreError> {
        let key = self.key(agent_id, "contexts");
        let cmd = match version {
            Some(v) => redis::cmd("ZRANGEBYSCORE").arg(&key).arg(v).arg(v).clone(),
            None => redis::cmd("ZRANGE").arg(&key).arg(-1).arg(-1).clone(),
        };
        let rows: Vec<Vec<u8>> = self
            .query(&cmd)
            .await
            .map_err(|e| self.backend("read context", agent_id, e))?;
        match rows.first() {
            Some(row) => decode(&format!("{agent_id}/context"), row).map(Some),
            None => Ok(None),
        }
    }

    async fn versions(&self, agent_id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let rows: Vec<Vec<u8>> = self
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.key(agent_id, "contexts"))
                    .arg(0)
                    .arg(-1),
            )
            .await
            .map_err(|e| self.backend("list context versions", agent_id, e))?;
        let what = format!("{agent_id}/context");
        rows.iter()
            .map(|row| decode::<ContextVersion>(&what, row).map(|cv| VersionInfo::from(&cv)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_leaves_out_the_number_for_the_script_to_put_first() {
        let trace = Trace {
            seq: 9,
            ts: "t".into(),
            kind: "k".into(),
            summary: "s".into(),
            intent_id: None,
        };
        let body = body_without(&trace, "seq").expect("body");
        assert!(body.starts_with('{') && !body.contains("seq"), "{body}");
        // What the script stores parses back with the number it assigned.
        let stored = format!("{{\"seq\":3,{}", &body[1..]);
        let back: Trace = serde_json::from_str(&stored).expect("parses");
        assert_eq!(back.seq, 3);
        assert_eq!(back.summary, "s");
    }
}
