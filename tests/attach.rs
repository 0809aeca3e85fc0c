//! A watcher of a runtime that runs elsewhere — what `aios tui --attach` runs on. It hosts
//! no agent, yet sees the other node's agents work as local events, sends intents that the
//! other node handles, hears goal changes made there, and reads the audit log from its
//! mirror stream on Redis.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::audit::MirrorTail;
use aios::bus::{Bus, LocalBus, Received, channels};
use aios::config::BusBackend;
use aios::context::Caller;
use aios::event::{AgentStatus, RuntimeEvent};
use aios::mcp::Updates;
use support::redis_server::RedisServer;
use tokio_util::sync::CancellationToken;

async fn node_on(bus: &Arc<LocalBus>, dir: &std::path::Path, name: &str, watch: bool) -> Runtime {
    node_with(bus, dir, name, watch, 0).await
}

async fn node_with(
    bus: &Arc<LocalBus>,
    dir: &std::path::Path,
    name: &str,
    watch: bool,
    tokens_per_second: u32,
) -> Runtime {
    let mut config = support::config_in(dir);
    config.llm.sim.tokens_per_second = tokens_per_second;
    config.runtime.node = name.into();
    config.bus.heartbeat_ms = 100;
    Runtime::start(RuntimeOptions {
        bus: Some(bus.clone() as Arc<dyn Bus>),
        watch_only: watch,
        ..support::options(config)
    })
    .await
    .unwrap()
}

/// Events until `stop` says so (10 s at most).
async fn events_until(
    rx: &mut tokio::sync::broadcast::Receiver<RuntimeEvent>,
    mut stop: impl FnMut(&RuntimeEvent) -> bool,
) -> Vec<RuntimeEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(ev) = rx.recv().await {
                let done = stop(&ev);
                seen.push(ev);
                if done {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:#?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_sees_another_nodes_agents_work_and_sends_them_intents() {
    let bus = Arc::new(LocalBus::new(1 << 20));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = node_on(&bus, a.path(), "edge-1", false).await;
    let watcher = node_on(&bus, b.path(), "laptop", true).await;
    assert!(watcher.info().attached.is_some());
    assert!(node.info().attached.is_none());
    let mut events = watcher.subscribe();
    let mut node_events = node.subscribe();

    let reply = watcher
        .dispatch_and_wait(
            &Caller::operator("alice"),
            "support-agent",
            "Customer 42 cannot log in",
        )
        .await
        .unwrap();
    let id = reply.intent_id.clone();
    // The outcome and the context notice travel on different channels: wait for both.
    let (mut done_seen, mut context_seen) = (false, false);
    let seen = events_until(&mut events, |ev| {
        done_seen |= matches!(ev, RuntimeEvent::IntentDone { intent_id, .. } if *intent_id == id);
        context_seen |= matches!(ev, RuntimeEvent::ContextUpdated { agent_id, .. } if agent_id == "support-agent");
        done_seen && context_seen
    })
    .await;
    // The node did the work: it saw the intent queued for its agent.
    let on_node = events_until(
        &mut node_events,
        |ev| matches!(ev, RuntimeEvent::IntentDone { intent_id, .. } if *intent_id == id),
    )
    .await;
    assert!(
        on_node.iter().any(
            |ev| matches!(ev, RuntimeEvent::IntentQueued { intent_id, .. } if *intent_id == id)
        )
    );

    // The watcher saw it all as if it ran here: queued, busy, the tokens (coalesced, in
    // order, adding up to the reply), done, and the new context version.
    assert!(seen.iter().any(|ev| matches!(
        ev,
        RuntimeEvent::IntentQueued { intent_id, text, .. } if *intent_id == id && text == "Customer 42 cannot log in"
    )));
    assert!(seen.iter().any(|ev| matches!(
        ev,
        RuntimeEvent::Status { agent_id, status } if agent_id == "support-agent" && *status != AgentStatus::Idle
    )));
    let streamed: String = seen
        .iter()
        .filter_map(|ev| match ev {
            RuntimeEvent::Token {
                intent_id,
                text,
                thinking: false,
                ..
            } if *intent_id == id => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, reply.reply);
    let done = seen
        .iter()
        .position(|ev| matches!(ev, RuntimeEvent::IntentDone { intent_id, .. } if *intent_id == id))
        .expect("done");
    let last_token = seen
        .iter()
        .rposition(|ev| matches!(ev, RuntimeEvent::Token { .. }))
        .expect("tokens");
    assert!(last_token < done, "every token before the outcome");
    assert!(seen.iter().any(|ev| matches!(
        ev,
        RuntimeEvent::ContextUpdated { version, .. } if *version == reply.context_version
    )));
    // Its status board follows the remote agent back to idle.
    let mut status = AgentStatus::Streaming;
    for _ in 0..100 {
        status = watcher.status("support-agent").0;
        if status == AgentStatus::Idle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, AgentStatus::Idle);

    // A goal changed on the node reaches the watcher as a state change.
    node.hub()
        .set_goals(
            &Caller::operator("bob"),
            "support-agent",
            vec!["triage faster".into()],
        )
        .await
        .unwrap();
    events_until(&mut events, |ev| {
        matches!(ev, RuntimeEvent::StateChanged { agent_id, part } if agent_id == "support-agent" && part == "goals")
    })
    .await;

    // A goal edited on the watcher is announced once for every node's MCP subscribers;
    // the watcher does not echo the node's own notice back.
    let mut heard = bus.subscribe();
    let node_updates = Updates::start(
        &node,
        CancellationToken::new(),
        &tokio_util::task::TaskTracker::new(),
    );
    let mut uris = node_updates.subscribe();
    watcher
        .hub()
        .set_goals(
            &Caller::operator("carol"),
            "billing-agent",
            vec!["chase invoices".into()],
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(uri) = uris.recv().await {
            if uri == "aios://agents/billing-agent/goals" {
                return;
            }
        }
    })
    .await
    .expect("the node heard of the watcher's goal edit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut notices = 0;
    while let Ok(r) = heard.try_recv() {
        if let Received::Message { channel, envelope } = r
            && channel == channels::CONTEXT
            && envelope.kind == "state"
        {
            notices += 1;
        }
    }
    assert_eq!(notices, 1, "one notice per change, no echo");
    watcher.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_stops_a_generation_on_the_node_that_runs_it() {
    let bus = Arc::new(LocalBus::new(1 << 20));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Slow enough that the answer is still streaming when the stop arrives.
    let node = node_with(&bus, a.path(), "edge-1", false, 10).await;
    let watcher = node_on(&bus, b.path(), "laptop", true).await;
    let mut events = watcher.subscribe();
    let ticket = watcher
        .dispatch(
            &Caller::operator("alice"),
            "support-agent",
            "write a long report",
            None,
            None,
        )
        .await
        .unwrap();
    events_until(
        &mut events,
        |ev| matches!(ev, RuntimeEvent::Token { agent_id, .. } if agent_id == "support-agent"),
    )
    .await;
    let said = watcher
        .request_stop(&Caller::operator("alice"), "support-agent")
        .await
        .unwrap();
    assert!(said.contains("asked the node"), "{said}");
    let outcome = tokio::time::timeout(Duration::from_secs(10), ticket.outcome)
        .await
        .expect("the intent ends")
        .unwrap();
    let err = outcome.expect_err("stopped, not finished").to_string();
    assert!(err.contains("stopped by the operator"), "{err}");
    // An unknown agent is refused before anything is sent.
    assert!(
        watcher
            .request_stop(&Caller::operator("alice"), "no-such-agent")
            .await
            .is_err()
    );
    watcher.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_followed_from_its_mirror_stream() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_in(dir.path());
    config.bus.backend = BusBackend::Redis;
    config.bus.url = redis.url().into();
    config.bus.prefix = "far:".into();
    let rt = Runtime::start(support::options(config)).await.unwrap();
    rt.dispatch_and_wait(&Caller::operator("alice"), "ops-agent", "rotate the keys")
        .await
        .unwrap();

    let mut tail = MirrorTail::connect(&redis.url().into(), "far:", Duration::from_millis(200))
        .await
        .unwrap();
    // The mirror runs behind the log: wait until the intent's records are on the stream.
    let mut all = Vec::new();
    for _ in 0..100 {
        all = tail.recent(10_000).await.unwrap();
        if all
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|r| r.action == "update_context"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records: Vec<_> = all.into_iter().map(|(_, r)| r.unwrap()).collect();
    assert!(records.len() >= 4, "{records:#?}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert!(r.hash_matches(), "record {i} verifies");
        if i > 0 {
            assert_eq!(r.prev_hash, records[i - 1].hash, "record {i} links");
        }
    }

    // `recent` gives the newest only; `next` goes on from there with what comes later.
    let newest = tail.recent(2).await.unwrap();
    assert_eq!(newest.len(), 2);
    let last = newest[1].0;
    rt.dispatch_and_wait(&Caller::operator("alice"), "ops-agent", "and again")
        .await
        .unwrap();
    let mut more = Vec::new();
    for _ in 0..50 {
        more.extend(tail.next().await.unwrap());
        if more.len() >= 4 {
            break;
        }
    }
    let seqs: Vec<u64> = more.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs.first(), Some(&(last + 1)), "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    rt.shutdown().await;
}
