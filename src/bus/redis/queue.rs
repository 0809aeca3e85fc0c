//! The durable intent queue: enqueueing (once across nodes, refused out loud when the
//! stream is full), consumer groups, holding what this node works on, claiming what a
//! stopped node left, reading new entries and dead-lettering.

use super::scripts::REFRESH_BATCH;
use super::*;

impl Inner {
    /// The stream an agent's intents go on: its node's when pinned, else the shared one.
    pub(super) fn stream_for(&self, agent: Option<&str>) -> String {
        match agent.and_then(|a| self.opts.pins.get(a)) {
            Some(node) => self.keys.node_stream(node),
            None => self.keys.intents.clone(),
        }
    }

    /// The invocation of the enqueue script for one intent.
    pub(super) fn enqueue_call(
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

    pub(super) fn enqueued(reply: Value) -> Result<Enqueued, RedisError> {
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
    pub(super) async fn enqueue_many(
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
    pub(super) async fn enqueue_intent(
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

    pub(super) fn backlog_full(&self, unhandled: u64) -> Rejection {
        Rejection::BacklogFull {
            unhandled,
            max: self.opts.stream_max_len as u64,
        }
    }

    /// An intent that reached Redis and cannot be taken: counted, kept and shown as a
    /// rejection on the intents channel, logged once per burst, and passed to the runtime
    /// to answer (results channel) and audit.
    pub(super) async fn refuse(&self, envelope: Arc<Envelope>, reason: Rejection, bytes: &[u8]) {
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
    pub(super) async fn queue_heard(&self, batch: &[Arc<Envelope>], give_up: &CancellationToken) {
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
    pub(super) fn own_streams(&self) -> [String; 2] {
        [
            self.keys.intents.clone(),
            self.keys.node_stream(&self.opts.node),
        ]
    }

    /// Create the consumer group on both streams (from the start, so intents sent before
    /// any node ran are delivered); an existing group is fine.
    pub(super) async fn ensure_groups(&self) -> Result<(), RedisError> {
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
    pub(super) fn holds(&self, stream: &str, entry: &str) -> bool {
        self.held
            .lock()
            .map(|h| h.get(stream).is_some_and(|s| s.contains(entry)))
            .unwrap_or(false)
    }

    pub(super) fn hold(&self, stream: &str, entry: &str) {
        if let Ok(mut h) = self.held.lock() {
            h.entry(stream.to_string())
                .or_default()
                .insert(entry.to_string());
        }
    }

    pub(super) fn release(&self, stream: &str, entry: &str) {
        if let Ok(mut h) = self.held.lock()
            && let Some(s) = h.get_mut(stream)
        {
            s.remove(entry);
        }
    }

    /// Reset the idle time of every entry this node holds, so that no node takes them
    /// over while this one still works on them; forget the ones another node has taken
    /// meanwhile (this node was cut off for longer than `claim_idle`).
    pub(super) async fn refresh_held(&self) -> Result<(), RedisError> {
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
    pub(super) async fn claim(
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
    pub(super) async fn recover(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<Delivery>, RedisError> {
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
    pub(super) async fn take_over(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<Delivery>, RedisError> {
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
    pub(super) async fn read_new(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, RedisError> {
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
    pub(super) async fn delivery(
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
    pub(super) async fn move_entry(
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
    pub(super) async fn dead_letter(
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

    pub(super) async fn take(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, RedisError> {
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
}

/// Intents heard on the channel (an outside tool's, or another node's) → the stream, once
/// across all nodes: every node that hears one tries, the claim lets one through. Claimed
/// in pipelined batches; while this falls behind, the subscription reader waits for it.
pub(super) async fn queue_heard_intents(
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
pub(super) async fn keep_held_fresh(inner: Arc<Inner>, cancel: CancellationToken) {
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
