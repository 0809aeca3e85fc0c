//! Prometheus metrics: every metric's name and help in one place, the process-wide
//! recorder, the small recording functions the runtime calls, and the `/metrics` endpoint
//! at `metrics.bind`.
//!
//! Until [`start`] installs the recorder, every recording here is a no-op (the `metrics`
//! facade's default), so a process without `metrics.bind` pays a branch per call. Start the
//! endpoint before the runtime: handles taken before the recorder exists stay no-ops.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::metrics::{
    Counter, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MetricsConfig;
use crate::llm::Usage;

/// The endpoint's path.
pub const METRICS_PATH: &str = "/metrics";
/// The Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub const BUILD_INFO: &str = "aios_build_info";
pub const INTENTS_HANDLED: &str = "aios_intents_handled_total";
pub const INTENTS_FAILED: &str = "aios_intents_failed_total";
pub const INTENTS_REFUSED: &str = "aios_intents_refused_total";
pub const INTENT_DURATION: &str = "aios_intent_duration_seconds";
pub const TOKENS_GENERATED: &str = "aios_tokens_generated_total";
pub const FIRST_TOKEN: &str = "aios_time_to_first_token_seconds";
pub const TOKENS_PER_SECOND: &str = "aios_tokens_per_second";
pub const TOOL_CALLS: &str = "aios_tool_calls_total";
pub const MEMORY_UPSERTS: &str = "aios_memory_upserts_total";
pub const MEMORY_SEARCHES: &str = "aios_memory_searches_total";
pub const MEMORY_ERRORS: &str = "aios_memory_errors_total";
pub const MEMORY_DURATION: &str = "aios_memory_operation_duration_seconds";
pub const BUS_RECEIVED: &str = "aios_bus_messages_received_total";
pub const BUS_PUBLISHED: &str = "aios_bus_messages_published_total";
pub const BUS_REJECTED: &str = "aios_bus_messages_rejected_total";
pub const BUS_RECONNECTS: &str = "aios_bus_reconnects_total";
pub const AUDIT_RECORDS: &str = "aios_audit_records_written_total";
pub const CONTEXT_VERSIONS: &str = "aios_context_versions_written_total";
pub const HOOK_DELIVERIES: &str = "aios_hook_deliveries_total";
pub const HOOK_DELAY: &str = "aios_hook_delivery_delay_seconds";

/// Every metric family, for the registration at start and the tests.
pub const FAMILIES: [&str; 21] = [
    BUILD_INFO,
    INTENTS_HANDLED,
    INTENTS_FAILED,
    INTENTS_REFUSED,
    INTENT_DURATION,
    TOKENS_GENERATED,
    FIRST_TOKEN,
    TOKENS_PER_SECOND,
    TOOL_CALLS,
    MEMORY_UPSERTS,
    MEMORY_SEARCHES,
    MEMORY_ERRORS,
    MEMORY_DURATION,
    BUS_RECEIVED,
    BUS_PUBLISHED,
    BUS_REJECTED,
    BUS_RECONNECTS,
    AUDIT_RECORDS,
    CONTEXT_VERSIONS,
    HOOK_DELIVERIES,
    HOOK_DELAY,
];

/// The label values of a hook delivery's outcome, of an intent's refusal and of a tool
/// call's outcome: closed sets, registered at start.
const HOOK_OUTCOMES: [&str; 3] = ["delivered", "retry", "dead"];
const REFUSAL_REASONS: [&str; 2] = ["backlog_full", "not_queued"];
const TOOL_OUTCOMES: [&str; 2] = ["ok", "error"];

/// Model latency: from a warm local model (tens of ms) to a cold load of a large one.
const FIRST_TOKEN_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Whole intents: a sim answer in milliseconds to several tool rounds on a slow model.
const INTENT_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Vector memory calls: the local index answers in microseconds, Qdrant over gRPC in ms.
const MEMORY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Generation speed: CPU-bound small models to batched GPU servers.
const TOKENS_PER_SECOND_BUCKETS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0, 1000.0,
];
/// Hook deliveries, event to delivered: a local receiver in ms to a retried one in minutes.
const HOOK_DELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 300.0, 3600.0,
];
/// How often histograms are folded even when nobody scrapes, so they never grow unbounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(
        "metrics.bind `{0}` is not a socket address: expected IP:PORT such as 127.0.0.1:9464, or \"\" to turn it off"
    )]
    BadBind(String),
    #[error("cannot serve metrics on {addr} (metrics.bind): {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot install the Prometheus metrics recorder: {0}")]
    Recorder(String),
}

/// The process's recorder, installed once: `metrics` allows one global recorder, and a
/// second `start` in the same process (tests) serves the same figures.
fn recorder() -> Result<PrometheusHandle, MetricsError> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = builder()
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            describe();
            Ok(handle)
        })
        .clone()
        .map_err(MetricsError::Recorder)
}

fn builder() -> Result<PrometheusBuilder, metrics_exporter_prometheus::BuildError> {
    let full = |name: &str| Matcher::Full(name.to_string());
    PrometheusBuilder::new()
        .set_buckets_for_metric(full(FIRST_TOKEN), FIRST_TOKEN_BUCKETS)?
        .set_buckets_for_metric(full(INTENT_DURATION), INTENT_BUCKETS)?
        .set_buckets_for_metric(full(MEMORY_DURATION), MEMORY_BUCKETS)?
        .set_buckets_for_metric(full(TOKENS_PER_SECOND), TOKENS_PER_SECOND_BUCKETS)?
        .set_buckets_for_metric(full(HOOK_DELAY), HOOK_DELAY_BUCKETS)
}

/// Help text for every metric, and the unlabelled ones registered at zero so a scrape
/// shows them before anything happened.
fn describe() {
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the `version` label is the aios version."
    );
    describe_counter!(
        INTENTS_HANDLED,
        Unit::Count,
        "Intents an agent handled to the end."
    );
    describe_counter!(
        INTENTS_FAILED,
        Unit::Count,
        "Intents that ended in an error or were stopped."
    );
    describe_counter!(
        INTENTS_REFUSED,
        Unit::Count,
        "Intents that reached the bus and were refused out loud (answered on the results channel), by reason."
    );
    describe_counter!(
        HOOK_DELIVERIES,
        Unit::Count,
        "Hook delivery attempts by outcome: delivered, retry (failed, tried again later) or dead (given up)."
    );
    describe_histogram!(
        HOOK_DELAY,
        Unit::Seconds,
        "Time from the event to its hook's successful delivery."
    );
    describe_histogram!(
        INTENT_DURATION,
        Unit::Seconds,
        "Time from taking an intent to its reply."
    );
    describe_counter!(
        TOKENS_GENERATED,
        Unit::Count,
        "Completion tokens the model generated for an agent."
    );
    describe_histogram!(
        FIRST_TOKEN,
        Unit::Seconds,
        "Time to the first token of an intent's first model turn."
    );
    describe_histogram!(
        TOKENS_PER_SECOND,
        "Generation speed of each model turn, in tokens per second."
    );
    describe_counter!(
        TOOL_CALLS,
        Unit::Count,
        "Tool calls the model made, by tool and outcome."
    );
    describe_counter!(
        MEMORY_UPSERTS,
        Unit::Count,
        "Vector memory upsert calls, by backend."
    );
    describe_counter!(
        MEMORY_SEARCHES,
        Unit::Count,
        "Vector memory searches, by backend."
    );
    describe_counter!(
        MEMORY_ERRORS,
        Unit::Count,
        "Vector memory calls that failed, by backend and operation."
    );
    describe_histogram!(
        MEMORY_DURATION,
        Unit::Seconds,
        "Latency of vector memory calls, by backend and operation."
    );
    describe_counter!(
        BUS_RECEIVED,
        Unit::Count,
        "Bus messages received and parsed, by channel."
    );
    describe_counter!(
        BUS_PUBLISHED,
        Unit::Count,
        "Bus messages published, by channel."
    );
    describe_counter!(
        BUS_REJECTED,
        Unit::Count,
        "Bus messages received that did not parse, by channel."
    );
    describe_counter!(
        BUS_RECONNECTS,
        Unit::Count,
        "Reconnections to the bus backend."
    );
    describe_counter!(
        AUDIT_RECORDS,
        Unit::Count,
        "Audit records written and fsynced."
    );
    describe_counter!(
        CONTEXT_VERSIONS,
        Unit::Count,
        "Context versions written, by agent."
    );
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    counter!(BUS_RECONNECTS).absolute(0);
    counter!(AUDIT_RECORDS).absolute(0);
}

/// A running `/metrics` endpoint: its tasks run on the tracker given to [`start`] and stop
/// with its token.
pub struct MetricsServer {
    pub addr: SocketAddr,
    /// `http://ADDR/metrics`.
    pub url: String,
}

/// Install the recorder and serve `/metrics` at `config.bind` until `stop`, its tasks on
/// `tasks`; `None` when the bind is empty. Call it before the runtime starts, so the bus's
/// per-channel handles are live ones.
pub async fn start(
    config: &MetricsConfig,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Result<Option<MetricsServer>, MetricsError> {
    let bind = config.bind.trim();
    if bind.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = bind
        .parse()
        .map_err(|_| MetricsError::BadBind(config.bind.clone()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| MetricsError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let prometheus = recorder()?;
    tasks.spawn(upkeep(prometheus.clone(), stop.clone()));
    let router = Router::new()
        .route(METRICS_PATH, get(render))
        .with_state(prometheus);
    tasks.spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics server stopped with an error");
        }
    });
    let url = format!("http://{bound}{METRICS_PATH}");
    tracing::info!(%url, "metrics listening");
    Ok(Some(MetricsServer { addr: bound, url }))
}

async fn render(State(prometheus): State<PrometheusHandle>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], prometheus.render())
}

async fn upkeep(prometheus: PrometheusHandle, cancel: CancellationToken) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => prometheus.run_upkeep(),
            () = cancel.cancelled() => return,
        }
    }
}

/// One agent as the metrics know it: its id and the tools it may call.
pub struct KnownAgent<'a> {
    pub id: &'a str,
    pub tools: &'a [String],
}

/// Register every family with the label values known at start, at zero: the runtime's
/// agents (and each agent's tools and both outcomes), the bus channels, the memory backend,
/// refusal reasons and hook outcomes. A dashboard or an alert on
/// `rate(aios_intents_failed_total[5m])` then sees 0 from the first scrape instead of
/// nothing until the first failure. A no-op without the recorder.
pub fn register_known<'a>(
    agents: impl IntoIterator<Item = KnownAgent<'a>>,
    channels: &[&str],
    memory_backend: &'static str,
) {
    for agent in agents {
        let id = || agent.id.to_string();
        counter!(INTENTS_HANDLED, "agent" => id()).increment(0);
        counter!(INTENTS_FAILED, "agent" => id()).increment(0);
        counter!(TOKENS_GENERATED, "agent" => id()).increment(0);
        counter!(CONTEXT_VERSIONS, "agent" => id()).increment(0);
        // A histogram is registered by taking its handle; empty, it shows its zero buckets.
        let _ = histogram!(INTENT_DURATION, "agent" => id());
        let _ = histogram!(FIRST_TOKEN, "agent" => id());
        let _ = histogram!(TOKENS_PER_SECOND, "agent" => id());
        for tool in agent.tools {
            let tool = crate::agent::tools::label(tool);
            if tool == "unknown" {
                continue;
            }
            for outcome in TOOL_OUTCOMES {
                counter!(TOOL_CALLS, "agent" => id(), "tool" => tool.to_string(), "outcome" => outcome)
                    .increment(0);
            }
        }
    }
    for channel in channels {
        let meters = ChannelMeters::new(channel);
        meters.received.increment(0);
        meters.published.increment(0);
        meters.rejected.increment(0);
    }
    counter!(MEMORY_UPSERTS, "backend" => memory_backend).increment(0);
    counter!(MEMORY_SEARCHES, "backend" => memory_backend).increment(0);
    for op in [MemoryOp::Upsert, MemoryOp::Search] {
        counter!(MEMORY_ERRORS, "backend" => memory_backend, "op" => op.as_str()).increment(0);
        let _ = histogram!(MEMORY_DURATION, "backend" => memory_backend, "op" => op.as_str());
    }
    for reason in REFUSAL_REASONS {
        counter!(INTENTS_REFUSED, "reason" => reason).increment(0);
    }
    for outcome in HOOK_OUTCOMES {
        counter!(HOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    let _ = histogram!(HOOK_DELAY);
}

/// An intent handled to the end, and how long it took.
pub fn intent_handled(agent_id: &str, took: Duration) {
    counter!(INTENTS_HANDLED, "agent" => agent_id.to_string()).increment(1);
    histogram!(INTENT_DURATION, "agent" => agent_id.to_string()).record(took.as_secs_f64());
}

/// An intent heard on the bus could not be taken and was refused (`backlog_full`, the
/// stream holds `bus.stream_max_len` unhandled intents; `not_queued`, Redis refused it).
pub fn intent_refused(reason: &'static str) {
    counter!(INTENTS_REFUSED, "reason" => reason).increment(1);
}

/// One hook delivery attempt ended: `outcome` is delivered, retry or dead; `delay` (event
/// to delivery) is counted for delivered ones.
pub fn hook_delivery(outcome: &'static str, delay: Option<Duration>) {
    counter!(HOOK_DELIVERIES, "outcome" => outcome).increment(1);
    if let Some(d) = delay {
        histogram!(HOOK_DELAY).record(d.as_secs_f64());
    }
}

pub fn intent_failed(agent_id: &str) {
    counter!(INTENTS_FAILED, "agent" => agent_id.to_string()).increment(1);
}

/// One streamed model turn. The time to first token is taken from an intent's first turn
/// only: that is the wait the operator sees; later turns follow tool calls.
pub fn model_turn(agent_id: &str, usage: &Usage, first_turn: bool) {
    counter!(TOKENS_GENERATED, "agent" => agent_id.to_string()).increment(usage.completion_tokens);
    if first_turn && usage.completion_tokens > 0 {
        histogram!(FIRST_TOKEN, "agent" => agent_id.to_string())
            .record(usage.first_token_ms / 1000.0);
    }
    if let Some(speed) = usage.tokens_per_second() {
        histogram!(TOKENS_PER_SECOND, "agent" => agent_id.to_string()).record(speed);
    }
}

/// `tool` must come from a closed set (a model can ask for any name it invents).
pub fn tool_called(agent_id: &str, tool: &str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!(TOOL_CALLS, "agent" => agent_id.to_string(), "tool" => tool.to_string(), "outcome" => outcome)
        .increment(1);
}

/// A vector memory operation, as the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOp {
    Upsert,
    Search,
}

impl MemoryOp {
    fn as_str(self) -> &'static str {
        match self {
            MemoryOp::Upsert => "upsert",
            MemoryOp::Search => "search",
        }
    }
}

/// Run one vector memory call, counting it and timing it under its backend's name.
pub async fn memory_io<T, E>(
    backend: &'static str,
    op: MemoryOp,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let name = match op {
        MemoryOp::Upsert => MEMORY_UPSERTS,
        MemoryOp::Search => MEMORY_SEARCHES,
    };
    counter!(name, "backend" => backend).increment(1);
    histogram!(MEMORY_DURATION, "backend" => backend, "op" => op.as_str())
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        counter!(MEMORY_ERRORS, "backend" => backend, "op" => op.as_str()).increment(1);
    }
    result
}

/// A bus channel's counters, registered once per channel and kept: the ingest path then
/// pays one atomic add per message, not a registry lookup.
#[derive(Debug)]
pub struct ChannelMeters {
    pub received: Counter,
    pub published: Counter,
    pub rejected: Counter,
}

impl ChannelMeters {
    pub fn new(channel: &str) -> ChannelMeters {
        ChannelMeters {
            received: counter!(BUS_RECEIVED, "channel" => channel.to_string()),
            published: counter!(BUS_PUBLISHED, "channel" => channel.to_string()),
            rejected: counter!(BUS_REJECTED, "channel" => channel.to_string()),
        }
    }
}

pub fn bus_reconnected() {
    counter!(BUS_RECONNECTS).increment(1);
}

/// Records made durable by one commit of the audit writer.
pub fn audit_records_written(n: u64) {
    counter!(AUDIT_RECORDS).increment(n);
}

pub fn context_version_written(agent_id: &str) {
    counter!(CONTEXT_VERSIONS, "agent" => agent_id.to_string()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_in_use_is_a_clear_error_naming_the_key() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let config = MetricsConfig { bind: addr.clone() };
        let Err(e) = start(&config, &TaskTracker::new(), CancellationToken::new()).await else {
            panic!("a bound port was served twice");
        };
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("cannot serve metrics on {addr} (metrics.bind): ")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_bad_address_names_the_key_and_an_empty_one_serves_nothing() {
        let config = MetricsConfig {
            bind: "localhost".into(),
        };
        let e = start(&config, &TaskTracker::new(), CancellationToken::new())
            .await
            .err()
            .expect("not an IP:PORT");
        assert!(e.to_string().contains("metrics.bind `localhost`"), "{e}");
        let off = start(
            &MetricsConfig::default(),
            &TaskTracker::new(),
            CancellationToken::new(),
        )
        .await
        .expect("off is fine");
        assert!(off.is_none());
    }

    #[test]
    fn histograms_render_as_histograms_and_tool_labels_stay_closed() {
        // Without buckets the exporter renders a summary, which cannot be aggregated
        // across nodes.
        let prometheus = recorder().expect("recorder installs");
        let usage = Usage {
            completion_tokens: 10,
            first_token_ms: 40.0,
            total_ms: 540.0,
            ..Usage::default()
        };
        model_turn("unit-agent", &usage, true);
        intent_handled("unit-agent", Duration::from_millis(600));
        futures::executor::block_on(memory_io("unit", MemoryOp::Search, async {
            Ok::<_, ()>(())
        }))
        .unwrap();
        tool_called("unit-agent", crate::agent::tools::label("rm_rf"), false);
        tool_called("unit-agent", crate::agent::tools::label("recall"), true);
        let text = prometheus.render();
        for sample in [
            r#"aios_tool_calls_total{agent="unit-agent",tool="unknown",outcome="error"} 1"#,
            r#"aios_tool_calls_total{agent="unit-agent",tool="recall",outcome="ok"} 1"#,
        ] {
            assert!(text.contains(sample), "{sample}:\n{text}");
        }
        for name in [
            FIRST_TOKEN,
            INTENT_DURATION,
            MEMORY_DURATION,
            TOKENS_PER_SECOND,
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} histogram")),
                "{name}:\n{text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
        }
        assert!(
            text.contains("aios_tokens_per_second_bucket{agent=\"unit-agent\",le=\"20\"} 1"),
            "{text}"
        );
    }
}
