//! Several `aios serve` nodes on one Redis (a private redis-server): they share the intent
//! stream and the agent state, each intent is handled once, and a node killed mid-intent
//! leaves its intent to another.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::aios;
use support::redis_server::RedisServer;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `aios` command for node `name` on the Redis at `url`.
fn on_redis(cwd: &Path, data: &Path, url: &str, name: &str) -> Command {
    let mut cmd = aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "test:")
        .env("AIOS_RUNTIME_NODE", name);
    cmd
}

fn start_node(cwd: &Path, data: &Path, url: &str, name: &str, extra: &[(&str, &str)]) -> Node {
    let mut cmd = on_redis(cwd, data, url, name);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut node = Node(
        cmd.arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !data.join("aios.sock").exists() {
        if let Some(status) = node.0.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = node.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("node {name} exited: {status:?}: {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node {name} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    node
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_nodes_share_intents_and_state_on_one_redis() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let _na = start_node(tmp.path(), &a, &redis.url(), "node-a", &[]);
    let _nb = start_node(tmp.path(), &b, &redis.url(), "node-b", &[]);

    // Ten intents through node a, ten through node b, all to one agent.
    for i in 0..10 {
        for dir in [&a, &b] {
            run_ok(on_redis(tmp.path(), dir, &redis.url(), "cli").args([
                "dispatch",
                "ops-agent",
                &format!("deploy build {i}"),
                "--no-wait",
            ]));
        }
    }
    // Every intent ends as one context version on the shared store: v20 and no more.
    let started = Instant::now();
    let versions = loop {
        let out = run_ok(on_redis(tmp.path(), &a, &redis.url(), "cli").args([
            "context",
            "ops-agent",
            "--versions",
            "--json",
        ]));
        let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        if v.len() >= 20 || started.elapsed() > Duration::from_secs(60) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let numbers: Vec<u64> = versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (1..=20).collect::<Vec<_>>(),
        "each intent handled exactly once"
    );
    // Node b reads the same truth.
    let from_b = run_ok(on_redis(tmp.path(), &b, &redis.url(), "cli").args([
        "context",
        "ops-agent",
        "--json",
    ]));
    let latest: serde_json::Value = serde_json::from_str(&from_b).unwrap();
    assert_eq!(latest["version"], 20);
}

#[test]
fn a_node_killed_mid_intent_leaves_it_to_another() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Node a streams slowly, so it is mid-intent when killed; node b takes over intents
    // idle for 1 s.
    let slow = [
        ("AIOS_LLM_SIM_TOKENS_PER_SECOND", "2"),
        ("AIOS_BUS_CLAIM_IDLE_MS", "1000"),
    ];
    let mut na = start_node(tmp.path(), &a, &redis.url(), "node-a", &slow);
    let id = run_ok(on_redis(tmp.path(), &a, &redis.url(), "cli").args([
        "dispatch",
        "sec-agent",
        "Rotate the signing keys",
        "--no-wait",
    ]));
    assert_eq!(id.trim().len(), 36);
    std::thread::sleep(Duration::from_millis(1500)); // node a has taken it and is streaming
    na.0.kill().unwrap();
    na.0.wait().unwrap();
    drop(na);

    let _nb = start_node(
        tmp.path(),
        &b,
        &redis.url(),
        "node-b",
        &[("AIOS_BUS_CLAIM_IDLE_MS", "1000")],
    );
    let started = Instant::now();
    let ctx = loop {
        let out = run_ok(on_redis(tmp.path(), &b, &redis.url(), "cli").args([
            "context",
            "sec-agent",
            "--json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if !v.is_null() || started.elapsed() > Duration::from_secs(60) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ctx["version"], 1, "node b finished the intent: {ctx}");
    assert_eq!(ctx["cause"]["intent_id"], id.trim());
}
