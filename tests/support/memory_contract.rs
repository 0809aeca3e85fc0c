//! The `VectorMemory` contract: what every backend (local, Qdrant, …) must do, written
//! once and run against each.
//!
//! A backend's test supplies an opener, `open(name, space)`: a name not used before gives an
//! empty store of `space` (its embedder and vector length); the same name again, after the
//! previous handle is dropped, reopens what that store holds (a restart), and must refuse a
//! length other than the one it was made with ([`MemoryError::Mismatch`]) and another
//! embedder ([`MemoryError::SpaceMismatch`]). Ids are mostly UUIDs, as the runtime makes
//! them; one check makes sure any other id text works too.

#![allow(dead_code)]

use std::future::Future;

use aios::memory::{MemoryError, MemoryFilter, MemoryItem, ScoredItem, VectorMemory, VectorSpace};

/// Dimensions of the contract's hand-made vectors.
pub const DIMS: usize = 8;

/// The embedder name the contract's stores are made with.
pub const EMBEDDER: &str = "contract-embedder";

/// The contract's usual space: [`EMBEDDER`] at `dims`.
pub fn space(dims: usize) -> VectorSpace {
    VectorSpace::new(EMBEDDER, dims)
}

/// Scores may come back through a wire format; this is close enough to equal.
const SCORE_TOLERANCE: f32 = 1e-3;

/// Run every check; a failure names the check.
pub async fn run_contract<F, Fut>(open: F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    eprintln!("contract: starts_empty");
    starts_empty(&open).await;
    eprintln!("contract: search_orders_by_cosine");
    search_orders_by_cosine(&open).await;
    eprintln!("contract: search_respects_k");
    search_respects_k(&open).await;
    eprintln!("contract: filters_by_agent_and_kind");
    filters_by_agent_and_kind(&open).await;
    eprintln!("contract: upsert_replaces_by_id");
    upsert_replaces_by_id(&open).await;
    eprintln!("contract: delete_removes_and_counts_what_existed");
    delete_removes_and_counts_what_existed(&open).await;
    eprintln!("contract: payload_round_trips");
    payload_round_trips(&open).await;
    eprintln!("contract: wrong_dimensions_are_an_error");
    wrong_dimensions_are_an_error(&open).await;
    eprintln!("contract: any_id_text_works");
    any_id_text_works(&open).await;
    eprintln!("contract: survives_a_restart");
    survives_a_restart(&open).await;
    eprintln!("contract: reopening_with_other_dimensions_is_refused");
    reopening_with_other_dimensions_is_refused(&open).await;
    eprintln!("contract: reopening_with_another_embedder_is_refused");
    reopening_with_another_embedder_is_refused(&open).await;
    eprintln!("contract: scan_pages_through_every_item_in_id_order");
    scan_pages_through_every_item_in_id_order(&open).await;
    eprintln!("contract: destroy_empties_it_and_the_next_open_builds_anew");
    destroy_empties_it_and_the_next_open_builds_anew(&open).await;
}

/// Open a store the check expects to open.
async fn open_ok<F, Fut>(open: &F, name: &str, space: VectorSpace) -> Box<dyn VectorMemory>
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let what = space.to_string();
    match open(name.to_string(), space).await {
        Ok(memory) => memory,
        Err(e) => panic!("opening `{name}` in {what}: {e}"),
    }
}

/// A fresh id, as the runtime makes them.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn item(agent_id: &str, kind: &str, text: &str) -> MemoryItem {
    MemoryItem {
        id: new_id(),
        agent_id: agent_id.into(),
        kind: kind.into(),
        text: text.into(),
        ts: "2026-11-24T12:00:00.000Z".into(),
        tags: Vec::new(),
    }
}

/// A vector of `DIMS` from its leading components (the rest zero).
pub fn vector(leading: &[f32]) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[..leading.len()].copy_from_slice(leading);
    v
}

fn texts(found: &[ScoredItem]) -> Vec<&str> {
    found.iter().map(|s| s.item.text.as_str()).collect()
}

fn all() -> MemoryFilter {
    MemoryFilter::default()
}

fn filter(agent_id: Option<&str>, kind: Option<&str>) -> MemoryFilter {
    MemoryFilter {
        agent_id: agent_id.map(str::to_string),
        kind: kind.map(str::to_string),
    }
}

async fn count(memory: &dyn VectorMemory, f: &MemoryFilter) -> u64 {
    memory.count(f).await.expect("count")
}

async fn search(
    memory: &dyn VectorMemory,
    v: &[f32],
    f: &MemoryFilter,
    k: usize,
) -> Vec<ScoredItem> {
    memory.search(v, f, k).await.expect("search")
}

pub async fn starts_empty<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-empty", space(DIMS)).await;
    assert_eq!(memory.dims(), DIMS);
    assert_eq!(memory.space(), space(DIMS));
    assert_eq!(count(memory.as_ref(), &all()).await, 0);
    assert!(
        search(memory.as_ref(), &vector(&[1.0]), &all(), 5)
            .await
            .is_empty()
    );
    assert_eq!(memory.delete(&[new_id()]).await.expect("delete"), 0);
    memory.upsert(Vec::new()).await.expect("empty upsert");
    assert_eq!(count(memory.as_ref(), &all()).await, 0);
}

pub async fn search_orders_by_cosine<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-order", space(DIMS)).await;
    // Inserted out of order; lengths vary, since the score is cosine, not dot product.
    memory
        .upsert(vec![
            (item("a", "fact", "orthogonal"), vector(&[0.0, 3.0])),
            (item("a", "fact", "exact"), vector(&[2.0])),
            (item("a", "fact", "opposite"), vector(&[-1.0])),
            (item("a", "fact", "near"), vector(&[0.9, 0.1])),
            (item("a", "fact", "diagonal"), vector(&[5.0, 5.0])),
        ])
        .await
        .expect("upsert");
    let found = search(memory.as_ref(), &vector(&[1.0]), &all(), 10).await;
    assert_eq!(
        texts(&found),
        ["exact", "near", "diagonal", "orthogonal", "opposite"]
    );
    let expected = [1.0, 0.9 / 0.82f32.sqrt(), 0.5f32.sqrt(), 0.0, -1.0];
    for (got, want) in found.iter().zip(expected) {
        assert!(
            (got.score - want).abs() < SCORE_TOLERANCE,
            "{}: score {} != {want}",
            got.item.text,
            got.score
        );
    }
    // The query's length does not matter either.
    let scaled = search(memory.as_ref(), &vector(&[0.25]), &all(), 10).await;
    assert_eq!(texts(&scaled), texts(&found));
    // Another direction, another order.
    let found = search(memory.as_ref(), &vector(&[0.0, 1.0]), &all(), 2).await;
    assert_eq!(texts(&found), ["orthogonal", "diagonal"]);
}

pub async fn search_respects_k<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-k", space(DIMS)).await;
    let items: Vec<_> = (0..6)
        .map(|i| {
            let angle = i as f32 * 0.25;
            (
                item("a", "fact", &format!("item {i}")),
                vector(&[angle.cos(), angle.sin()]),
            )
        })
        .collect();
    memory.upsert(items).await.expect("upsert");
    let q = vector(&[1.0]);
    assert!(search(memory.as_ref(), &q, &all(), 0).await.is_empty());
    assert_eq!(
        texts(&search(memory.as_ref(), &q, &all(), 1).await),
        ["item 0"]
    );
    assert_eq!(
        texts(&search(memory.as_ref(), &q, &all(), 3).await),
        ["item 0", "item 1", "item 2"]
    );
    assert_eq!(search(memory.as_ref(), &q, &all(), 100).await.len(), 6);
}

pub async fn filters_by_agent_and_kind<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-filter", space(DIMS)).await;
    memory
        .upsert(vec![
            (item("support-agent", "fact", "s-fact-1"), vector(&[1.0])),
            (
                item("support-agent", "fact", "s-fact-2"),
                vector(&[0.8, 0.2]),
            ),
            (
                item("support-agent", "episodic", "s-episode"),
                vector(&[0.9, 0.1]),
            ),
            (item("seo-agent", "fact", "seo-fact"), vector(&[0.95, 0.05])),
            (
                item("seo-agent", "broadcast", "seo-broadcast"),
                vector(&[0.7, 0.3]),
            ),
        ])
        .await
        .expect("upsert");
    let q = vector(&[1.0]);
    let m = memory.as_ref();

    assert_eq!(count(m, &all()).await, 5);
    assert_eq!(count(m, &MemoryFilter::agent("support-agent")).await, 3);
    assert_eq!(count(m, &MemoryFilter::agent("seo-agent")).await, 2);
    assert_eq!(count(m, &filter(None, Some("fact"))).await, 3);
    assert_eq!(
        count(m, &filter(Some("support-agent"), Some("fact"))).await,
        2
    );
    assert_eq!(
        count(m, &filter(Some("seo-agent"), Some("episodic"))).await,
        0
    );
    assert_eq!(count(m, &MemoryFilter::agent("ops-agent")).await, 0);
    assert_eq!(count(m, &filter(None, Some("no-such-kind"))).await, 0);

    assert_eq!(
        texts(&search(m, &q, &MemoryFilter::agent("support-agent"), 10).await),
        ["s-fact-1", "s-episode", "s-fact-2"]
    );
    assert_eq!(
        texts(&search(m, &q, &filter(None, Some("fact")), 10).await),
        ["s-fact-1", "seo-fact", "s-fact-2"]
    );
    assert_eq!(
        texts(&search(m, &q, &filter(Some("seo-agent"), Some("fact")), 10).await),
        ["seo-fact"]
    );
    // k counts matching items only, so a filter never shortens the answer needlessly.
    assert_eq!(
        texts(&search(m, &q, &MemoryFilter::agent("seo-agent"), 1).await),
        ["seo-fact"]
    );
    assert!(
        search(m, &q, &MemoryFilter::agent("ops-agent"), 10)
            .await
            .is_empty()
    );
}

pub async fn upsert_replaces_by_id<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-replace", space(DIMS)).await;
    let first = item("support-agent", "fact", "first version");
    let other = item("support-agent", "fact", "other");
    memory
        .upsert(vec![
            (first.clone(), vector(&[1.0])),
            (other.clone(), vector(&[0.0, 1.0])),
        ])
        .await
        .expect("upsert");

    let mut second = first.clone();
    second.text = "second version".into();
    second.kind = "episodic".into();
    second.tags = vec!["edited".into()];
    memory
        .upsert(vec![(second.clone(), vector(&[0.0, 0.0, 1.0]))])
        .await
        .expect("replace");

    let m = memory.as_ref();
    assert_eq!(count(m, &all()).await, 2);
    assert_eq!(count(m, &filter(None, Some("fact"))).await, 1);
    assert_eq!(count(m, &filter(None, Some("episodic"))).await, 1);
    // The new vector and payload are what is found.
    let found = search(m, &vector(&[0.0, 0.0, 1.0]), &all(), 1).await;
    assert_eq!(found[0].item, second);
    assert!((found[0].score - 1.0).abs() < SCORE_TOLERANCE);
    let found = search(m, &vector(&[1.0]), &all(), 10).await;
    assert!(found.iter().all(|s| s.item.text != "first version"));
}

pub async fn delete_removes_and_counts_what_existed<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-delete", space(DIMS)).await;
    let items: Vec<MemoryItem> = (0..4)
        .map(|i| item("a", "fact", &format!("item {i}")))
        .collect();
    memory
        .upsert(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| (it.clone(), vector(&[1.0, i as f32])))
                .collect(),
        )
        .await
        .expect("upsert");
    let m = memory.as_ref();

    let gone = memory
        .delete(&[items[0].id.clone(), items[2].id.clone(), new_id()])
        .await
        .expect("delete");
    assert_eq!(gone, 2, "only ids that existed are counted");
    assert_eq!(count(m, &all()).await, 2);
    let left = search(m, &vector(&[1.0]), &all(), 10).await;
    let mut left = texts(&left);
    left.sort_unstable();
    assert_eq!(left, ["item 1", "item 3"]);

    assert_eq!(
        memory.delete(&[items[0].id.clone()]).await.expect("delete"),
        0
    );
    assert_eq!(memory.delete(&[]).await.expect("delete"), 0);
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(memory.delete(&ids).await.expect("delete"), 2);
    assert_eq!(count(m, &all()).await, 0);
    assert!(search(m, &vector(&[1.0]), &all(), 10).await.is_empty());
}

pub async fn payload_round_trips<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-payload", space(DIMS)).await;
    let stored = MemoryItem {
        id: new_id(),
        agent_id: "lead-router-agent".into(),
        kind: "episodic".into(),
        text: "Lead «Müller GmbH» → routed to sales 🚀\nsecond line, \"quoted\"".into(),
        ts: "2026-11-24T12:34:56.789Z".into(),
        tags: vec!["billing".into(), "technical".into(), "".into()],
    };
    memory
        .upsert(vec![(stored.clone(), vector(&[0.3, 0.4]))])
        .await
        .expect("upsert");
    let found = search(memory.as_ref(), &vector(&[0.3, 0.4]), &all(), 1).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].item, stored);
}

pub async fn wrong_dimensions_are_an_error<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-dims", space(DIMS)).await;
    let err = memory
        .upsert(vec![(item("a", "fact", "short"), vec![1.0; DIMS - 1])])
        .await
        .expect_err("short vector");
    assert!(
        matches!(err, MemoryError::Dimensions { want: DIMS, got } if got == DIMS - 1),
        "{err:?}"
    );

    // A batch with one bad vector writes nothing.
    let err = memory
        .upsert(vec![
            (item("a", "fact", "fine"), vector(&[1.0])),
            (item("a", "fact", "long"), vec![1.0; DIMS + 1]),
        ])
        .await
        .expect_err("long vector");
    assert!(matches!(err, MemoryError::Dimensions { .. }), "{err:?}");
    assert_eq!(count(memory.as_ref(), &all()).await, 0);

    memory
        .upsert(vec![(item("a", "fact", "fine"), vector(&[1.0]))])
        .await
        .expect("upsert");
    let err = memory
        .search(&[1.0, 0.0], &all(), 5)
        .await
        .expect_err("short query");
    assert!(
        matches!(err, MemoryError::Dimensions { want: DIMS, got: 2 }),
        "{err:?}"
    );
}

pub async fn survives_a_restart<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let kept = item("support-agent", "fact", "kept");
    let replaced = item("support-agent", "episodic", "replaced");
    let deleted = item("seo-agent", "fact", "deleted");
    {
        let memory = open_ok(open, "contract-restart", space(DIMS)).await;
        memory
            .upsert(vec![
                (kept.clone(), vector(&[1.0])),
                (replaced.clone(), vector(&[0.0, 1.0])),
                (deleted.clone(), vector(&[0.0, 0.0, 1.0])),
            ])
            .await
            .expect("upsert");
        let mut newer = replaced.clone();
        newer.text = "replaced, newer".into();
        memory
            .upsert(vec![(newer, vector(&[0.0, 1.0, 1.0]))])
            .await
            .expect("replace");
        assert_eq!(
            memory
                .delete(std::slice::from_ref(&deleted.id))
                .await
                .expect("delete"),
            1
        );
    }

    let memory = open_ok(open, "contract-restart", space(DIMS)).await;
    let m = memory.as_ref();
    assert_eq!(count(m, &all()).await, 2);
    assert_eq!(count(m, &MemoryFilter::agent("support-agent")).await, 2);
    assert_eq!(count(m, &MemoryFilter::agent("seo-agent")).await, 0);
    let found = search(m, &vector(&[1.0]), &all(), 1).await;
    assert_eq!(found[0].item, kept);
    assert!((found[0].score - 1.0).abs() < SCORE_TOLERANCE);
    let found = search(m, &vector(&[0.0, 1.0, 1.0]), &all(), 1).await;
    assert_eq!(found[0].item.text, "replaced, newer");
    assert!((found[0].score - 1.0).abs() < SCORE_TOLERANCE);

    // And it keeps working after the restart.
    memory
        .upsert(vec![(
            item("ops-agent", "fact", "after"),
            vector(&[0.5, 0.5]),
        )])
        .await
        .expect("upsert after restart");
    assert_eq!(count(m, &all()).await, 3);
}

pub async fn any_id_text_works<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-ids", space(DIMS)).await;
    let mut plain = item("a", "fact", "plain");
    plain.id = "note-1".into();
    // Another spelling is another id.
    let mut upper = item("a", "fact", "upper");
    upper.id = "Note-1".into();
    let mut unicode = item("a", "fact", "unicode");
    unicode.id = "mémoire/42 «x»".into();
    memory
        .upsert(vec![
            (plain.clone(), vector(&[1.0])),
            (upper.clone(), vector(&[0.0, 1.0])),
            (unicode.clone(), vector(&[0.0, 0.0, 1.0])),
        ])
        .await
        .expect("upsert");
    let m = memory.as_ref();
    assert_eq!(count(m, &all()).await, 3);
    let found = search(m, &vector(&[1.0]), &all(), 1).await;
    assert_eq!(found[0].item, plain, "the original id comes back");
    let found = search(m, &vector(&[0.0, 0.0, 1.0]), &all(), 1).await;
    assert_eq!(found[0].item, unicode);

    let mut replaced = plain.clone();
    replaced.text = "plain, replaced".into();
    memory
        .upsert(vec![(replaced.clone(), vector(&[1.0, 0.1]))])
        .await
        .expect("replace");
    assert_eq!(count(m, &all()).await, 3);
    let found = search(m, &vector(&[1.0]), &all(), 1).await;
    assert_eq!(found[0].item, replaced);

    assert_eq!(
        memory
            .delete(&["note-1".into(), "note-1".into(), "note-2".into()])
            .await
            .expect("delete"),
        1,
        "a repeated id counts once"
    );
    assert_eq!(count(m, &all()).await, 2);
    let left = search(m, &vector(&[1.0, 1.0, 1.0]), &all(), 10).await;
    let mut ids: Vec<&str> = left.iter().map(|s| s.item.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["Note-1", "mémoire/42 «x»"]);
}

pub async fn reopening_with_other_dimensions_is_refused<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let other = DIMS * 2;
    {
        let memory = open_ok(open, "contract-redims", space(DIMS)).await;
        memory
            .upsert(vec![(item("a", "fact", "kept"), vector(&[1.0]))])
            .await
            .expect("upsert");
    }
    let err = match open("contract-redims".into(), space(other)).await {
        Ok(_) => panic!("a {DIMS}-dimensional store opened with {other} dims"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    assert!(
        msg.contains(&format!("{DIMS}-dimensional")) && msg.contains(&other.to_string()),
        "the error names both sizes: {msg}"
    );
    assert!(
        msg.contains("memory.dims"),
        "and the setting to change: {msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");

    // Nothing was lost or changed by the refused open.
    let memory = open_ok(open, "contract-redims", space(DIMS)).await;
    assert_eq!(count(memory.as_ref(), &all()).await, 1);
    assert_eq!(
        search(memory.as_ref(), &vector(&[1.0]), &all(), 1).await[0]
            .item
            .text,
        "kept"
    );
}

pub async fn reopening_with_another_embedder_is_refused<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let other = VectorSpace::new("another-embedder", DIMS);
    {
        let memory = open_ok(open, "contract-respace", space(DIMS)).await;
        assert_eq!(memory.space(), space(DIMS));
        memory
            .upsert(vec![(item("a", "fact", "kept"), vector(&[1.0]))])
            .await
            .expect("upsert");
    }
    let err = match open("contract-respace".into(), other.clone()).await {
        Ok(_) => panic!("a store of {EMBEDDER} opened for another-embedder"),
        Err(e) => e,
    };
    match &err {
        MemoryError::SpaceMismatch { found, want, .. } => {
            assert_eq!(found, &space(DIMS), "what the store records");
            assert_eq!(want, &other);
        }
        e => panic!("not a SpaceMismatch: {e:?}"),
    }
    let msg = err.to_string();
    for part in [EMBEDDER, "another-embedder", "aios memory reembed"] {
        assert!(msg.contains(part), "`{part}` missing from: {msg}");
    }
    assert!(!msg.contains('\n'), "{msg}");

    // Nothing was lost or changed by the refused open.
    let memory = open_ok(open, "contract-respace", space(DIMS)).await;
    assert_eq!(memory.space(), space(DIMS));
    assert_eq!(count(memory.as_ref(), &all()).await, 1);
}

async fn scan_all(
    memory: &dyn VectorMemory,
    f: &MemoryFilter,
    page: usize,
) -> (Vec<MemoryItem>, usize) {
    let mut got: Vec<MemoryItem> = Vec::new();
    let mut pages = 0;
    loop {
        let after = got.last().map(|i| i.id.clone());
        let next = memory.scan(f, after.as_deref(), page).await.expect("scan");
        assert!(
            next.len() <= page,
            "a page of {} for a limit of {page}",
            next.len()
        );
        if next.is_empty() {
            return (got, pages);
        }
        pages += 1;
        assert!(pages < 1000, "scan does not end");
        got.extend(next);
    }
}

pub async fn scan_pages_through_every_item_in_id_order<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-scan", space(DIMS)).await;
    let m = memory.as_ref();
    assert!(
        m.scan(&all(), None, 10)
            .await
            .expect("scan empty")
            .is_empty()
    );

    // Made in id order, written out of it, over two agents and two kinds.
    let mut items: Vec<MemoryItem> = (0..23)
        .map(|i| {
            let mut it = item(
                if i % 3 == 0 {
                    "seo-agent"
                } else {
                    "support-agent"
                },
                if i % 2 == 0 { "fact" } else { "episodic" },
                &format!("item {i}"),
            );
            it.tags = vec![format!("t{i}")];
            it
        })
        .collect();
    let mut written = items.clone();
    written.reverse();
    written.rotate_left(7);
    memory
        .upsert(
            written
                .iter()
                .enumerate()
                .map(|(i, it)| (it.clone(), vector(&[1.0, i as f32])))
                .collect(),
        )
        .await
        .expect("upsert");
    let gone = items.remove(4);
    assert_eq!(memory.delete(&[gone.id]).await.expect("delete"), 1);
    items.sort_by(|a, b| a.id.cmp(&b.id));

    let (got, pages) = scan_all(m, &all(), 5).await;
    assert_eq!(got, items, "every item once, in id order, as stored");
    assert_eq!(pages, 5, "22 items in pages of 5");

    let support = MemoryFilter::agent("support-agent");
    let want: Vec<MemoryItem> = items
        .iter()
        .filter(|i| support.matches(i))
        .cloned()
        .collect();
    let (got, _) = scan_all(m, &support, 3).await;
    assert_eq!(got, want);
    let facts = filter(Some("seo-agent"), Some("fact"));
    let want: Vec<MemoryItem> = items.iter().filter(|i| facts.matches(i)).cloned().collect();
    let (got, _) = scan_all(m, &facts, 2).await;
    assert_eq!(got, want);

    // `after` need not be a stored id; the page starts after it all the same.
    let middle = &items[10].id;
    let page = m.scan(&all(), Some(middle), 4).await.expect("scan");
    assert_eq!(page, items[11..15].to_vec());
    assert!(m.scan(&all(), None, 0).await.expect("limit 0").is_empty());
    let last = &items[items.len() - 1].id;
    assert!(
        m.scan(&all(), Some(last), 5)
            .await
            .expect("after last")
            .is_empty()
    );
    assert!(
        m.scan(&MemoryFilter::agent("ops-agent"), None, 5)
            .await
            .expect("nobody")
            .is_empty()
    );
}

pub async fn destroy_empties_it_and_the_next_open_builds_anew<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    {
        let memory = open_ok(open, "contract-destroy", space(DIMS)).await;
        memory
            .upsert(
                (0..3)
                    .map(|i| {
                        (
                            item("a", "fact", &format!("old {i}")),
                            vector(&[1.0, i as f32]),
                        )
                    })
                    .collect(),
            )
            .await
            .expect("upsert");
        memory.destroy().await.expect("destroy");
    }
    // Another embedder and another length: nothing of the old store is left to refuse it.
    let rebuilt = VectorSpace::new("another-embedder", DIMS * 2);
    {
        let memory = open_ok(open, "contract-destroy", rebuilt.clone()).await;
        assert_eq!(memory.space(), rebuilt);
        assert_eq!(memory.dims(), DIMS * 2);
        assert_eq!(count(memory.as_ref(), &all()).await, 0);
        assert!(
            memory
                .scan(&all(), None, 10)
                .await
                .expect("scan")
                .is_empty()
        );
        let mut v = vec![0.0; DIMS * 2];
        v[DIMS + 1] = 1.0;
        memory
            .upsert(vec![(item("a", "fact", "new"), v.clone())])
            .await
            .expect("upsert in the new space");
        let found = search(memory.as_ref(), &v, &all(), 5).await;
        assert_eq!(texts(&found), ["new"]);
    }
    // And now it is a store of the new space.
    let memory = open_ok(open, "contract-destroy", rebuilt.clone()).await;
    assert_eq!(count(memory.as_ref(), &all()).await, 1);
    drop(memory);
    assert!(
        open("contract-destroy".into(), space(DIMS * 2))
            .await
            .is_err(),
        "the new space is recorded"
    );
}

/// Scan order for ids that are not UUIDs: byte order, whatever their case or script. Not in
/// [`run_contract`]: Qdrant scans in point id order, which is the id order only for UUIDs
/// (see its module docs); the other backends run it beside the contract.
pub async fn scan_orders_any_id_text_by_its_bytes<F, Fut>(open: &F)
where
    F: Fn(String, VectorSpace) -> Fut,
    Fut: Future<Output = Result<Box<dyn VectorMemory>, MemoryError>>,
{
    let memory = open_ok(open, "contract-scan-text", space(DIMS)).await;
    let ids = [
        "b", "B", "a-1", "Z", "é", "ß", "a", "note 10", "note 9", "Note 1",
    ];
    memory
        .upsert(
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    let mut it = item("a", "fact", &format!("text of {id}"));
                    it.id = (*id).to_string();
                    (it, vector(&[1.0, i as f32]))
                })
                .collect(),
        )
        .await
        .expect("upsert");
    let mut want: Vec<&str> = ids.to_vec();
    want.sort_unstable();
    for page in [1, 3, 4] {
        let (got, _) = scan_all(memory.as_ref(), &all(), page).await;
        let got: Vec<&str> = got.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(got, want, "pages of {page}");
    }
    let page = memory.scan(&all(), Some("a"), 2).await.expect("scan");
    let got: Vec<&str> = page.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(got, ["a-1", "b"]);
}
