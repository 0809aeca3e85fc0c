//! The `Store` contract: what every state backend (embedded, Redis, …) must do, written
//! once and run against each. The embedded store is the reference behaviour.
//!
//! A backend's test supplies an opener, `open(name)`: a name not used before gives an empty
//! store; two names give two stores that see nothing of each other (two data dirs, or two
//! key prefixes on one Redis).

#![allow(dead_code)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use aios::context::{Cause, NewContext, Part, Store, StoreError, Trace};
use serde_json::{Value, json};

/// Run every check; a failure names the check.
pub async fn run_contract<F, Fut>(open: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let checks: [(&str, Check); 13] = [
        (
            "chat_turns_number_from_one_keep_the_newest_and_round_trip",
            |s| Box::pin(chat_turns_number_from_one_keep_the_newest_and_round_trip(s)),
        ),
        ("a_missing_part_is_none", |s| {
            Box::pin(a_missing_part_is_none(s))
        }),
        ("modify_creates_then_replaces", |s| {
            Box::pin(modify_creates_then_replaces(s))
        }),
        ("a_modifier_error_propagates_and_leaves_the_value", |s| {
            Box::pin(a_modifier_error_propagates_and_leaves_the_value(s))
        }),
        ("traces_number_from_one_and_keep_the_newest", |s| {
            Box::pin(traces_number_from_one_and_keep_the_newest(s))
        }),
        ("traces_limit_gives_the_newest_oldest_first", |s| {
            Box::pin(traces_limit_gives_the_newest_oldest_first(s))
        }),
        ("context_versions_number_from_one", |s| {
            Box::pin(context_versions_number_from_one(s))
        }),
        ("context_text_round_trips", |s| {
            Box::pin(context_text_round_trips(s))
        }),
        ("context_pruning_keeps_the_newest", |s| {
            Box::pin(context_pruning_keeps_the_newest(s))
        }),
        ("agents_are_isolated", |s| Box::pin(agents_are_isolated(s))),
        ("concurrent_pushes_lose_no_version", |s| {
            Box::pin(concurrent_pushes_lose_no_version(s))
        }),
        ("concurrent_modifies_lose_no_update", |s| {
            Box::pin(concurrent_modifies_lose_no_update(s))
        }),
        ("concurrent_traces_lose_no_seq", |s| {
            Box::pin(concurrent_traces_lose_no_seq(s))
        }),
    ];
    for (name, check) in checks {
        eprintln!("contract: {name}");
        check(open(name.to_string()).await).await;
    }
    eprintln!("contract: stores_are_isolated");
    stores_are_isolated(&open).await;
}

type Check = fn(Arc<dyn Store>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

pub fn trace(kind: &str, summary: &str) -> Trace {
    Trace {
        seq: 0,
        ts: aios::context::now_rfc3339(),
        kind: kind.to_string(),
        summary: summary.to_string(),
        intent_id: None,
    }
}

pub fn new_context(text: &str) -> NewContext {
    NewContext {
        text: text.to_string(),
        summary: format!("set to {} line(s)", text.lines().count()),
        cause: Cause {
            caller: "operator:test".into(),
            intent_id: Some("intent-1".into()),
            tool: Some("update_context".into()),
        },
    }
}

/// A `Modifier` that appends `item` to a JSON list (a missing value is an empty list).
pub fn append_to_list(item: Value) -> aios::context::Modifier {
    Arc::new(move |current: Option<Value>| {
        let mut list = match current {
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(StoreError::Rejected(format!("not a list: {other}")));
            }
            None => Vec::new(),
        };
        list.push(item.clone());
        Ok(Value::Array(list))
    })
}

async fn a_missing_part_is_none(store: Arc<dyn Store>) {
    for part in [Part::Goals, Part::PersonaTraits, Part::ProtocolHooks] {
        assert_eq!(store.get("ops-agent", part).await.expect("get"), None);
    }
    assert!(
        store
            .traces("ops-agent", 10)
            .await
            .expect("traces")
            .is_empty()
    );
    assert_eq!(
        store.context("ops-agent", None).await.expect("context"),
        None
    );
    assert_eq!(
        store.context("ops-agent", Some(1)).await.expect("context"),
        None
    );
    assert!(
        store
            .versions("ops-agent")
            .await
            .expect("versions")
            .is_empty()
    );
}

async fn modify_creates_then_replaces(store: Arc<dyn Store>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let created = store
        .modify(
            "ops-agent",
            Part::Goals,
            Arc::new(move |current| {
                record.lock().expect("lock").push(current);
                Ok(json!(["keep the lights on"]))
            }),
        )
        .await
        .expect("create");
    assert_eq!(created, json!(["keep the lights on"]));
    assert_eq!(seen.lock().expect("lock").last(), Some(&None));

    let record = seen.clone();
    let replaced = store
        .modify(
            "ops-agent",
            Part::Goals,
            Arc::new(move |current| {
                record.lock().expect("lock").push(current);
                Ok(json!({"goals": ["ship"], "n": 2, "nested": {"ü": "\"quoted\"\n"}}))
            }),
        )
        .await
        .expect("replace");
    assert_eq!(
        seen.lock().expect("lock").last(),
        Some(&Some(json!(["keep the lights on"])))
    );
    assert_eq!(
        store.get("ops-agent", Part::Goals).await.expect("get"),
        Some(replaced)
    );
    // The other parts are their own values.
    assert_eq!(
        store
            .get("ops-agent", Part::PersonaTraits)
            .await
            .expect("get"),
        None
    );
    store
        .modify(
            "ops-agent",
            Part::PersonaTraits,
            Arc::new(|_| Ok(json!(["calm"]))),
        )
        .await
        .expect("traits");
    store
        .modify(
            "ops-agent",
            Part::ProtocolHooks,
            Arc::new(|_| Ok(json!([{"name": "h", "on": "intent.received", "action": "x"}]))),
        )
        .await
        .expect("hooks");
    assert_eq!(
        store
            .get("ops-agent", Part::PersonaTraits)
            .await
            .expect("get"),
        Some(json!(["calm"]))
    );
    assert_eq!(
        store
            .get("ops-agent", Part::ProtocolHooks)
            .await
            .expect("get"),
        Some(json!([{"name": "h", "on": "intent.received", "action": "x"}]))
    );
    assert!(
        store
            .get("ops-agent", Part::Goals)
            .await
            .expect("get")
            .is_some_and(|v| v["n"] == 2)
    );
}

async fn a_modifier_error_propagates_and_leaves_the_value(store: Arc<dyn Store>) {
    store
        .modify("sec-agent", Part::Goals, Arc::new(|_| Ok(json!(["audit"]))))
        .await
        .expect("set");
    let err = store
        .modify(
            "sec-agent",
            Part::Goals,
            Arc::new(|_| Err(StoreError::Rejected("no goals today".into()))),
        )
        .await
        .expect_err("the modifier refuses");
    assert!(
        matches!(&err, StoreError::Rejected(m) if m == "no goals today"),
        "{err:?}"
    );
    assert_eq!(
        store.get("sec-agent", Part::Goals).await.expect("get"),
        Some(json!(["audit"]))
    );
    // Refusing to create leaves nothing behind either.
    store
        .modify(
            "sec-agent",
            Part::PersonaTraits,
            Arc::new(|_| Err(StoreError::Rejected("no".into()))),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        store
            .get("sec-agent", Part::PersonaTraits)
            .await
            .expect("get"),
        None
    );
}

async fn chat_turns_number_from_one_keep_the_newest_and_round_trip(store: Arc<dyn Store>) {
    let turn = |role: &str, text: &str| aios::context::ChatTurn {
        seq: 0,
        ts: "2026-11-24T12:00:00.000Z".into(),
        role: role.into(),
        text: text.into(),
        intent_id: Some("i-1".into()),
    };
    let mut seqs = Vec::new();
    for (i, role) in ["user", "assistant", "user", "assistant"]
        .iter()
        .enumerate()
    {
        seqs.push(
            store
                .append_chat("support-agent", turn(role, &format!("turn \"{i}\" ✓")), 3)
                .await
                .expect("append chat"),
        );
    }
    assert_eq!(seqs, [1, 2, 3, 4]);
    let kept = store.chat("support-agent", 10).await.expect("chat");
    assert_eq!(kept.iter().map(|t| t.seq).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(kept[2].text, "turn \"3\" ✓");
    assert_eq!(kept[2].role, "assistant");
    assert_eq!(kept[2].intent_id.as_deref(), Some("i-1"));
    let newest = store.chat("support-agent", 1).await.expect("chat");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].seq, 4);
    assert!(store.chat("ops-agent", 10).await.expect("chat").is_empty());
}

async fn traces_number_from_one_and_keep_the_newest(store: Arc<dyn Store>) {
    let mut seqs = Vec::new();
    for i in 1..=5 {
        seqs.push(
            store
                .append_trace("ops-agent", trace("intent.handled", &format!("t{i}")), 3)
                .await
                .expect("append"),
        );
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let kept = store.traces("ops-agent", 100).await.expect("traces");
    assert_eq!(
        kept.iter().map(|t| t.seq).collect::<Vec<_>>(),
        [3, 4, 5],
        "keep = 3 keeps the newest three"
    );
    assert_eq!(
        kept.iter().map(|t| t.summary.as_str()).collect::<Vec<_>>(),
        ["t3", "t4", "t5"]
    );
    // Numbers go on after pruning; keep 0 still keeps the newest one.
    let seq = store
        .append_trace("ops-agent", trace("tool.call", "t6"), 0)
        .await
        .expect("append");
    assert_eq!(seq, 6);
    let kept = store.traces("ops-agent", 100).await.expect("traces");
    assert_eq!(kept.iter().map(|t| t.seq).collect::<Vec<_>>(), [6]);
}

async fn traces_limit_gives_the_newest_oldest_first(store: Arc<dyn Store>) {
    let mut sent = Vec::new();
    for i in 1..=5u64 {
        let mut t = trace("tool.call", &format!("step {i}: \"quoted\" {{braces}} ✓"));
        t.intent_id = (i % 2 == 0).then(|| format!("intent-{i}"));
        store
            .append_trace("dev-agent", t.clone(), 100)
            .await
            .expect("append");
        t.seq = i;
        sent.push(t);
    }
    assert_eq!(
        store.traces("dev-agent", 2).await.expect("traces"),
        sent[3..].to_vec()
    );
    assert_eq!(
        store.traces("dev-agent", 5).await.expect("traces"),
        sent.clone()
    );
    assert_eq!(
        store.traces("dev-agent", usize::MAX).await.expect("traces"),
        sent
    );
    assert!(
        store
            .traces("dev-agent", 0)
            .await
            .expect("traces")
            .is_empty()
    );
}

async fn context_versions_number_from_one(store: Arc<dyn Store>) {
    let mut pushed = Vec::new();
    for i in 1..=3 {
        let v = store
            .push_context(
                "ops-agent",
                new_context(&format!("line a\nversion {i}")),
                100,
            )
            .await
            .expect("push");
        assert_eq!(v.version, i);
        assert_eq!(v.agent_id, "ops-agent");
        assert_eq!(v.text, format!("line a\nversion {i}"));
        assert_eq!(v.cause, new_context("").cause);
        let id = uuid::Uuid::parse_str(&v.context_id).expect("context_id is a UUID");
        assert_eq!(id.get_version_num(), 7, "context_id is a UUIDv7");
        chrono::DateTime::parse_from_rfc3339(&v.created_at).expect("created_at is RFC 3339");
        pushed.push(v);
    }
    let ids: HashSet<_> = pushed.iter().map(|v| v.context_id.clone()).collect();
    assert_eq!(ids.len(), 3, "context ids are unique");

    assert_eq!(
        store.context("ops-agent", None).await.expect("latest"),
        Some(pushed[2].clone())
    );
    for v in &pushed {
        assert_eq!(
            store
                .context("ops-agent", Some(v.version))
                .await
                .expect("by version"),
            Some(v.clone())
        );
    }
    assert_eq!(
        store.context("ops-agent", Some(4)).await.expect("missing"),
        None
    );
    assert_eq!(
        store.context("ops-agent", Some(0)).await.expect("missing"),
        None
    );
    let listed = store.versions("ops-agent").await.expect("versions");
    assert_eq!(
        listed,
        pushed
            .iter()
            .map(aios::context::VersionInfo::from)
            .collect::<Vec<_>>()
    );
    assert_eq!(listed[0].lines, 2);
}

async fn context_text_round_trips(store: Arc<dyn Store>) {
    let texts = [
        "",
        "{\"version\":99}",
        "quotes \" backslash \\ tab \t nul-free\r\nünïcödé ✓ 🚀",
        "}{",
    ];
    for text in texts {
        let pushed = store
            .push_context("content-agent", new_context(text), 100)
            .await
            .expect("push");
        let read = store
            .context("content-agent", Some(pushed.version))
            .await
            .expect("read")
            .expect("present");
        assert_eq!(read, pushed);
        assert_eq!(read.text, text);
    }
}

async fn context_pruning_keeps_the_newest(store: Arc<dyn Store>) {
    for i in 1..=5 {
        store
            .push_context("seo-agent", new_context(&format!("v{i}")), 2)
            .await
            .expect("push");
    }
    let listed = store.versions("seo-agent").await.expect("versions");
    assert_eq!(
        listed.iter().map(|v| v.version).collect::<Vec<_>>(),
        [4, 5],
        "keep = 2 keeps the newest two, oldest first"
    );
    for gone in 1..=3 {
        assert_eq!(
            store.context("seo-agent", Some(gone)).await.expect("read"),
            None,
            "version {gone} was pruned"
        );
    }
    let latest = store
        .context("seo-agent", None)
        .await
        .expect("latest")
        .expect("present");
    assert_eq!((latest.version, latest.text.as_str()), (5, "v5"));
    // Numbers are never reused; keep 0 still keeps the newest one.
    let next = store
        .push_context("seo-agent", new_context("v6"), 0)
        .await
        .expect("push");
    assert_eq!(next.version, 6);
    assert_eq!(
        store
            .versions("seo-agent")
            .await
            .expect("versions")
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        [6]
    );
}

async fn agents_are_isolated(store: Arc<dyn Store>) {
    store
        .modify("ops-agent", Part::Goals, Arc::new(|_| Ok(json!(["ops"]))))
        .await
        .expect("modify");
    store
        .append_trace("ops-agent", trace("k", "ops"), 10)
        .await
        .expect("trace");
    store
        .push_context("ops-agent", new_context("ops"), 10)
        .await
        .expect("push");
    // An id that is a prefix of the other must not see its keys either.
    for other in ["ops", "ops-agent-2", "sec-agent"] {
        assert_eq!(store.get(other, Part::Goals).await.expect("get"), None);
        assert!(store.traces(other, 10).await.expect("traces").is_empty());
        assert_eq!(store.context(other, None).await.expect("context"), None);
        assert!(store.versions(other).await.expect("versions").is_empty());
    }
    // Numbering is per agent.
    assert_eq!(
        store
            .append_trace("sec-agent", trace("k", "sec"), 10)
            .await
            .expect("trace"),
        1
    );
    assert_eq!(
        store
            .push_context("sec-agent", new_context("sec"), 10)
            .await
            .expect("push")
            .version,
        1
    );
}

async fn stores_are_isolated<F, Fut>(open: &F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let a = open("isolated-a".into()).await;
    let b = open("isolated-b".into()).await;
    a.modify("ops-agent", Part::Goals, Arc::new(|_| Ok(json!(["a"]))))
        .await
        .expect("modify");
    a.append_trace("ops-agent", trace("k", "a"), 10)
        .await
        .expect("trace");
    a.push_context("ops-agent", new_context("a"), 10)
        .await
        .expect("push");
    assert_eq!(b.get("ops-agent", Part::Goals).await.expect("get"), None);
    assert!(b.traces("ops-agent", 10).await.expect("traces").is_empty());
    assert_eq!(b.context("ops-agent", None).await.expect("context"), None);
    assert_eq!(
        b.push_context("ops-agent", new_context("b"), 10)
            .await
            .expect("push")
            .version,
        1
    );
    assert_eq!(
        a.context("ops-agent", None)
            .await
            .expect("context")
            .map(|v| v.text),
        Some("a".to_string())
    );
}

/// 8 writers × 25 pushes on one agent: every version 1..=200 exactly once.
async fn concurrent_pushes_lose_no_version(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..25 {
                let v = store
                    .push_context("ops-agent", new_context(&format!("w{w} i{i}")), 1000)
                    .await
                    .expect("push");
                got.push(v.version);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let got = t.await.expect("writer task");
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "one writer sees its versions increase: {got:?}"
        );
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>());
    let listed = store.versions("ops-agent").await.expect("versions");
    assert_eq!(
        listed.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<u64>>()
    );
}

/// 8 concurrent read-modify-writes on one value: none is lost.
async fn concurrent_modifies_lose_no_update(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .modify("ops-agent", Part::Goals, append_to_list(json!(w)))
                .await
                .expect("modify")
        }));
    }
    for t in tasks {
        t.await.expect("modify task");
    }
    let Some(Value::Array(list)) = store.get("ops-agent", Part::Goals).await.expect("get") else {
        panic!("goals are a list");
    };
    let mut got: Vec<i64> = list.iter().filter_map(Value::as_i64).collect();
    got.sort_unstable();
    assert_eq!(got, (0..8).collect::<Vec<i64>>());
}

/// 8 writers × 10 traces: every seq 1..=80 exactly once.
async fn concurrent_traces_lose_no_seq(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..10 {
                got.push(
                    store
                        .append_trace("ops-agent", trace("k", &format!("w{w} i{i}")), 1000)
                        .await
                        .expect("append"),
                );
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("trace task"));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=80).collect::<Vec<u64>>());
    let kept = store.traces("ops-agent", 1000).await.expect("traces");
    assert_eq!(
        kept.iter().map(|t| t.seq).collect::<Vec<_>>(),
        (1..=80).collect::<Vec<u64>>()
    );
}
