//! The `Store` contract against the embedded store and against Redis, plus what only the
//! Redis store promises: several nodes on one Redis share one truth and lose nothing, the
//! key layout other nodes rely on, reconnecting after a restart, failing fast when no Redis
//! answers.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/store_contract.rs"]
mod store_contract;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios::context::{EmbeddedStore, Part, RedisStore, Store, StoreError};
use redis_server::RedisServer;
use serde_json::{Value, json};
use store_contract::{append_to_list, new_context, run_contract, trace};

async fn connect(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(&url.into(), prefix)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A raw connection, to look at the keys as another program would.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_meets_the_contract() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = root.path().to_path_buf();
    run_contract(|name| {
        let path = root.join(name).join("state.redb");
        async move {
            let store = EmbeddedStore::open(&path).expect("open embedded store");
            Arc::new(store) as Arc<dyn Store>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_meets_the_contract() {
    let redis = RedisServer::start();
    let url = redis.url();
    // One server for the whole contract: each store gets its own prefix.
    run_contract(|name| {
        let url = url.clone();
        async move { Arc::new(connect(&url, &format!("{name}:")).await) as Arc<dyn Store> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_follow_the_documented_layout() {
    let redis = RedisServer::start();
    let store = connect(&redis.url(), "edge:").await;
    assert_eq!(store.name(), "redis");
    assert_eq!(store.prefix(), "edge:");
    store
        .modify("ops-agent", Part::Goals, Arc::new(|_| Ok(json!(["g"]))))
        .await
        .expect("goals");
    store
        .modify(
            "ops-agent",
            Part::PersonaTraits,
            Arc::new(|_| Ok(json!(["t"]))),
        )
        .await
        .expect("traits");
    store
        .modify(
            "ops-agent",
            Part::ProtocolHooks,
            Arc::new(|_| Ok(json!([]))),
        )
        .await
        .expect("hooks");
    store
        .append_trace("ops-agent", trace("k", "s"), 10)
        .await
        .expect("trace");
    let pushed = store
        .push_context("ops-agent", new_context("hello"), 10)
        .await
        .expect("push");

    let mut conn = raw(&redis.url()).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    keys.sort();
    assert_eq!(
        keys,
        [
            "edge:aios:agent:ops-agent:contexts",
            "edge:aios:agent:ops-agent:goals",
            "edge:aios:agent:ops-agent:persona_traits",
            "edge:aios:agent:ops-agent:protocol_hooks",
            "edge:aios:agent:ops-agent:traces",
        ]
    );
    let goals: String = redis::cmd("GET")
        .arg("edge:aios:agent:ops-agent:goals")
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(
        serde_json::from_str::<Value>(&goals).expect("json"),
        json!(["g"])
    );
    let contexts: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("edge:aios:agent:ops-agent:contexts")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    assert_eq!(contexts.len(), 1);
    assert_eq!(contexts[0].1, 1.0, "score = version");
    let stored: aios::context::ContextVersion =
        serde_json::from_str(&contexts[0].0).expect("member is a ContextVersion");
    assert_eq!(stored, pushed);
    let traces: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("edge:aios:agent:ops-agent:traces")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .expect("ZRANGE");
    let t: aios::context::Trace = serde_json::from_str(&traces[0].0).expect("member is a Trace");
    assert_eq!((t.seq, traces[0].1), (1, 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_json_in_redis_is_reported_as_corrupt() {
    let redis = RedisServer::start();
    let store = connect(&redis.url(), "").await;
    let mut conn = raw(&redis.url()).await;
    let _: () = redis::cmd("SET")
        .arg("aios:agent:ops-agent:goals")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .expect("SET");
    let _: () = redis::cmd("ZADD")
        .arg("aios:agent:ops-agent:contexts")
        .arg(1)
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .expect("ZADD");

    let err = store
        .get("ops-agent", Part::Goals)
        .await
        .expect_err("corrupt");
    assert!(
        matches!(&err, StoreError::Corrupt { what, .. } if what == "ops-agent/goals"),
        "{err:?}"
    );
    let err = store
        .modify("ops-agent", Part::Goals, Arc::new(|_| Ok(json!([]))))
        .await
        .expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store.context("ops-agent", None).await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store.versions("ops-agent").await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

/// Two nodes push 200 versions each onto one agent at the same time: 1..=400, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_pushing_at_once_lose_no_version() {
    let redis = RedisServer::start();
    let nodes = [
        connect(&redis.url(), "").await,
        connect(&redis.url(), "").await,
    ];
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        // Each node has several pushes in flight at a time, as its agents and MCP clients do.
        for lane in 0..4 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..50 {
                    let v = node
                        .push_context(
                            "support-agent",
                            new_context(&format!("node {n} lane {lane} push {i}")),
                            1000,
                        )
                        .await
                        .expect("push");
                    got.push((v.version, v.context_id, v.text));
                }
                got
            }));
        }
    }
    let mut pushed = Vec::new();
    for t in tasks {
        pushed.extend(t.await.expect("node task"));
    }
    pushed.sort();
    assert_eq!(
        pushed.iter().map(|p| p.0).collect::<Vec<_>>(),
        (1..=400).collect::<Vec<u64>>(),
        "every version assigned exactly once"
    );
    let ids: HashSet<_> = pushed.iter().map(|p| p.1.clone()).collect();
    assert_eq!(ids.len(), 400, "context ids are unique");

    // A third client (an attached TUI, say) sees all of them, as pushed.
    let viewer = connect(&redis.url(), "").await;
    let listed = viewer.versions("support-agent").await.expect("versions");
    assert_eq!(
        listed.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=400).collect::<Vec<u64>>()
    );
    for (version, context_id, text) in &pushed {
        let read = viewer
            .context("support-agent", Some(*version))
            .await
            .expect("read")
            .expect("present");
        assert_eq!((&read.context_id, &read.text), (context_id, text));
    }
    let latest = viewer
        .context("support-agent", None)
        .await
        .expect("latest")
        .expect("present");
    assert_eq!(latest.version, 400);
}

/// 8 concurrent read-modify-writes through two clients on one value: none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_modifies_through_two_clients_lose_no_update() {
    let redis = RedisServer::start();
    let nodes = [
        connect(&redis.url(), "").await,
        connect(&redis.url(), "").await,
    ];
    for round in 0..5 {
        let agent = format!("billing-agent-{round}");
        let mut tasks = Vec::new();
        for w in 0..8 {
            let node = nodes[w % 2].clone();
            let agent = agent.clone();
            tasks.push(tokio::spawn(async move {
                node.modify(&agent, Part::Goals, append_to_list(json!(w)))
                    .await
                    .expect("modify")
            }));
        }
        for t in tasks {
            t.await.expect("modify task");
        }
        let Some(Value::Array(list)) = nodes[0].get(&agent, Part::Goals).await.expect("get") else {
            panic!("goals are a list");
        };
        let mut got: Vec<u64> = list.iter().filter_map(Value::as_u64).collect();
        got.sort_unstable();
        assert_eq!(got, (0..8).collect::<Vec<u64>>(), "round {round}");
    }
}

/// Push until it works again, for at most 15 s; how long it took and how many calls failed.
async fn until_it_works(store: &RedisStore, text: &str) -> (Duration, u32) {
    let back = Instant::now();
    let mut failures = 0;
    loop {
        match store.push_context("ops-agent", new_context(text), 10).await {
            Ok(v) => {
                assert_eq!(v.version, 1, "the restarted server started empty");
                return (back.elapsed(), failures);
            }
            Err(e) => {
                failures += 1;
                assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
                assert!(
                    back.elapsed() < Duration::from_secs(15),
                    "still failing {:?} after the restart: {e}",
                    back.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Redis is killed and started again at once (empty: the test server does not persist):
/// the same store works again without being recreated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_again_after_redis_restarts() {
    let redis = RedisServer::start();
    let store = connect(&redis.url(), "").await;
    store
        .push_context("ops-agent", new_context("before"), 10)
        .await
        .expect("push before");
    let redis = tokio::task::spawn_blocking(move || {
        let mut redis = redis;
        redis.restart();
        redis
    })
    .await
    .expect("restart");
    let (took, failures) = until_it_works(&store, "after").await;
    eprintln!("after a restart: working again after {took:?} ({failures} failed call(s))");
    // The connection noticed the drop by itself and reconnected: no call was lost to it.
    assert_eq!(failures, 0, "calls failed after the restart");
    assert_eq!(
        store
            .context("ops-agent", None)
            .await
            .expect("read")
            .map(|v| v.text),
        Some("after".to_string())
    );
    drop(redis);
}

/// While Redis is away every call is an error — quickly, no panic, no hang — and after a
/// longer outage than the reconnect backoff covers, the store still comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_fast_while_redis_is_down_and_recovers_after() {
    let mut redis = RedisServer::start();
    let store = connect(&redis.url(), "").await;
    store
        .push_context("ops-agent", new_context("before"), 10)
        .await
        .expect("push before");
    redis.stop();
    for call in 0..3 {
        let started = Instant::now();
        let err = store
            .get("ops-agent", Part::Goals)
            .await
            .expect_err("Redis is down");
        let waited = started.elapsed();
        eprintln!("while down, call {call}: error after {waited:?}: {err}");
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        assert!(err.to_string().contains("Redis"), "{err}");
        assert!(waited < Duration::from_secs(10), "took {waited:?}");
    }
    // Longer than the reconnect backoff: the manager has given up by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .expect("restart");
    let (took, failures) = until_it_works(&store, "after").await;
    eprintln!("after an outage: working again after {took:?} ({failures} failed call(s))");
    // The stale "refused" left by the exhausted backoff is retried, not returned.
    assert_eq!(failures, 0, "calls failed after Redis was back");
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_where_no_redis_listens_fails_fast_naming_the_url() {
    // A port that was free a moment ago and has nothing listening now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    let err = RedisStore::connect(&url.as_str().into(), "")
        .await
        .expect_err("nothing listens");
    let waited = started.elapsed();
    eprintln!("refused after {waited:?}: {err}");
    assert!(waited < Duration::from_secs(8), "took {waited:?}");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn a_password_never_shows_in_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let err = RedisStore::connect(&format!("redis://aios:hunter2@127.0.0.1:{port}").into(), "")
        .await
        .expect_err("nothing listens");
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        msg.contains(&format!("redis://aios:***@127.0.0.1:{port}")),
        "{msg}"
    );
}
