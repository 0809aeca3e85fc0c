//! Every `VectorMemory` backend against the contract — `LocalMemory` always, `QdrantMemory`
//! against the in-test Qdrant and, when `AIOS_TEST_QDRANT_URL` is set, a real one — plus
//! what only one backend promises (the local on-disk checks and exact top-k; Qdrant's
//! collection, indexes and batching) and how `memory.backend` picks one.

#[path = "support/memory_contract.rs"]
mod memory_contract;
#[path = "support/qdrant_server.rs"]
mod qdrant_server;

use std::path::Path;
use std::time::Instant;

use aios::memory::{
    HashEmbedder, LocalMemory, MemoryError, MemoryFilter, MemoryItem, VectorMemory, VectorSpace,
};

use memory_contract::{DIMS, item, run_contract, space, vector};

#[tokio::test]
async fn local_memory_meets_the_contract() {
    let root = tempfile::tempdir().expect("tempdir");
    let open = |name: String, space: VectorSpace| {
        let dir = root.path().join(name);
        async move { LocalMemory::open(&dir, &space).map(|m| Box::new(m) as Box<dyn VectorMemory>) }
    };
    run_contract(&open).await;
    memory_contract::scan_orders_any_id_text_by_its_bytes(&open).await;
}

#[tokio::test]
async fn keeps_its_data_in_memory_redb_under_the_dir() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("nested").join("memory");
    let memory = LocalMemory::open(&dir, &space(DIMS)).expect("open");
    assert_eq!(memory.path(), dir.join("memory.redb"));
    assert!(dir.join("memory.redb").is_file());
    assert_eq!(memory.name(), "local");
}

#[tokio::test]
async fn reopening_with_other_dimensions_is_a_clear_error() {
    let root = tempfile::tempdir().expect("tempdir");
    {
        let memory = LocalMemory::open(root.path(), &space(DIMS)).expect("open");
        memory
            .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
            .await
            .expect("upsert");
    }
    let err = LocalMemory::open(root.path(), &space(384))
        .err()
        .expect("dims mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("8-dimensional") && msg.contains("384"),
        "{msg}"
    );
    assert!(msg.contains("memory.dims"), "{msg}");
    // The data is untouched.
    let memory = LocalMemory::open(root.path(), &space(DIMS)).expect("reopen");
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        1
    );
}

#[tokio::test]
async fn a_second_open_of_the_same_dir_is_an_error_not_a_panic() {
    let root = tempfile::tempdir().expect("tempdir");
    let _first = LocalMemory::open(root.path(), &space(DIMS)).expect("open");
    let err = LocalMemory::open(root.path(), &space(DIMS))
        .err()
        .expect("second open");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[tokio::test]
async fn zero_dimensions_and_non_finite_vectors_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    assert!(LocalMemory::open(&root.path().join("zero"), &space(0)).is_err());

    let memory = LocalMemory::open(root.path(), &space(DIMS)).expect("open");
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
    let memory = LocalMemory::open(root.path(), &space(DIMS)).expect("open");
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
    let memory = LocalMemory::open(root.path(), &space(384)).expect("open");
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
    let memory = LocalMemory::open(dir, &space(dims)).expect("open");
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

/// One timing of a top-10 search over 100,000 × 384, for docs/benchmarks.md's numbers; run with
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
    let memory = LocalMemory::open(root.path(), &space(D)).expect("reopen");
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

// ---- Qdrant ----------------------------------------------------------------------------

mod support;

use aios::config::{MemoryBackend, MemoryConfig};
use aios::memory::QdrantMemory;
use aios::memory::qdrant::BATCH;
use aios::memory::select;
use qdrant_client::qdrant::{Distance, PayloadSchemaType};
use qdrant_server::InTestQdrant;

/// A URL where nothing listens: a port bound and released.
fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

fn memory_config(backend: MemoryBackend, url: &str, dims: u32) -> MemoryConfig {
    MemoryConfig {
        backend,
        url: url.to_string(),
        dims,
        ..MemoryConfig::default()
    }
}

#[tokio::test]
async fn qdrant_memory_meets_the_contract_on_the_in_test_server() {
    let server = InTestQdrant::start().await;
    let url = server.url();
    let open = |name: String, space: VectorSpace| {
        let url = url.clone();
        async move {
            QdrantMemory::open(&url, &name, &space)
                .await
                .map(|m| Box::new(m) as Box<dyn VectorMemory>)
        }
    };
    run_contract(open).await;
    // Every write waited for Qdrant to apply it.
    assert!(server.upserts().iter().all(|&(_, wait)| wait == Some(true)));
}

#[tokio::test]
async fn qdrant_memory_meets_the_contract_on_a_real_server() {
    let Ok(url) = std::env::var("AIOS_TEST_QDRANT_URL") else {
        eprintln!(
            "skipped: set AIOS_TEST_QDRANT_URL (e.g. http://127.0.0.1:6334) to run the contract \
             against a real Qdrant"
        );
        return;
    };
    // Collections of this run only, removed afterwards even if a check fails.
    let prefix = format!(
        "aios_test_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let run = {
        let (url, prefix) = (url.clone(), prefix.clone());
        tokio::spawn(async move {
            let open = |name: String, space: VectorSpace| {
                let url = url.clone();
                let collection = format!("{prefix}_{}", name.replace('-', "_"));
                async move {
                    QdrantMemory::open(&url, &collection, &space)
                        .await
                        .map(|m| Box::new(m) as Box<dyn VectorMemory>)
                }
            };
            run_contract(open).await;
        })
    };
    let outcome = run.await;
    let client = qdrant_client::Qdrant::from_url(&url)
        .skip_compatibility_check()
        .build()
        .expect("client");
    if let Ok(list) = client.list_collections().await {
        for c in list
            .collections
            .iter()
            .filter(|c| c.name.starts_with(&prefix))
        {
            let _ = client.delete_collection(&c.name).await;
        }
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn a_new_collection_gets_cosine_vectors_and_keyword_indexes() {
    let server = InTestQdrant::start().await;
    let memory = QdrantMemory::open(&server.url(), "aios_memory", &space(384))
        .await
        .expect("open");
    assert_eq!(memory.name(), "qdrant");
    assert_eq!(memory.dims(), 384);
    assert_eq!(server.collections(), ["aios_memory"]);
    assert_eq!(
        server.params_of("aios_memory"),
        Some((384, Distance::Cosine))
    );
    for field in ["agent_id", "kind"] {
        assert_eq!(
            server.index_of("aios_memory", field),
            Some(PayloadSchemaType::Keyword as i32),
            "{field}"
        );
    }
    // Opening again changes nothing and keeps what is there.
    memory
        .upsert(vec![(item("a", "fact", "x"), vec![1.0; 384])])
        .await
        .expect("upsert");
    drop(memory);
    let memory = QdrantMemory::open(&server.url(), "aios_memory", &space(384))
        .await
        .expect("reopen");
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        1
    );
    assert_eq!(server.collections(), ["aios_memory"]);
}

#[tokio::test]
async fn an_existing_collection_made_for_other_vectors_is_refused_at_open() {
    let server = InTestQdrant::start().await;
    server.create_collection("aios_memory", 768, Distance::Cosine);
    let err = QdrantMemory::open(&server.url(), "aios_memory", &space(384))
        .await
        .err()
        .expect("size mismatch");
    let msg = err.to_string();
    assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    for part in [
        "768-dimensional",
        "384",
        "`aios_memory`",
        &server.url(),
        "memory.dims",
    ] {
        assert!(msg.contains(part), "`{part}` missing from: {msg}");
    }

    server.create_collection("by_dot", 384, Distance::Dot);
    let err = QdrantMemory::open(&server.url(), "by_dot", &space(384))
        .await
        .err()
        .expect("distance mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("Dot") && msg.contains("Cosine") && msg.contains("`by_dot`"),
        "{msg}"
    );
    // Nothing was created or changed on the way.
    assert_eq!(server.index_of("aios_memory", "agent_id"), None);
    assert_eq!(
        server.params_of("aios_memory"),
        Some((768, Distance::Cosine))
    );
}

#[tokio::test]
async fn the_space_is_kept_in_collection_metadata_and_another_refused_before_any_change() {
    let server = InTestQdrant::start().await;
    let want = VectorSpace::new("minilm:all-MiniLM-L6-v2", DIMS);
    drop(
        QdrantMemory::open(&server.url(), "aios_memory", &want)
            .await
            .expect("open"),
    );
    let meta = server.metadata_of("aios_memory").expect("collection");
    let text = |key: &str| match meta.get(key).and_then(|v| v.kind.clone()) {
        Some(qdrant_client::qdrant::value::Kind::StringValue(s)) => s,
        Some(qdrant_client::qdrant::value::Kind::IntegerValue(i)) => i.to_string(),
        other => panic!("{key}: {other:?}"),
    };
    assert_eq!(text("aios_embedder"), "minilm:all-MiniLM-L6-v2");
    assert_eq!(text("aios_dims"), DIMS.to_string());

    // A collection recorded by another embedder, without our indexes yet: refused, and
    // the refused open creates nothing.
    server.create_collection("theirs", DIMS as u64, Distance::Cosine);
    server.set_metadata(
        "theirs",
        [
            ("aios_embedder".to_string(), "hash".into()),
            ("aios_dims".to_string(), (DIMS as i64).into()),
        ]
        .into_iter()
        .collect(),
    );
    let err = QdrantMemory::open(&server.url(), "theirs", &want)
        .await
        .err()
        .expect("another embedder");
    assert!(matches!(err, MemoryError::SpaceMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("`theirs`") && msg.contains(&server.url()),
        "{msg}"
    );
    assert_eq!(server.index_of("theirs", "agent_id"), None);
}

#[tokio::test]
async fn a_qdrant_without_metadata_is_used_unchecked() {
    // Before 1.16 Qdrant keeps no metadata: nothing can be recorded, so nothing is refused.
    let server = InTestQdrant::start_as("1.15.3").await;
    let memory = QdrantMemory::open(&server.url(), "aios_memory", &space(DIMS))
        .await
        .expect("open");
    memory
        .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
        .await
        .expect("upsert");
    drop(memory);
    assert_eq!(server.metadata_of("aios_memory"), Some(Default::default()));
    let other = VectorSpace::new("another-embedder", DIMS);
    let memory = QdrantMemory::open(&server.url(), "aios_memory", &other)
        .await
        .expect("unchecked");
    assert_eq!(memory.space(), other);
}

#[tokio::test]
async fn upserts_are_sent_in_batches_and_filters_reach_the_server() {
    let server = InTestQdrant::start().await;
    let memory = QdrantMemory::open(&server.url(), "aios_memory", &space(DIMS))
        .await
        .expect("open");
    let n = 2 * BATCH + 88;
    let items: Vec<(MemoryItem, Vec<f32>)> = (0..n)
        .map(|i| {
            let agent = if i % 2 == 0 {
                "even-agent"
            } else {
                "odd-agent"
            };
            let angle = i as f32 / n as f32;
            (
                item(agent, "fact", &format!("item {i}")),
                vector(&[angle.cos(), angle.sin()]),
            )
        })
        .collect();
    memory.upsert(items).await.expect("upsert");
    assert_eq!(
        server.upserts(),
        [(BATCH, Some(true)), (BATCH, Some(true)), (88, Some(true))]
    );
    assert_eq!(
        memory.count(&MemoryFilter::default()).await.expect("count"),
        n as u64
    );
    let even = MemoryFilter::agent("even-agent");
    assert_eq!(memory.count(&even).await.expect("count"), (n / 2) as u64);
    let found = memory
        .search(&vector(&[1.0]), &even, 3)
        .await
        .expect("search");
    let texts: Vec<&str> = found.iter().map(|s| s.item.text.as_str()).collect();
    assert_eq!(texts, ["item 0", "item 2", "item 4"]);
    // Deleting many ids also goes in batches, and counts what existed.
    let ids: Vec<String> = (0..n).map(|_| memory_contract::new_id()).collect();
    assert_eq!(memory.delete(&ids).await.expect("delete"), 0);
}

#[tokio::test]
async fn auto_takes_qdrant_when_it_answers_and_says_so() {
    let server = InTestQdrant::start().await;
    let data = tempfile::tempdir().expect("tempdir");
    let config = memory_config(MemoryBackend::Auto, &server.url(), 384);
    let selected = select::open(&config, data.path(), &space(384))
        .await
        .expect("open");
    assert_eq!(selected.memory.name(), "qdrant");
    assert!(
        selected.note.contains("auto → qdrant") && selected.note.contains(&server.url()),
        "{}",
        selected.note
    );
    assert_eq!(server.collections(), ["aios_memory"]);
    assert!(
        !data.path().join("memory").exists(),
        "no local index is made when Qdrant is used"
    );
}

#[tokio::test]
async fn auto_takes_the_local_index_when_qdrant_does_not_answer() {
    let data = tempfile::tempdir().expect("tempdir");
    let url = dead_url();
    let config = memory_config(MemoryBackend::Auto, &url, 384);
    let selected = select::open(&config, data.path(), &space(384))
        .await
        .expect("open");
    assert_eq!(selected.memory.name(), "local");
    assert!(
        selected.note.contains("auto → local") && selected.note.contains(&url),
        "{}",
        selected.note
    );
    assert!(data.path().join("memory").join("memory.redb").is_file());
}

#[tokio::test]
async fn auto_does_not_fall_back_from_a_collection_of_another_size() {
    // Falling back would split the memory between two stores without anyone noticing.
    let server = InTestQdrant::start().await;
    server.create_collection("aios_memory", 768, Distance::Cosine);
    let data = tempfile::tempdir().expect("tempdir");
    let config = memory_config(MemoryBackend::Auto, &server.url(), 384);
    let err = select::open(&config, data.path(), &space(384))
        .await
        .expect_err("mismatch");
    assert!(err.to_string().contains("768-dimensional"), "{err}");
}

#[tokio::test]
async fn explicit_qdrant_that_does_not_answer_is_a_one_line_error() {
    let data = tempfile::tempdir().expect("tempdir");
    let url = dead_url();
    let config = memory_config(MemoryBackend::Qdrant, &url, 384);
    let started = Instant::now();
    let err = select::open(&config, data.path(), &space(384))
        .await
        .expect_err("unreachable");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let msg = err.to_string();
    assert!(matches!(err, MemoryError::Unreachable { .. }), "{err:?}");
    assert!(
        msg.starts_with(&format!("qdrant at {url} is not reachable")),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    assert!(!data.path().join("memory").exists());
}

#[tokio::test]
async fn local_never_probes_the_network_and_auto_does() {
    // A listener that never answers: a probe shows up as a pending connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let data = tempfile::tempdir().expect("tempdir");

    let local = memory_config(MemoryBackend::Local, &url, 384);
    let selected = select::open(&local, data.path(), &space(384))
        .await
        .expect("open local");
    assert_eq!(selected.memory.name(), "local");
    drop(selected);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "memory.backend = local connected to {url}"
    );

    let auto = memory_config(MemoryBackend::Auto, &url, 384);
    let selected = select::open(&auto, data.path(), &space(384))
        .await
        .expect("open auto");
    assert_eq!(
        selected.memory.name(),
        "local",
        "a silent server is not Qdrant"
    );
    assert!(listener.accept().is_ok(), "auto did probe {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_which_memory_backend_runs_and_whether_qdrant_answered() {
    let server = InTestQdrant::start().await;
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = cwd.path().join("data");
    let doctor = |backend: &str, url: &str| {
        let out = support::aios(cwd.path(), &data)
            .arg("doctor")
            .env("AIOS_MEMORY_BACKEND", backend)
            .env("AIOS_MEMORY_URL", url)
            .output()
            .expect("run aios doctor");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout
            .lines()
            .find(|l| l.starts_with("memory"))
            .unwrap_or_else(|| panic!("no memory line in:\n{stdout}"))
            .to_string();
        (out.status.success(), line)
    };
    let (ok, line) = tokio::task::block_in_place(|| doctor("auto", &server.url()));
    assert!(ok, "{line}");
    assert!(
        line.contains("ok") && line.contains("auto → qdrant") && line.contains("reachable"),
        "{line}"
    );
    assert!(line.contains("created at start with 384 dims"), "{line}");

    let dead = dead_url();
    let (ok, line) = tokio::task::block_in_place(|| doctor("auto", &dead));
    assert!(ok, "{line}");
    assert!(
        line.contains("warn") && line.contains("auto → local"),
        "{line}"
    );
    assert!(
        line.contains(&dead) && line.contains("not reachable"),
        "{line}"
    );

    let (ok, line) = tokio::task::block_in_place(|| doctor("qdrant", &dead));
    assert!(!ok, "an explicit Qdrant that is down fails doctor");
    assert!(
        line.contains("FAIL") && line.contains("not reachable"),
        "{line}"
    );

    let (ok, line) = tokio::task::block_in_place(|| doctor("local", &dead));
    assert!(ok, "{line}");
    assert!(line.contains("not probed"), "{line}");

    server.create_collection("aios_memory", 768, Distance::Cosine);
    let (ok, line) = tokio::task::block_in_place(|| doctor("auto", &server.url()));
    assert!(!ok, "{line}");
    assert!(
        line.contains("FAIL") && line.contains("768-dimensional"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_on_qdrant_remembers_and_recalls_through_it() {
    let server = InTestQdrant::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = support::config_in(dir.path());
    config.memory.backend = MemoryBackend::Qdrant;
    config.memory.url = server.url();
    let rt = aios::agent::Runtime::start(support::options(config))
        .await
        .expect("runtime starts on qdrant");
    assert_eq!(rt.hub().memory_name(), "qdrant");
    let me = aios::context::Caller::operator("alice");
    rt.dispatch_and_wait(&me, "support-agent", "Customer 42 cannot log in")
        .await
        .expect("dispatch");
    assert!(
        server.upserts().iter().map(|&(n, _)| n).sum::<usize>() >= 1,
        "the episodic memory went to Qdrant"
    );
    let recalled = rt
        .hub()
        .recall(&me, "support-agent", "cannot log in", 5, Some("episodic"))
        .await
        .expect("recall");
    assert_eq!(recalled.len(), 1);
    assert!(recalled[0].item.text.contains("Customer 42"));
    assert_eq!(recalled[0].item.agent_id, "support-agent");
    assert!(
        !dir.path().join("memory").exists(),
        "no local index was made"
    );
    rt.shutdown().await;
}
