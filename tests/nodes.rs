//! Several `aios serve` nodes on one Redis (a private redis-server): they share the intent
//! stream and the agent state, each intent is handled once, and a node killed mid-intent
//! leaves its intent to another.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::aios;
use support::redis_server::RedisServer;
use support::serve::{Killed, start_serve};

/// An `aios` command for node `name` on the Redis at `url`.
fn on_redis(cwd: &Path, data: &Path, url: &str, name: &str) -> Command {
    let mut cmd = aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "test:")
        .env("AIOS_RUNTIME_NODE", name);
    cmd
}

fn start_node(cwd: &Path, data: &Path, url: &str, name: &str, extra: &[(&str, &str)]) -> Killed {
    let mut cmd = on_redis(cwd, data, url, name);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    start_serve(&mut cmd, data)
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
    // Node a has taken it and is streaming (asked of node a, not waited for by the clock).
    let started = Instant::now();
    loop {
        let out = run_ok(on_redis(tmp.path(), &a, &redis.url(), "cli").args(["agents", "--json"]));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let status = rows
            .iter()
            .find(|r| r["id"] == "sec-agent")
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        if status == "streaming" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "node a never streamed the intent (status {status})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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

/// PUBLISH as redis-cli would.
fn publish(url: &str, channel: &str, message: &str) {
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query(&mut conn)
        .unwrap();
}

/// Poll `aios context AGENT --json` on `data` until it shows at least `version`.
fn wait_for_version(
    cwd: &Path,
    data: &Path,
    url: &str,
    agent: &str,
    version: u64,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let out = run_ok(on_redis(cwd, data, url, "cli").args(["context", agent, "--json"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        if v["version"].as_u64().is_some_and(|n| n >= version) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{agent} never reached v{version}: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_outside_tools_publish_is_handled_once_and_redis_restarts_are_survived() {
    let mut redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let _na = start_node(tmp.path(), &a, &redis.url(), "node-a", &[]);
    let _nb = start_node(tmp.path(), &b, &redis.url(), "node-b", &[]);

    // The minimal form, as `redis-cli PUBLISH test:agent.action.intents '{…}'` sends it.
    publish(
        &redis.url(),
        "test:agent.action.intents",
        r#"{"agent_id":"support-agent","text":"Customer 42 cannot log in","operator":"n8n"}"#,
    );
    let ctx = wait_for_version(tmp.path(), &a, &redis.url(), "support-agent", 1);
    assert_eq!(ctx["cause"]["caller"], "external:n8n");
    std::thread::sleep(Duration::from_millis(700));
    let again = run_ok(on_redis(tmp.path(), &b, &redis.url(), "cli").args([
        "context",
        "support-agent",
        "--json",
    ]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap()["version"],
        1,
        "handled once across nodes"
    );

    // Redis restarts (empty: no persistence here); both nodes resubscribe by themselves.
    redis.restart();
    let started = Instant::now();
    loop {
        publish(
            &redis.url(),
            "test:agent.action.intents",
            &format!(
                r#"{{"agent_id":"ops-agent","text":"after restart {}"}}"#,
                started.elapsed().as_millis()
            ),
        );
        let out = run_ok(on_redis(tmp.path(), &a, &redis.url(), "cli").args([
            "context",
            "ops-agent",
            "--json",
        ]));
        if !serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .is_null()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no node handled intents after the restart"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // And dispatch through a node works again, end to end.
    let reply = run_ok(on_redis(tmp.path(), &b, &redis.url(), "cli").args([
        "dispatch",
        "dev-agent",
        "Write the unit tests",
    ]));
    assert!(reply.contains("Write the unit tests"), "{reply}");
}

#[test]
fn watch_reads_straight_from_redis_when_no_owner_runs_here() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let mut watch = Killed(
        on_redis(tmp.path(), &tmp.path().join("w"), &redis.url(), "laptop")
            .arg("watch")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = support::stdout_lines(&mut watch.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        publish(
            &redis.url(),
            "test:agent.broadcast.memory",
            "not json at all",
        );
        publish(
            &redis.url(),
            "test:agent.action.intents",
            r#"{"agent_id":"seo-agent","text":"Audit keywords"}"#,
        );
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
            lines.push(line);
        }
        if lines.iter().any(|l| l.contains("REJECTED"))
            && lines.iter().any(|l| l.contains("Audit keywords"))
        {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.contains("agent.broadcast.memory")
            && l.contains("REJECTED")
            && l.contains("not JSON")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("agent.action.intents")
            && l.contains("seo-agent")
            && l.contains("Audit keywords")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_handle_a_thousand_published_intents_exactly_once() {
    use futures::StreamExt;
    use std::collections::HashMap;

    const INTENTS: usize = 1000;
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
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let fast = [("AIOS_LLM_SIM_TOKENS_PER_SECOND", "0")];
    let _na = start_node(tmp.path(), &a, &redis.url(), "node-a", &fast);
    let _nb = start_node(tmp.path(), &b, &redis.url(), "node-b", &fast);

    let client = redis::Client::open(redis.url()).unwrap();
    let mut results = client.get_async_pubsub().await.unwrap();
    results
        .subscribe("test:aios.intents.results")
        .await
        .unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    // As an outside tool would: the minimal form, PUBLISHed; both nodes hear every one.
    for i in 0..INTENTS {
        let agent = AGENTS[i % AGENTS.len()];
        let body = serde_json::json!({"agent_id": agent, "text": format!("task {i}")});
        let _: i64 = redis::cmd("PUBLISH")
            .arg("test:agent.action.intents")
            .arg(body.to_string())
            .query_async(&mut con)
            .await
            .unwrap();
    }

    let mut handled: HashMap<String, (String, bool)> = HashMap::new();
    let mut twice = Vec::new();
    let mut stream = results.on_message();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while handled.len() < INTENTS {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {INTENTS} results", handled.len()))
            .unwrap();
        let env: serde_json::Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap();
        let id = env["payload"]["intent_id"].as_str().unwrap().to_string();
        let node = env["source"]["node"].as_str().unwrap().to_string();
        let ok = env["payload"]["error"].is_null();
        if let Some(first) = handled.insert(id.clone(), (node, ok)) {
            twice.push((id, first));
        }
    }
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert!(
        handled.values().all(|(_, ok)| *ok),
        "failed: {:?}",
        handled
            .values()
            .filter(|(_, ok)| !ok)
            .take(5)
            .collect::<Vec<_>>()
    );
    let by_node = |n: &str| handled.values().filter(|(node, _)| node == n).count();
    let (on_a, on_b) = (by_node("node-a"), by_node("node-b"));
    eprintln!("node-a handled {on_a}, node-b {on_b}");
    assert_eq!(on_a + on_b, INTENTS);
    assert!(
        on_a > 0 && on_b > 0,
        "both nodes took work: {on_a} / {on_b}"
    );

    // Each agent's context advanced exactly once per intent: the shared store numbered
    // 100 versions, none lost, none doubled. (Give a straggling duplicate time to land.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    for agent in AGENTS {
        let out = run_ok(
            on_redis(tmp.path(), &a, &redis.url(), "cli").args(["context", agent, "--json"]),
        );
        let latest: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            latest["version"],
            (INTENTS / AGENTS.len()) as u64,
            "{agent}"
        );
    }
}
