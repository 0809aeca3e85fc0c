//! The ContextHub through a running runtime: versions, diffs, concurrency, persistence,
//! and the audit trail every call leaves.

mod support;

use std::collections::BTreeSet;

use aios::audit::Outcome;
use aios::context::{Caller, Cause, DiffLineKind, HubError, ProtocolHook};
use support::runtime_in;

fn cause() -> Cause {
    Cause {
        caller: "operator:test".into(),
        intent_id: None,
        tool: None,
    }
}

#[tokio::test]
async fn context_update_then_diff_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let hub = rt.hub();
    let me = Caller::operator("test");
    let v1 = hub
        .update_context(
            &me,
            "support-agent",
            "line a\nline b\nline c\n".into(),
            "first".into(),
            cause(),
        )
        .await
        .unwrap();
    let v2 = hub
        .update_context(
            &me,
            "support-agent",
            "line a\nline B\nline c\nline d\n".into(),
            "second".into(),
            cause(),
        )
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_ne!(v1.context_id, v2.context_id);

    let latest = hub
        .get_context(&me, "support-agent", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest, v2);
    let d = hub.diff_context(&me, "support-agent", 1, 2).await.unwrap();
    assert_eq!((d.added, d.removed), (2, 1));
    assert!(d.unified.contains("-line b\n+line B\n"), "{}", d.unified);
    let removed: Vec<_> = d.hunks[0]
        .lines
        .iter()
        .filter(|l| l.kind == DiffLineKind::Removed)
        .map(|l| (l.old_line, l.text.as_str()))
        .collect();
    assert_eq!(removed, vec![(Some(2), "line b")]);

    // Version 0 is the empty context before version 1.
    let from_empty = hub.diff_context(&me, "support-agent", 0, 1).await.unwrap();
    assert_eq!(from_empty.added, 3);

    let missing = hub
        .diff_context(&me, "support-agent", 1, 9)
        .await
        .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("no context version 9 (kept: 1..2)"),
        "{missing}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let per_writer = 25;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let hub = rt.hub().clone();
        tasks.push(tokio::spawn(async move {
            let me = Caller::operator(&format!("writer-{w}"));
            let mut seen = Vec::new();
            for i in 0..per_writer {
                let v = hub
                    .update_context(
                        &me,
                        "ops-agent",
                        format!("writer {w} update {i}\n"),
                        format!("w{w} #{i}"),
                        cause(),
                    )
                    .await
                    .unwrap();
                seen.push(v.version);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seen = t.await.unwrap();
        // Each writer sees its own versions strictly increasing.
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        all.extend(seen);
    }
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(
        unique.len(),
        8 * per_writer,
        "two writers got the same version"
    );
    assert_eq!(
        unique.iter().copied().collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    let versions = rt
        .hub()
        .list_versions(&Caller::operator("t"), "ops-agent")
        .await
        .unwrap();
    assert_eq!(versions.len(), 100, "keeps runtime.context_versions = 100");
    assert_eq!(versions.last().unwrap().version, 200);
    rt.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let me = Caller::operator("test");
    {
        let rt = runtime_in(dir.path()).await;
        let hub = rt.hub();
        hub.set_goals(
            &me,
            "billing-agent",
            vec!["close_q4".into(), " audit_invoices ".into()],
        )
        .await
        .unwrap();
        hub.set_persona_traits(&me, "billing-agent", vec!["exact".into()])
            .await
            .unwrap();
        hub.add_protocol_hook(
            &me,
            "billing-agent",
            ProtocolHook {
                name: "notify-sec".into(),
                on: "intent.done".into(),
                action: "intent:sec-agent Review {reply}".into(),
            },
        )
        .await
        .unwrap();
        hub.append_trace(&me, "billing-agent", "note", "checked ledger", None)
            .await
            .unwrap();
        hub.update_context(
            &me,
            "billing-agent",
            "ledger ok\n".into(),
            "s".into(),
            cause(),
        )
        .await
        .unwrap();
        rt.shutdown().await;
    }
    let rt = runtime_in(dir.path()).await;
    let hub = rt.hub();
    let state = hub.get_agent(&me, "billing-agent").await.unwrap();
    assert_eq!(state.goals, vec!["close_q4", "audit_invoices"]);
    assert_eq!(state.persona_traits, vec!["exact"]);
    assert_eq!(state.protocol_hooks.len(), 1);
    assert_eq!(state.context_version, Some(1));
    let traces = hub.traces(&me, "billing-agent", 10).await.unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].summary, "checked ledger");
    let ctx = hub
        .get_context(&me, "billing-agent", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ctx.text, "ledger ok\n");
    rt.shutdown().await;
}

#[tokio::test]
async fn bad_calls_are_clear_errors_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let mut audit = rt.hub().audit_log().subscribe();
    let me = Caller::operator("test");
    let err = rt.hub().get_goals(&me, "suport-agent").await.unwrap_err();
    assert!(matches!(err, HubError::UnknownAgent { .. }));
    assert!(
        err.to_string().contains("did you mean `support-agent`"),
        "{err}"
    );

    let hook = ProtocolHook {
        name: "h".into(),
        on: "intent.done".into(),
        action: "webhook:http://127.0.0.1:9/h".into(),
    };
    rt.hub()
        .add_protocol_hook(&me, "sec-agent", hook.clone())
        .await
        .unwrap();
    let dup = rt
        .hub()
        .add_protocol_hook(&me, "sec-agent", hook)
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("exists"), "{dup}");

    let first = audit.recv().await.unwrap();
    assert_eq!(first.action, "get_goals");
    assert_eq!(first.outcome, Outcome::Error);
    assert_eq!(first.agent_id.as_deref(), Some("suport-agent"));
    assert_eq!(first.caller, "operator:test");
    assert!(
        first
            .error
            .as_deref()
            .unwrap_or("")
            .contains("unknown agent")
    );
    let second = audit.recv().await.unwrap();
    assert_eq!(
        (second.action.as_str(), &second.outcome),
        ("add_protocol_hook", &Outcome::Ok)
    );
    let third = audit.recv().await.unwrap();
    assert_eq!(third.outcome, Outcome::Error);
    rt.shutdown().await;
}

#[tokio::test]
async fn every_hub_call_writes_one_audit_record_with_the_spec_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime_in(dir.path()).await;
    let mut audit = rt.hub().audit_log().subscribe();
    let me = Caller::operator("test");
    let hub = rt.hub();
    hub.set_goals(&me, "seo-agent", vec!["rank".into()])
        .await
        .unwrap();
    let v = hub
        .update_context(&me, "seo-agent", "x\n".into(), "s".into(), cause())
        .await
        .unwrap();
    hub.remember(&me, "seo-agent", "fact", "keyword audit done", vec![])
        .await
        .unwrap();
    let found = hub
        .recall(&me, "seo-agent", "keyword audit", 3, None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);

    let actions: Vec<_> = (0..4).map(|_| audit.try_recv().unwrap()).collect();
    let names: Vec<_> = actions.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        names,
        vec!["set_goals", "update_context", "remember", "recall"]
    );
    assert!(audit.try_recv().is_err(), "one record per call");
    let update = &actions[1];
    assert_eq!(update.context_id.as_deref(), Some(v.context_id.as_str()));
    let json = serde_json::to_value(update.as_ref()).unwrap();
    for field in [
        "timestamp",
        "agent_id",
        "action",
        "input",
        "context_id",
        "caller",
        "outcome",
        "prev_hash",
        "hash",
    ] {
        assert!(
            json.get(field).is_some(),
            "audit record lacks `{field}`: {json}"
        );
    }
    assert_eq!(actions[1].prev_hash, actions[0].hash, "records are chained");
    rt.shutdown().await;
}
