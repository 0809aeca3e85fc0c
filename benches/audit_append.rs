//! Audit append throughput: records sealed, written and fsynced per second through `AuditLog`.
//!
//! Each iteration appends `RECORDS` records from a tokio task into a fresh log in a temp
//! dir and waits for `flush`, so the figure includes hashing, redaction, the writes and
//! the batched fsyncs, not just queueing.

use std::time::{Duration, Instant};

use aios::audit::{AuditEntry, AuditLog, AuditOptions, Outcome};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const RECORDS: u64 = 100_000;

fn entry(i: u64) -> AuditEntry {
    AuditEntry {
        agent_id: Some("support-agent".into()),
        action: "update_context".into(),
        input: json!({
            "text": "Customer 42 cannot log in after the password reset",
            "version": i,
            "tags": ["login", "support"],
        }),
        context_id: Some(format!("ctx-{i}")),
        caller: "agent:support-agent".into(),
        outcome: Outcome::Ok,
        error: None,
        duration_ms: 0.42,
        cause: Default::default(),
    }
}

fn append_and_flush(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    group.bench_function("append_100k_then_flush", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temp dir");
                let log = AuditLog::open(AuditOptions::new(dir.path())).expect("open audit log");
                let started = Instant::now();
                runtime.block_on(async {
                    for i in 0..RECORDS {
                        log.append(entry(i)).expect("append");
                    }
                    log.flush().await.expect("flush");
                });
                total += started.elapsed();
                runtime.block_on(log.close()).expect("close");
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, append_and_flush);
criterion_main!(benches);
