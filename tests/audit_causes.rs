//! Causes on the record: every audit record a call writes on behalf of an intent names the
//! intent, its chain and its parent, and `context_id` is the agent's context in force
//! when the call ran (null only before its first version).

mod support;

use aios::audit::read_dir;
use aios::context::Caller;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatches_write_records_that_name_their_intent_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let rt = support::runtime_in(dir.path()).await;
    let alice = Caller::operator("alice");
    let first = rt
        .dispatch_and_wait(&alice, "support-agent", "Customer 42 cannot log in")
        .await
        .unwrap();
    let second = rt
        .dispatch_and_wait(&alice, "support-agent", "Customer 43 too")
        .await
        .unwrap();
    rt.hub().audit_log().flush().await.unwrap();
    let records = read_dir(&dir.path().join("audit")).unwrap().records;
    let of = |id: &str| -> Vec<&aios::audit::AuditRecord> {
        records
            .iter()
            .filter(|r| r.intent_id.as_deref() == Some(id))
            .collect()
    };
    for reply in [&first, &second] {
        let rs = of(&reply.intent_id);
        let actions: Vec<&str> = rs.iter().map(|r| r.action.as_str()).collect();
        // The dispatch, the turn's reads, its writes and its trace all name the intent.
        for a in [
            "dispatch_intent",
            "recall",
            "get_agent",
            "update_context",
            "remember",
            "append_trace",
        ] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        for r in &rs {
            // An operator's intent starts its own chain.
            assert_eq!(
                r.trace_id.as_deref(),
                Some(reply.intent_id.as_str()),
                "{r:?}"
            );
            assert_eq!(r.parent_id, None);
        }
    }
    // Every record about the agent after its first version carries a context id.
    let first_version = records
        .iter()
        .position(|r| {
            r.action == "update_context" && r.agent_id.as_deref() == Some("support-agent")
        })
        .unwrap();
    let nulls: Vec<&str> = records[first_version..]
        .iter()
        .filter(|r| r.agent_id.as_deref() == Some("support-agent") && r.context_id.is_none())
        .map(|r| r.action.as_str())
        .collect();
    assert!(
        nulls.is_empty(),
        "records without the context in force: {nulls:?}"
    );
    // The second intent's records ran under the first intent's version until its own.
    let second_recall = of(&second.intent_id)
        .into_iter()
        .find(|r| r.action == "recall")
        .unwrap();
    assert_eq!(
        second_recall.context_id.as_deref(),
        Some(first.context_id.as_str())
    );
    // And the chain still verifies with the new fields.
    let report = aios::audit::verify_dir(&dir.path().join("audit")).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_bad);
    rt.shutdown().await;
}
