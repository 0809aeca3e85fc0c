//! Sustained subscriber ingest: envelopes received and decoded per second by the Redis
//! bus, measured in the same run as redis-benchmark PUBLISHing to it, reported as a ratio;
//! and the process's RSS before and after, to show memory stays flat.
//!
//! `cargo bench --bench bus_ingest` (needs `redis-server` and `redis-benchmark` on PATH).
//! Set AIOS_BENCH_MESSAGES to change the count (default 300,000).

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

#[path = "support/ingest.rs"]
mod ingest;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use aios::bus::{Bus, Received, RedisBus, RedisBusOptions};
use aios::config::Config;
use tokio::sync::broadcast::error::RecvError;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: u64 = std::env::var("AIOS_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let redis = redis_server::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut config = Config::default();
    config.bus.url = redis.url().into();
    config.bus.prefix = "bench:".into();
    config.runtime.node = "bench".into();
    let bus = rt
        .block_on(RedisBus::connect(RedisBusOptions::for_config(&config)))
        .expect("connect the Redis bus");
    let body = ingest::memory_message();

    // A subscriber that drains what the bus hands out, as the TUI would.
    let mut rx = bus.subscribe();
    let drain = rt.spawn(async move {
        let (mut got, mut lagged) = (0u64, 0u64);
        loop {
            match rx.recv().await {
                Ok(Received::Message { .. }) => got += 1,
                Ok(_) => {}
                Err(RecvError::Lagged(k)) => lagged += k,
                Err(RecvError::Closed) => break,
            }
            if got + lagged >= n {
                break;
            }
        }
        (got, lagged)
    });
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = rss_kib();
    let started = Instant::now();
    let published_per_s = ingest::publish(redis.port, "bench:", n, &body);
    // Wait (bounded) until the bus has decoded everything it will get.
    let total = ingest::wait_decoded(&bus, n);
    let elapsed = started.elapsed();
    let rss_after = rss_kib();
    let (got, lagged) = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), drain).await })
        .ok()
        .and_then(Result::ok)
        .unwrap_or((0, 0));
    let ingest_per_s = total as f64 / elapsed.as_secs_f64();
    println!("messages published:        {n} ({} bytes each)", body.len());
    println!("redis-benchmark PUBLISH:   {published_per_s:.0} msg/s");
    println!(
        "aios decoded:              {total} in {:.2} s = {ingest_per_s:.0} msg/s",
        elapsed.as_secs_f64()
    );
    println!(
        "ratio (ingest / publish):  {:.1}%",
        100.0 * ingest_per_s / published_per_s.max(1.0)
    );
    println!(
        "delivered to the bus:      {:.1}%",
        100.0 * total as f64 / n as f64
    );
    println!("a draining subscriber got: {got} ({lagged} dropped while it lagged)");
    println!("RSS before / after:        {rss_before} / {rss_after} KiB");
    println!(
        "reconnects:                {} (Redis drops a subscriber that falls 32 MB behind)",
        bus.stats().reconnects
    );
}
