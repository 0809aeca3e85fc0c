//! The runtime: intents routed by agent id, handled by the sim runner into new context
//! versions and episodic memory, with events for the UI and clean shutdown.

mod support;

use aios::agent::{IntentFailure, Runtime, TurnFailure};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use support::runtime_in;

#[tokio::test]
async fn an_intent_becomes_a_context_version_and_a_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let mut events = rt.subscribe();
    let me = Caller::operator("alice");
    let reply = rt
        .dispatch_and_wait(&me, "support-agent", "Customer 42 cannot log in")
        .await
        .unwrap();
    assert_eq!(reply.runner, "sim");
    assert_eq!(
        reply.model, "sim",
        "sim is labelled as such wherever a model is named"
    );
    assert_eq!(reply.context_version, 1);
    assert!(reply.reply.contains("Customer 42 cannot log in"));
    assert!(reply.usage.completion_tokens > 5);

    let ctx = rt
        .hub()
        .get_context(&me, "support-agent", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ctx.context_id, reply.context_id);
    assert!(ctx.text.contains("> Customer 42 cannot log in"));
    assert!(ctx.text.contains(reply.reply.trim_end()));
    assert_eq!(
        ctx.cause.intent_id.as_deref(),
        Some(reply.intent_id.as_str())
    );
    assert_eq!(ctx.cause.caller, "operator:alice");

    // The outcome is remembered as an episodic memory item and recalled next time.
    let memories = rt
        .hub()
        .recall(&me, "support-agent", "cannot log in", 5, Some("episodic"))
        .await
        .unwrap();
    assert_eq!(memories.len(), 1);
    assert!(memories[0].item.text.contains("Customer 42"));

    let second = rt
        .dispatch_and_wait(&me, "support-agent", "Customer 42 again")
        .await
        .unwrap();
    assert_eq!(second.context_version, 2);
    assert!(
        second.reply.contains("1 related item recalled"),
        "{}",
        second.reply
    );
    let d = rt
        .hub()
        .diff_context(&me, "support-agent", 1, 2)
        .await
        .unwrap();
    assert!(d.unified.contains("+> Customer 42 again"), "{}", d.unified);

    // The UI saw the whole life of the first intent.
    let mut kinds = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if ev.agent_id() == Some("support-agent") {
            kinds.push(match ev {
                RuntimeEvent::IntentQueued { .. } => "queued",
                RuntimeEvent::Status { .. } => "status",
                RuntimeEvent::Token { .. } => "token",
                RuntimeEvent::IntentDone { .. } => "done",
                RuntimeEvent::ContextUpdated { .. } => "context",
                _ => "other",
            });
        }
    }
    for k in ["queued", "status", "token", "context", "done"] {
        assert!(kinds.contains(&k), "no `{k}` event in {kinds:?}");
    }
    rt.shutdown().await;
}

#[tokio::test]
async fn unknown_agents_and_empty_intents_are_refused_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let mut audit = rt.hub().audit_log().subscribe();
    let me = Caller::operator("alice");
    let err = rt
        .dispatch(&me, "nobody-agent", "hi", None, None)
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unknown agent `nobody-agent`"),
        "{err}"
    );
    let err = rt
        .dispatch(&me, "ops-agent", "   ", None, None)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("empty"), "{err}");
    let a = audit.recv().await.unwrap();
    assert_eq!(a.action, "dispatch_intent");
    assert_eq!(
        a.agent_id, None,
        "an unknown id is not recorded as an agent"
    );
    assert!(a.error.as_deref().unwrap_or("").contains("unknown agent"));
    let b = audit.recv().await.unwrap();
    assert_eq!(b.agent_id.as_deref(), Some("ops-agent"));
    rt.shutdown().await;
}

#[tokio::test]
async fn intents_to_different_agents_run_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let me = Caller::operator("alice");
    let mut tickets = Vec::new();
    for agent in ["ops-agent", "sec-agent", "dev-agent", "ops-agent"] {
        tickets.push((
            agent,
            rt.dispatch(&me, agent, "status report", None, None)
                .await
                .unwrap(),
        ));
    }
    let mut ops_versions = Vec::new();
    for (agent, t) in tickets {
        let reply = t.outcome.await.unwrap().unwrap();
        assert_eq!(reply.agent_id, agent);
        if agent == "ops-agent" {
            ops_versions.push(reply.context_version);
        }
    }
    assert_eq!(
        ops_versions,
        vec![1, 2],
        "one agent handles its intents in order"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_queued_intents_instead_of_dropping_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_in(dir.path());
    config.llm.sim.tokens_per_second = 5; // slow enough to still be running at shutdown
    let rt = aios::agent::Runtime::start(support::options(config))
        .await
        .unwrap();
    let me = Caller::operator("alice");
    let mut events = rt.subscribe();
    let first = rt
        .dispatch(&me, "ops-agent", "long job", None, None)
        .await
        .unwrap();
    let second = rt
        .dispatch(&me, "ops-agent", "queued job", None, None)
        .await
        .unwrap();
    // The first is generating (its first token is out), the second waits in the queue.
    loop {
        match events.recv().await.unwrap() {
            RuntimeEvent::Token { intent_id, .. } if intent_id == first.intent_id => break,
            _ => {}
        }
    }
    rt.shutdown().await;
    let a = first.outcome.await.unwrap();
    let b = second.outcome.await.unwrap();
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    assert!(
        matches!(&a, IntentFailure::Turn(TurnFailure::Stopped(why)) if why.contains("shutting down")),
        "{a:?}"
    );
    assert!(
        matches!(
            b,
            IntentFailure::QueuedAtShutdown | IntentFailure::WaitingAtShutdown
        ),
        "{b:?}"
    );
    assert!(b.to_string().contains("shut down"), "{b}");
    let after = rt
        .dispatch(&me, "ops-agent", "late", None, None)
        .await
        .err()
        .unwrap();
    assert!(after.to_string().contains("shutting down"), "{after}");
}

#[tokio::test]
async fn the_support_agent_keeps_its_chat_history_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let me = Caller::operator("alice");
    rt.dispatch_and_wait(&me, "support-agent", "My invoice is wrong")
        .await
        .unwrap();
    let second = rt
        .dispatch_and_wait(&me, "support-agent", "It was billed twice")
        .await
        .unwrap();
    rt.dispatch_and_wait(&me, "ops-agent", "deploy")
        .await
        .unwrap();
    let chat = rt
        .hub()
        .chat_history(&me, "support-agent", 10)
        .await
        .unwrap();
    let turns: Vec<(&str, &str)> = chat
        .iter()
        .map(|t| (t.role.as_str(), t.text.as_str()))
        .collect();
    assert_eq!(turns.len(), 4);
    assert_eq!(turns[0], ("user", "My invoice is wrong"));
    assert_eq!(turns[2], ("user", "It was billed twice"));
    assert_eq!(turns[3], ("assistant", second.reply.as_str()));
    assert_eq!(
        chat[3].intent_id.as_deref(),
        Some(second.intent_id.as_str())
    );
    assert!(
        rt.hub()
            .chat_history(&me, "ops-agent", 10)
            .await
            .unwrap()
            .is_empty()
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn an_agent_with_its_own_runner_uses_it_and_the_rest_keep_the_default() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: the support agent's own Ollama is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut config = support::config_in(dir.path());
    config.llm.ollama.url = url.clone();
    config.llm.retries = 0;
    config.agents.insert(
        "support-agent".into(),
        aios::config::AgentOverride {
            runner: Some(aios::config::RunnerKind::Ollama),
            ..Default::default()
        },
    );
    let rt = Runtime::start(support::options(config)).await.unwrap();
    let me = Caller::operator("alice");
    let err = rt
        .dispatch_and_wait(&me, "support-agent", "Customer 42 cannot log in")
        .await
        .expect_err("the support agent's runner is down");
    assert!(err.to_string().contains(&url), "{err}");
    let ok = rt
        .dispatch_and_wait(&me, "ops-agent", "Deploy build 7")
        .await
        .unwrap();
    assert_eq!(ok.runner, "sim");
    rt.shutdown().await;
}
