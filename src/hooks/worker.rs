//! The delivery worker: claims due deliveries from the outbox, passes each through the
//! approval gate, attempts it, and writes back what happened (delivered, retry at a later
//! time, waiting for a person, dead), with an audit record, a metric and an event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::deliver::attempt;
use super::outbox::{Delivery, State};
use super::retry::{self, Next};
use super::spec::{self, Target};
use super::{Inner, gate_tool};
use crate::agent::turn::{Decision, Origin, Verdict};
use crate::context::{Call, Caller};

/// How often the outbox is looked at when nothing wakes the worker (other nodes' writes,
/// retries coming due).
const POLL: Duration = Duration::from_millis(200);
/// Most deliveries one drain takes.
const DRAIN_MAX: usize = 100_000;
/// A claim holds a delivery this much longer than an attempt may take.
const LEASE_MARGIN_MS: i64 = 30_000;

pub(crate) async fn run(inner: Arc<Inner>, cancel: CancellationToken) {
    release_waiting(&inner).await;
    let slots = Arc::new(Semaphore::new(inner.opts.config.concurrency));
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            claim(&inner, free).await
        };
        let idle = claimed.is_empty();
        for d in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let inner = inner.clone();
            running.spawn(async move {
                handle_caused(&inner, d).await;
                drop(permit);
            });
        }
        if idle || slots.available_permits() == 0 {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = inner.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        } else if cancel.is_cancelled() {
            break;
        }
    }
    // Attempts under way finish (each is bounded by hooks.timeout_ms); what was not
    // claimed stays in the outbox for the next start.
    while running.join_next().await.is_some() {}
}

/// Deliveries this node held for a person when it stopped: their approvals were denied
/// ("restarted") when the approvals reopened, so they end the same way, on the record.
async fn release_waiting(inner: &Inner) {
    let open = match inner.opts.outbox.list(0).await {
        Ok(ds) => ds,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for hook deliveries left waiting");
            return;
        }
    };
    for d in open {
        if d.state == State::Waiting && d.held_by.as_deref() == Some(inner.opts.node.as_str()) {
            let why = "restarted while waiting for a decision; `aios hooks retry` sends it again";
            give_up(inner, d, why.into()).await;
        }
    }
}

async fn claim(inner: &Inner, max: usize) -> Vec<Delivery> {
    let now = inner.opts.clock.now().timestamp_millis();
    let lease =
        i64::try_from(inner.opts.config.timeout_ms).unwrap_or(i64::MAX / 2) + LEASE_MARGIN_MS;
    match inner.opts.outbox.claim(now, lease, max).await {
        Ok(ds) => ds,
        Err(e) => {
            tracing::warn!(error = %e, "could not take hook deliveries from the outbox");
            Vec::new()
        }
    }
}

/// Claim and attempt everything due now, once, and wait for it (tests and benches).
pub(crate) async fn drain_once(inner: &Arc<Inner>) -> usize {
    let ds = claim(inner, DRAIN_MAX).await;
    let n = ds.len();
    let mut set = JoinSet::new();
    for d in ds {
        let inner = inner.clone();
        set.spawn(async move { handle_caused(&inner, d).await });
    }
    while set.join_next().await.is_some() {}
    n
}

/// A delivery's records are on behalf of the intent whose event fired it.
async fn handle_caused(inner: &Arc<Inner>, d: Delivery) {
    let cause = crate::audit::cause::CallCause {
        intent_id: d.event.intent_id.clone(),
        trace_id: d.event.trace_id.clone(),
        parent_id: None,
    };
    crate::audit::cause::scope(cause, handle(inner, d)).await;
}

/// One claimed delivery, start to end of this attempt.
async fn handle(inner: &Arc<Inner>, mut d: Delivery) {
    let target = match spec::parse_target(&d.target, &inner.opts.known) {
        Ok(t) => t,
        // The hook named something since removed from config: retrying cannot help.
        Err(e) => {
            return give_up(inner, d, format!("the hook's target no longer works: {e}")).await;
        }
    };
    if !d.approved {
        match gate(inner, &d) {
            Verdict::Allow => {}
            Verdict::Deny(reason) => {
                return give_up(inner, d, format!("denied by an approval rule: {reason}")).await;
            }
            Verdict::Ask => return ask(inner, d, &target).await,
        }
    }
    let started = Instant::now();
    let (outcome, retry_after) = attempt(inner, &d, &target).await;
    d.attempts += 1;
    d.latency_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    d.status = match outcome {
        retry::Attempt::Status(s) => Some(s),
        _ => None,
    };
    let next = retry::next(
        &outcome,
        d.attempts,
        inner.opts.config.max_attempts,
        Duration::from_millis(inner.opts.config.backoff_ms),
        Duration::from_secs(inner.opts.config.backoff_max_s),
        retry::jitter(),
        retry_after,
    );
    let now = inner.opts.clock.now().timestamp_millis();
    let metric = match next {
        Next::Delivered => {
            d.state = State::Delivered;
            d.error = None;
            d.due_ms = now;
            "delivered"
        }
        Next::RetryIn(pause) => {
            d.state = State::Pending;
            d.error = Some(describe(&outcome));
            d.due_ms = now + i64::try_from(pause.as_millis()).unwrap_or(i64::MAX / 2);
            "retry"
        }
        Next::Dead(why) => {
            d.state = State::Dead;
            d.error = Some(why);
            d.due_ms = now;
            "dead"
        }
    };
    let delay = (d.state == State::Delivered)
        .then(|| Duration::from_millis(u64::try_from(now - d.created_ms).unwrap_or(0)));
    crate::metrics::hook_delivery(metric, delay);
    finish(inner, d, started).await;
}

/// End a delivery without (another) attempt: dead, with why, counted and on record.
async fn give_up(inner: &Inner, mut d: Delivery, why: String) {
    d.state = State::Dead;
    d.held_by = None;
    d.error = Some(why);
    crate::metrics::hook_delivery("dead", None);
    finish(inner, d, Instant::now()).await;
}

/// Write the delivery back, audit the attempt and tell the UI.
async fn finish(inner: &Inner, d: Delivery, started: Instant) {
    if let Err(e) = inner.opts.outbox.save(&d).await {
        // Not written back: the lease runs out and the delivery is attempted again, which
        // the idempotency key makes safe for the receiver.
        tracing::error!(delivery = %d.id, error = %e, "could not write a hook delivery back");
    }
    let result = match d.state {
        State::Delivered | State::Waiting => Ok(()),
        State::Pending | State::Dead => Err(d.error.clone().unwrap_or_default()),
    };
    let audited = inner.opts.hub.record(
        &Caller::hook(&d.agent_id, &d.hook),
        Call {
            agent_id: Some(&d.agent_id),
            action: "hook_delivery",
            input: json!({
                "delivery_id": d.id, "hook": d.hook, "target": d.target,
                "event": d.event.event, "intent_id": d.event.intent_id,
                "attempt": d.attempts, "state": d.state.as_str(), "status": d.status,
            }),
            context_id: None,
            result,
            started,
        },
    );
    if let Err(e) = audited {
        tracing::error!(delivery = %d.id, error = %e, "a hook delivery was not audited");
    }
    inner.emit(&d);
}

fn gate(inner: &Inner, d: &Delivery) -> Verdict {
    let added = inner
        .opts
        .approvals
        .as_ref()
        .map(|a| a.added_rules())
        .unwrap_or_default();
    crate::approvals::verdict(
        added.iter().chain(inner.opts.rules.iter()),
        &d.agent_id,
        &gate_tool(&d.hook),
        &serde_json::to_value(&d.event).unwrap_or_default(),
        // A hook was set up by someone entitled to: it runs unless a rule says otherwise.
        Origin::Builtin,
    )
}

/// An `ask` rule matched: park the delivery until a person decides, then continue.
async fn ask(inner: &Arc<Inner>, mut d: Delivery, target: &Target) {
    let Some(approvals) = inner.opts.approvals.clone() else {
        let why = "an approval rule asks for a person, and this node has no approvals";
        return give_up(inner, d, why.into()).await;
    };
    let call = crate::llm::ToolCall {
        id: d.id.clone(),
        name: gate_tool(&d.hook),
        arguments: serde_json::to_value(&d.event).unwrap_or_default(),
    };
    let preview = format!(
        "hook {} of {} fires on {}: {} {}",
        d.hook,
        d.agent_id,
        d.event.event,
        target.kind(),
        d.target.split_once(':').map_or("", |(_, rest)| rest)
    );
    let intent = d.event.intent_id.clone().unwrap_or_default();
    let (_, decided) = match approvals.ask(&d.agent_id, &intent, &call, "hook", preview) {
        Ok(x) => x,
        Err(e) => return give_up(inner, d, format!("cannot keep the approval: {e}")).await,
    };
    d.state = State::Waiting;
    d.held_by = Some(inner.opts.node.clone());
    finish(inner, d.clone(), Instant::now()).await;
    let inner = inner.clone();
    let timeout = approvals.timeout();
    let cause = crate::audit::cause::current();
    tokio::spawn(crate::audit::cause::scope(cause, async move {
        // The task holds the hooks (and through them the approvals whose answer it
        // awaits): it must end with the node, or neither would ever be dropped.
        let decision = tokio::select! {
            () = inner.stop.cancelled() => return,
            d = tokio::time::timeout(timeout, decided) => d,
        };
        match decision {
            Ok(Ok(Decision::Approve { .. })) => {
                d.approved = true;
                d.state = State::Pending;
                d.held_by = None;
                d.due_ms = inner.opts.clock.now().timestamp_millis();
                finish(&inner, d, Instant::now()).await;
                inner.wake.notify_one();
            }
            Ok(Ok(Decision::Deny { by, reason })) => {
                give_up(&inner, d, format!("denied by {by}: {reason}")).await;
            }
            // The approvals went away (the node is stopping): the delivery stays waiting,
            // held by this node, and the next start ends it on the record.
            Ok(Err(_)) => {}
            Err(_) => {
                give_up(
                    &inner,
                    d,
                    "no decision in time (approvals.timeout_s)".into(),
                )
                .await;
            }
        }
    }));
}

fn describe(a: &retry::Attempt) -> String {
    match a {
        retry::Attempt::Done => "done".into(),
        retry::Attempt::Status(s) => format!("answered {s}"),
        retry::Attempt::Failed(e) | retry::Attempt::Refused(e) => e.clone(),
    }
}
