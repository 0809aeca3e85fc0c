//! The tree, its rendering and comparison, on hand-made entries shaped like the recorder's.

use serde_json::{Value, json};

use super::*;
use crate::recorder::{Entry, Kind};

fn entry(seq: u64, kind: Kind, agent: Option<&str>, intent: Option<&str>, body: Value) -> Entry {
    Entry {
        seq,
        t: format!("2026-12-01T10:{:02}:{:02}.000000Z", seq / 60, seq % 60),
        kind,
        agent_id: agent.map(str::to_string),
        intent_id: intent.map(str::to_string),
        body,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// The audit record of a dispatch (`action` `dispatch_intent` or `handoff`).
fn dispatch(
    seq: u64,
    audit_seq: u64,
    caller: &str,
    agent: &str,
    intent: &str,
    parent: Option<&str>,
    text: &str,
) -> Entry {
    let action = if caller.starts_with("agent:") {
        "handoff"
    } else {
        "dispatch_intent"
    };
    entry(
        seq,
        Kind::Audit,
        Some(agent),
        Some(intent),
        json!({"seq": audit_seq, "action": action, "agent_id": agent, "caller": caller,
               "outcome": "ok", "intent_id": intent, "trace_id": "tr", "parent_id": parent,
               "input": {"agent_id": agent, "text": text, "intent_id": intent,
                         "parent_id": parent, "depth": u64::from(parent.is_some())}}),
    )
}

fn event(seq: u64, agent: &str, intent: Option<&str>, body: Value) -> Entry {
    entry(seq, Kind::Event, Some(agent), intent, body)
}

fn tool_call(seq: u64, agent: &str, intent: &str, name: &str, args: Value, result: Value) -> Entry {
    entry(
        seq,
        Kind::ToolCall,
        Some(agent),
        Some(intent),
        json!({"call_id": format!("c{seq}"), "name": name, "origin": "builtin",
               "arguments": args, "ok": true, "result": result}),
    )
}

fn context_version(seq: u64, agent: &str, version: u64, intent: &str, text: &str) -> Entry {
    entry(
        seq,
        Kind::ContextVersion,
        Some(agent),
        None,
        json!({"agent_id": agent, "version": version, "context_id": format!("ctx{version}"),
               "created_at": "", "summary": format!("v{version}"), "text": text,
               "cause": {"caller": "cli", "intent_id": intent, "tool": null}}),
    )
}

/// tui:alice asks ops-agent (i1), which recalls, is prompted, calls `remember` (after a
/// person approves) and hands off to dev-agent (i2); both write a context.
fn chain() -> Vec<Entry> {
    vec![
        dispatch(
            1,
            10,
            "tui:alice",
            "ops-agent",
            "i1",
            None,
            "deploy staging",
        ),
        event(
            2,
            "ops-agent",
            Some("i1"),
            json!({"event": "intent_queued", "agent_id": "ops-agent", "intent_id": "i1",
                   "text": "deploy staging", "operator": "tui:alice", "trace_id": "i1", "depth": 0}),
        ),
        context_version(3, "ops-agent", 1, "i0", "old line\n"),
        entry(
            4,
            Kind::Recall,
            Some("ops-agent"),
            Some("i1"),
            json!({"query": "deploy staging", "items": [
                {"id": "m1", "kind": "fact", "score": 0.91, "text": "staging is on v2"},
                {"id": "m2", "kind": "fact", "score": 0.2, "text": "lunch is at noon"}]}),
        ),
        entry(
            5,
            Kind::ModelRequest,
            Some("ops-agent"),
            Some("i1"),
            json!({"recalled_in_prompt": ["m1"], "request": {"model": "llama3", "tools": [],
                   "messages": [{"role": "system", "content": "You are ops."},
                                {"role": "user", "content": "deploy staging"}]}}),
        ),
        event(
            6,
            "ops-agent",
            Some("i1"),
            json!({"event": "token", "agent_id": "ops-agent", "intent_id": "i1",
                   "text": "On it \u{1b}[31mnow\u{1b}]0;pwned\u{7}", "thinking": false}),
        ),
        event(
            7,
            "ops-agent",
            Some("i1"),
            json!({"event": "tool_called", "agent_id": "ops-agent", "intent_id": "i1",
                   "call_id": "c9", "name": "remember", "arguments": "{}"}),
        ),
        event(
            8,
            "ops-agent",
            Some("i1"),
            json!({"event": "approval_asked", "approval": {"id": "a1", "agent_id": "ops-agent",
                   "intent_id": "i1", "call_id": "c9", "tool": "remember", "origin": "builtin",
                   "arguments": {}, "preview": "adds a fact", "asked_at": "", "node": "vm"}}),
        ),
        event(
            9,
            "ops-agent",
            None,
            json!({"event": "approval_decided", "id": "a1", "agent_id": "ops-agent",
                   "approved": true, "by": "tui:bob"}),
        ),
        entry(
            10,
            Kind::ToolCall,
            Some("ops-agent"),
            Some("i1"),
            json!({"call_id": "c9", "name": "remember", "origin": "builtin",
                   "arguments": {"text": "staging deployed"}, "ok": true,
                   "result": {"stored": "m3"}}),
        ),
        dispatch(
            11,
            11,
            "agent:ops-agent",
            "dev-agent",
            "i2",
            Some("i1"),
            "run the tests",
        ),
        tool_call(
            12,
            "ops-agent",
            "i1",
            "handoff",
            json!({"agent_id": "dev-agent", "text": "run the tests"}),
            json!({"handed_off_to": "dev-agent", "intent_id": "i2", "trace_id": "i1"}),
        ),
        entry(
            13,
            Kind::ModelUsage,
            Some("ops-agent"),
            Some("i1"),
            json!({"usage": {"completion_tokens": 7}}),
        ),
        context_version(14, "ops-agent", 2, "i1", "old line\nnew line\n"),
        event(
            15,
            "ops-agent",
            Some("i1"),
            json!({"event": "intent_done", "agent_id": "ops-agent", "intent_id": "i1",
                   "reply": "deployed", "context_version": 2, "runner": "sim", "model": "m",
                   "tokens": 7}),
        ),
        entry(
            16,
            Kind::Bus,
            Some("ops-agent"),
            None,
            json!({"type": "message", "channel": "aios.intents.results", "envelope": {
                "v": 1, "id": "env-result", "ts": "", "kind": "result", "agent_id": "ops-agent",
                "source": {"node": "vm", "agent_id": "ops-agent"}, "parent_id": "i1",
                "payload": {}}}),
        ),
        event(
            17,
            "dev-agent",
            Some("i2"),
            json!({"event": "intent_failed", "agent_id": "dev-agent", "intent_id": "i2",
                   "error": "the model server is down"}),
        ),
        entry(
            18,
            Kind::Audit,
            Some("ops-agent"),
            None,
            json!({"seq": 30, "action": "set_goals", "agent_id": "ops-agent", "caller": "cli",
                   "outcome": "ok", "input": {}}),
        ),
    ]
}

fn labels(n: &Node) -> String {
    render(n, false)
}

fn find<'n>(tree: &'n Node, kind: NodeKind, text: &str) -> &'n Node {
    tree.walk()
        .into_iter()
        .find(|n| n.kind == kind && n.label.contains(text))
        .unwrap_or_else(|| panic!("no {kind:?} `{text}` in\n{}", labels(tree)))
}

#[test]
fn a_number_is_an_audit_seq_anything_else_an_intent() {
    assert_eq!(Target::parse(" 42 "), Target::AuditSeq(42));
    assert_eq!(Target::parse("01a2"), Target::Intent("01a2".into()));
    assert_eq!(Target::parse("-1"), Target::Intent("-1".into()));
    assert_eq!(Target::parse("+1"), Target::Intent("+1".into()));
}

#[test]
fn the_tree_runs_from_the_first_asker_down_through_every_step() {
    let entries = chain();
    let tree = build(&entries, &Target::Intent("i2".into())).unwrap();
    assert_eq!(tree.kind, NodeKind::Asker);
    assert!(tree.label.contains("tui:alice"), "{}", labels(&tree));
    let ops = find(&tree, NodeKind::Intent, "intent i1");
    // Recall: both items, one of them in the prompt, with scores.
    let recall = find(ops, NodeKind::Recall, "2 items, 1 in the prompt");
    assert!(recall.children[0].label.contains("0.910"));
    assert!(recall.children[0].label.ends_with("(in the prompt)"));
    assert!(recall.children[1].label.ends_with("(not in the prompt)"));
    let prompt = find(ops, NodeKind::Prompt, "2 messages");
    assert!(prompt.detail.as_deref().unwrap().contains("You are ops."));
    assert!(find(ops, NodeKind::Tokens, "7 tokens").seq.is_some());
    // The approved call, with who approved it and its result.
    let remember = find(ops, NodeKind::ToolCall, "remember(");
    find(remember, NodeKind::Approval, "approved by tui:bob");
    find(remember, NodeKind::ToolResult, "ok: ");
    // The handoff leads to the asked-about intent, which failed.
    let handoff = find(ops, NodeKind::ToolCall, "handoff(");
    let dev = find(handoff, NodeKind::Intent, "intent i2");
    assert!(dev.label.contains("asked about"));
    find(dev, NodeKind::Failure, "model server is down");
    // The context diff from the version before, in numbers and in full.
    let diff = find(ops, NodeKind::ContextDiff, "v1 → v2: +1 −0");
    assert!(diff.detail.as_deref().unwrap().contains("+new line"));
    find(ops, NodeKind::Reply, "deployed");
    // The one tool call recorded whole is not shown twice from its runtime event.
    assert_eq!(
        ops.children
            .iter()
            .filter(|n| n.label.starts_with("remember("))
            .count(),
        1
    );
    for n in tree.walk() {
        assert!(n.seq.is_some() && n.t.is_some(), "{}", n.label);
    }
}

#[test]
fn each_target_resolves_to_its_intent() {
    let entries = chain();
    let of = |t: Target| {
        let tree = build(&entries, &t).unwrap();
        tree.walk()
            .into_iter()
            .find(|n| n.label.contains("asked about"))
            .map(|n| n.label.clone())
            .unwrap_or_default()
    };
    assert!(of(Target::AuditSeq(11)).contains("intent i2"));
    assert!(of(Target::Envelope("env-result".into())).contains("intent i1"));
    assert!(
        of(Target::ContextVersion {
            agent_id: "ops-agent".into(),
            version: 2
        })
        .contains("intent i1")
    );
    assert!(of(Target::Agent("dev-agent".into())).contains("intent i2"));
    // A prefix that names one intent is enough.
    let mut more = chain();
    more[0] = dispatch(1, 10, "tui:alice", "ops-agent", "abc-1", None, "x");
    assert!(
        build(&more, &Target::Intent("abc".into()))
            .unwrap()
            .walk()
            .iter()
            .any(|n| n.label.contains("abc-1"))
    );
    // An audit record no intent caused is shown alone.
    let record = build(&entries, &Target::AuditSeq(30)).unwrap();
    assert_eq!(record.kind, NodeKind::Record);
    assert!(
        record.label.contains("set_goals by cli"),
        "{}",
        record.label
    );
}

#[test]
fn unknown_and_ambiguous_ids_are_clear_errors() {
    let entries = chain();
    let msg = build(&entries, &Target::Intent("nope".into()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("intent nope is not in the recording"), "{msg}");
    assert!(
        msg.contains("from seq 1 (2026-12-01T10:00:01.000000Z) to seq 18"),
        "{msg}"
    );
    let msg = build(&entries, &Target::Intent("i".into()))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("i1, i2"), "{msg}");
    let msg = build(&entries, &Target::AuditSeq(999))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("audit record #999"), "{msg}");
}

#[test]
fn rendering_neutralises_escape_sequences() {
    let tree = build(&chain(), &Target::Intent("i1".into())).unwrap();
    for expanded in [false, true] {
        let text = render(&tree, expanded);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text}"
        );
        assert!(text.contains("On it now"), "{text}");
    }
    let text = render(&tree, true);
    assert!(text.contains("┆ +new line"), "{text}");
    assert!(text.contains("├─ ") && text.contains("└─ ") && text.contains("│  "));
}

#[test]
fn flatten_lists_nodes_depth_first_with_their_depth() {
    let tree = build(&chain(), &Target::Intent("i1".into())).unwrap();
    let flat = flatten(&tree);
    assert_eq!(flat.len(), tree.walk().len());
    assert_eq!(flat[0].0, 0);
    assert_eq!(flat[1], (1, &tree.children[0]));
    assert_eq!(flat[2], (2, &tree.children[0].children[0]));
}

#[test]
fn hooks_and_their_intents_hang_under_the_intent_that_fired_them() {
    let mut entries = chain();
    entries.push(entry(
        19,
        Kind::Audit,
        Some("ops-agent"),
        None,
        json!({"seq": 31, "action": "hook_delivery", "agent_id": "ops-agent",
               "caller": "hook:ops-agent.notify", "outcome": "ok",
               "input": {"delivery_id": "d1", "hook": "notify", "target": "intent:sec-agent",
                         "event": "intent.done", "intent_id": "i1", "attempt": 1,
                         "state": "delivered"}}),
    ));
    entries.push(dispatch(
        20,
        32,
        "hook:ops-agent.notify",
        "sec-agent",
        "i3",
        Some("i1"),
        "review the deploy",
    ));
    let tree = build(&entries, &Target::Intent("i3".into())).unwrap();
    let hook = find(
        &tree,
        NodeKind::HookDelivery,
        "ops-agent.notify on intent.done",
    );
    assert!(hook.label.contains("delivered after 1 attempt"));
    find(hook, NodeKind::Intent, "intent i3");
    // A scheduled hook's intent: the schedule is who asked.
    let scheduled = vec![
        dispatch(
            1,
            1,
            "hook:ops-agent.tick",
            "ops-agent",
            "s1",
            None,
            "hourly check",
        ),
        entry(
            2,
            Kind::Audit,
            Some("ops-agent"),
            None,
            json!({"seq": 2, "action": "hook_delivery", "caller": "hook:ops-agent.tick",
                   "outcome": "ok", "input": {"event": "schedule", "delivery_id": "d"}}),
        ),
    ];
    let tree = build(&scheduled, &Target::Intent("s1".into())).unwrap();
    assert!(tree.label.contains("a schedule"), "{}", tree.label);
}

#[test]
fn built_from_the_audit_log_alone_the_root_says_so() {
    let entries = vec![
        dispatch(0, 0, "cli", "ops-agent", "i1", None, "deploy"),
        entry(
            1,
            Kind::Audit,
            Some("ops-agent"),
            Some("i1"),
            json!({"seq": 1, "action": "update_context", "agent_id": "ops-agent",
                   "caller": "agent:ops-agent", "outcome": "ok", "intent_id": "i1",
                   "input": {"bytes": 10}}),
        ),
    ];
    let tree = build(&entries, &Target::AuditSeq(1)).unwrap();
    assert!(tree.detail.as_deref().unwrap().starts_with(AUDIT_ONLY));
    find(&tree, NodeKind::ToolCall, "update_context(");
    // With a recording, the same records are not shown as steps.
    let mut recorded = entries.clone();
    recorded.push(entry(2, Kind::Stop, None, None, json!({})));
    let tree = build(&recorded, &Target::AuditSeq(1)).unwrap();
    assert!(
        tree.detail
            .as_deref()
            .is_none_or(|d| !d.contains(AUDIT_ONLY))
    );
    assert!(
        !tree
            .walk()
            .iter()
            .any(|n| n.label.starts_with("update_context("))
    );
}

#[test]
fn compare_aligns_by_kind_and_marks_what_matters() {
    let entries = chain();
    let a = build(&entries, &Target::Intent("i1".into())).unwrap();
    let mut other = chain();
    // The same run with other arguments to `remember`.
    other[9].body["arguments"] = json!({"text": "staging rolled back"});
    let b = build(&other, &Target::Intent("i1".into())).unwrap();
    let rows = compare(&a, &b);
    let differing: Vec<&Row> = rows.iter().filter(|r| r.differs).collect();
    assert_eq!(differing.len(), 1, "{rows:#?}");
    assert!(
        differing[0]
            .right
            .as_deref()
            .unwrap()
            .contains("rolled back")
    );
    // A step only one side has is a one-sided, differing row.
    let mut fewer = a.clone();
    fewer.children[0]
        .children
        .retain(|n| n.kind != NodeKind::Recall);
    let rows = compare(&fewer, &a);
    let recall = rows
        .iter()
        .find(|r| r.right.as_deref().is_some_and(|t| t.contains("recall «")))
        .unwrap();
    assert!(recall.left.is_none() && recall.differs);
    let shown = render_compare(&rows, 100);
    let line = shown.lines().find(|l| l.contains("recall «")).unwrap();
    assert!(line.trim_start().starts_with('≠'), "{line}");
    assert!(shown.lines().all(|l| l.chars().count() <= 100), "{shown}");
}

#[test]
fn a_time_range_spec_gives_the_intents_queued_in_it() {
    let entries = chain();
    let trees = resolve_spec(&entries, "10:00:00..10:00:05").unwrap();
    assert_eq!(trees.len(), 1);
    assert!(render(&trees[0], false).contains("intent i1, depth 0)  ◀ asked about"));
    let trees = resolve_spec(&entries, "2026-12-01T10:00:00Z..").unwrap();
    assert_eq!(trees.len(), 2);
    assert!(resolve_spec(&entries, "11:00..12:00").is_err());
    let msg = resolve_spec(&entries, "noon..later")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`noon` is not RFC 3339"), "{msg}");
    assert_eq!(resolve_spec(&entries, "i2").unwrap().len(), 1);
}

#[test]
fn load_finds_the_recording_or_falls_back_to_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(dir.path()), Err(WhyError::Empty(_))));
    let rec = dir.path().join("recording");
    std::fs::create_dir(&rec).unwrap();
    let lines: String = chain()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(rec.join(crate::recorder::segment_name(1)), lines).unwrap();
    for path in [
        dir.path().to_path_buf(),
        rec.clone(),
        rec.join(crate::recorder::segment_name(1)),
    ] {
        assert_eq!(load(&path).unwrap(), chain(), "{}", path.display());
    }
    let missing = load(&dir.path().join("nope")).unwrap_err().to_string();
    assert!(missing.contains("nope"), "{missing}");

    // A data dir with an audit log and no recording.
    let data = tempfile::tempdir().unwrap();
    let audit = data.path().join("audit");
    std::fs::create_dir(&audit).unwrap();
    let mut body = dispatch(0, 0, "cli", "ops-agent", "i1", None, "deploy").body;
    for (k, v) in [
        ("id", json!("r0")),
        ("timestamp", json!("2026-12-01T10:00:00.000Z")),
        ("context_id", Value::Null),
        ("duration_ms", json!(1.0)),
        ("hash", json!("")),
    ] {
        body[k] = v;
    }
    body["prev_hash"] = json!(crate::audit::GENESIS_HASH);
    let mut record: crate::audit::AuditRecord = serde_json::from_value(body).unwrap();
    let line = record.seal();
    std::fs::write(audit.join(crate::audit::segment_name(1)), line).unwrap();
    let entries = load(data.path()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].intent_id.as_deref(), Some("i1"));
    let tree = build(&entries, &Target::Intent("i1".into())).unwrap();
    assert!(tree.detail.as_deref().unwrap().starts_with(AUDIT_ONLY));
}

#[test]
fn an_intent_begun_before_the_recording_still_explains_what_is_there() {
    // The recording starts mid-intent: no dispatch, no queued event.
    let entries = vec![
        entry(0, Kind::Start, None, None, json!({})),
        tool_call(
            7,
            "ops-agent",
            "old",
            "set_goals",
            json!({"goals": ["ship"]}),
            json!({"ok": true}),
        ),
    ];
    let tree = build(&entries, &Target::Intent("old".into())).unwrap();
    assert!(tree.label.contains("does not name"), "{}", tree.label);
    assert_eq!(tree.seq, Some(7));
    let intent = &tree.children[0];
    assert!(intent.label.starts_with("ops-agent:"), "{}", intent.label);
    find(intent, NodeKind::ToolCall, "set_goals(");
}
