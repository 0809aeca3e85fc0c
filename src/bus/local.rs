//! The in-process bus: the embedded default. Same semantics as the Redis bus — messages go
//! through the same encode/decode (so size limits and rejections behave alike), intents
//! published raw on `agent.action.intents` are queued once by id — within one process.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, broadcast};

use super::envelope::{Envelope, channels, decode, kinds};
use super::stats::{BusStats, StatsBook};
use super::{Bus, BusError, BusState, Delivery, Received, pattern_matches};

/// Messages a slow subscriber may fall behind by before it loses the oldest.
const SUBSCRIBER_BUFFER: usize = 4096;
/// Intent ids remembered for de-duplication.
const SEEN_KEPT: usize = 65_536;

pub struct LocalBus {
    tx: broadcast::Sender<Received>,
    patterns: Mutex<Vec<String>>,
    queue: Mutex<Queue>,
    ready: Notify,
    stats: StatsBook,
    max_bytes: usize,
    next_token: AtomicU64,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Delivery>,
    in_flight: HashMap<String, Delivery>,
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

impl Queue {
    /// Remember an intent id; false when it was already seen.
    fn first_sight(&mut self, id: &str) -> bool {
        if !self.seen.insert(id.to_string()) {
            return false;
        }
        self.seen_order.push_back(id.to_string());
        if self.seen_order.len() > SEEN_KEPT
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

impl LocalBus {
    pub fn new(max_bytes: usize) -> LocalBus {
        let (tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        LocalBus {
            tx,
            patterns: Mutex::new(Vec::new()),
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            stats: StatsBook::default(),
            max_bytes,
            next_token: AtomicU64::new(1),
        }
    }

    fn heard(&self, channel: &str) -> bool {
        channels::SEED.contains(&channel)
            || self
                .patterns
                .lock()
                .map(|p| p.iter().any(|p| pattern_matches(p, channel)))
                .unwrap_or(false)
    }

    /// Queue an intent unless its id was queued before (the idempotency key).
    fn enqueue(&self, envelope: &Envelope) {
        let Ok(mut q) = self.queue.lock() else { return };
        if !q.first_sight(&envelope.id) {
            return;
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed).to_string();
        q.waiting.push_back(Delivery {
            envelope: envelope.clone(),
            token,
            attempts: 1,
        });
        drop(q);
        self.ready.notify_one();
    }

    /// Publish raw bytes as an outside tool (redis-cli, n8n) would.
    pub fn publish_raw(&self, channel: &str, bytes: &[u8]) {
        self.stats.published(channel);
        if !self.heard(channel) {
            return;
        }
        let received = match decode(channel, bytes, self.max_bytes) {
            Ok(envelope) => {
                self.stats.received(channel);
                if channel == channels::INTENTS && envelope.kind == kinds::INTENT {
                    self.enqueue(&envelope);
                }
                Received::Message {
                    channel: channel.to_string(),
                    envelope: Arc::new(envelope),
                }
            }
            Err(reason) => Received::Rejected(self.stats.rejected(channel, reason, bytes)),
        };
        let _ = self.tx.send(received);
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn state(&self) -> BusState {
        BusState::InProcess
    }

    async fn publish(&self, channel: &str, envelope: &Envelope) -> Result<(), BusError> {
        let bytes = envelope.to_bytes(self.max_bytes)?;
        self.publish_raw(channel, &bytes);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Received> {
        self.tx.subscribe()
    }

    async fn add_pattern(&self, pattern: &str) -> Result<(), BusError> {
        if pattern.is_empty() {
            return Err(BusError::Backend("an empty channel pattern".into()));
        }
        if let Ok(mut p) = self.patterns.lock()
            && !p.iter().any(|x| x == pattern)
        {
            p.push(pattern.to_string());
        }
        Ok(())
    }

    async fn send_intent(&self, envelope: &Envelope) -> Result<(), BusError> {
        self.enqueue(envelope);
        self.publish(channels::INTENTS, envelope).await
    }

    async fn take_intents(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let take = |bus: &LocalBus| -> Vec<Delivery> {
            let Ok(mut q) = bus.queue.lock() else {
                return Vec::new();
            };
            let n = q.waiting.len().min(max);
            let taken: Vec<Delivery> = q.waiting.drain(..n).collect();
            for d in &taken {
                q.in_flight.insert(d.token.clone(), d.clone());
            }
            taken
        };
        let notified = self.ready.notified();
        let first = take(self);
        if !first.is_empty() || max == 0 {
            return Ok(first);
        }
        let _ = tokio::time::timeout(wait, notified).await;
        Ok(take(self))
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), BusError> {
        if let Ok(mut q) = self.queue.lock() {
            q.in_flight.remove(&delivery.token);
        }
        Ok(())
    }

    fn stats(&self) -> BusStats {
        self.stats.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{IntentPayload, Source};

    fn intent(agent: &str, text: &str) -> Envelope {
        Envelope::new(
            kinds::INTENT,
            Source {
                node: "n1".into(),
                agent_id: None,
                operator: Some("alice".into()),
            },
            Some(agent),
            serde_json::json!({ "text": text }),
        )
    }

    #[tokio::test]
    async fn round_trip_on_the_seed_channels() {
        let bus = LocalBus::new(1024 * 1024);
        let mut rx = bus.subscribe();
        for ch in [channels::INTENTS, channels::MEMORY, channels::CONTEXT] {
            bus.publish(ch, &intent("ops-agent", ch)).await.unwrap();
        }
        for ch in [channels::INTENTS, channels::MEMORY, channels::CONTEXT] {
            match rx.recv().await.unwrap() {
                Received::Message { channel, envelope } => {
                    assert_eq!(channel, ch);
                    assert_eq!(envelope.payload_as::<IntentPayload>().unwrap().text, ch);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn other_channels_are_heard_only_through_a_pattern() {
        let bus = LocalBus::new(1024);
        let mut rx = bus.subscribe();
        bus.publish("ops.deploy", &intent("ops-agent", "x"))
            .await
            .unwrap();
        assert!(rx.try_recv().is_err());
        bus.add_pattern("ops.*").await.unwrap();
        bus.publish("ops.deploy", &intent("ops-agent", "y"))
            .await
            .unwrap();
        assert!(
            matches!(rx.recv().await.unwrap(), Received::Message { channel, .. } if channel == "ops.deploy")
        );
    }

    #[tokio::test]
    async fn garbage_is_rejected_counted_and_traffic_goes_on() {
        let bus = LocalBus::new(64);
        let mut rx = bus.subscribe();
        bus.publish_raw(channels::MEMORY, b"not json");
        bus.publish_raw(channels::MEMORY, br#"{"v":9,"id":"a","kind":"k"}"#);
        bus.publish_raw(channels::MEMORY, &[b'x'; 65]);
        bus.publish_raw(
            channels::INTENTS,
            br#"{"agent_id":"ops-agent","text":"ok"}"#,
        );
        let mut rejected = 0;
        for _ in 0..4 {
            match rx.recv().await.unwrap() {
                Received::Rejected(_) => rejected += 1,
                Received::Message { .. } => {}
            }
        }
        assert_eq!(rejected, 3);
        let stats = bus.stats();
        assert_eq!(stats.channels[channels::MEMORY].rejected, 3);
        assert_eq!(stats.channels[channels::INTENTS].received, 1);
        assert_eq!(stats.rejected.len(), 3);
    }

    #[tokio::test]
    async fn intents_are_queued_once_and_acknowledged() {
        let bus = LocalBus::new(1024 * 1024);
        let env = intent("ops-agent", "deploy");
        bus.send_intent(&env).await.unwrap();
        bus.send_intent(&env).await.unwrap(); // same id: not queued twice
        let raw = br#"{"agent_id":"ops-agent","text":"from redis-cli"}"#;
        bus.publish_raw(channels::INTENTS, raw);
        bus.publish_raw(channels::INTENTS, raw); // the same publication heard twice
        let taken = bus
            .take_intents(10, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].envelope.id, env.id);
        assert_eq!(taken[1].envelope.source.node, "external");
        for d in &taken {
            bus.ack(d).await.unwrap();
        }
        assert!(
            bus.take_intents(10, Duration::from_millis(10))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn take_waits_for_an_intent() {
        let bus = std::sync::Arc::new(LocalBus::new(1024 * 1024));
        let b = bus.clone();
        let waiter = tokio::spawn(async move { b.take_intents(1, Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        bus.send_intent(&intent("ops-agent", "late")).await.unwrap();
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.len(), 1);
    }
}
