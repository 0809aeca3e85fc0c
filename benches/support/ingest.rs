//! Bus ingest for the benches: redis-benchmark PUBLISHes to a channel while the bus under
//! test decodes; the time until it has decoded everything it will get.

use std::process::Command;
use std::time::{Duration, Instant};

use aios::bus::{Bus, Envelope, RedisBus, Source, channels, kinds};

/// The message the benches publish: a memory broadcast of a typical size, as JSON.
pub fn memory_message() -> String {
    let envelope = Envelope::new(
        kinds::MEMORY,
        Source {
            node: "edge-1".into(),
            agent_id: Some("support-agent".into()),
            operator: None,
        },
        Some("support-agent"),
        serde_json::json!({"item_id": "01a2", "kind": "episodic", "text": "Customer 42 could not log in; reset their password and confirmed by email.", "tags": ["support"]}),
    );
    serde_json::to_string(&envelope).expect("json")
}

/// What the bus has decoded (or rejected) on the memory channel so far.
pub fn decoded(bus: &RedisBus) -> u64 {
    bus.stats()
        .channels
        .get(channels::MEMORY)
        .map_or(0, |c| c.received + c.rejected)
}

/// PUBLISH `body` `n` times to `{prefix}{memory channel}` on the Redis at `port`
/// (4 clients, pipelines of 16); returns what redis-benchmark says of its rate.
pub fn publish(port: u16, prefix: &str, n: u64, body: &str) -> f64 {
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-n",
            &n.to_string(),
            "-c",
            "4",
            "-P",
            "16",
            "-q",
        ])
        .args(["PUBLISH", &format!("{prefix}{}", channels::MEMORY), body])
        .output()
        .expect("redis-benchmark on PATH");
    assert!(out.status.success(), "redis-benchmark failed");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    text.lines()
        .filter_map(|l| l.split_once("requests per second").map(|(a, _)| a))
        .filter_map(|a| a.split_whitespace().last().and_then(|v| v.parse().ok()))
        .next_back()
        .unwrap_or(0.0)
}

/// Wait until the bus has decoded `n`, or nothing more came for 3 s; returns the count.
pub fn wait_decoded(bus: &RedisBus, n: u64) -> u64 {
    let mut last = (0, Instant::now());
    while decoded(bus) < n && last.1.elapsed() < Duration::from_secs(3) {
        let c = decoded(bus);
        if c != last.0 {
            last = (c, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    decoded(bus)
}
