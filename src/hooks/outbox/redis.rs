//! The outbox on the bus's Redis, shared by every node of a deployment.
//!
//! | key (after `bus.prefix`) | type | holds |
//! |---|---|---|
//! | `aios:hooks:items` | hash | delivery id → delivery JSON |
//! | `aios:hooks:due` | sorted set | pending ids by due time (or lease end), ms |
//! | `aios:hooks:done` | sorted set | finished ids by finish time, trimmed |
//! | `aios:hooks:last` | hash | schedule hook → last fire, ms |
//!
//! Enqueue and claim are Lua scripts, so "write if new" and "take and lease" are each one
//! atomic step across nodes.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use crate::config::RedisUrl;

use super::{Delivery, KEEP_FINISHED, Outbox, OutboxError, State, backend_error};

const NAME: &str = "redis";

/// KEYS: items, due. ARGV: (id, json, due)… Writes each id not there yet.
const ENQUEUE: &str = r"
local added = 0
for i = 1, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i+1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i+2], ARGV[i])
    added = added + 1
  end
end
return added
";

/// KEYS: due, items. ARGV: now, lease end, max. Takes the due ids and leases them.
const CLAIM: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, item)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
";

/// KEYS: items, due, done. ARGV: id, json, state, time, keep. Writes a delivery back and
/// moves it between the indexes; trims the finished ones.
const SAVE: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == 'pending' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
elseif ARGV[3] == 'waiting' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
  if over > 0 then
    local old = redis.call('ZRANGE', KEYS[3], 0, over - 1)
    for _, id in ipairs(old) do redis.call('HDEL', KEYS[1], id) end
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
  end
end
return 1
";

pub struct RedisOutbox {
    conn: ConnectionManager,
    items: String,
    due: String,
    done: String,
    last: String,
    enqueue: redis::Script,
    claim: redis::Script,
    save: redis::Script,
}

impl RedisOutbox {
    pub async fn connect(url: &RedisUrl, prefix: &str) -> Result<RedisOutbox, OutboxError> {
        let conn = crate::audit::mirror::connect_stream(url, "hook outbox", Duration::from_secs(5))
            .await
            .map_err(|e| backend_error(NAME, e))?;
        Ok(RedisOutbox {
            conn,
            items: format!("{prefix}aios:hooks:items"),
            due: format!("{prefix}aios:hooks:due"),
            done: format!("{prefix}aios:hooks:done"),
            last: format!("{prefix}aios:hooks:last"),
            enqueue: redis::Script::new(ENQUEUE),
            claim: redis::Script::new(CLAIM),
            save: redis::Script::new(SAVE),
        })
    }
}

fn err(e: redis::RedisError) -> OutboxError {
    backend_error(NAME, e)
}

fn decode(raw: &str) -> Option<Delivery> {
    match serde_json::from_str(raw) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!(error = %e, "an unreadable hook delivery in Redis was skipped");
            None
        }
    }
}

#[async_trait]
impl Outbox for RedisOutbox {
    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, OutboxError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let mut inv = self.enqueue.prepare_invoke();
        inv.key(&self.items).key(&self.due);
        for d in deliveries {
            let json = serde_json::to_string(d).map_err(|e| backend_error(NAME, e))?;
            inv.arg(&d.id).arg(json).arg(d.due_ms);
        }
        let added: usize = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(added)
    }

    async fn claim(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Delivery>, OutboxError> {
        let raw: Vec<String> = self
            .claim
            .key(&self.due)
            .key(&self.items)
            .arg(now_ms)
            .arg(now_ms.saturating_add(lease_ms))
            // Lua reads numbers as doubles: keep the count an integer Redis accepts.
            .arg(max.min(1 << 20))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(raw.iter().filter_map(|r| decode(r)).collect())
    }

    async fn save(&self, d: &Delivery) -> Result<(), OutboxError> {
        let json = serde_json::to_string(d).map_err(|e| backend_error(NAME, e))?;
        let _: i64 = self
            .save
            .key(&self.items)
            .key(&self.due)
            .key(&self.done)
            .arg(&d.id)
            .arg(json)
            .arg(d.state.as_str())
            .arg(d.due_ms)
            .arg(KEEP_FINISHED)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Delivery>, OutboxError> {
        let raw: Option<String> = redis::cmd("HGET")
            .arg(&self.items)
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(raw.as_deref().and_then(decode))
    }

    async fn list(&self, finished: usize) -> Result<Vec<Delivery>, OutboxError> {
        let mut conn = self.conn.clone();
        let done: Vec<String> = if finished == 0 {
            Vec::new()
        } else {
            redis::cmd("ZREVRANGE")
                .arg(&self.done)
                .arg(0)
                .arg(finished - 1)
                .query_async(&mut conn)
                .await
                .map_err(err)?
        };
        // Pending and waiting ones are those in neither finished index: read them all.
        let all: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&self.items)
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let mut open: Vec<Delivery> = all
            .iter()
            .filter_map(|(_, raw)| decode(raw))
            .filter(|d| !d.state.is_finished())
            .collect();
        open.sort_by_key(|d| std::cmp::Reverse(d.created_ms));
        let by_id: std::collections::HashMap<&str, &str> =
            all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        open.extend(
            done.iter()
                .filter_map(|id| by_id.get(id.as_str()).and_then(|raw| decode(raw)))
                .filter(|d| d.state != State::Pending),
        );
        Ok(open)
    }

    async fn last_fired(&self, hook_key: &str) -> Result<Option<i64>, OutboxError> {
        redis::cmd("HGET")
            .arg(&self.last)
            .arg(hook_key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)
    }

    async fn set_last_fired(&self, hook_key: &str, ms: i64) -> Result<(), OutboxError> {
        let _: i64 = redis::cmd("HSET")
            .arg(&self.last)
            .arg(hook_key)
            .arg(ms)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        Ok(())
    }
}
