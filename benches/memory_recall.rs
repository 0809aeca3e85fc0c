//! Local vector memory: recall latency (top-10 among 100,000 items of 384 dims, filtered by
//! agent) and upsert throughput, through the public `VectorMemory` API on a one-worker
//! runtime. The target is a recall under 10 ms on one core.
//!
//! Recall is measured on two layouts of the same 100,000 items:
//! - `one_agent`: every item belongs to the agent asked for, so the filter keeps all of
//!   them — the worst case, a scan of the whole store;
//! - `ten_agents`: items spread over ten agents, the filter keeps a tenth.
//!
//! and two kinds of query: `near_item` (a stored item's vector plus noise, as recall of
//! something related is) and `random` (unrelated to everything: scores bunch together, so
//! the quantised pass prunes least and the exact rescoring does the most work).
//!
//! Run on one core with `taskset -c 0 cargo bench --bench memory_recall`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aios::memory::{LocalMemory, MemoryFilter, MemoryItem, VectorMemory, VectorSpace};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const ITEMS: usize = 100_000;
const DIMS: usize = 384;
const K: usize = 10;
const UPSERT_BATCH: usize = 1_000;

/// xorshift64*, so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal: the sum of four uniforms, centred.
    fn normalish(&mut self) -> f32 {
        (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIMS).map(|_| self.normalish()).collect()
    }
}

fn item(i: usize, agent: String) -> MemoryItem {
    MemoryItem {
        id: format!("{i:09}"),
        agent_id: agent,
        kind: if i.is_multiple_of(3) {
            "episodic"
        } else {
            "fact"
        }
        .into(),
        text: format!("remembered item {i}"),
        ts: "2026-11-24T12:00:00.000Z".into(),
        tags: Vec::new(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A memory of `ITEMS` items over `agents` agents, and the stored vectors.
fn filled(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    agents: usize,
    rng: &mut Rng,
) -> (LocalMemory, Vec<Vec<f32>>) {
    let memory = LocalMemory::open(dir, &VectorSpace::new("hash", DIMS)).expect("open");
    let vectors: Vec<Vec<f32>> = (0..ITEMS).map(|_| rng.vector()).collect();
    runtime.block_on(async {
        for (start, chunk) in (0..ITEMS).step_by(10_000).zip(vectors.chunks(10_000)) {
            let batch = chunk
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let i = start + j;
                    (item(i, format!("agent-{}", i % agents)), v.clone())
                })
                .collect();
            memory.upsert(batch).await.expect("upsert");
        }
    });
    (memory, vectors)
}

fn recall(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("memory_recall");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (layout, agents) in [("one_agent", 1), ("ten_agents", 10)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (memory, vectors) = filled(&runtime, dir.path(), agents, &mut rng);
        let filter = MemoryFilter::agent("agent-0");
        let near: Vec<Vec<f32>> = (0..64)
            .map(|_| {
                let base = &vectors[(rng.next_u64() % ITEMS as u64) as usize];
                base.iter().map(|x| x + 0.5 * rng.normalish()).collect()
            })
            .collect();
        let random: Vec<Vec<f32>> = (0..64).map(|_| rng.vector()).collect();
        for (kind, queries) in [("near_item", &near), ("random", &random)] {
            let mut next = 0usize;
            group.bench_function(format!("top10_of_100k_x384/{layout}/{kind}"), |b| {
                b.iter(|| {
                    let q = &queries[next % queries.len()];
                    next += 1;
                    let found = runtime
                        .block_on(memory.search(q, &filter, K))
                        .expect("search");
                    assert_eq!(found.len(), K);
                    black_box(found)
                });
            });
        }
    }
    group.finish();
}

fn upsert(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("memory_upsert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(UPSERT_BATCH as u64));
    let dir = tempfile::tempdir().expect("temp dir");
    let memory = LocalMemory::open(dir.path(), &VectorSpace::new("hash", DIMS)).expect("open");
    let mut rng = Rng(7);
    let mut next_id = 0usize;
    group.bench_function("batch_of_1000_x384", |b| {
        b.iter_batched(
            || {
                (0..UPSERT_BATCH)
                    .map(|_| {
                        next_id += 1;
                        (
                            item(next_id, format!("agent-{}", next_id % 7)),
                            rng.vector(),
                        )
                    })
                    .collect::<Vec<_>>()
            },
            |batch| {
                runtime.block_on(memory.upsert(batch)).expect("upsert");
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();

    // Also the time to load 100,000 items at open, which is what a start pays.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(11);
    drop(filled(&runtime, dir.path(), 7, &mut rng));
    let started = Instant::now();
    let reopened = LocalMemory::open(dir.path(), &VectorSpace::new("hash", DIMS)).expect("reopen");
    eprintln!(
        "memory_recall: reopening 100,000 × {DIMS} took {:?}",
        started.elapsed()
    );
    drop(reopened);
}

criterion_group!(benches, recall, upsert);
criterion_main!(benches);
