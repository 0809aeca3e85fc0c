//! Soak: a flood of intents published by an outside client at full speed into two
//! `aios serve` nodes with a slow model runner, on a private `redis-server`. Every intent
//! must end handled or refused with an answer on `aios.intents.results`: none lost, none
//! handled twice (no node crashes here, so at-least-once means exactly once).
//!
//! `cargo bench --bench intents_soak` (needs `redis-server` on PATH). Knobs:
//!
//! - `AIOS_SOAK_INTENTS` (200000): how many to publish, minimal form, spread over the ten
//!   agents;
//! - `AIOS_SOAK_TOKENS_PER_SECOND` (50): the sim runner's speed (~50 tokens an answer);
//! - `AIOS_SOAK_BACKLOG` (2000): `bus.stream_max_len`, the unhandled intents the stream
//!   holds before new ones are refused; the run lasts about as long as the nodes need to
//!   handle that many;
//! - `AIOS_SOAK_SETTLE_SECS` (60): with no answer for this long, the run is over.
//!
//! Prints: published, handled, refused with an answer, failed, lost (no answer: must be 0),
//! handled more than once (must be 0), both refused and handled, dead letters, subscriber
//! reconnections, and each node's peak RSS. Exits non-zero if any intent was lost or
//! handled twice.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

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

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// An `aios serve` node, killed when dropped.
struct Node {
    name: &'static str,
    child: Child,
    data: std::path::PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(
        name: &'static str,
        cwd: &Path,
        url: &str,
        tokens_per_second: u64,
        backlog: u64,
    ) -> Node {
        let data = cwd.join(name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aios"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AIOS_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(cwd)
            .env("HOME", cwd)
            .env("XDG_CONFIG_HOME", cwd.join(".config"))
            .env("AIOS_LLM_RUNNER", "sim")
            .env(
                "AIOS_LLM_SIM_TOKENS_PER_SECOND",
                tokens_per_second.to_string(),
            )
            .env("AIOS_MEMORY_BACKEND", "local")
            .env("AIOS_MEMORY_EMBEDDER", "hash")
            .env("AIOS_MCP_HTTP_BIND", "")
            .env("AIOS_BUS_BACKEND", "redis")
            .env("AIOS_BUS_URL", url)
            .env("AIOS_BUS_PREFIX", "soak:")
            .env("AIOS_BUS_STREAM_MAX_LEN", backlog.to_string())
            .env("AIOS_RUNTIME_NODE", name)
            .arg("--data-dir")
            .arg(&data)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("aios serve starts");
        let mut node = Node { name, child, data };
        let started = Instant::now();
        while !node.data.join("aios.sock").exists() {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("aios serve ({name}) exited early: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "aios serve ({name}) did not open its control socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Lines of the node's log that contain `needle`.
    fn log_lines(&self, needle: &str) -> usize {
        std::fs::read_dir(self.data.join("logs"))
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|t| t.lines().filter(|l| l.contains(needle)).count())
            .sum()
    }

    /// SIGTERM and wait: the orderly stop (audit flushed).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What became of one intent, from its answers on the results channel.
#[derive(Default)]
struct Answers {
    handled: u32,
    refused: u32,
    failed: u32,
}

fn main() {
    let n = knob("AIOS_SOAK_INTENTS", 200_000) as usize;
    let tps = knob("AIOS_SOAK_TOKENS_PER_SECOND", 50);
    let backlog = knob("AIOS_SOAK_BACKLOG", 2000);
    let settle = Duration::from_secs(knob("AIOS_SOAK_SETTLE_SECS", 60));

    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let tmp = tempfile::tempdir().expect("temp dir");
    let a = Node::start("node-a", tmp.path(), &url, tps, backlog);
    let b = Node::start("node-b", tmp.path(), &url, tps, backlog);
    println!(
        "intents_soak: {n} intents, two nodes, sim runner at {tps} tokens/s, backlog (bus.stream_max_len) {backlog}"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (answers, ids, publish_secs, min_heard, total_secs) = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut sub = client.get_async_pubsub().await.expect("subscriber");
        sub.subscribe("soak:aios.intents.results")
            .await
            .expect("subscribe");
        let mut results = sub.into_on_message();

        let bodies: Vec<(String, String)> = (0..n)
            .map(|i| {
                let body = serde_json::json!({
                    "agent_id": AGENTS[i % AGENTS.len()],
                    "text": format!("soak task {i}: check the nightly build"),
                })
                .to_string();
                let id = aios::bus::decode(aios::bus::channels::INTENTS, body.as_bytes(), 1 << 20)
                    .expect("a minimal intent")
                    .id;
                (body, id)
            })
            .collect();

        // Full speed: pipelined PUBLISHes, 5,000 a round trip.
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("publisher");
        let started = Instant::now();
        let mut min_heard = i64::MAX;
        for chunk in bodies.chunks(5000) {
            let mut pipe = redis::pipe();
            for (body, _) in chunk {
                pipe.cmd("PUBLISH")
                    .arg("soak:agent.action.intents")
                    .arg(body);
            }
            let heard: Vec<i64> = pipe.query_async(&mut con).await.expect("PUBLISH");
            min_heard = min_heard.min(heard.into_iter().min().unwrap_or(0));
        }
        let publish_secs = started.elapsed().as_secs_f64();
        println!(
            "published {n} in {publish_secs:.2} s ({:.0}/s), each heard by at least {min_heard} subscribers",
            n as f64 / publish_secs
        );

        let mut answers: HashMap<String, Answers> = HashMap::new();
        let mut last = Instant::now();
        let mut report = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(1), results.next()).await {
                Ok(Some(msg)) => {
                    let env: serde_json::Value =
                        serde_json::from_slice(msg.get_payload_bytes()).unwrap_or_default();
                    let Some(id) = env["payload"]["intent_id"].as_str() else {
                        continue;
                    };
                    let a = answers.entry(id.to_string()).or_default();
                    match env["payload"]["error"].as_str() {
                        None => a.handled += 1,
                        Some(e) if e.starts_with("refused") => a.refused += 1,
                        Some(_) => a.failed += 1,
                    }
                    last = Instant::now();
                }
                Ok(None) => panic!("the results subscription ended"),
                Err(_) => {}
            }
            if report.elapsed() > Duration::from_secs(10) {
                let handled = answers.values().filter(|a| a.handled > 0).count();
                println!(
                    "  {:>5.0} s: {} answered ({handled} handled)",
                    started.elapsed().as_secs_f64(),
                    answers.len()
                );
                report = Instant::now();
            }
            if last.elapsed() > settle {
                break;
            }
            if answers.len() >= n && last.elapsed() > Duration::from_secs(3) {
                // Everything answered; a few more seconds to catch a late duplicate.
                break;
            }
        }
        let total_secs = started.elapsed().as_secs_f64();
        let ids: Vec<String> = bodies.into_iter().map(|(_, id)| id).collect();
        (answers, ids, publish_secs, min_heard, total_secs)
    });

    let count = |f: &dyn Fn(&Answers) -> bool| answers.values().filter(|a| f(a)).count();
    let handled = count(&|a| a.handled > 0);
    let refused = count(&|a| a.handled == 0 && a.failed == 0 && a.refused > 0);
    let failed = count(&|a| a.handled == 0 && a.failed > 0);
    let twice = count(&|a| a.handled > 1);
    let both = count(&|a| a.handled > 0 && a.refused > 0);
    let lost = ids.iter().filter(|id| !answers.contains_key(*id)).count();
    let dead: usize = {
        let mut con = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .expect("a connection");
        redis::cmd("XLEN")
            .arg("soak:aios:intents:dead")
            .query(&mut con)
            .unwrap_or(0)
    };
    let rss: Vec<(&str, f64)> = [&a, &b]
        .iter()
        .map(|n| (n.name, n.peak_rss_mib()))
        .collect();
    let cut: usize = [&a, &b]
        .iter()
        .map(|n| n.log_lines("subscription connection closed"))
        .sum();
    a.stop();
    b.stop();

    println!("intents_soak results ({total_secs:.0} s from the first PUBLISH):");
    println!(
        "  published                      {n:>8}  ({publish_secs:.2} s; each heard by {min_heard} nodes)"
    );
    println!("  handled                        {handled:>8}");
    println!("  refused with an answer         {refused:>8}");
    println!("  failed with an answer          {failed:>8}");
    println!("  lost (no answer)               {lost:>8}");
    println!("  handled more than once         {twice:>8}");
    println!("  refused and also handled       {both:>8}");
    println!("  dead letters                   {dead:>8}");
    println!("  subscriber cut off by Redis    {cut:>8}");
    for (name, mib) in &rss {
        println!("  peak RSS {name}                {mib:>8.1} MiB");
    }
    if lost > 0 || twice > 0 {
        eprintln!("intents_soak: FAILED: {lost} lost, {twice} handled more than once");
        std::process::exit(1);
    }
}
