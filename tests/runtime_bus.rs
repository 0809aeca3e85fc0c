//! The runtime on the bus: intents from outside tools, refusals that are answered rather
//! than dropped, and what the runtime tells the channels.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::audit::Outcome;
use aios::bus::{Bus, LocalBus, Received, channels};
use aios::context::{Caller, Cause};
use aios::event::RuntimeEvent;

async fn runtime_on(dir: &std::path::Path, heartbeat_ms: u32) -> (Runtime, Arc<LocalBus>) {
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let mut config = support::config_in(dir);
    config.runtime.node = "node-a".into();
    config.bus.heartbeat_ms = heartbeat_ms;
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        ..support::options(config)
    })
    .await
    .unwrap();
    (rt, bus)
}

/// The next message on `channel`, within a bounded time.
async fn next_on(
    rx: &mut tokio::sync::broadcast::Receiver<Received>,
    channel: &str,
) -> std::sync::Arc<aios::bus::Envelope> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Received::Message {
                channel: c,
                envelope,
            }) = rx.recv().await
                && c == channel
            {
                return envelope;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nothing on {channel}"))
}

#[tokio::test]
async fn a_minimal_intent_from_an_outside_tool_is_handled_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, bus) = runtime_on(dir.path(), 60_000).await;
    let mut heard = bus.subscribe();
    let mut heard_context = bus.subscribe();
    let mut audit = rt.hub().audit_log().subscribe();
    bus.publish_raw(
        channels::INTENTS,
        br#"{"agent_id":"support-agent","text":"Reset password for 42","operator":"n8n"}"#,
    );
    let result = next_on(&mut heard, channels::RESULTS).await;
    assert_eq!(result.agent_id.as_deref(), Some("support-agent"));
    assert!(
        result.payload.value()["reply"]["reply"]
            .as_str()
            .unwrap()
            .contains("Reset password for 42")
    );
    let ctx = next_on(&mut heard_context, channels::CONTEXT).await;
    assert_eq!(ctx.payload.value()["version"], 1);

    let first = audit.recv().await.unwrap();
    assert_eq!(first.action, "dispatch_intent");
    assert_eq!(first.caller, "external:n8n");
    assert_eq!(first.outcome, Outcome::Ok);
    let version = rt
        .hub()
        .get_context(&Caller::operator("t"), "support-agent", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version.cause.caller, "external:n8n");
    rt.shutdown().await;
}

#[tokio::test]
async fn an_outside_intent_for_an_unknown_agent_is_answered_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, bus) = runtime_on(dir.path(), 60_000).await;
    let mut heard = bus.subscribe();
    let mut events = rt.subscribe();
    bus.publish_raw(
        channels::INTENTS,
        br#"{"agent_id":"ghost-agent","text":"boo"}"#,
    );
    let result = next_on(&mut heard, channels::RESULTS).await;
    assert!(
        result.payload.value()["error"]
            .as_str()
            .unwrap()
            .contains("unknown agent `ghost-agent`")
    );
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(RuntimeEvent::IntentFailed { error, .. }) = events.recv().await {
                return error;
            }
        }
    })
    .await
    .unwrap();
    assert!(failed.contains("ghost-agent"));
    // Acknowledged: nothing is left to take.
    assert!(
        bus.take_intents(10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn context_changes_and_memories_go_out_on_their_channels() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, bus) = runtime_on(dir.path(), 60_000).await;
    let mut heard = bus.subscribe();
    let me = Caller::operator("alice");
    let cause = Cause {
        caller: me.to_string(),
        intent_id: None,
        tool: None,
    };
    let v = rt
        .hub()
        .update_context(
            &me,
            "ops-agent",
            "deploy notes\n".into(),
            "notes".into(),
            cause,
        )
        .await
        .unwrap();
    let ctx = next_on(&mut heard, channels::CONTEXT).await;
    assert_eq!(ctx.kind, "context");
    assert_eq!(ctx.agent_id.as_deref(), Some("ops-agent"));
    assert_eq!(ctx.source.node, "node-a");
    assert_eq!(ctx.payload.value()["context_id"], v.context_id.as_str());
    rt.hub()
        .remember(
            &me,
            "ops-agent",
            "fact",
            "staging is on v2",
            vec!["deploy".into()],
        )
        .await
        .unwrap();
    let mem = next_on(&mut heard, channels::MEMORY).await;
    assert_eq!(mem.payload.value()["text"], "staging is on v2");
    assert_eq!(mem.payload.value()["tags"][0], "deploy");
    rt.shutdown().await;
}

#[tokio::test]
async fn the_node_sends_heartbeats() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, bus) = runtime_on(dir.path(), 100).await;
    let mut heard = bus.subscribe();
    let beat = next_on(&mut heard, channels::NODES).await;
    assert_eq!(beat.payload.value()["node"], "node-a");
    assert_eq!(beat.payload.value()["agents"].as_array().unwrap().len(), 30);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_pinned_agent_is_left_to_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let mut config = support::config_in(dir.path());
    config.runtime.node = "node-a".into();
    config.agents.insert(
        "video-agent".into(),
        aios::config::AgentOverride {
            node: Some("gpu-box".into()),
            ..Default::default()
        },
    );
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        ..support::options(config)
    })
    .await
    .unwrap();
    let err = rt
        .dispatch_and_wait(&Caller::operator("alice"), "video-agent", "storyboard")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not hosted on node node-a"),
        "{err}"
    );
    rt.shutdown().await;
}

/// A full envelope published by hand may carry any text: the intake checks it as a
/// dispatch does, and refuses it the same way — answered, audited, acknowledged.
#[tokio::test]
async fn a_full_envelope_with_empty_text_is_refused_as_a_dispatch_would_be() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, bus) = runtime_on(dir.path(), 60_000).await;
    let by_dispatch = rt
        .dispatch(&Caller::operator("alice"), "ops-agent", "  ", None, None)
        .await
        .err()
        .expect("dispatch refuses an empty text")
        .to_string();
    let long = "x".repeat(64 * 1024 + 1);
    let too_long_by_dispatch = rt
        .dispatch(&Caller::operator("alice"), "ops-agent", &long, None, None)
        .await
        .err()
        .expect("dispatch refuses an oversized text")
        .to_string();

    for (text, by_dispatch) in [
        ("", &by_dispatch),
        ("  ", &by_dispatch),
        (long.as_str(), &too_long_by_dispatch),
    ] {
        let mut heard = bus.subscribe();
        let mut audit = rt.hub().audit_log().subscribe();
        let mut events = rt.subscribe();
        let env = aios::bus::Envelope::new(
            aios::bus::kinds::INTENT,
            aios::bus::Source {
                node: "edge-9".into(),
                agent_id: None,
                operator: Some("mallory".into()),
            },
            Some("ops-agent"),
            serde_json::json!({ "text": text }),
        );
        bus.publish_raw(channels::INTENTS, &serde_json::to_vec(&env).unwrap());
        let result = next_on(&mut heard, channels::RESULTS).await;
        let error = result.payload.value()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(&error, by_dispatch, "the same check, the same words");
        assert!(result.payload.value()["reply"].is_null());
        let record = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let r = audit.recv().await.unwrap();
                if r.action == "dispatch_intent" && r.input["intent_id"] == env.id {
                    return r;
                }
            }
        })
        .await
        .expect("the refusal is audited");
        assert_eq!(record.outcome, Outcome::Error);
        assert_eq!(record.error.as_deref(), Some(error.as_str()));
        let failed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Ok(RuntimeEvent::IntentFailed {
                    intent_id, error, ..
                }) = events.recv().await
                    && intent_id == env.id
                {
                    return error;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(failed, error);
    }
    assert!(
        bus.take_intents(10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty(),
        "acknowledged"
    );
    // Nothing ran: no context was written.
    assert!(
        rt.hub()
            .get_context(&Caller::operator("t"), "ops-agent", None)
            .await
            .unwrap()
            .is_none()
    );
    rt.shutdown().await;
}
