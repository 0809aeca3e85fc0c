//! Pub/sub and the link's supervision: subscribing, restoring subscriptions and flushing
//! the outbox after a reconnection, health pings, and what is heard on the channels.

use super::*;

impl Inner {
    /// Hear a pattern from now on (and after every reconnection).
    pub(super) async fn psubscribe(&self, pattern: &str) -> Result<(), RedisError> {
        self.sub.psubscribe(&[self.keys.pattern(pattern)]).await
    }

    /// After a reconnection: every subscription in place again on the subscription link,
    /// and the groups exist.
    pub(super) async fn restore(&self) -> Result<(), RedisError> {
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
    pub(super) async fn flush(&self) -> Result<(), RedisError> {
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

    pub(super) async fn ping(&self, con: &ConnectionManager) -> Result<(), RedisError> {
        let mut con = con.clone();
        redis::cmd("PING").query_async::<Value>(&mut con).await?;
        Ok(())
    }

    /// Decode one pushed message and pass it on; intents also go to the queuer. Runs on the
    /// subscription's reader: while the queuer is full this waits, and so does the socket.
    pub(super) async fn heard(&self, heard: Heard, queue: &mpsc::Sender<Arc<Envelope>>) {
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
    pub(super) fn first_pattern_for(&self, pattern: &[u8], channel: &[u8]) -> bool {
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

/// Watches the link: reports `Reconnecting` while Redis is away, counts reconnections,
/// restores subscriptions and flushes the outbox when it is back.
pub(super) async fn supervise(inner: Arc<Inner>, cancel: CancellationToken) {
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
