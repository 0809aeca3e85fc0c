//! A slow backlog on one node (issue 12, point 3): a node holding intents it has queued
//! for its agents must not take them over from itself after `claim_idle`, so each is
//! handled once and none goes to the dead letters; after a `kill -9` and a restart under
//! the same name, the unfinished ones run again instead of being dead-lettered.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use support::aios;
use support::redis_server::RedisServer;
use support::serve::{Killed, start_serve};

const INTENTS: usize = 300;
const AGENTS: [&str; 10] = [
    "ops-agent",
    "sec-agent",
    "dev-agent",
    "seo-agent",
    "sop-agent",
    "strategy-agent",
    "billing-agent",
    "support-agent",
    "content-agent",
    "sales-agent",
];
/// A runner slow enough that each agent holds a queue far longer than `claim_idle`: ~50
/// words an answer at 100 words/s is half a second an intent, 30 intents an agent.
const SLOW: [(&str, &str); 3] = [
    ("AIOS_LLM_SIM_TOKENS_PER_SECOND", "100"),
    ("AIOS_BUS_CLAIM_IDLE_MS", "400"),
    ("AIOS_BUS_MAX_DELIVERIES", "3"),
];

fn node(cwd: &Path, data: &Path, url: &str) -> Killed {
    let mut cmd: Command = aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "test:")
        .env("AIOS_RUNTIME_NODE", "node-a");
    for (k, v) in SLOW {
        cmd.env(k, v);
    }
    start_serve(&mut cmd, data)
}

/// Results per intent id, as an outside caller hears them on `aios.intents.results`.
struct Results {
    seen: HashMap<String, u32>,
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = redis::Msg> + Send>>,
}

impl Results {
    async fn listen(url: &str) -> Results {
        let client = redis::Client::open(url).unwrap();
        let mut sub = client.get_async_pubsub().await.unwrap();
        sub.subscribe("test:aios.intents.results").await.unwrap();
        Results {
            seen: HashMap::new(),
            stream: Box::pin(sub.into_on_message()),
        }
    }

    /// Read results until `done` holds or `limit` passes; false on timeout.
    async fn until(&mut self, limit: Duration, done: impl Fn(&HashMap<String, u32>) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(msg)) => {
                    let env: serde_json::Value =
                        serde_json::from_slice(msg.get_payload_bytes()).unwrap();
                    let id = env["payload"]["intent_id"].as_str().unwrap().to_string();
                    assert!(
                        env["payload"]["error"].is_null(),
                        "intent failed: {}",
                        env["payload"]
                    );
                    *self.seen.entry(id).or_default() += 1;
                }
                Ok(None) => panic!("the results subscription ended"),
                Err(_) => return,
            }
        }
    }
}

/// Publish the intents as an outside tool would (the minimal form), as fast as Redis
/// takes them; returns their texts.
async fn publish_all(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    for i in 0..INTENTS {
        let body = serde_json::json!({"agent_id": AGENTS[i % AGENTS.len()], "text": format!("slow task {i}")});
        pipe.cmd("PUBLISH")
            .arg("test:agent.action.intents")
            .arg(body.to_string())
            .ignore();
    }
    pipe.query_async::<()>(&mut con).await.unwrap();
}

async fn dead_letters(url: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN")
        .arg("test:aios:intents:dead")
        .query_async(&mut con)
        .await
        .unwrap()
}

async fn stream_len(url: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN")
        .arg("test:aios:intents")
        .query_async(&mut con)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backlog_is_handled_once_and_nothing_is_dead_lettered() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("a");
    let _node = node(tmp.path(), &data, &redis.url());
    let mut results = Results::listen(&redis.url()).await;
    publish_all(&redis.url()).await;

    results
        .until(Duration::from_secs(90), |s| s.len() >= INTENTS)
        .await;
    assert_eq!(results.seen.len(), INTENTS, "every intent was handled");
    assert_eq!(stream_len(&redis.url()).await, INTENTS, "each queued once");
    // Give a late duplicate (a self-takeover after claim_idle) time to show.
    results.until(Duration::from_millis(1500), |_| false).await;
    let twice: Vec<_> = results.seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {INTENTS} intents handled more than once, e.g. {:?}",
        twice.len(),
        twice.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(dead_letters(&redis.url()).await, 0, "nothing dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_and_a_restart_the_unfinished_intents_run_again() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("a");
    let mut first = node(tmp.path(), &data, &redis.url());
    let mut results = Results::listen(&redis.url()).await;
    publish_all(&redis.url()).await;

    // A third done, then the node dies without a word.
    results
        .until(Duration::from_secs(60), |s| s.len() >= INTENTS / 3)
        .await;
    assert!(results.seen.len() >= INTENTS / 3, "{}", results.seen.len());
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    drop(first);
    let _ = std::fs::remove_file(data.join("aios.sock"));

    // The same node again, on the same data dir: it takes its own unfinished intents back.
    let _again = node(tmp.path(), &data, &redis.url());
    results
        .until(Duration::from_secs(90), |s| s.len() >= INTENTS)
        .await;
    assert_eq!(
        results.seen.len(),
        INTENTS,
        "every intent handled at least once"
    );
    assert_eq!(dead_letters(&redis.url()).await, 0, "nothing dead-lettered");
}
