//! `aios why` on a real runtime's recording: a handoff chain operator → strategy-agent →
//! content-agent is explained step by step, from the intent and from the handoff's audit
//! record; the CLI prints it (and JSON), says so when an id is unknown; two intents whose
//! tool calls differ compare with that row marked.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use aios::recorder::{Entry, Kind, Range};
use aios::why::{self, Node, NodeKind, Target};
use serde_json::json;
use support::scripted_runner::{ScriptedRunner, call, say, tool_results};

async fn start(dir: &Path, runner: ScriptedRunner) -> Runtime {
    let config = support::config_in(dir);
    Runtime::start(RuntimeOptions {
        runner: Some(Arc::new(runner)),
        ..support::options(config)
    })
    .await
    .unwrap()
}

/// Wait (bounded) until `agent` has finished an intent.
async fn done_by(events: &mut tokio::sync::broadcast::Receiver<RuntimeEvent>, agent: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(RuntimeEvent::IntentDone { agent_id, .. }) if agent_id == agent => return,
                Ok(RuntimeEvent::IntentFailed { error, .. }) => panic!("{error}"),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{agent} never finished its intent"));
}

fn recording(data: &Path) -> Vec<Entry> {
    aios::recorder::read(&data.join("recording"), Range::default())
        .unwrap()
        .entries
}

/// The id of the intent queued for `agent` (the first one).
fn intent_of(entries: &[Entry], agent: &str) -> String {
    entries
        .iter()
        .find(|e| {
            e.kind == Kind::Event
                && e.body["event"] == "intent_queued"
                && e.body["agent_id"] == agent
        })
        .and_then(|e| e.body["intent_id"].as_str())
        .unwrap_or_else(|| panic!("no intent of {agent} in the recording"))
        .to_string()
}

/// The first node, depth first, of `kind` whose label contains `text`.
fn find<'n>(tree: &'n Node, kind: NodeKind, text: &str) -> Option<&'n Node> {
    tree.walk()
        .into_iter()
        .find(|n| n.kind == kind && n.label.contains(text))
}

/// Operator alice asks strategy-agent, which hands off to content-agent: the runtime is
/// shut down and its data dir returned.
async fn handoff_chain(dir: &Path) -> std::path::PathBuf {
    let runner = support::scripted_runner::launch_handoff();
    let rt = start(dir, runner).await;
    let mut events = rt.subscribe();
    rt.dispatch_and_wait(
        &Caller::operator("alice"),
        "strategy-agent",
        "Plan the product launch",
    )
    .await
    .unwrap();
    done_by(&mut events, "content-agent").await;
    let data = rt.info().data_dir.clone();
    rt.shutdown().await;
    data
}

#[tokio::test]
async fn the_why_of_a_handed_off_intent_names_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = handoff_chain(dir.path()).await;
    let entries = recording(&data);
    let content = intent_of(&entries, "content-agent");
    let strategy = intent_of(&entries, "strategy-agent");

    let tree = why::build(&entries, &Target::Intent(content.clone())).unwrap();
    let text = why::render(&tree, false);
    // Who asked first: the operator, at the root.
    assert_eq!(tree.kind, NodeKind::Asker, "{text}");
    assert!(tree.label.contains("operator:alice"), "{text}");
    // The strategy intent, its handoff tool call, the handoff, the content intent under it.
    let s = find(&tree, NodeKind::Intent, &strategy).expect(&text);
    assert!(s.label.contains("Plan the product launch"), "{text}");
    let h = find(s, NodeKind::ToolCall, "handoff(").expect(&text);
    assert!(h.label.contains("content-agent"), "{text}");
    let handoff = find(h, NodeKind::Handoff, &content).expect(&text);
    let c = find(handoff, NodeKind::Intent, &content).expect(&text);
    assert!(c.label.contains("Write the launch announcement"), "{text}");
    assert!(c.label.contains("asked about"), "{text}");
    // The content intent's own steps: its prompt, its tokens, the context it wrote.
    assert!(find(c, NodeKind::Prompt, "").is_some(), "{text}");
    let tokens = find(c, NodeKind::Tokens, "").expect(&text);
    assert!(
        tokens
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("Announcing our launch"),
        "{text}"
    );
    let diff = find(c, NodeKind::ContextDiff, "content-agent").expect(&text);
    assert!(diff.label.contains("v0 → v1"), "{text}");
    assert!(
        diff.detail.as_deref().unwrap_or("").contains("+"),
        "{diff:?}"
    );
    // The strategy intent's diff too, and its result said where the work went.
    assert!(
        find(s, NodeKind::ContextDiff, "strategy-agent").is_some(),
        "{text}"
    );
    assert!(
        find(h, NodeKind::ToolResult, "handed_off_to").is_some(),
        "{text}"
    );
    // Every node says which recording entry it came from.
    for n in tree.walk() {
        assert!(n.seq.is_some(), "no seq on {:?}", n.label);
    }
    // The rendered tree is a tree.
    assert!(text.contains("└─ "), "{text}");

    // From the handoff's audit record: the content intent (the handoff's new intent).
    let handoff_record = entries
        .iter()
        .find(|e| e.kind == Kind::Audit && e.body["action"] == "handoff")
        .expect("the handoff is audited");
    let seq = handoff_record.body["seq"].as_u64().unwrap();
    let from_audit = why::build(&entries, &Target::parse(&seq.to_string())).unwrap();
    assert_eq!(from_audit, tree);

    // A short prefix of an id is enough when it names one intent; an unknown id is an
    // error naming it and how far the recording reaches.
    let err = why::build(&entries, &Target::parse("no-such-intent")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no-such-intent"), "{msg}");
    assert!(msg.contains("reaches from seq"), "{msg}");
}

#[tokio::test]
async fn aios_why_prints_the_chain_and_json_and_refuses_unknown_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = handoff_chain(&dir.path().join("data")).await;
    let content = intent_of(&recording(&data), "content-agent");

    let out = support::aios(dir.path(), &data)
        .args(["why", &content])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "asked by operator:alice",
        "strategy-agent: «Plan the product launch»",
        "handoff(",
        "content-agent: «Write the launch announcement»",
        "context content-agent v0 → v1",
    ] {
        assert!(stdout.contains(step), "no `{step}` in:\n{stdout}");
    }

    let out = support::aios(dir.path(), &data)
        .args(["why", &content, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tree["kind"], "asker");
    assert!(tree.to_string().contains(&content));

    let out = support::aios(dir.path(), &data)
        .args(["why", "0badc0de-not-an-intent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0badc0de-not-an-intent") && stderr.contains("not in the recording"),
        "{stderr}"
    );
}

#[tokio::test]
async fn intents_whose_tool_arguments_differ_compare_with_that_row_marked() {
    let dir = tempfile::tempdir().unwrap();
    // The agent remembers what it was asked: the arguments differ, the rest is alike.
    let runner = ScriptedRunner::new(|req| {
        if tool_results(req).is_empty() {
            let asked = req
                .messages
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default();
            vec![call("m", "remember", json!({"text": asked}))]
        } else {
            vec![say("Noted.")]
        }
    });
    let rt = start(dir.path(), runner).await;
    let me = Caller::operator("alice");
    let a = rt
        .dispatch_and_wait(&me, "ops-agent", "staging runs v1")
        .await
        .unwrap();
    let b = rt
        .dispatch_and_wait(&me, "ops-agent", "staging runs v2")
        .await
        .unwrap();
    let data = rt.info().data_dir.clone();
    rt.shutdown().await;
    let entries = recording(&data);

    let left = why::resolve_spec(&entries, &a.intent_id).unwrap();
    let right = why::resolve_spec(&entries, &b.intent_id).unwrap();
    let rows = why::compare(&left[0], &right[0]);
    let remember = rows
        .iter()
        .find(|r| r.left.as_deref().is_some_and(|l| l.contains("remember(")))
        .expect("the tool call rows are aligned");
    assert!(remember.differs, "{rows:#?}");
    assert!(
        remember
            .right
            .as_deref()
            .unwrap()
            .contains("staging runs v2")
    );
    // What is alike is not marked: the prompt rows line up unmarked.
    let prompt = rows
        .iter()
        .find(|r| {
            r.left
                .as_deref()
                .is_some_and(|l| l.contains("prompt (round 1)"))
        })
        .unwrap();
    assert!(!prompt.differs, "{rows:#?}");
    // What recall found differs too (the second intent recalls the first's fact).
    let recall = rows
        .iter()
        .find(|r| r.left.as_deref().is_some_and(|l| l.contains("recall «")))
        .unwrap();
    assert!(recall.differs, "{rows:#?}");
    let shown = why::render_compare(&rows, 160);
    assert!(
        shown
            .lines()
            .any(|l| l.contains("remember(") && l.contains(" ≠ ")),
        "{shown}"
    );

    // As `aios replay --diff` runs it: found, and an unknown spec fails.
    use aios::cli::why::diff_command;
    use std::process::ExitCode;
    assert_eq!(
        diff_command(&data, &a.intent_id, &b.intent_id, true),
        ExitCode::SUCCESS
    );
    assert_eq!(
        diff_command(&data, &a.intent_id, "no-such-intent", false),
        ExitCode::FAILURE
    );

    // A time range holding both intents gives both trees, in order.
    let first = entries.first().unwrap().t.clone();
    let last = entries.last().unwrap().t.clone();
    let both = why::resolve_spec(&entries, &format!("{first}..{last}")).unwrap();
    assert_eq!(both.len(), 2);
    assert!(why::render(&both[1], false).contains(&b.intent_id));
}
