//! Runtime events → deliveries. Two steps, so the runtime's event channel is never held
//! up by a disk write: the listener picks the few events a hook may fire on out of the
//! token stream into a queue; the writer matches them against the agent's hooks and writes
//! the deliveries to the outbox (in batches, one commit for many), then wakes the worker.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::event::{HookEvent, classify, fires};
use super::outbox::{Delivery, State};
use super::spec::EventKind;
use crate::event::RuntimeEvent;

/// Intents whose chain (trace, depth) is remembered for the events that follow them.
const LINEAGE_KEPT: usize = 10_000;
/// Most deliveries written in one outbox call.
const BATCH: usize = 512;

pub(crate) async fn run(
    inner: Arc<Inner>,
    mut events: broadcast::Receiver<RuntimeEvent>,
    cancel: CancellationToken,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write(inner.clone(), rx, cancel.clone()));
    let mut lineage = Lineage::default();
    loop {
        let ev = tokio::select! {
            () = cancel.cancelled() => break,
            ev = events.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::error!(
                    missed = n,
                    "hooks fell behind the runtime's events; hooks did not fire for {n} of them"
                );
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        match &ev {
            RuntimeEvent::IntentQueued {
                intent_id,
                trace_id,
                depth,
                ..
            } => lineage.add(intent_id, trace_id.clone(), *depth),
            RuntimeEvent::StateChanged { agent_id, part } if part == "protocol_hooks" => {
                inner.invalidate(agent_id);
            }
            _ => {}
        }
        let Some((kind, agent_id, intent_id, data)) = classify(&ev) else {
            continue;
        };
        let (trace_id, depth) = intent_id
            .and_then(|id| lineage.get(id))
            .unwrap_or((intent_id.map(str::to_string), 0));
        let hev = HookEvent {
            event: kind.as_str().to_string(),
            agent_id: agent_id.to_string(),
            ts: inner
                .opts
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            node: inner.opts.node.clone(),
            intent_id: intent_id.map(str::to_string),
            trace_id,
            depth,
            data,
        };
        if tx.send((kind, hev)).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Write what the listener picked: all waiting events at once, as one outbox call.
async fn write(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<(EventKind, HookEvent)>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut picked = vec![first];
        while picked.len() < BATCH {
            match rx.try_recv() {
                Ok(more) => picked.push(more),
                Err(_) => break,
            }
        }
        for (kind, ev) in picked {
            batch.extend(deliveries_for(&inner, kind, ev).await);
        }
        if batch.is_empty() {
            continue;
        }
        // A delivery not written is a hook that never fires: keep trying (a full disk,
        // Redis away) until it is written or the node stops.
        let mut pause = Duration::from_millis(100);
        loop {
            match inner.opts.outbox.enqueue(&batch).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, pending = batch.len(), "could not write hook deliveries; trying again");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
        for d in &batch {
            inner.emit(d);
        }
        batch.clear();
        inner.wake.notify_one();
    }
}

/// One delivery per hook of the event's agent that fires on it.
pub(crate) async fn deliveries_for(inner: &Inner, kind: EventKind, ev: HookEvent) -> Vec<Delivery> {
    let hooks = inner.hooks_of(&ev.agent_id).await;
    let now = inner.opts.clock.now().timestamp_millis();
    hooks
        .iter()
        .filter_map(|a| {
            let (trigger, _) = a.parsed.as_ref().ok()?;
            fires(trigger, kind, &ev.data).then(|| Delivery {
                id: uuid::Uuid::now_v7().to_string(),
                agent_id: ev.agent_id.clone(),
                hook: a.hook.name.clone(),
                target: a.hook.action.clone(),
                event: ev.clone(),
                state: State::Pending,
                attempts: 0,
                created_ms: now,
                due_ms: now,
                status: None,
                error: None,
                latency_ms: None,
                approved: false,
                held_by: None,
            })
        })
        .collect()
}

/// Recent intents' chains, oldest forgotten first.
#[derive(Default)]
struct Lineage {
    map: HashMap<String, (Option<String>, u32)>,
    order: VecDeque<String>,
}

impl Lineage {
    fn add(&mut self, intent_id: &str, trace_id: Option<String>, depth: u32) {
        if self
            .map
            .insert(intent_id.to_string(), (trace_id, depth))
            .is_none()
        {
            self.order.push_back(intent_id.to_string());
        }
        while self.order.len() > LINEAGE_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, intent_id: &str) -> Option<(Option<String>, u32)> {
        self.map.get(intent_id).cloned()
    }
}
