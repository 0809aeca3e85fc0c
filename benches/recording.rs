//! The flight recorder's cost, measured against itself in the same run:
//!
//! 1. Bus ingest with the recording on vs off: redis-benchmark PUBLISHes N envelopes to a
//!    Redis bus, with and without a recorder tapping the bus (rounds alternate off/on so
//!    the machine's noise falls on both). Target: on ≥ 95% of off.
//! 2. Recording size per 1,000 tokens: a runtime on the sim runner handles intents; the
//!    recording's growth is divided by the tokens streamed (all entries, and tokens alone).
//!
//! `cargo bench --bench recording` (needs `redis-server` and `redis-benchmark` on PATH).
//! AIOS_BENCH_MESSAGES sets N (default 200,000), AIOS_BENCH_ROUNDS the rounds (default 3).

#[path = "support/ingest.rs"]
mod ingest;
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use aios::bus::{Bus, RedisBus, RedisBusOptions};
use aios::config::Config;
use aios::recorder::{Recorder, RecorderOptions};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One round: publish `n` envelopes and time until the bus has decoded them all.
fn ingest_round(
    rt: &tokio::runtime::Runtime,
    redis: &redis_server::RedisServer,
    n: u64,
    round: usize,
    record: bool,
) -> (f64, u64, u64) {
    let mut config = Config::default();
    config.bus.url = redis.url().into();
    config.bus.prefix = format!("bench{round}:");
    config.runtime.node = "bench".into();
    let bus = rt
        .block_on(RedisBus::connect(RedisBusOptions::for_config(&config)))
        .expect("connect the Redis bus");
    let dir = tempfile::tempdir().expect("temp dir");
    let stop = CancellationToken::new();
    let recorder = if record {
        let r = Recorder::open(RecorderOptions {
            dir: dir.path().to_path_buf(),
            segment_bytes: 64 * 1024 * 1024,
            segment_age: Duration::from_secs(3600),
            keep_bytes: 0,
            redact: Vec::new(),
            secrets: Default::default(),
        })
        .expect("open the recording");
        rt.spawn(aios::recorder::tap::bus(
            bus.subscribe(),
            r.clone(),
            stop.clone(),
        ));
        r
    } else {
        Recorder::off()
    };
    let body = ingest::memory_message();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    ingest::publish(redis.port, &format!("bench{round}:"), n, &body);
    let total = ingest::wait_decoded(&bus, n);
    let rate = total as f64 / started.elapsed().as_secs_f64();
    rt.block_on(recorder.flush());
    stop.cancel();
    rt.block_on(recorder.close());
    let written = recorder.written();
    let bytes: u64 = aios::recorder::list_segments(dir.path())
        .unwrap_or_default()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    (rate, written, bytes)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Recording bytes per 1,000 streamed tokens, on a runtime with the sim runner.
fn size_per_tokens(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.runtime.data_dir = dir.path().to_path_buf();
    config.bus.backend = aios::config::BusBackend::Memory;
    config.memory.backend = aios::config::MemoryBackend::Local;
    config.memory.embedder = aios::config::EmbedderKind::Hash;
    config.llm.runner = aios::config::RunnerKind::Sim;
    config.llm.sim.tokens_per_second = 0;
    config.mcp.http_bind = "127.0.0.1:0".into();
    let rec_dir = rt.block_on(async {
        let runtime = aios::agent::Runtime::start(
            aios::agent::RuntimeOptions::owning(config).expect("data dir lock"),
        )
        .await
        .expect("runtime");
        let me = aios::context::Caller::operator("bench");
        for i in 0..40 {
            let agent = [
                "strategy-agent",
                "ops-agent",
                "content-agent",
                "support-agent",
            ][i % 4];
            runtime
                .dispatch_and_wait(&me, agent, &format!("intent {i}: report on the rollout"))
                .await
                .expect("intent");
        }
        let d = runtime.recorder().dir().expect("on").to_path_buf();
        runtime.shutdown().await;
        d
    });
    let rec = aios::recorder::read(&rec_dir, aios::recorder::Range::default()).expect("read");
    let tokens: u64 = rec
        .entries
        .iter()
        .filter(|e| e.body["event"] == "intent_done")
        .filter_map(|e| e.body["tokens"].as_u64())
        .sum();
    let (mut all, mut token_bytes, mut start) = (0u64, 0u64, 0u64);
    for e in &rec.entries {
        let len = serde_json::to_vec(e)
            .map(|v| v.len() as u64 + 1)
            .unwrap_or(0);
        all += len;
        match e.kind {
            aios::recorder::Kind::Start | aios::recorder::Kind::AgentState if e.seq < 40 => {
                start += len
            }
            aios::recorder::Kind::Event if e.body["event"] == "token" => token_bytes += len,
            _ => {}
        }
    }
    let per = |b: u64| b as f64 * 1000.0 / tokens.max(1) as f64 / 1024.0;
    println!("intents / tokens streamed:      40 / {tokens}");
    println!(
        "recording, all entries:         {} KiB ({start} bytes of it the start snapshot)",
        all / 1024
    );
    println!(
        "per 1,000 tokens, all entries:  {:.1} KiB (start snapshot excluded)",
        per(all - start)
    );
    println!(
        "per 1,000 tokens, tokens alone: {:.1} KiB",
        per(token_bytes)
    );
}

fn main() {
    let n = env_num("AIOS_BENCH_MESSAGES", 200_000);
    let rounds = env_num("AIOS_BENCH_ROUNDS", 3) as usize;
    let redis = redis_server::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let mut recorded = (0, 0);
    for round in 0..rounds {
        let (r, _, _) = ingest_round(&rt, &redis, n, round * 2, false);
        off.push(r);
        let (r, w, b) = ingest_round(&rt, &redis, n, round * 2 + 1, true);
        on.push(r);
        recorded = (w, b);
        println!(
            "round {round}: off {:.0} msg/s, on {r:.0} msg/s",
            off[round]
        );
    }
    let (off_m, on_m) = (median(off), median(on));
    println!("messages per round:             {n}");
    println!("ingest, recording off (median): {off_m:.0} msg/s");
    println!("ingest, recording on (median):  {on_m:.0} msg/s");
    println!(
        "ratio on / off:                 {:.1}% (target ≥ 95%)",
        100.0 * on_m / off_m
    );
    println!(
        "last round recorded:            {} entries, {:.1} MiB ({:.0} bytes each)",
        recorded.0,
        recorded.1 as f64 / 1048576.0,
        recorded.1 as f64 / recorded.0.max(1) as f64
    );
    size_per_tokens(&rt);
}
