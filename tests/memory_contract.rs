//! `LocalMemory` against the `VectorMemory` contract, plus what only the local backend
//! promises: its on-disk checks and an exact top-k.

#[path = "support/memory_contract.rs"]
mod memory_contract;

use std::path::Path;
use std::time::Instant;

use aios::memory::{
    HashEmbedder, LocalMemory, MemoryError, MemoryFilter, MemoryItem, VectorMemory,
};

use memory_contract::{DIMS, item, run_contract, vector};

#[tokio::test]
async fn local_memory_meets_the_contract() {
    let root = tempfile::tempdir().expect("tempdir");
    let open = |name: String, dims: usize| {
        let dir = root.path().join(name);
        async move {
            Box::new(LocalMemory::open(&dir, dims).expect("open local memory"))
                as Box<dyn VectorMemory>
        }
    };
    run_contract(open).await;
}

#[tokio::test]
async fn keeps_its_data_in_memory_redb_under_the_dir() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("nested").join("memory");
    let memory = LocalMemory::open(&dir, DIMS).expect("open");
    assert_eq!(memory.path(), dir.join("memory.redb"));
    assert!(dir.join("memory.redb").is_file());
    assert_eq!(memory.name(), "local");
}

#[tokio::test]
async fn reopening_with_other_dimensions_is_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    {
        let memory = LocalMemory::open(root.path(), DIMS).expect("open");
        memory
            .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
            .await
            .expect("upsert");
    }
    let err = LocalMemory::open(root.path(), 384)
        .err()
        .expect("dims mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("8-dimensional") && msg.contains("384"),
        "{msg}"
    );
    assert!(msg.contains("memory.dims"), "{msg}");
    // The data is untouched.
    let memory = LocalMemory::open(root.path(), DIMS).expect("reopen");
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        1
    );
}

#[tokio::test]
async fn a_second_open_of_the_same_dir_is_an_error_not_a_panic() {
    let root = tempfile::tempdir().expect("tempdir");
    let _first = LocalMemory::open(root.path(), DIMS).expect("open");
    let err = LocalMemory::open(root.path(), DIMS)
        .err()
        .expect("second open");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[tokio::test]
async fn zero_dimensions_and_non_finite_vectors_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    assert!(LocalMemory::open(&root.path().join("zero"), 0).is_err());

    let memory = LocalMemory::open(root.path(), DIMS).expect("open");
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let err = memory
            .upsert(vec![(item("a", "fact", "bad"), vector(&[1.0, bad]))])
            .await
            .expect_err("non-finite vector");
        assert!(matches!(err, MemoryError::Storage(_)), "{err:?}");
        assert!(
            memory
                .search(&vector(&[bad]), &MemoryFilter::default(), 3)
                .await
                .is_err()
        );
    }
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        0
    );
}

#[tokio::test]
async fn a_zero_vector_is_stored_and_scores_zero() {
    // The hash embedder gives a zero vector for text without words.
    let root = tempfile::tempdir().expect("tempdir");
    let memory = LocalMemory::open(root.path(), DIMS).expect("open");
    memory
        .upsert(vec![
            (item("a", "fact", "empty"), vector(&[])),
            (item("a", "fact", "x"), vector(&[1.0])),
        ])
        .await
        .expect("upsert");
    let found = memory
        .search(&vector(&[1.0]), &MemoryFilter::default(), 5)
        .await
        .expect("search");
    assert_eq!(found.len(), 2);
    assert_eq!(found[1].item.text, "empty");
    assert_eq!(found[1].score, 0.0);
    let found = memory
        .search(&vector(&[]), &MemoryFilter::default(), 5)
        .await
        .expect("zero query");
    assert!(found.iter().all(|s| s.score == 0.0));
}

#[tokio::test]
async fn recall_with_the_hash_embedder_finds_the_related_text() {
    let root = tempfile::tempdir().expect("tempdir");
    let embedder = HashEmbedder::new(384);
    let memory = LocalMemory::open(root.path(), 384).expect("open");
    let notes = [
        "Customer 42 cannot log in after the password reset",
        "Invoice 1093 was charged twice this month",
        "Keyword audit for the pricing landing page",
        "Churn risk is rising among annual plan customers",
    ];
    memory
        .upsert(
            notes
                .iter()
                .map(|t| (item("support-agent", "fact", t), embedder.embed_one(t)))
                .collect(),
        )
        .await
        .expect("upsert");
    let found = memory
        .search(
            &embedder.embed_one("customer can't login, password reset failed"),
            &MemoryFilter::agent("support-agent"),
            2,
        )
        .await
        .expect("search");
    assert_eq!(found[0].item.text, notes[0]);
    assert!(found[0].score > found[1].score + 0.2);
}

/// A small deterministic generator (xorshift64*), so the test needs no extra crate.
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

    fn vector(&mut self, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| self.normalish()).collect()
    }
}

fn unit(v: &[f32]) -> Vec<f64> {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    v.iter().map(|&x| f64::from(x) / norm).collect()
}

/// Random items for `agents` agents and two kinds; vector i belongs to item i.
fn random_items(rng: &mut Rng, n: usize, dims: usize) -> Vec<(MemoryItem, Vec<f32>)> {
    (0..n)
        .map(|i| {
            let agent = format!("agent-{}", i % 7);
            let kind = if i % 3 == 0 { "episodic" } else { "fact" };
            let mut it = item(&agent, kind, &format!("item {i}"));
            it.id = format!("{i:08}");
            (it, rng.vector(dims))
        })
        .collect()
}

/// The top `k` by cosine, computed the slow and obvious way (in f64).
fn brute_force_top_k(
    items: &[(MemoryItem, Vec<f32>)],
    units: &[Vec<f64>],
    query: &[f32],
    filter: &MemoryFilter,
    k: usize,
) -> Vec<(String, f64)> {
    let q = unit(query);
    let mut scored: Vec<(String, f64)> = items
        .iter()
        .zip(units)
        .filter(|((it, _), _)| filter.matches(it))
        .map(|((it, _), v)| (it.id.clone(), v.iter().zip(&q).map(|(a, b)| a * b).sum()))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored
}

async fn fill(dir: &Path, items: &[(MemoryItem, Vec<f32>)], dims: usize) -> LocalMemory {
    let memory = LocalMemory::open(dir, dims).expect("open");
    for batch in items.chunks(5_000) {
        memory.upsert(batch.to_vec()).await.expect("upsert");
    }
    memory
}

#[tokio::test]
async fn top_10_over_20_000_random_vectors_equals_brute_force() {
    const N: usize = 20_000;
    const D: usize = 384;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let items = random_items(&mut rng, N, D);
    let units: Vec<Vec<f64>> = items.iter().map(|(_, v)| unit(v)).collect();
    let root = tempfile::tempdir().expect("tempdir");
    let memory = fill(root.path(), &items, D).await;
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        N as u64
    );

    let filters = [
        MemoryFilter::default(),
        MemoryFilter::agent("agent-3"),
        MemoryFilter {
            agent_id: Some("agent-5".into()),
            kind: Some("episodic".into()),
        },
    ];
    for q in 0..12 {
        // Half random queries, half close to a stored item (as real recall is).
        let query = if q % 2 == 0 {
            rng.vector(D)
        } else {
            let base = &items[(rng.next_u64() % N as u64) as usize].1;
            base.iter().map(|x| x + 0.5 * rng.normalish()).collect()
        };
        let filter = &filters[q % filters.len()];
        let want = brute_force_top_k(&items, &units, &query, filter, 10);
        let got = memory.search(&query, filter, 10).await.expect("search");
        let got_ids: Vec<&str> = got.iter().map(|s| s.item.id.as_str()).collect();
        let want_ids: Vec<&str> = want.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(got_ids, want_ids, "query {q}, filter {filter:?}");
        for (g, (_, w)) in got.iter().zip(&want) {
            assert!((f64::from(g.score) - w).abs() < 1e-5, "{} vs {w}", g.score);
            assert!(filter.matches(&g.item));
        }
    }
}

/// One timing of a top-10 search over 100,000 × 384, for the README's numbers; run with
/// `CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_PROFILE_DEV_DEBUG_ASSERTIONS=false
/// CARGO_PROFILE_DEV_OVERFLOW_CHECKS=false cargo test --test memory_contract -- --ignored
/// --nocapture` (or `--release`).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement, not a check; slow in a debug build"]
async fn time_top_10_over_100_000_vectors() {
    const N: usize = 100_000;
    const D: usize = 384;
    let mut rng = Rng(42);
    let items = random_items(&mut rng, N, D);
    let root = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    drop(fill(root.path(), &items, D).await);
    eprintln!("insert {N} × {D} in batches of 5000: {:?}", start.elapsed());
    let start = Instant::now();
    let memory = LocalMemory::open(root.path(), D).expect("reopen");
    eprintln!("reopen (load) {N}: {:?}", start.elapsed());

    let queries: Vec<Vec<f32>> = (0..50).map(|_| rng.vector(D)).collect();
    for (name, filter) in [
        ("unfiltered", MemoryFilter::default()),
        ("one agent of 7", MemoryFilter::agent("agent-2")),
    ] {
        let mut times = Vec::new();
        for q in &queries {
            let start = Instant::now();
            let found = memory.search(q, &filter, 10).await.expect("search");
            times.push(start.elapsed());
            assert_eq!(found.len(), 10);
        }
        times.sort();
        eprintln!(
            "top-10 {name}: median {:?}, p90 {:?}, max {:?}",
            times[times.len() / 2],
            times[times.len() * 9 / 10],
            times[times.len() - 1]
        );
    }
}
