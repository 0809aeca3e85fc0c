//! `WeaviateMemory` against the `VectorMemory` contract on the in-test Weaviate and, when
//! `AIOS_TEST_WEAVIATE_URL` is set, on a real one; plus what only Weaviate's layout
//! promises (the class, its description, batches, per-object errors).

#[path = "support/memory_contract.rs"]
mod memory_contract;
#[path = "support/weaviate_server.rs"]
mod weaviate_server;

use std::time::{Duration, Instant};

use aios::memory::weaviate::{BATCH, class_name};
use aios::memory::{
    MemoryError, MemoryFilter, MemoryItem, VectorMemory, VectorSpace, WeaviateMemory,
};
use memory_contract::{DIMS, item, run_contract, space, vector};
use serde_json::{Value, json};
use weaviate_server::InTestWeaviate;

#[tokio::test]
async fn weaviate_memory_meets_the_contract_on_the_in_test_server() {
    let server = InTestWeaviate::start().await;
    let url = server.url();
    let open = |name: String, space: VectorSpace| {
        let url = url.clone();
        async move {
            WeaviateMemory::open(&url, &name, &space)
                .await
                .map(|m| Box::new(m) as Box<dyn VectorMemory>)
        }
    };
    run_contract(&open).await;
    memory_contract::scan_orders_any_id_text_by_its_bytes(&open).await;
    // Recall filtered on the server, and scans were sorted there.
    let queries = server.queries();
    assert!(
        queries
            .iter()
            .any(|q| q.contains("nearVector") && q.contains("operator: Equal"))
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("sort: [{path: [\"item_key\"], order: asc}]"))
    );
}

#[tokio::test]
async fn weaviate_memory_meets_the_contract_on_a_real_server() {
    let Ok(url) = std::env::var("AIOS_TEST_WEAVIATE_URL") else {
        eprintln!(
            "skipped: set AIOS_TEST_WEAVIATE_URL (e.g. http://127.0.0.1:8080) to run the \
             contract against a real Weaviate"
        );
        return;
    };
    // Classes of this run only, removed afterwards even if a check fails.
    let prefix = format!(
        "aiostest{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let run = {
        let (url, prefix) = (url.clone(), prefix.clone());
        tokio::spawn(async move {
            let open = |name: String, space: VectorSpace| {
                let url = url.clone();
                let collection = format!("{prefix}_{name}");
                async move {
                    WeaviateMemory::open(&url, &collection, &space)
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
    let class_prefix = class_name(&prefix).expect("class");
    if let Ok(answer) = client.get(format!("{url}/v1/schema")).send().await
        && let Ok(schema) = answer.json::<Value>().await
    {
        for class in schema["classes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["class"].as_str())
            .filter(|c| c.starts_with(&class_prefix))
        {
            let _ = client
                .delete(format!("{url}/v1/schema/{class}"))
                .send()
                .await;
        }
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn a_new_class_is_made_for_own_vectors_with_cosine_and_records_the_space() {
    let server = InTestWeaviate::start().await;
    let want = VectorSpace::new("minilm:all-MiniLM-L6-v2", DIMS);
    let memory = WeaviateMemory::open(&server.url(), "aios_memory", &want)
        .await
        .expect("open");
    assert_eq!(memory.name(), "weaviate");
    assert_eq!(memory.class(), "AiosMemory");
    assert_eq!(server.classes(), ["AiosMemory"]);
    let class = server.class_json("AiosMemory").expect("class");
    assert_eq!(class["vectorizer"], "none");
    assert_eq!(class["vectorIndexConfig"]["distance"], "cosine");
    let description: Value =
        serde_json::from_str(class["description"].as_str().expect("description")).expect("json");
    assert_eq!(
        description,
        json!({ "aios_embedder": "minilm:all-MiniLM-L6-v2", "aios_dims": DIMS })
    );
    let props: Vec<(&str, &str)> = class["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["dataType"][0].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for want in [
        ("item_id", "text"),
        ("agent_id", "text"),
        ("kind", "text"),
        ("text", "text"),
        ("ts", "text"),
        ("tags", "text[]"),
    ] {
        assert!(props.contains(&want), "{want:?} missing from {props:?}");
    }
}

#[tokio::test]
async fn upserts_go_in_batches_and_a_refused_object_is_an_error_naming_it() {
    let server = InTestWeaviate::start().await;
    let memory = WeaviateMemory::open(&server.url(), "aios_memory", &space(DIMS))
        .await
        .expect("open");
    let n = 2 * BATCH + 10;
    let items: Vec<(MemoryItem, Vec<f32>)> = (0..n)
        .map(|i| {
            let angle = i as f32 / n as f32;
            (
                item(
                    if i % 2 == 0 { "even" } else { "odd" },
                    "fact",
                    &format!("item {i}"),
                ),
                vector(&[angle.cos(), angle.sin()]),
            )
        })
        .collect();
    memory.upsert(items).await.expect("upsert");
    assert_eq!(server.batches(), [BATCH, BATCH, 10]);
    assert_eq!(
        memory
            .count(&MemoryFilter::agent("even"))
            .await
            .expect("count"),
        (n / 2) as u64
    );

    // A class made by someone else without our properties: the server refuses each object
    // in its own result of a 200 answer; the client must not take that for success.
    server.create_class(json!({ "class": "Narrow", "properties": [
        { "name": "item_id", "dataType": ["text"], "tokenization": "field" }
    ]}));
    let narrow = WeaviateMemory::open(&server.url(), "narrow", &space(DIMS))
        .await
        .expect("open an existing class without the other properties");
    let err = narrow
        .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
        .await
        .expect_err("unknown properties");
    let msg = err.to_string();
    assert!(
        msg.contains("was refused") && msg.contains("no such prop"),
        "{msg}"
    );
    assert!(
        msg.contains(&server.url()) && msg.contains("`Narrow`"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_class_of_another_distance_is_refused_and_an_unrecorded_one_checked_by_its_vectors() {
    let server = InTestWeaviate::start().await;
    server.create_class(json!({
        "class": "ByDot",
        "vectorIndexConfig": { "distance": "dot" },
    }));
    let err = WeaviateMemory::open(&server.url(), "by_dot", &space(DIMS))
        .await
        .err()
        .expect("dot refused");
    assert!(matches!(err, MemoryError::Mismatch(_)), "{err:?}");
    assert!(
        err.to_string().contains("dot") && err.to_string().contains("`ByDot`"),
        "{err}"
    );

    // Made before spaces were recorded: a description of its own, one object.
    let memory = WeaviateMemory::open(&server.url(), "older", &VectorSpace::unrecorded(DIMS))
        .await
        .expect("make it unrecorded");
    memory
        .upsert(vec![(item("a", "fact", "old"), vector(&[1.0]))])
        .await
        .expect("upsert");
    drop(memory);
    let err = WeaviateMemory::open(&server.url(), "older", &space(DIMS))
        .await
        .err()
        .expect("unrecorded with objects");
    assert!(matches!(err, MemoryError::SpaceMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("aios memory reembed"), "{err}");
    let err = WeaviateMemory::open(&server.url(), "older", &VectorSpace::unrecorded(DIMS + 1))
        .await
        .err()
        .expect("its vectors' length is read");
    assert!(
        err.to_string().contains(&format!("{DIMS}-dimensional")),
        "{err}"
    );
    let memory = WeaviateMemory::open(&server.url(), "older", &VectorSpace::unrecorded(DIMS))
        .await
        .expect("read as it is");
    let items = memory
        .scan(&MemoryFilter::default(), None, 5)
        .await
        .expect("scan");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].text, "old");
}

#[tokio::test]
async fn an_unreachable_weaviate_fails_fast_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let err = WeaviateMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .err()
        .expect("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(err, MemoryError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("weaviate at {url} is not reachable")),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");
    let err = WeaviateMemory::open(&url, "9lives", &space(DIMS))
        .await
        .err()
        .expect("bad name");
    assert!(err.to_string().contains("`9lives`"), "{err}");
}

mod support;

use support::http_script::{Action, Reply, ScriptServer};

#[tokio::test]
async fn a_server_answering_nonsense_gives_errors_naming_it_never_a_panic() {
    let server = ScriptServer::start().await;
    let url = server.url();
    server.reply(
        "GET",
        "/v1/meta",
        Reply::json(200, &json!({ "version": "1.30.0" })),
    );
    server.reply(
        "GET",
        "/v1/schema/AiosMemory",
        Reply::json(200, &json!([1])),
    );
    let err = WeaviateMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .err()
        .expect("a class that is a list");
    let msg = err.to_string();
    assert!(
        msg.contains("not a class definition") && msg.contains(&url),
        "{msg}"
    );
    assert!(msg.contains("`AiosMemory`"), "{msg}");

    // Well-formed enough to open: a class recording our space, no objects.
    server.reply(
        "GET",
        "/v1/schema/AiosMemory",
        Reply::json(
            200,
            &json!({
                "class": "AiosMemory",
                "vectorIndexConfig": { "distance": "cosine" },
                "description": json!({ "aios_embedder": memory_contract::EMBEDDER, "aios_dims": DIMS }).to_string(),
            }),
        ),
    );
    server.reply(
        "GET",
        "/v1/objects?class=AiosMemory&limit=1&include=vector",
        Reply::json(200, &json!({ "objects": [] })),
    );
    let memory = WeaviateMemory::open(&url, "aios_memory", &space(DIMS))
        .await
        .expect("open");
    let q = vector(&[1.0]);
    let bad_answers = [
        (
            Reply::json(200, &json!({ "errors": [{ "message": "boom" }] })),
            "GraphQL error: boom",
        ),
        (
            Reply::json(200, &json!({ "data": { "Get": { "AiosMemory": 5 } } })),
            "not a list",
        ),
        (
            Reply::json(
                200,
                &json!({ "data": { "Get": { "AiosMemory": [{ "item_id": "x" }] } } }),
            ),
            "without its distance",
        ),
        (
            Reply::json(
                200,
                &json!({ "data": { "Get": { "AiosMemory": [{
                    "item_id": "x", "agent_id": "a", "kind": 3, "text": "t", "ts": "s",
                    "_additional": { "distance": 0.5 }
                }] } } }),
            ),
            "no text `kind`",
        ),
        (
            Reply::new(502, "text/plain").chunk("bad gateway"),
            "HTTP 502: bad gateway",
        ),
    ];
    for (reply, says) in bad_answers {
        server.route("POST", "/v1/graphql", vec![Action::Reply(reply)]);
        let err = memory
            .search(&q, &MemoryFilter::default(), 3)
            .await
            .err()
            .unwrap_or_else(|| panic!("a search on an answer that is {says} succeeded"));
        let msg = err.to_string();
        assert!(msg.contains(says), "`{says}` missing from: {msg}");
        assert!(msg.contains(&url) && msg.contains("`AiosMemory`"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    server.reply("POST", "/v1/batch/objects", Reply::json(200, &json!({})));
    let err = memory
        .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
        .await
        .expect_err("a batch answer that is not a list");
    assert!(err.to_string().contains("not a list"), "{err}");
    server.reply("POST", "/v1/batch/objects", Reply::json(200, &json!([])));
    let err = memory
        .upsert(vec![(item("a", "fact", "x"), vector(&[1.0]))])
        .await
        .expect_err("no result for the object sent");
    assert!(err.to_string().contains("0 results for 1 objects"), "{err}");
}
