//! `aios memory reembed`: a store built by one embedder is refused by another, with the
//! command that fixes it; the rebuild keeps every item (and its text) through an
//! interruption; and end to end from the CLI, a memory remembered with the hash embedder
//! is rebuilt with MiniLM and then found by a paraphrase that shares no word with it.

#[path = "support/minilm_weights.rs"]
mod minilm_weights;
mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use aios::config::MemoryConfig;
use aios::memory::reembed::{self, ReembedError};
use aios::memory::schema::VectorStoreKind;
use aios::memory::stores::open_store;
use aios::memory::{
    Embedder, HashEmbedder, MemoryError, MemoryFilter, MemoryItem, VectorMemory, VectorSpace,
};

/// The hash embedder under another name, failing after `fail_after` texts when set: a
/// second embedder whose vectors are checkable without model weights.
struct Renamed {
    name: &'static str,
    inner: HashEmbedder,
    fail_after: Option<usize>,
    done: AtomicUsize,
}

impl Renamed {
    fn new(name: &'static str, fail_after: Option<usize>) -> Self {
        Self {
            name,
            inner: HashEmbedder::new(64),
            fail_after,
            done: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Embedder for Renamed {
    fn name(&self) -> String {
        self.name.into()
    }
    fn dims(&self) -> usize {
        64
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, MemoryError> {
        let done = self.done.fetch_add(texts.len(), Ordering::SeqCst) + texts.len();
        if self.fail_after.is_some_and(|n| done > n) {
            return Err(MemoryError::Embedder("the model stopped".into()));
        }
        self.inner.embed(texts).await
    }
}

fn memory_config() -> MemoryConfig {
    MemoryConfig {
        dims: 64,
        ..MemoryConfig::default()
    }
}

async fn open_local(
    data_dir: &Path,
    space: VectorSpace,
) -> Result<Arc<dyn VectorMemory>, MemoryError> {
    open_store(VectorStoreKind::Local, &memory_config(), data_dir, &space).await
}

/// A local store built with the hash embedder, holding `n` items.
async fn built_with_hash(data_dir: &Path, n: usize) -> Vec<MemoryItem> {
    let hash = HashEmbedder::new(64);
    let memory = open_local(data_dir, VectorSpace::of(&hash))
        .await
        .expect("open");
    let items: Vec<MemoryItem> = (0..n)
        .map(|i| MemoryItem {
            id: format!("item-{i:04}"),
            agent_id: if i % 2 == 0 {
                "ops-agent"
            } else {
                "support-agent"
            }
            .into(),
            kind: "fact".into(),
            text: format!("fact number {i} about invoice {}", i * 7),
            ts: "2026-12-06T00:00:00Z".into(),
            tags: vec![format!("t{i}")],
        })
        .collect();
    let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    let vectors = hash.embed(&texts).await.expect("embed");
    memory
        .upsert(items.iter().cloned().zip(vectors).collect())
        .await
        .expect("upsert");
    items
}

async fn all_items(memory: &dyn VectorMemory) -> Vec<MemoryItem> {
    memory
        .scan(&MemoryFilter::default(), None, 10_000)
        .await
        .expect("scan")
}

#[tokio::test]
async fn another_embedder_is_refused_with_the_fix_and_reembed_rebuilds_every_item() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items = built_with_hash(dir.path(), 1200).await;
    let other = Renamed::new("other-embedder", None);

    let refused = open_local(dir.path(), VectorSpace::of(&other)).await;
    let Err(err) = refused else {
        panic!("a store of hash vectors opened for other-embedder")
    };
    let msg = err.to_string();
    assert!(
        msg.contains("aios memory reembed")
            && msg.contains("hash")
            && msg.contains("other-embedder"),
        "{msg}"
    );

    let dump = dir.path().join("memory-reembed").join("local.jsonl");
    let mut seen = Vec::new();
    let rebuilt = reembed::rebuild(
        "the local memory",
        |space| {
            let d = dir.path().to_path_buf();
            async move { open_local(&d, space).await }
        },
        &other,
        &dump,
        |done, total| seen.push((done, total)),
    )
    .await
    .expect("rebuild");
    assert_eq!(rebuilt.items, 1200);
    assert_eq!(
        rebuilt.from.as_ref().map(|s| s.embedder.as_str()),
        Some("hash")
    );
    assert!(!rebuilt.resumed);
    assert_eq!(seen.last(), Some(&(1200, 1200)));
    assert!(
        !dump.exists(),
        "the dump is removed once the store is rebuilt"
    );

    let memory = open_local(dir.path(), VectorSpace::of(&other))
        .await
        .expect("now it opens");
    let mut after = all_items(&*memory).await;
    after.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(after, items, "every item, with its text and tags, is back");
    // The vectors are the new embedder's: a query of one item's own text finds it first.
    let q = other.embed(&[items[17].text.clone()]).await.expect("embed");
    let found = memory
        .search(&q[0], &MemoryFilter::agent(&items[17].agent_id), 1)
        .await
        .expect("search");
    assert_eq!(found[0].item.id, items[17].id);
    assert!(found[0].score > 0.99, "{}", found[0].score);

    // Run again: already rebuilt, nothing done.
    drop(memory);
    let again = reembed::rebuild(
        "the local memory",
        |space| {
            let d = dir.path().to_path_buf();
            async move { open_local(&d, space).await }
        },
        &other,
        &dump,
        |_, _| {},
    )
    .await
    .expect("second run");
    assert_eq!(again.from, None);
}

#[tokio::test]
async fn an_interrupted_rebuild_keeps_every_item_and_the_next_run_finishes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let items = built_with_hash(dir.path(), 1500).await;
    let dump = dir.path().join("memory-reembed").join("local.jsonl");
    let open = |space: VectorSpace| {
        let d = dir.path().to_path_buf();
        async move { open_local(&d, space).await }
    };

    let failing = Renamed::new("other-embedder", Some(700));
    let err = reembed::rebuild("the local memory", open, &failing, &dump, |_, _| {})
        .await
        .expect_err("the embedder stops mid-way");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            ReembedError::Interrupted {
                done: 512,
                total: 1500,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("run `aios memory reembed` again"), "{msg}");
    assert!(
        dump.exists(),
        "the dump holds what the store no longer does"
    );

    let good = Renamed::new("other-embedder", None);
    let rebuilt = reembed::rebuild("the local memory", open, &good, &dump, |_, _| {})
        .await
        .expect("resumed");
    assert!(rebuilt.resumed);
    assert_eq!(rebuilt.items, 1500);
    assert!(!dump.exists());
    let memory = open(VectorSpace::of(&good)).await.expect("open");
    let mut after = all_items(&*memory).await;
    after.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(after, items);
}

/// The CLI end to end: remember with hash, switch to MiniLM (refused), reembed, search.
#[test]
fn the_cli_rebuilds_a_hash_memory_with_minilm_and_search_finds_a_paraphrase() {
    let Some(model) = minilm_weights::model_dir_or_skip("the reembed CLI test") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let run = |embedder: &str, args: &[&str]| {
        let out = support::aios(tmp.path(), &data)
            .env("AIOS_MEMORY_EMBEDDER", embedder)
            .env("AIOS_MEMORY_EMBEDDING_MODEL_DIR", &model)
            .args(args)
            .output()
            .expect("run aios");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Remember through a runtime on the hash embedder (a dispatch stores the episode).
    for text in [
        "The customer was charged twice for the same invoice.",
        "Restart the crashed worker on node 7 and report the latency.",
        "Draft a blog post about our new pricing tiers.",
    ] {
        let (ok, _, err) = run("hash", &["dispatch", "support-agent", text]);
        assert!(ok, "{err}");
    }

    let (ok, _, err) = run(
        "minilm",
        &["memory", "search", "support-agent", "client billed double"],
    );
    assert!(!ok, "a hash-built store must be refused by MiniLM");
    assert!(err.contains("aios memory reembed"), "{err}");

    let (ok, out, err) = run("minilm", &["memory", "reembed"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("rebuilt with `minilm:all-MiniLM-L6-v2`"),
        "{out}"
    );

    let (ok, out, err) = run(
        "minilm",
        &[
            "memory",
            "search",
            "support-agent",
            "A client got billed double.",
            "--k",
            "3",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("embedder minilm:all-MiniLM-L6-v2"), "{out}");
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(first.contains("charged twice"), "{out}");
}
