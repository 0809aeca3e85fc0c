//! `aios doctor`: configuration, policy, data dir and every backend — which is configured,
//! which is live, whether its server answers and how fast. Exits non-zero when something
//! required is down or the configuration breaks the policy.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::config::{BusBackend, Config, ConfigError, ConfigSource, EmbedderKind, RunnerKind};
use crate::control::DataDirLock;

use super::{Cli, load_config};

const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

fn check(check: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
        latency_ms: None,
    }
}

pub async fn run(cli: &Cli, json: bool) -> Result<ExitCode> {
    let checks = match load_config(cli) {
        Ok((config, source)) => checks(&config, &source).await,
        Err(e) => {
            let name = match e {
                ConfigError::ClosedApi { .. } => "policy",
                _ => "config",
            };
            vec![check(name, Status::Fail, e.to_string())]
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let latency = c
                .latency_ms
                .map(|l| format!(" ({l:.1} ms)"))
                .unwrap_or_default();
            println!("{:<10} {:<5} {}{latency}", c.check, status, c.detail);
        }
    }
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn checks(config: &Config, source: &ConfigSource) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(check(
        "config",
        Status::Ok,
        match source {
            ConfigSource::Embedded => "built-in defaults (no config file found)".to_string(),
            ConfigSource::File(p) => p.display().to_string(),
        },
    ));
    out.push(check(
        "policy",
        Status::Ok,
        "open models only: no closed hosted API configured",
    ));

    let data_dir = config.data_dir();
    out.push(match DataDirLock::try_acquire(&data_dir) {
        Ok(Ok(_lock)) => check(
            "data dir",
            Status::Ok,
            format!("{} (no owner running)", data_dir.display()),
        ),
        Ok(Err(holder)) => check(
            "data dir",
            Status::Ok,
            format!("{} (owned by {holder})", data_dir.display()),
        ),
        Err(e) => check("data dir", Status::Fail, e.to_string()),
    });
    let (bus, on_redis) = bus_check(config).await;
    out.push(check(
        "store",
        Status::Ok,
        if on_redis {
            format!("redis at {} (shared by every node)", config.bus.url)
        } else {
            format!("embedded redb at {}", data_dir.join("state.redb").display())
        },
    ));
    out.push(check(
        "audit",
        Status::Ok,
        format!("JSONL at {}", config.audit_dir().display()),
    ));

    out.push(bus);

    out.push(memory_check(config, &data_dir).await);
    out.push(match config.memory.embedder {
        EmbedderKind::Ollama => {
            server_check("embedder", &config.llm.ollama.url, true, "hash", "ollama").await
        }
        _ => check(
            "embedder",
            Status::Ok,
            format!("hash: deterministic local, {} dims", config.memory.dims),
        ),
    });

    match config.llm.runner {
        RunnerKind::Sim => out.push(check("llm", Status::Ok, "sim: scripted local runner")),
        RunnerKind::Ollama => {
            out.push(server_check("llm", &config.llm.ollama.url, true, "sim", "ollama").await)
        }
        RunnerKind::Openai => {
            out.push(server_check("llm", &config.llm.openai.url, true, "sim", "openai").await)
        }
        RunnerKind::Auto => {
            out.push(server_check("ollama", &config.llm.ollama.url, false, "sim", "ollama").await);
            out.push(server_check("openai", &config.llm.openai.url, false, "sim", "openai").await);
            out.push(check(
                "llm",
                Status::Ok,
                "auto → sim: scripted local runner",
            ));
        }
    }
    out
}

/// The bus: Redis when configured (required) or when `auto` finds it; in-process otherwise.
/// Also says whether Redis is in use (then the agent state lives there too).
async fn bus_check(config: &Config) -> (Check, bool) {
    let url = &config.bus.url;
    let with = "bus, agent state and audit mirror on Redis";
    let probed = match config.bus.backend {
        BusBackend::Memory => Err(String::new()),
        _ => probe(url).await,
    };
    let on_redis = config.bus.backend != BusBackend::Memory && probed.is_ok();
    let check = match (config.bus.backend, probed) {
        (BusBackend::Memory, _) => check("bus", Status::Ok, "memory: in-process (one node)"),
        (BusBackend::Redis, Ok(ms)) => Check {
            latency_ms: Some(ms),
            ..check("bus", Status::Ok, format!("redis at {url}: {with}"))
        },
        (BusBackend::Redis, Err(e)) => {
            check("bus", Status::Fail, format!("redis at {url} is down: {e}"))
        }
        (BusBackend::Auto, Ok(ms)) => Check {
            latency_ms: Some(ms),
            ..check("bus", Status::Ok, format!("auto → redis at {url}: {with}"))
        },
        (BusBackend::Auto, Err(e)) => check(
            "bus",
            Status::Warn,
            format!("auto → in-process: no Redis at {url} ({e})"),
        ),
    };
    (check, on_redis)
}

/// Which vector memory the start would open, and whether Qdrant answered.
async fn memory_check(config: &Config, data_dir: &std::path::Path) -> Check {
    use crate::memory::select::{Verdict, diagnose};
    let d = diagnose(&config.memory, data_dir).await;
    let status = match d.verdict {
        Verdict::Ok => Status::Ok,
        Verdict::Warn => Status::Warn,
        Verdict::Fail => Status::Fail,
    };
    Check {
        latency_ms: d.latency.map(|l| l.as_secs_f64() * 1000.0),
        ..check("memory", status, d.detail)
    }
}

/// Probe a server; `required` turns "down" into a failure, otherwise the embedded
/// `fallback` is what runs.
async fn server_check(
    name: &'static str,
    url: &str,
    required: bool,
    fallback: &str,
    kind: &str,
) -> Check {
    match probe(url).await {
        Ok(latency) => {
            let mut c = check(
                name,
                if required { Status::Fail } else { Status::Ok },
                if required {
                    format!(
                        "{kind} at {url} is reachable, but this build runs no {kind} backend yet"
                    )
                } else {
                    format!("{kind} reachable at {url}; running {fallback} (embedded)")
                },
            );
            c.latency_ms = Some(latency);
            c
        }
        Err(e) if required => check(name, Status::Fail, format!("{kind} at {url} is down: {e}")),
        Err(e) => check(
            name,
            Status::Warn,
            format!("{kind} not reachable at {url} ({e}); running {fallback} (embedded)"),
        ),
    }
}

/// TCP connect to the URL's host and port; milliseconds on success.
async fn probe(url: &str) -> Result<f64, String> {
    let addr = crate::config::url::split(url)
        .and_then(|p| p.socket_address())
        .ok_or_else(|| format!("cannot read a host and port from `{url}`"))?;
    let started = Instant::now();
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(started.elapsed().as_secs_f64() * 1000.0),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}
