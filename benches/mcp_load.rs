//! MCP over Streamable HTTP under load: 50 concurrent clients × 200 `get_context` calls
//! on loopback against an in-process runtime, in both protocol revisions, printing calls/s
//! and latency percentiles (target ≥ 5,000 calls/s). Client and server share the process
//! and its cores; `benches/mcp/get_context.lua` measures the server alone with wrk. A plain `harness = false` bench: the figure is throughput of
//! the whole run, which criterion's per-iteration model does not fit.

use std::time::{Duration, Instant};

use aios::agent::{Runtime, RuntimeOptions};
use aios::config::{BusBackend, Config};
use aios::context::{Caller, Cause};
use aios::mcp::OwnerServers;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt};

const SESSIONS: usize = 50;
const CALLS: usize = 200;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.runtime.data_dir = dir.path().to_path_buf();
    config.bus.backend = BusBackend::Memory;
    config.mcp.http_bind = "127.0.0.1:0".into();
    // The clients send no token: measure the server, not a token check.
    config.mcp.loopback_without_auth = true;
    let runtime = Runtime::start(RuntimeOptions::owning(config.clone()).expect("data dir lock"))
        .await
        .expect("runtime");
    runtime
        .hub()
        .update_context(
            &Caller::operator("bench"),
            "support-agent",
            "ticket queue: 3 open\n".into(),
            "seed".into(),
            Cause::default(),
        )
        .await
        .expect("seed context");
    let servers = OwnerServers::start(
        &runtime,
        &config,
        true,
        &tokio_util::sync::CancellationToken::new(),
        &tokio_util::task::TaskTracker::new(),
    )
    .await
    .expect("MCP HTTP");
    let url = servers.http_url().expect("HTTP url").to_string();

    // Both revisions: 2025-11-25 keeps a session per client and answers each POST with an
    // SSE stream; 2026-07-28 is stateless and answers with a JSON body.
    pass(&url, "sessions, 2025-11-25", || {
        ClientLifecycleMode::Initialize
    })
    .await;
    pass(&url, "stateless, 2026-07-28", || {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        }
    })
    .await;
    servers.stop().await;
    runtime.shutdown().await;
}

/// 50 clients connect (each with its own HTTP stack), then all call at once: the figure
/// is calls on open connections.
async fn pass(url: &str, mode: &str, lifecycle: impl Fn() -> ClientLifecycleMode) {
    // Sessions connect first (each client sets up its own HTTP stack), then all start
    // calling at once: the figure is calls on open sessions.
    let ready = std::sync::Arc::new(tokio::sync::Barrier::new(SESSIONS + 1));
    let mut tasks = Vec::new();
    for i in 0..SESSIONS {
        let url = url.to_string();
        let lifecycle = lifecycle();
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            let info = ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new(format!("bench-{i}"), "1"),
            );
            let client = info
                .serve_with_lifecycle(StreamableHttpClientTransport::from_uri(url), lifecycle)
                .await
                .expect("session");
            ready.wait().await;
            let mut latencies = Vec::with_capacity(CALLS);
            let mut errors = 0usize;
            for _ in 0..CALLS {
                let args = serde_json::json!({"agent_id": "support-agent"});
                let serde_json::Value::Object(args) = args else {
                    unreachable!()
                };
                let t = Instant::now();
                let r = client
                    .call_tool(CallToolRequestParams::new("get_context").with_arguments(args))
                    .await;
                latencies.push(t.elapsed());
                if !matches!(r, Ok(ref r) if r.is_error != Some(true)) {
                    errors += 1;
                }
            }
            let finished = Instant::now();
            let _ = client.cancel().await;
            (latencies, errors, finished)
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    let mut all: Vec<Duration> = Vec::with_capacity(SESSIONS * CALLS);
    let mut errors = 0;
    let mut last = started;
    for t in tasks {
        let (l, e, finished) = t.await.expect("session task");
        all.extend(l);
        errors += e;
        last = last.max(finished);
    }
    let elapsed = last - started;
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "mcp_load ({mode}): {SESSIONS} clients x {CALLS} get_context over Streamable HTTP: {} calls in {:.2?} = {:.0} calls/s; latency p50 {:.2?} p99 {:.2?} max {:.2?}; errors {errors}",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        all[all.len() - 1],
    );
}
