//! The link's state and its bounded outbox: marking Redis down, buffering what cannot be
//! sent while it is away, and sending (or buffering) one outgoing message.

use super::*;

impl Inner {
    pub(super) fn mark_down(&self) {
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(url = %self.shown_url, "bus: Redis connection lost; reconnecting");
        }
        self.wake.notify_one();
    }

    /// Say how many intents the last burst of refusals refused, once it is over.
    pub(super) fn log_refusal_burst(&self) {
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

    pub(super) fn outbox_len(&self) -> usize {
        self.outbox.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Keep a message for later; refused when the outbox is full.
    pub(super) fn buffer(&self, item: Outgoing) -> Result<(), BusError> {
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
    pub(super) async fn send_or_buffer(&self, item: Outgoing) -> Result<(), BusError> {
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

    pub(super) async fn deliver(&self, item: &Outgoing) -> Result<(), RedisError> {
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
}
