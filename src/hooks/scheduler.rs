//! `schedule:<cron>` hooks fire on time. Each second the scheduler asks every schedule
//! which fire times are due ([`super::schedule::Schedule::due`]) and writes one delivery
//! per fire time. The delivery's id is derived from (agent, hook, fire time), and the
//! outbox writes an id only once: with several nodes on one Redis, each fire time becomes
//! one delivery however many nodes saw it due.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::event::HookEvent;
use super::outbox::{Delivery, State};
use super::spec::Trigger;

const EVERY: Duration = Duration::from_secs(1);
/// A fire time this close to now is on time (not a missed one): a tick may come late.
const GRACE_S: i64 = 30;

pub(crate) async fn run(inner: Arc<Inner>, cancel: CancellationToken) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        tick(&inner).await;
    }
}

/// One pass over every agent's schedules at the clock's time; the deliveries written.
pub(crate) async fn tick(inner: &Inner) -> usize {
    let now = inner.opts.clock.now();
    let agents: Vec<String> = inner
        .opts
        .hub
        .catalog()
        .agents()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let mut written = 0;
    for agent_id in agents {
        let hooks = inner.hooks_of(&agent_id).await;
        for a in hooks.iter() {
            let Ok((Trigger::Schedule(schedule), _)) = &a.parsed else {
                continue;
            };
            let key = format!("{agent_id}/{}/{}", a.hook.name, schedule.as_str());
            let since = match inner.opts.outbox.last_fired(&key).await {
                Ok(Some(ms)) => ms_time(ms),
                Ok(None) => {
                    // First sight: nothing is missed before now. Kept, so a restart later
                    // knows what it missed.
                    if let Err(e) = inner
                        .opts
                        .outbox
                        .set_last_fired(&key, now.timestamp_millis())
                        .await
                    {
                        tracing::warn!(hook = %a.hook.name, error = %e, "could not keep a schedule's start");
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(hook = %a.hook.name, error = %e, "could not read a schedule's last fire");
                    continue;
                }
            };
            let due = schedule.due(
                inner.opts.config.timezone,
                since,
                now,
                chrono::Duration::seconds(GRACE_S),
                inner.opts.config.catch_up,
            );
            let Some(last) = due.last().copied() else {
                continue;
            };
            let deliveries: Vec<Delivery> = due
                .iter()
                .map(|t| {
                    delivery(
                        inner,
                        &agent_id,
                        &a.hook.name,
                        &a.hook.action,
                        schedule.as_str(),
                        *t,
                        now,
                    )
                })
                .collect();
            match inner.opts.outbox.enqueue(&deliveries).await {
                Ok(n) => {
                    written += n;
                    for d in &deliveries[deliveries.len() - n.min(deliveries.len())..] {
                        inner.emit(d);
                    }
                }
                Err(e) => {
                    // Not marked fired: the next tick tries again.
                    tracing::error!(hook = %a.hook.name, error = %e, "could not write a schedule's delivery");
                    continue;
                }
            }
            if let Err(e) = inner
                .opts
                .outbox
                .set_last_fired(&key, last.timestamp_millis())
                .await
            {
                tracing::warn!(hook = %a.hook.name, error = %e, "could not keep a schedule's last fire");
            }
        }
    }
    if written > 0 {
        inner.wake.notify_one();
    }
    written
}

fn delivery(
    inner: &Inner,
    agent_id: &str,
    hook: &str,
    action: &str,
    cron: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Delivery {
    // The same id on every node for this fire time: the outbox keeps the first.
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("aios:schedule:{agent_id}/{hook}/{}", at.timestamp_millis()).as_bytes(),
    )
    .to_string();
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Delivery {
        id,
        agent_id: agent_id.to_string(),
        hook: hook.to_string(),
        target: action.to_string(),
        event: HookEvent {
            event: "schedule".into(),
            agent_id: agent_id.to_string(),
            ts: ts.clone(),
            node: inner.opts.node.clone(),
            intent_id: None,
            trace_id: None,
            depth: 0,
            data: json!({"schedule": cron, "scheduled_for": ts}),
        },
        state: State::Pending,
        attempts: 0,
        created_ms: now.timestamp_millis(),
        due_ms: now.timestamp_millis(),
        status: None,
        error: None,
        latency_ms: None,
        approved: false,
        held_by: None,
    }
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}
