//! `ChromaMemory` against the `VectorMemory` contract on a real `chroma run` started for
//! the test (skipped, saying why, when `chroma` is not installed) and, when
//! `AIOS_TEST_CHROMA_URL` is set, on that server; plus what only Chroma's layout promises.

#[path = "support/chroma_server.rs"]
mod chroma_server;
#[path = "support/memory_contract.rs"]
mod memory_contract;

use std::time::{Duration, Instant};

use aios::memory::{ChromaMemory, MemoryError, MemoryFilter, VectorMemory, VectorSpace};
use chroma_server::ChromaServer;
use memory_contract::{DIMS, item, run_contract, space, vector};
use serde_json::{Value, json};

const COLLECTIONS: &str = "/api/v2/tenants/default_tenant/databases/default_database/collections";

/// Chroma's own answer for a collection, read past the client under test.
async fn collection_json(url: &str, name: &str) -> Value {
    reqwest::get(format!("{url}{COLLECTIONS}/{name}"))
        .await
        .expect("get collection")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chroma_memory_meets_the_contract_on_a_real_chroma() {
    let Some(server) = ChromaServer::start() else {
        return;
    };
    let url = server.url();
    let started = Instant::now();
    let open = |name: String, space: VectorSpace| {
        let url = url.clone();
        async move {
            ChromaMemory::open(&url, &name, &space)
                .await
                .map(|m| Box::new(m) as Box<dyn VectorMemory>)
        }
    };
    run_contract(&open).await;
    memory_contract::scan_orders_any_id_text_by_its_bytes(&open).await;
    eprintln!("chroma contract: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chroma_memory_meets_the_contract_on_a_configured_server() {
    let Ok(url) = std::env::var("AIOS_TEST_CHROMA_URL") else {
        eprintln!(
            "skipped: set AIOS_TEST_CHROMA_URL (e.g. http://127.0.0.1:8000) to run the contract \
             against a Chroma of your own"
        );
        return;
    };
    // Collections of this run only, removed afterwards even if a check fails.
    let prefix = format!(
        "aios-test-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let run = {
        let (url, prefix) = (url.clone(), prefix.clone());
        tokio::spawn(async move {
            let open = |name: String, space: VectorSpace| {
                let url = url.clone();
                let collection = format!("{prefix}-{name}");
                async move {
                    ChromaMemory::open(&url, &collection, &space)
                        .await
                        .map(|m| Box::new(m) as Box<dyn VectorMemory>)
                }
            };
            run_contract(&open).await;
            memory_contract::scan_orders_any_id_text_by_its_bytes(&open).await;
        })
    };
    let outcome = run.await;
    let client = reqwest::Client::new();
    if let Ok(list) = client.get(format!("{url}{COLLECTIONS}")).send().await
        && let Ok(list) = list.json::<Vec<Value>>().await
    {
        for name in list
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .filter(|n| n.starts_with(&prefix))
        {
            let _ = client
                .delete(format!("{url}{COLLECTIONS}/{name}"))
                .send()
                .await;
        }
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_collection_is_cosine_and_records_the_space_in_its_metadata() {
    let Some(server) = ChromaServer::start() else {
        return;
    };
    let url = server.url();
    let want = VectorSpace::new("minilm:all-MiniLM-L6-v2", DIMS);
    let memory = ChromaMemory::open(&url, "aios_memory", &want)
        .await
        .expect("open");
    assert_eq!(memory.name(), "chroma");
    assert_eq!(memory.collection(), "aios_memory");
    let c = collection_json(&url, "aios_memory").await;
    assert_eq!(c["metadata"]["hnsw:space"], "cosine", "{c}");
    assert_eq!(
        c["metadata"]["aios:embedder"], "minilm:all-MiniLM-L6-v2",
        "{c}"
    );
    assert_eq!(c["metadata"]["aios:dims"], DIMS, "{c}");
    assert_eq!(c["configuration_json"]["hnsw"]["space"], "cosine", "{c}");

    // Tags travel as a JSON string in the record's metadata; the text is the document.
    let mut it = item("a", "fact", "the text");
    it.tags = vec!["x".into(), "y, z".into()];
    memory
        .upsert(vec![(it.clone(), vector(&[1.0]))])
        .await
        .expect("upsert");
    let id = c["id"].as_str().expect("id");
    let got: Value = reqwest::Client::new()
        .post(format!("{url}{COLLECTIONS}/{id}/get"))
        .json(&json!({ "ids": [it.id], "include": ["metadatas", "documents"] }))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["documents"][0], "the text", "{got}");
    assert_eq!(got["metadatas"][0]["tags"], r#"["x","y, z"]"#, "{got}");
    assert_eq!(got["metadatas"][0]["agent_id"], "a", "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_of_another_distance_or_an_unrecorded_one_with_records_is_refused() {
    let Some(server) = ChromaServer::start() else {
        return;
    };
    let url = server.url();
    let client = reqwest::Client::new();
    // Made by someone else with Chroma's default distance (l2).
    let made = client
        .post(format!("{url}{COLLECTIONS}"))
        .json(&json!({ "name": "by_l2" }))
        .send()
        .await
        .expect("create");
    assert!(made.status().is_success());
    let err = ChromaMemory::open(&url, "by_l2", &space(DIMS))
        .await
        .err()
        .expect("l2 refused");
    let msg = err.to_string();
    assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    assert!(
        msg.contains("l2") && msg.contains("cosine") && msg.contains("`by_l2`"),
        "{msg}"
    );

    // Cosine, no aios record, and records in it: only an unrecorded open of its length.
    let made: Value = client
        .post(format!("{url}{COLLECTIONS}"))
        .json(&json!({ "name": "older", "metadata": { "hnsw:space": "cosine" } }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = made["id"].as_str().expect("id");
    let added = client
        .post(format!("{url}{COLLECTIONS}/{id}/add"))
        .json(&json!({
            "ids": ["r1"],
            "embeddings": [vector(&[1.0])],
            "documents": ["old text"],
            "metadatas": [{ "agent_id": "a", "kind": "fact", "ts": "t", "tags": "[]" }],
        }))
        .send()
        .await
        .expect("add");
    assert!(added.status().is_success(), "{:?}", added.text().await);
    let err = ChromaMemory::open(&url, "older", &space(DIMS))
        .await
        .err()
        .expect("unrecorded refused");
    assert!(matches!(err, MemoryError::SpaceMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("aios memory reembed"), "{err}");
    let err = ChromaMemory::open(&url, "older", &VectorSpace::unrecorded(DIMS * 2))
        .await
        .err()
        .expect("its length is known");
    assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    let memory = ChromaMemory::open(&url, "older", &VectorSpace::unrecorded(DIMS))
        .await
        .expect("read as it is");
    let items = memory
        .scan(&MemoryFilter::default(), None, 10)
        .await
        .expect("scan");
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].id.as_str(), items[0].text.as_str()),
        ("r1", "old text")
    );
}

#[tokio::test]
async fn an_unreachable_chroma_fails_fast_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let err = ChromaMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .err()
        .expect("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, MemoryError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("chroma at {url} is not reachable")),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");

    let err = ChromaMemory::open(&url, "a/../b", &space(DIMS))
        .await
        .err()
        .expect("bad name");
    assert!(err.to_string().contains("`a/../b`"), "{err}");
}

/// Timings on a real `chroma run` for the report: run with `cargo test --test memory_chroma
/// -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn time_upsert_search_and_scan_on_a_real_chroma() {
    const N: usize = 5_000;
    const D: usize = 384;
    let Some(server) = ChromaServer::start() else {
        return;
    };
    let memory = ChromaMemory::open(&server.url(), "timing", &VectorSpace::new("hash", D))
        .await
        .expect("open");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let items: Vec<_> = (0..N)
        .map(|i| {
            (
                item(&format!("agent-{}", i % 7), "fact", &format!("item {i}")),
                (0..D).map(|_| next()).collect::<Vec<f32>>(),
            )
        })
        .collect();
    let started = Instant::now();
    for chunk in items.chunks(1_000) {
        memory.upsert(chunk.to_vec()).await.expect("upsert");
    }
    eprintln!("chroma: upsert {N} × {D}: {:?}", started.elapsed());
    for (name, filter) in [
        ("unfiltered", MemoryFilter::default()),
        ("one agent of 7", MemoryFilter::agent("agent-3")),
    ] {
        let mut times = Vec::new();
        for _ in 0..30 {
            let q: Vec<f32> = (0..D).map(|_| next()).collect();
            let started = Instant::now();
            let found = memory.search(&q, &filter, 10).await.expect("search");
            times.push(started.elapsed());
            assert_eq!(found.len(), 10);
        }
        times.sort();
        eprintln!(
            "chroma: top-10 {name}: median {:?}, p90 {:?}",
            times[times.len() / 2],
            times[times.len() * 9 / 10]
        );
    }
    let started = Instant::now();
    let count = memory
        .count(&MemoryFilter::agent("agent-3"))
        .await
        .expect("count");
    eprintln!("chroma: filtered count ({count}): {:?}", started.elapsed());
    let started = Instant::now();
    let mut after: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = memory
            .scan(&MemoryFilter::default(), after.as_deref(), 256)
            .await
            .expect("scan");
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        seen += page.len();
    }
    assert_eq!(seen, N);
    eprintln!("chroma: scan {N} in pages of 256: {:?}", started.elapsed());
}

mod support;

use support::http_script::{Reply, ScriptServer};

const SCRIPT_COLLECTIONS: &str =
    "/api/v2/tenants/default_tenant/databases/default_database/collections";

/// A scripted server answering the heartbeat and the collection as Chroma would, with a
/// collection whose id is `abc`.
async fn scripted_chroma() -> ScriptServer {
    let server = ScriptServer::start().await;
    server.reply(
        "GET",
        "/api/v2/heartbeat",
        Reply::json(200, &json!({ "nanosecond heartbeat": 1 })),
    );
    server.reply(
        "POST",
        SCRIPT_COLLECTIONS,
        Reply::json(
            200,
            &json!({
                "id": "abc",
                "name": "aios_memory",
                "metadata": { "hnsw:space": "cosine", "aios:embedder": memory_contract::EMBEDDER, "aios:dims": DIMS },
                "configuration_json": { "hnsw": { "space": "cosine" } },
                "dimension": null,
            }),
        ),
    );
    server.reply(
        "GET",
        &format!("{SCRIPT_COLLECTIONS}/abc/count"),
        Reply::json(200, &json!(0)),
    );
    server
}

#[tokio::test]
async fn a_server_answering_nonsense_gives_errors_naming_it_never_a_panic() {
    let server = scripted_chroma().await;
    let url = server.url();
    let memory = ChromaMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .expect("open on well-formed answers");
    let query = format!("{SCRIPT_COLLECTIONS}/abc/query");
    let q = vector(&[1.0]);
    let bad_answers = [
        (
            Reply::new(200, "text/html").chunk("<html>hi</html>"),
            "not JSON",
        ),
        (Reply::json(200, &json!({ "ids": "x" })), "no `ids`"),
        (
            Reply::json(200, &json!({ "ids": [["a"]], "distances": [[]] })),
            "a distance is missing",
        ),
        (
            Reply::json(
                200,
                &json!({
                    "ids": [["a"]], "distances": [[0.1]], "documents": [["t"]],
                    "metadatas": [[{ "agent_id": 1, "kind": "k", "ts": "t", "tags": "[]" }]],
                }),
            ),
            "no `agent_id`",
        ),
        (
            Reply::json(500, &json!({ "error": "InternalError", "message": "boom" })),
            "HTTP 500: InternalError: boom",
        ),
    ];
    for (reply, says) in bad_answers {
        server.reply("POST", &query, reply);
        let err = memory
            .search(&q, &MemoryFilter::default(), 3)
            .await
            .err()
            .unwrap_or_else(|| panic!("a search on an answer that is {says} succeeded"));
        let msg = err.to_string();
        assert!(msg.contains(says), "`{says}` missing from: {msg}");
        assert!(msg.contains(&url) && msg.contains("`aios_memory`"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    server.reply(
        "GET",
        &format!("{SCRIPT_COLLECTIONS}/abc/count"),
        Reply::json(200, &json!("many")),
    );
    let err = memory
        .count(&MemoryFilter::default())
        .await
        .expect_err("a count that is not a number");
    assert!(err.to_string().contains("not a number"), "{err}");

    server.reply(
        "POST",
        SCRIPT_COLLECTIONS,
        Reply::json(200, &json!({ "id": 5 })),
    );
    let err = ChromaMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .err()
        .expect("a collection without an id");
    assert!(err.to_string().contains("no `id`"), "{err}");
}
