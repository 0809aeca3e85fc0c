//! The agent loop with tools: a model that calls tools gets their results back and answers;
//! a handoff is a new intent for another agent in the same trace; chains of handoffs stop
//! at the configured depth; a model that never stops calling tools is made to answer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::bus::{Bus, LocalBus, Received, channels};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use serde_json::json;
use support::scripted_runner::{ScriptedRunner, agent_of, call, say, tool_results};

async fn runtime(
    dir: &std::path::Path,
    runner: ScriptedRunner,
    depth: u32,
) -> (Runtime, Arc<LocalBus>) {
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let mut config = support::config_in(dir);
    config.runtime.max_handoff_depth = depth;
    config.runtime.max_tool_rounds = 3;
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        runner: Some(Arc::new(runner)),
        ..support::options(config)
    })
    .await
    .unwrap();
    (rt, bus)
}

/// The audit records of `action` (call after `shutdown`: everything is on disk).
fn audited(rt: &Runtime, action: &str) -> Vec<serde_json::Value> {
    let audit_dir = rt.info().data_dir.join("audit");
    let log = std::fs::read_to_string(
        std::fs::read_dir(&audit_dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .unwrap(),
    )
    .unwrap();
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["action"] == action)
        .collect()
}

/// Wait (bounded) until `agent` has a context version.
async fn context_of(rt: &Runtime, agent: &str) -> aios::context::ContextVersion {
    let me = Caller::operator("test");
    for _ in 0..200 {
        if let Some(v) = rt.hub().get_context(&me, agent, None).await.unwrap() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{agent} never wrote a context");
}

#[tokio::test]
async fn strategy_hands_off_to_content_in_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new(|req| match agent_of(req).as_str() {
        "strategy-agent" if tool_results(req).is_empty() => vec![
            say("Planning the launch. "),
            call(
                "c1",
                "remember",
                json!({"text": "Launch is on 1 December", "tags": ["launch"]}),
            ),
            call(
                "c2",
                "handoff",
                json!({"agent_id": "content-agent", "text": "Write the launch announcement"}),
            ),
        ],
        "strategy-agent" => {
            let results = tool_results(req);
            assert!(results[0].contains("stored"), "{results:?}");
            assert!(results[1].contains("handed_off_to"), "{results:?}");
            vec![say("Content-agent is writing the announcement.")]
        }
        "content-agent" => vec![say("Announcing our launch on 1 December!")],
        other => vec![say(&format!("nothing scripted for {other}"))],
    });
    let requests = runner.requests.clone();
    let (rt, bus) = runtime(dir.path(), runner, 3).await;
    let mut heard = bus.subscribe();
    let mut events = rt.subscribe();

    let me = Caller::operator("alice");
    let reply = rt
        .dispatch_and_wait(&me, "strategy-agent", "Plan the product launch")
        .await
        .unwrap();
    assert_eq!(reply.reply, "Content-agent is writing the announcement.");
    assert_eq!(reply.context_version, 1);
    // The tools were offered, and the second turn carried the calls and their results.
    {
        let reqs = requests.lock().unwrap();
        assert!(reqs[0].tools.iter().any(|t| t.name == "handoff"));
        let second = reqs
            .iter()
            .find(|r| agent_of(r) == "strategy-agent" && !tool_results(r).is_empty())
            .unwrap();
        let asked = second
            .messages
            .iter()
            .find(|m| !m.tool_calls.is_empty())
            .unwrap();
        assert_eq!(asked.tool_calls.len(), 2);
        assert_eq!(
            second.messages.last().unwrap().tool_call_id.as_deref(),
            Some("c2")
        );
    }

    // The content agent got its own intent and wrote its own context.
    let content = context_of(&rt, "content-agent").await;
    assert!(
        content.text.contains("Announcing our launch"),
        "{}",
        content.text
    );
    let strategy = context_of(&rt, "strategy-agent").await;
    assert!(
        strategy.text.contains("Content-agent is writing"),
        "{}",
        strategy.text
    );

    // On the bus: the handoff is an intent for content-agent in the strategy intent's trace,
    // its parent the strategy intent, sent by the strategy agent.
    let handoff = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Received::Message { channel, envelope }) = heard.recv().await
                && channel == channels::INTENTS
                && envelope.agent_id.as_deref() == Some("content-agent")
            {
                return envelope;
            }
        }
    })
    .await
    .expect("the handoff on agent.action.intents");
    assert_eq!(handoff.trace_id.as_deref(), Some(reply.intent_id.as_str()));
    assert_eq!(handoff.parent_id.as_deref(), Some(reply.intent_id.as_str()));
    assert_eq!(handoff.source.agent_id.as_deref(), Some("strategy-agent"));
    assert_eq!(handoff.payload.value()["depth"], 1);

    // The UI saw the tool calls and their results.
    let mut called = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let RuntimeEvent::ToolFinished { name, ok, .. } = ev {
            called.push((name, ok));
        }
    }
    assert_eq!(
        called,
        vec![
            ("remember".to_string(), true),
            ("handoff".to_string(), true)
        ]
    );

    rt.shutdown().await;
    // Every step audited, the handoff under the agent's own name; the chain is intact.
    let audit_dir = rt.info().data_dir.join("audit");
    let report = aios::audit::verify_dir(&audit_dir).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let handoffs = audited(&rt, "handoff");
    assert_eq!(handoffs.len(), 1, "{handoffs:?}");
    assert_eq!(handoffs[0]["caller"], "agent:strategy-agent");
    assert_eq!(handoffs[0]["agent_id"], "content-agent");
}

#[tokio::test]
async fn a_chain_of_handoffs_stops_at_the_depth_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Two agents that always pass the work to each other.
    let runner = ScriptedRunner::new(|req| {
        let me = agent_of(req);
        let other = if me == "ops-agent" {
            "dev-agent"
        } else {
            "ops-agent"
        };
        match tool_results(req).first() {
            None => vec![call(
                "h",
                "handoff",
                json!({"agent_id": other, "text": "your turn"}),
            )],
            Some(result) => vec![say(&format!("handoff result: {result}"))],
        }
    });
    let (rt, _bus) = runtime(dir.path(), runner, 2).await;
    let mut events = rt.subscribe();
    rt.dispatch_and_wait(&Caller::operator("alice"), "ops-agent", "start")
        .await
        .unwrap();
    // depth 0 (ops) → 1 (dev) → 2 (ops) → refused at 3: three intents done, the last
    // one's model told why.
    let mut done = Vec::new();
    let mut refusal = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while done.len() < 3 {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("intents finished")
            .unwrap();
        match ev {
            RuntimeEvent::IntentDone {
                agent_id, reply, ..
            } => {
                if reply.contains("over the limit") {
                    refusal = Some(reply.clone());
                }
                done.push(agent_id);
            }
            RuntimeEvent::IntentFailed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    assert_eq!(done, vec!["ops-agent", "dev-agent", "ops-agent"]);
    let refusal = refusal.expect("the deepest agent was told the chain is too deep");
    assert!(refusal.contains("runtime.max_handoff_depth"), "{refusal}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(ev) = events.try_recv() {
        assert!(
            !matches!(ev, RuntimeEvent::IntentQueued { .. }),
            "no fourth intent: {ev:?}"
        );
    }
    assert_eq!(context_of(&rt, "ops-agent").await.version, 2);
    assert_eq!(context_of(&rt, "dev-agent").await.version, 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_tool_calls_are_told_to_the_model_and_endless_calls_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    // Calls a tool that does not exist, then one with bad arguments, then keeps calling
    // recall for as long as tools are offered.
    let runner = ScriptedRunner::new(|req| {
        if req.tools.is_empty() {
            return vec![say(&format!(
                "answering after {} tool results",
                tool_results(req).len()
            ))];
        }
        match tool_results(req).len() {
            0 => vec![call("a", "launch_missiles", json!({}))],
            1 => vec![call("b", "remember", json!({"text": ["not", "text"]}))],
            _ => vec![call("c", "recall", json!({"query": "anything"}))],
        }
    });
    let requests = runner.requests.clone();
    let (rt, _bus) = runtime(dir.path(), runner, 3).await;
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "sec-agent", "check the keys")
        .await
        .unwrap();
    // max_tool_rounds = 3: three rounds of calls, then a turn with no tools offered.
    assert_eq!(reply.reply, "answering after 3 tool results");
    let reqs = requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 4);
    let results = tool_results(reqs.last().unwrap());
    assert!(
        results[0].contains("the tool `launch_missiles` is not one you may call"),
        "{results:?}"
    );
    assert!(
        results[1].contains("bad arguments for `remember`"),
        "{results:?}"
    );
    assert!(
        results[2].starts_with('['),
        "recall returns a list: {results:?}"
    );
    rt.shutdown().await;
    let refused = audited(&rt, "tool_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["caller"], "agent:sec-agent");
    assert_eq!(refused[0]["outcome"], "error");
    assert_eq!(refused[0]["input"]["tool"], "launch_missiles");
}

#[tokio::test]
async fn a_tool_the_agent_does_not_list_is_refused_audited_and_has_no_effect() {
    let dir = tempfile::tempdir().unwrap();
    // ops-agent's list has no set_goals: the model asks for it anyway, then answers.
    let runner = ScriptedRunner::new(|req| match tool_results(req).len() {
        0 => vec![call("g", "set_goals", json!({"goals": ["take over"]}))],
        _ => vec![say(&tool_results(req)[0])],
    });
    let requests = runner.requests.clone();
    let (rt, _bus) = runtime(dir.path(), runner, 3).await;
    let before = rt
        .hub()
        .get_agent(&Caller::operator("t"), "ops-agent")
        .await
        .unwrap()
        .goals;
    let reply = rt
        .dispatch_and_wait(
            &Caller::operator("alice"),
            "ops-agent",
            "rewrite your goals",
        )
        .await
        .unwrap();
    assert!(
        reply
            .reply
            .contains("the tool `set_goals` is not one you may call"),
        "{}",
        reply.reply
    );
    let offered: Vec<String> = requests.lock().unwrap()[0]
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(!offered.contains(&"set_goals".to_string()), "{offered:?}");
    let after = rt
        .hub()
        .get_agent(&Caller::operator("t"), "ops-agent")
        .await
        .unwrap()
        .goals;
    assert_eq!(before, after, "the refused call changed nothing");
    rt.shutdown().await;
    let refused = audited(&rt, "tool_refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["agent_id"], "ops-agent");
    assert_eq!(refused[0]["input"]["arguments"]["goals"][0], "take over");
    assert!(audited(&rt, "set_goals").is_empty());
}

#[tokio::test]
async fn a_looping_model_is_stopped_told_and_marked_for_attention() {
    let dir = tempfile::tempdir().unwrap();
    // The same recall, again and again, for as long as tools are offered.
    let runner = ScriptedRunner::new(|req| {
        if req.tools.is_empty() || tool_results(req).len() >= 3 {
            return vec![say(&tool_results(req).last().cloned().unwrap_or_default())];
        }
        vec![call("r", "recall", json!({"query": "same thing"}))]
    });
    let (rt, _bus) = runtime(dir.path(), runner, 3).await;
    let mut events = rt.subscribe();
    let reply = rt
        .dispatch_and_wait(&Caller::operator("alice"), "ops-agent", "find it")
        .await
        .unwrap();
    assert!(
        reply.reply.contains("same arguments 3 times"),
        "{}",
        reply.reply
    );
    let mut marked = false;
    while let Ok(ev) = events.try_recv() {
        if let RuntimeEvent::Attention {
            agent_id, reason, ..
        } = ev
        {
            assert_eq!(agent_id, "ops-agent");
            assert!(reason.starts_with("looping"), "{reason}");
            marked = true;
        }
    }
    assert!(marked, "no attention event");
    rt.shutdown().await;
}
