//! Per-agent memory schemas at run time: an operator's `vector_store` puts an agent's
//! memory in that store (a real Chroma) while the others stay in the default one; a store
//! it names that cannot be reached degrades to the local index with a warning on record,
//! where the catalog's own spec preferences degrade quietly; `chat_history = "local"` keeps
//! an agent's conversation in this node's embedded store on a Redis runtime.

#[path = "support/chroma_server.rs"]
mod chroma_server;
mod support;

use std::collections::BTreeMap;

use aios::agent::Runtime;
use aios::config::{AgentOverride, BusBackend, Config};
use aios::context::Caller;
use aios::memory::{ChromaMemory, MemoryFilter, VectorMemory, VectorSpace};
use serde_json::json;
use support::redis_server::RedisServer;

fn with_schema(config: &mut Config, agent: &str, pairs: &[(&str, &str)]) {
    let schema: BTreeMap<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    config.agents.insert(
        agent.into(),
        AgentOverride {
            memory_schema: Some(schema),
            ..AgentOverride::default()
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_preferences_degrade_quietly_and_an_operators_store_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Built-in: strategy-agent prefers qdrant, content-agent chromadb; neither answers.
    let rt = Runtime::start(support::options(support::config_in(dir.path())))
        .await
        .expect("starts");
    assert!(rt.info().warnings.is_empty(), "{:?}", rt.info().warnings);
    assert_eq!(rt.hub().memory_name(), "local");
    rt.shutdown().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    with_schema(
        &mut config,
        "strategy-agent",
        &[("vector_store", "chromadb")],
    );
    let rt = Runtime::start(support::options(config))
        .await
        .expect("starts, degraded");
    let warnings = &rt.info().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("strategy-agent")
            && warnings[0].contains("chromadb")
            && warnings[0].contains("local index"),
        "{warnings:?}"
    );
    let me = Caller::operator("alice");
    rt.hub()
        .remember(
            &me,
            "strategy-agent",
            "fact",
            "expand into the nordics",
            Vec::new(),
        )
        .await
        .expect("remembered in the local index meanwhile");
    let found = rt
        .hub()
        .recall(&me, "strategy-agent", "nordics", 3, None)
        .await
        .expect("recall");
    assert_eq!(found.len(), 1);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_vector_store_on_a_real_chroma_holds_its_memory_and_only_its() {
    let Some(chroma) = chroma_server::ChromaServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    config.memory.chroma.url = chroma.url();
    config.memory.collection = "schema_test".into();
    with_schema(
        &mut config,
        "strategy-agent",
        &[("vector_store", "chromadb")],
    );
    let rt = Runtime::start(support::options(config))
        .await
        .expect("starts");
    assert!(rt.info().warnings.is_empty(), "{:?}", rt.info().warnings);
    let me = Caller::operator("alice");
    for (agent, text) in [
        ("strategy-agent", "expand into the nordics next year"),
        ("strategy-agent", "pricing review in march"),
        ("ops-agent", "deploys happen on tuesdays"),
    ] {
        rt.hub()
            .remember(&me, agent, "fact", text, Vec::new())
            .await
            .expect("remember");
    }
    let found = rt
        .hub()
        .recall(&me, "strategy-agent", "nordics expansion", 5, None)
        .await
        .expect("recall");
    assert_eq!(found.len(), 2, "{found:?}");
    let ops = rt
        .hub()
        .recall(&me, "ops-agent", "deploys", 5, None)
        .await
        .expect("recall");
    assert_eq!(ops.len(), 1);
    rt.shutdown().await;

    // In Chroma: strategy-agent's two, nothing of ops-agent's.
    let space = VectorSpace::new("hash", 384);
    let direct = ChromaMemory::open(&chroma.url(), "schema_test", &space)
        .await
        .expect("the collection aios made, in the hash space");
    assert_eq!(
        direct
            .count(&MemoryFilter::agent("strategy-agent"))
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        direct.count(&MemoryFilter::default()).await.expect("count"),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_local_stays_on_this_node_while_the_rest_is_in_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    config.bus.backend = BusBackend::Redis;
    config.bus.url = redis.url().into();
    config.bus.prefix = "schema:".into();
    with_schema(&mut config, "support-agent", &[("chat_history", "local")]);
    let rt = Runtime::start(support::options(config.clone()))
        .await
        .expect("starts on redis");
    assert_eq!(rt.info().store, "redis");
    rt.dispatch_and_wait(
        &Caller::operator("alice"),
        "support-agent",
        "Customer 42 cannot log in",
    )
    .await
    .expect("dispatch");
    rt.shutdown().await;

    let mut conn = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let chat_in_redis: bool = redis::cmd("EXISTS")
        .arg("schema:aios:agent:support-agent:chat")
        .query_async::<i64>(&mut conn)
        .await
        .expect("exists")
        == 1;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("schema:aios:agent:support-agent:*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(!chat_in_redis, "the chat went to Redis: {keys:?}");
    assert!(
        !keys.is_empty(),
        "the rest of the agent's state is in Redis"
    );
}

#[test]
fn doctor_says_where_each_schema_store_is_and_that_hash_is_not_semantic() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = cwd.path().join("data");
    std::fs::write(
        cwd.path().join("config.toml"),
        "[agents.strategy-agent]\nmemory_schema = { vector_store = \"weaviate\" }\n",
    )
    .expect("config");
    let out = support::aios(cwd.path(), &data)
        .arg("--config")
        .arg(cwd.path().join("config.toml"))
        .arg("doctor")
        .output()
        .expect("run aios doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
            .to_string()
    };
    let schemas = line("schemas");
    assert!(
        schemas.contains("warn")
            && schemas.contains("strategy-agent → weaviate unreachable")
            && schemas.contains("kept in the local index"),
        "{schemas}"
    );
    assert!(
        schemas.contains("content-agent → chromadb (spec preference) not running"),
        "{schemas}"
    );
    let embedder = line("embedder");
    assert!(
        embedder.contains("warn") && embedder.contains("not semantic"),
        "{embedder}"
    );
}
