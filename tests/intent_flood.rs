//! A flood of intents from an outside tool (issue 12, point 2): 100,000 minimal intents
//! PUBLISHed as fast as Redis takes them. Every one must end either handled exactly once or
//! refused loudly — answered on `aios.intents.results` with the reason and audited — and
//! none may vanish.
//!
//! The node's backlog (`bus.stream_max_len`) is kept small so the test ends in seconds: the
//! node handles what fits and must refuse the rest, out loud.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use aios::bus::{Bus, RedisBus, RedisBusOptions};
use futures::StreamExt;
use support::aios;
use support::redis_server::RedisServer;
use support::serve::{Killed, start_serve};

const INTENTS: usize = 100_000;
const BACKLOG: &str = "500";

fn node(cwd: &Path, data: &Path, url: &str, name: &str) -> Killed {
    let mut cmd = aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "test:")
        .env("AIOS_RUNTIME_NODE", name)
        .env("AIOS_BUS_STREAM_MAX_LEN", BACKLOG)
        .env("AIOS_LLM_SIM_TOKENS_PER_SECOND", "0");
    start_serve(&mut cmd, data)
}

/// The minimal form an outside tool publishes, and the id every node derives from it.
fn minimal(i: usize) -> (String, String) {
    let body = format!(r#"{{"agent_id":"ops-agent","text":"x{i}"}}"#);
    let id = aios::bus::decode(aios::bus::channels::INTENTS, body.as_bytes(), 1 << 20)
        .unwrap()
        .id;
    (body, id)
}

/// Every audit record of `data` that names an intent id, as (intent id, outcome error).
fn audited(data: &Path) -> HashMap<String, Vec<Option<String>>> {
    let mut out: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for entry in std::fs::read_dir(data.join("audit")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if r["action"] != "dispatch_intent" {
                continue;
            }
            if let Some(id) = r["input"]["intent_id"].as_str() {
                out.entry(id.to_string())
                    .or_default()
                    .push(r["error"].as_str().map(str::to_string));
            }
        }
    }
    out
}

/// The warnings and errors in the node's log, for a failure message.
fn warnings(data: &Path) -> String {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data.join("logs")).into_iter().flatten() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        out.extend(
            text.lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(40)
                .map(str::to_string),
        );
    }
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_minimal_intents_is_taken_or_refused_out_loud_and_none_vanishes() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("a");
    let serve = node(tmp.path(), &data, &redis.url(), "node-a");

    let client = redis::Client::open(redis.url()).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    sub.subscribe("test:aios.intents.results").await.unwrap();
    let mut results = sub.into_on_message();

    let intents: Vec<(String, String)> = (0..INTENTS).map(minimal).collect();
    let ids: HashSet<&str> = intents.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), INTENTS);

    // As fast as Redis takes them: pipelined PUBLISHes from an outside client.
    let started = Instant::now();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    for chunk in intents.chunks(5000) {
        let mut pipe = redis::pipe();
        for (body, _) in chunk {
            pipe.cmd("PUBLISH")
                .arg("test:agent.action.intents")
                .arg(body)
                .ignore();
        }
        pipe.query_async::<()>(&mut con).await.unwrap();
    }
    eprintln!(
        "published {INTENTS} in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    // Every intent gets an answer: its result, or its refusal.
    let mut answers: HashMap<String, Vec<Option<String>>> = HashMap::new();
    let mut last_progress = Instant::now();
    while answers.len() < INTENTS {
        match tokio::time::timeout(Duration::from_secs(1), results.next()).await {
            Ok(Some(msg)) => {
                let env: serde_json::Value =
                    serde_json::from_slice(msg.get_payload_bytes()).unwrap();
                let id = env["payload"]["intent_id"].as_str().unwrap().to_string();
                let error = env["payload"]["error"].as_str().map(str::to_string);
                answers.entry(id).or_default().push(error);
                last_progress = Instant::now();
            }
            Ok(None) => panic!("the results subscription ended"),
            Err(_) => {}
        }
        if last_progress.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let handled = answers
        .values()
        .filter(|a| a.iter().any(Option::is_none))
        .count();
    let refused = answers.len() - handled;
    let missing = ids.iter().filter(|id| !answers.contains_key(**id)).count();
    eprintln!(
        "after {:.1} s: {handled} handled, {refused} refused with an answer, {missing} without an answer",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        missing,
        0,
        "{missing} of {INTENTS} intents vanished: no result, no refusal; the node said:\n{}",
        warnings(&data)
    );
    // Exactly one answer each: handled once, or refused once.
    let twice: Vec<_> = answers.iter().filter(|(_, a)| a.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{} answered more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    for errors in answers.values() {
        if let Some(Some(e)) = errors.first() {
            assert!(
                e.contains("bus.stream_max_len"),
                "refused for another reason: {e}"
            );
        }
    }
    assert!(handled >= 500, "the backlog was used: {handled}");

    // Refusals are audited, like every refusal of an outside intent.
    serve.stop();
    let audit = audited(&data);
    let unaudited = answers
        .iter()
        .filter(|(id, a)| {
            a[0].is_some()
                && !audit
                    .get(*id)
                    .is_some_and(|r| r.iter().any(Option::is_some))
        })
        .count();
    assert_eq!(unaudited, 0, "{unaudited} refusals not audited");
}

/// Below the backlog, every intent of the flood is taken: the subscription reader waits
/// for the claims instead of dropping what it heard, and two nodes queue each one once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_intent_of_a_flood_is_queued_once_when_it_fits() {
    let redis = RedisServer::start();
    let options = |node: &str| RedisBusOptions {
        url: redis.url().into(),
        prefix: "test:".into(),
        node: node.into(),
        max_message_bytes: 1 << 20,
        claim_idle: Duration::from_secs(30),
        max_deliveries: 5,
        stream_max_len: INTENTS,
        outbox: 100,
        pins: HashMap::new(),
        claim_ttl: Duration::from_secs(3600),
    };
    let a = RedisBus::connect(options("node-a")).await.unwrap();
    let b = RedisBus::connect(options("node-b")).await.unwrap();

    let intents: Vec<(String, String)> = (0..INTENTS).map(minimal).collect();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    for chunk in intents.chunks(5000) {
        let mut pipe = redis::pipe();
        for (body, _) in chunk {
            pipe.cmd("PUBLISH")
                .arg("test:agent.action.intents")
                .arg(body)
                .ignore();
        }
        pipe.query_async::<()>(&mut con).await.unwrap();
    }
    let published = started.elapsed();

    // Take everything, from both nodes, and acknowledge it.
    let mut taken: HashMap<String, u32> = HashMap::new();
    let mut idle_since = Instant::now();
    while taken.len() < INTENTS && idle_since.elapsed() < Duration::from_secs(20) {
        for bus in [&a, &b] {
            let got = bus
                .take_intents(1000, Duration::from_millis(50))
                .await
                .unwrap();
            if !got.is_empty() {
                idle_since = Instant::now();
            }
            futures::future::join_all(got.iter().map(|d| bus.ack(d))).await;
            for d in got {
                *taken.entry(d.envelope.id).or_default() += 1;
            }
        }
    }
    eprintln!(
        "published {INTENTS} in {:.2} s; taken after {:.1} s",
        published.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let missing = intents
        .iter()
        .filter(|(_, id)| !taken.contains_key(id))
        .count();
    assert_eq!(
        missing, 0,
        "{missing} of {INTENTS} intents never reached the stream"
    );
    assert!(taken.values().all(|n| *n == 1), "taken more than once");
    let stream: usize = redis::cmd("XLEN")
        .arg("test:aios:intents")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(stream, INTENTS, "queued once each");
    for bus in [&a, &b] {
        let stats = bus.stats();
        assert!(stats.rejected.is_empty(), "{:?}", stats.rejected.first());
        assert_eq!(stats.reconnects, 0, "the subscriber was not cut");
    }
}
