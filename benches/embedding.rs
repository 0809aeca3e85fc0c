//! all-MiniLM-L6-v2 in process against its peers, in one run (this machine is shared and
//! noisy: ratios in the same run mean more than absolute figures).
//!
//! 1. **Throughput**: sentences per second at batch 32 on the numpy reference's own bench
//!    sentences (`Customer {i} cannot log in after the password reset on the billing
//!    portal`), alternating rounds with `../shared/tools/minilm_ref.py MODEL --bench N`
//!    (float32 numpy with BLAS matmuls; target ≥ 2× it) and, when it is installed,
//!    sentence-transformers on PyTorch CPU.
//! 2. **Footprint**: resident memory the loaded model adds.
//! 3. **Recall**: top-10 of 100,000 items with MiniLM vectors in the local index (target
//!    < 10 ms), and what embedding the query adds. The 100,000 vectors are real MiniLM
//!    vectors of distinct generated sentences, cached under target/tmp after the first run.
//! 4. **An intent**: the time from dispatch to done with the sim runner, hash embedder
//!    against MiniLM: what semantic memory adds to a turn (its recall and remember).
//!
//! Run: `cargo bench --bench embedding`. `AIOS_MINILM_REF` names the reference script
//! (default `../shared/tools/minilm_ref.py` beside the checkout); the weights come as the
//! tests fetch them (tests/support/minilm_weights.rs).

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

#[path = "../tests/support/minilm_weights.rs"]
mod minilm_weights;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::{Config, EmbedderKind, MemoryBackend, RunnerKind};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use aios::memory::minilm::MiniLm;
use aios::memory::{LocalMemory, MemoryFilter, MemoryItem, VectorMemory, VectorSpace};

const BENCH_SENTENCES: usize = 512;
const ROUNDS: usize = 3;
const RECALL_ITEMS: usize = 100_000;
const RECALL_QUERIES: usize = 200;
const INTENTS: usize = 40;

fn main() {
    let dir = match minilm_weights::model_dir() {
        Ok(d) => d,
        Err(why) => {
            println!("embedding bench skipped: no MiniLM weights ({why})");
            return;
        }
    };
    println!("model: {}", dir.display());
    let rss_before = rss_kib();
    let started = Instant::now();
    let model = MiniLm::load(&dir).expect("model loads");
    let load = started.elapsed();
    let rss_after = rss_kib();
    println!(
        "load: {:.2} s · resident memory +{:.1} MiB (weights file {:.1} MiB)",
        load.as_secs_f64(),
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0,
        model.weight_bytes() as f64 / (1024.0 * 1024.0)
    );

    throughput(&model, &dir);
    let model = Arc::new(model);
    recall(&model);
    intent_cost(&dir);
}

/// Sentences/s of MiniLM, the numpy reference and (if present) sentence-transformers,
/// alternating rounds.
fn throughput(model: &MiniLm, dir: &Path) {
    let sentences: Vec<String> = (0..BENCH_SENTENCES)
        .map(|i| {
            format!("Customer {i} cannot log in after the password reset on the billing portal")
        })
        .collect();
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let reference = reference_script();
    let st = sentence_transformers_available();
    let (mut ours, mut numpy, mut torch) = (Vec::new(), Vec::new(), Vec::new());
    // One warm-up pass: the first allocates the buffers every later pass reuses.
    model.embed(&refs[..32]).expect("embed");
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for batch in refs.chunks(32) {
            model.embed(batch).expect("embed");
        }
        ours.push(BENCH_SENTENCES as f64 / t.elapsed().as_secs_f64());
        if let Some(script) = &reference
            && let Some(rate) = python_rate(
                Command::new("python3")
                    .arg(script)
                    .arg(dir)
                    .arg("--bench")
                    .arg(BENCH_SENTENCES.to_string()),
            )
        {
            numpy.push(rate);
        }
        if st
            && let Some(rate) = python_rate(
                Command::new("python3")
                    .arg("-c")
                    .arg(ST_SCRIPT)
                    .arg(dir)
                    .arg(BENCH_SENTENCES.to_string()),
            )
        {
            torch.push(rate);
        }
    }
    let ours_m = median(&mut ours);
    println!(
        "throughput, batch 32, {BENCH_SENTENCES} sentences, {ROUNDS} alternating rounds (median):"
    );
    println!("  aios MiniLM (candle):           {ours_m:8.1} sentences/s  {ours:.1?}");
    match (reference, numpy.is_empty()) {
        (None, _) => println!("  numpy reference:                not found (set AIOS_MINILM_REF)"),
        (Some(_), true) => println!(
            "  numpy reference:                did not run (python3 with numpy, safetensors, tokenizers?)"
        ),
        (Some(_), false) => {
            let m = median(&mut numpy);
            println!("  numpy reference (minilm_ref.py): {m:8.1} sentences/s  {numpy:.1?}");
            println!(
                "  ratio aios / numpy:             {:8.2}×  (target ≥ 2×)",
                ours_m / m
            );
        }
    }
    if torch.is_empty() {
        println!("  sentence-transformers (PyTorch CPU): not installed");
    } else {
        let m = median(&mut torch);
        println!("  sentence-transformers (PyTorch CPU): {m:8.1} sentences/s  {torch:.1?}");
        println!("  ratio aios / sentence-transformers: {:8.2}×", ours_m / m);
    }
}

const ST_SCRIPT: &str = r#"
import sys, time
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], device="cpu")
n = int(sys.argv[2])
s = [f"Customer {i} cannot log in after the password reset on the billing portal" for i in range(n)]
m.encode(s[:32], batch_size=32)
t = time.perf_counter()
m.encode(s, batch_size=32)
print(f"{n / (time.perf_counter() - t):.1f} sentences/s")
"#;

fn reference_script() -> Option<PathBuf> {
    let path = std::env::var_os("AIOS_MINILM_REF")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/minilm_ref.py")
        });
    path.is_file().then_some(path)
}

fn sentence_transformers_available() -> bool {
    Command::new("python3")
        .args(["-c", "import sentence_transformers"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a script that prints `N sentences/s`.
fn python_rate(command: &mut Command) -> Option<f64> {
    let out = command.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// 100,000 distinct sentences from templates: varied enough that their vectors spread as
/// real memories do, not one cluster.
fn sentence(i: usize) -> String {
    const WHO: [&str; 10] = [
        "The customer",
        "Our CFO",
        "A new user",
        "The ops team",
        "Support",
        "The vendor",
        "A reviewer",
        "The intern",
        "Marketing",
        "The on-call engineer",
    ];
    const DID: [&str; 10] = [
        "reported",
        "asked about",
        "complained about",
        "fixed",
        "escalated",
        "praised",
        "documented",
        "cancelled",
        "scheduled",
        "forgot",
    ];
    const WHAT: [&str; 25] = [
        "a double charge on the March invoice",
        "the login page timing out",
        "latency on the EU cluster",
        "the new pricing tiers",
        "a refund for order",
        "the quarterly revenue report",
        "a leaked API key",
        "the onboarding checklist",
        "the broken webhook to the CRM",
        "a late shipment",
        "the Spanish translation",
        "the product roadmap",
        "a failing nightly backup",
        "the holiday campaign",
        "an expired TLS certificate",
        "the warehouse inventory count",
        "a GDPR deletion request",
        "the sales pipeline review",
        "disk space on the database host",
        "the customer satisfaction survey",
        "a phishing email",
        "the mobile app crash",
        "the contract renewal",
        "a password reset loop",
        "the blog post draft",
    ];
    const WHEN: [&str; 8] = [
        "this morning",
        "yesterday",
        "last week",
        "during the outage",
        "before the deadline",
        "after the release",
        "on Friday night",
        "twice today",
    ];
    let (a, rest) = (i % 10, i / 10);
    let (b, rest) = (rest % 10, rest / 10);
    let (c, rest) = (rest % 25, rest / 25);
    let (d, n) = (rest % 8, rest / 8);
    format!(
        "{} {} {} {} (#{}).",
        WHO[a],
        DID[b],
        WHAT[c],
        WHEN[d],
        n + 1
    )
}

/// The 100,000 vectors, embedded once and kept under target/tmp.
fn corpus(model: &MiniLm) -> Vec<Vec<f32>> {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("minilm-corpus-{RECALL_ITEMS}.f32"));
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() == RECALL_ITEMS * 384 * 4
    {
        return bytes
            .chunks_exact(384 * 4)
            .map(|v| {
                v.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect();
    }
    println!(
        "embedding {RECALL_ITEMS} sentences once (cached in {})…",
        path.display()
    );
    let t = Instant::now();
    let texts: Vec<String> = (0..RECALL_ITEMS).map(sentence).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(RECALL_ITEMS);
    for chunk in refs.chunks(1024) {
        out.extend(model.embed(chunk).expect("embed"));
    }
    println!(
        "  {:.0} sentences/s over the corpus",
        RECALL_ITEMS as f64 / t.elapsed().as_secs_f64()
    );
    let bytes: Vec<u8> = out.iter().flatten().flat_map(|x| x.to_le_bytes()).collect();
    let _ = std::fs::write(&path, bytes);
    out
}

fn recall(model: &Arc<MiniLm>) {
    let vectors = corpus(model);
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let space = VectorSpace::new("minilm:all-MiniLM-L6-v2", 384);
        let memory = LocalMemory::open(dir.path(), &space).expect("open");
        let items: Vec<(MemoryItem, Vec<f32>)> = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let item = MemoryItem {
                    id: format!("{i:08}"),
                    agent_id: "support-agent".into(),
                    kind: "fact".into(),
                    text: sentence(i),
                    ts: "2026-12-06T00:00:00Z".into(),
                    tags: Vec::new(),
                };
                (item, v)
            })
            .collect();
        for chunk in items.chunks(5_000) {
            memory.upsert(chunk.to_vec()).await.expect("upsert");
        }
        let queries: Vec<String> = (0..RECALL_QUERIES)
            .map(|i| match i % 4 {
                0 => "someone was billed twice".to_string(),
                1 => format!("problems signing in, case {i}"),
                2 => "the servers in Europe are slow".to_string(),
                _ => format!("certificate ran out {i}"),
            })
            .collect();
        let filter = MemoryFilter::agent("support-agent");
        let (mut search, mut both) = (Vec::new(), Vec::new());
        for q in &queries {
            let t = Instant::now();
            let v = model.embed(&[q.as_str()]).expect("embed");
            let s = Instant::now();
            let found = memory.search(&v[0], &filter, 10).await.expect("search");
            search.push(s.elapsed());
            both.push(t.elapsed());
            assert_eq!(found.len(), 10);
        }
        println!("recall top-10 of {RECALL_ITEMS} MiniLM vectors (local index, one worker), {RECALL_QUERIES} queries:");
        println!("  search alone:      p50 {:?}  p99 {:?}  (target < 10 ms)", pct(&mut search, 50), pct(&mut search, 99));
        println!("  embed + search:    p50 {:?}  p99 {:?}", pct(&mut both, 50), pct(&mut both, 99));
    });
}

/// Dispatch → done of an intent with the sim runner, hash against MiniLM.
fn intent_cost(model_dir: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut medians = Vec::new();
    for kind in [EmbedderKind::Hash, EmbedderKind::Minilm] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.runtime.data_dir = dir.path().to_path_buf();
        config.llm.sim.tokens_per_second = 0;
        config.llm.runner = RunnerKind::Sim;
        config.bus.backend = aios::config::BusBackend::Memory;
        config.memory.backend = MemoryBackend::Local;
        config.memory.embedder = kind;
        config.memory.embedding_model_dir = model_dir.display().to_string();
        config.mcp.http_bind = "127.0.0.1:0".into();
        config.recorder.enabled = false;
        let mut times = rt.block_on(async {
            let runtime = Runtime::start(RuntimeOptions::owning(config).expect("data dir lock"))
                .await
                .expect("runtime");
            let mut times = Vec::new();
            for i in 0..INTENTS {
                let mut events = runtime.subscribe();
                let t = Instant::now();
                let ticket = runtime
                    .dispatch(
                        &Caller::operator("bench"),
                        "support-agent",
                        &format!("customer {i} was charged twice, refund it"),
                        None,
                        None,
                    )
                    .await
                    .expect("dispatch");
                loop {
                    match events.recv().await {
                        Ok(RuntimeEvent::IntentDone { intent_id, .. })
                            if intent_id == ticket.intent_id =>
                        {
                            break;
                        }
                        Ok(RuntimeEvent::IntentFailed {
                            intent_id, error, ..
                        }) if intent_id == ticket.intent_id => panic!("intent failed: {error}"),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                times.push(t.elapsed());
            }
            runtime.shutdown().await;
            times
        });
        medians.push((kind, pct(&mut times, 50), pct(&mut times, 99)));
    }
    println!("an intent, dispatch → done, sim runner, {INTENTS} intents:");
    for (kind, p50, p99) in &medians {
        println!("  {kind:?}: p50 {p50:?}  p99 {p99:?}");
    }
    if let [(_, hash, _), (_, minilm, _)] = medians[..] {
        println!(
            "  MiniLM adds {:?} per intent at the median",
            minilm.saturating_sub(hash)
        );
    }
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
