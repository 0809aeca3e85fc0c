//! `aios watch --json` into a pipe keeps every message of a flood and stays JSON: the
//! reader's pace slows the Redis socket instead of losing messages, with or without an
//! owner running on that Redis.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::aios;
use support::redis_server::RedisServer;
use support::serve::{Killed, start_serve};

/// Messages in the flood: far beyond the bus's 4,096-message fan-out buffer.
const FLOOD: usize = 200_000;
/// With an owner on the same Redis, which decodes the flood too on the same two cores.
const OWNER_FLOOD: usize = 50_000;
const CHANNEL: &str = "test:agent.broadcast.memory";

fn on_redis(cwd: &Path, data: &Path, url: &str) -> Command {
    let mut cmd = aios(cwd, data);
    cmd.env("AIOS_BUS_BACKEND", "redis")
        .env("AIOS_BUS_URL", url)
        .env("AIOS_BUS_PREFIX", "test:")
        .env("AIOS_RUNTIME_NODE", "watched");
    cmd
}

fn connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .unwrap()
        .get_connection()
        .expect("the test's redis-server answers")
}

/// Wait until the channel has this many subscribers (the watch is listening).
fn wait_for_subscribers(con: &mut redis::Connection, wanted: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if subscribers(con) >= wanted {
            return;
        }
        assert!(Instant::now() < deadline, "the watch never subscribed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn subscribers(con: &mut redis::Connection) -> i64 {
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(CHANNEL)
        .query(con)
        .unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

/// Publish the flood as fast as Redis takes it, pipelined; with the pub/sub output-buffer
/// limit off, as the flood that found the drops was run.
fn flood(con: &mut redis::Connection, messages: usize) {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 0 0 0")
        .query::<()>(con)
        .unwrap();
    for batch in 0..messages / 1000 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            let n = batch * 1000 + i;
            pipe.cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(format!(r#"{{"agent_id":"ops-agent","text":"note {n}"}}"#))
                .ignore();
        }
        pipe.query::<()>(con).unwrap();
    }
}

/// Read the watch's stdout slowly at first (so the pipe fills and the watch must wait),
/// then count JSON lines until the flood is in or nothing more comes for a while.
fn count_lines(watch: &mut std::process::Child, messages: usize) -> (usize, Vec<String>) {
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Bounded, but not a timing assertion: the machine may be busy; a watch that lost
    // messages stops printing and is caught by the count.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut count = 0;
    let mut odd = Vec::new();
    while count < messages && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            break;
        };
        count += 1;
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&line);
        if parsed.is_err() || line.contains("dropped") {
            odd.push(line);
        }
    }
    (count, odd)
}

fn watch_gets_the_whole_flood(watch_cmd: &mut Command, redis: &RedisServer, messages: usize) {
    let mut con = connection(&redis.url());
    // An owner on this Redis is a subscriber already; the watch makes one more.
    let before = subscribers(&mut con);
    let mut watch = Killed(
        watch_cmd
            .args(["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_subscribers(&mut con, before + 1);
    flood(&mut con, messages);
    let (count, odd) = count_lines(&mut watch.0, messages);
    assert!(odd.is_empty(), "lines that are not JSON messages: {odd:?}");
    assert_eq!(count, messages, "every published message printed once");
}

#[test]
fn watch_json_into_a_pipe_keeps_every_message_of_a_flood() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    watch_gets_the_whole_flood(
        &mut on_redis(tmp.path(), &tmp.path().join("w"), &redis.url()),
        &redis,
        FLOOD,
    );
}

#[test]
fn with_an_owner_on_redis_the_watch_still_keeps_every_message() {
    let redis = RedisServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("node");
    let _node = start_serve(&mut on_redis(tmp.path(), &data, &redis.url()), &data);
    watch_gets_the_whole_flood(
        &mut on_redis(tmp.path(), &data, &redis.url()),
        &redis,
        OWNER_FLOOD,
    );
}
