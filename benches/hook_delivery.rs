//! Hook deliveries per second to a local HTTP server, and the delay from event to
//! delivery (p50, p99): runtime events go through the router, the durable outbox (the
//! redb file with group commit, each delivery written before its attempt and after it),
//! the signing and the POST, as in production.
//!
//! Peer, in the same run and to the same server: the same number of POSTs of the same
//! bodies sent straight with reqwest at the same concurrency, no outbox and no signature.
//! The ratio is what durability and signing cost.
//!
//! `cargo bench --bench hook_delivery`; `AIOS_HOOK_BENCH_EVENTS` (default 20000) events a
//! burst round, three rounds each; then three rounds paced at 2,000 events/s (the
//! target rate) for the delay an event sees when the hooks keep up (a burst's delay is
//! its queue).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::{AgentOverride, Config};
use aios::context::ProtocolHook;
use aios::event::RuntimeEvent;
use aios::hooks::outbox::local::LocalOutbox;
use aios::hooks::{Hooks, HooksOptions, IntentSink, SystemClock, Targets};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// When each intent id's POST arrived, and how many did.
#[derive(Default)]
struct Received {
    at: Mutex<HashMap<String, Instant>>,
    notify: Notify,
}

async fn receive(State(r): State<Arc<Received>>, body: Bytes) -> axum::http::StatusCode {
    let now = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(id) = v["intent_id"].as_str() {
        r.at.lock().unwrap().insert(id.to_string(), now);
    }
    r.notify.notify_one();
    axum::http::StatusCode::NO_CONTENT
}

struct NoIntents;

#[async_trait::async_trait]
impl IntentSink for NoIntents {
    async fn send_intent(
        &self,
        _: &aios::context::Caller,
        _: &str,
        _: &str,
        _: Option<String>,
        _: Option<String>,
        _: u32,
    ) -> Result<String, (bool, String)> {
        Err((false, "not in this bench".into()))
    }
}

async fn wait_all(r: &Received, n: usize) {
    loop {
        let notified = r.notify.notified();
        if r.at.lock().unwrap().len() >= n {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn event(k: usize) -> RuntimeEvent {
    RuntimeEvent::IntentDone {
        agent_id: "support-agent".into(),
        intent_id: format!("i{k}"),
        reply: "Reset the password and confirmed the login works.".into(),
        context_version: 1,
        runner: "sim".into(),
        model: "sim".into(),
        tokens: 12,
    }
}

/// One round: `n` events through the hooks to a receiver on `port` (the port the
/// configured hook names).
async fn hooks_round(
    rt: &Runtime,
    config: &Config,
    dir: &std::path::Path,
    port: u16,
    n: usize,
    round: usize,
    pace: Option<usize>,
) -> (f64, Duration, Duration) {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut hooks_config = config.hooks.clone();
    hooks_config.concurrency = 32;
    let outbox = LocalOutbox::open(&dir.join(format!("bench-{round}.redb"))).unwrap();
    let (events, _) = broadcast::channel(n + 16);
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let mut known = aios::hooks::known_of(config);
    known.agents.insert("support-agent".into());
    let _hooks = Hooks::start(
        HooksOptions {
            config: hooks_config,
            secrets: aios::hooks::SigningSecrets::fixed(vec!["bench-secret".into()]),
            node: "bench".into(),
            outbox: Arc::new(outbox),
            hub: rt.hub().clone(),
            known,
            targets: Targets {
                http: aios::actions::http_client().unwrap(),
                actions: Arc::new(aios::actions::Actions::default()),
                mcp: rt.mcp_servers().clone(),
                intents: Arc::new(NoIntents),
            },
            approvals: None,
            rules: Arc::new(Vec::new()),
            events: events.clone(),
            clock: Arc::new(SystemClock),
        },
        &tasks,
        cancel.clone(),
    );
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for k in 0..n {
        match pace {
            // Every event at once: the throughput.
            None if k % 256 == 255 => tokio::task::yield_now().await,
            None => {}
            // A steady rate: the delay an event sees when the hooks keep up.
            Some(per_ms) if k % per_ms == 0 => {
                tick.tick().await;
            }
            Some(_) => {}
        }
        sent_at.push(Instant::now());
        let _ = events.send(event(k));
    }
    wait_all(&received, n).await;
    let took = started.elapsed();
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    server.abort();
    let at = received.at.lock().unwrap();
    let mut delays: Vec<Duration> = (0..n)
        .filter_map(|k| {
            at.get(&format!("i{k}"))
                .map(|t| t.duration_since(sent_at[k]))
        })
        .collect();
    delays.sort();
    (
        n as f64 / took.as_secs_f64(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
    )
}

async fn direct_round(n: usize) -> f64 {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = aios::actions::http_client().unwrap();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for k in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        let url = url.clone();
        let body = serde_json::to_vec(&serde_json::json!({
            "id": k, "event": "intent.done", "hook": "bench", "agent_id": "support-agent",
            "intent_id": format!("i{k}"), "data": {"reply": "Reset the password and confirmed the login works."}
        }))
        .unwrap();
        set.spawn(async move {
            let _ = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            drop(permit);
        });
    }
    while set.join_next().await.is_some() {}
    wait_all(&received, n).await;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    server.abort();
    rate
}

fn main() {
    let n: usize = std::env::var("AIOS_HOOK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.runtime.data_dir = dir.path().join("data");
        config.bus.backend = aios::config::BusBackend::Memory;
        config.memory.backend = aios::config::MemoryBackend::Local;
        config.llm.runner = aios::config::RunnerKind::Sim;
        config.memory.embedder = aios::config::EmbedderKind::Hash;
        config.mcp.http_bind = String::new();
        config.hooks.secret = vec!["bench-secret".into()];
        // The hook names a free port; each round's receiver listens there.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let url = format!("http://127.0.0.1:{port}/hook");
        config.agents.insert(
            "support-agent".into(),
            AgentOverride {
                protocol_hooks: Some(vec![ProtocolHook {
                    name: "bench".into(),
                    on: "intent.done".into(),
                    action: format!("webhook:{url}"),
                }]),
                ..Default::default()
            },
        );
        let runtime = Runtime::start(RuntimeOptions::owning(config.clone()).expect("data dir lock")).await.unwrap();
        println!("hook_delivery: {n} events a round, concurrency 32, local HTTP server");
        for round in 0..3 {
            let (rate, p50, p99) =
                hooks_round(&runtime, &config, dir.path(), port, n, round, None).await;
            let direct = direct_round(n).await;
            println!(
                "round {round}: hooks {rate:.0}/s (event→delivery p50 {:.1} ms, p99 {:.1} ms)  direct POSTs {direct:.0}/s  ratio {:.2}",
                p50.as_secs_f64() * 1000.0,
                p99.as_secs_f64() * 1000.0,
                rate / direct
            );
        }
        // 2,000 events a second (two a millisecond) for five seconds.
        for round in 3..6 {
            let (rate, p50, p99) =
                hooks_round(&runtime, &config, dir.path(), port, 10_000, round, Some(2)).await;
            println!(
                "round {round}: paced at 2000 events/s: {rate:.0}/s delivered, event→delivery p50 {:.2} ms, p99 {:.2} ms",
                p50.as_secs_f64() * 1000.0,
                p99.as_secs_f64() * 1000.0,
            );
        }
        runtime.shutdown().await;
    });
}
