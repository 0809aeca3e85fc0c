//! `aios doctor`: configuration, policy, data dir and every backend — which is configured,
//! which is live, whether its server answers and how fast. Exits non-zero when something
//! required is down or the configuration breaks the policy.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::config::{BusBackend, Config, ConfigError, ConfigSource, RunnerKind};
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
    out.push(match crate::memory::open_embedder(config).await {
        Ok((_, note)) => check("embedder", Status::Ok, note),
        Err(e) => check("embedder", Status::Fail, e.to_string()),
    });
    out.push(llm_check(config).await);
    out
}

/// The model runner `llm.runner` names, probed: an explicit one that is down fails; `auto`
/// says which it chose and why.
async fn llm_check(config: &Config) -> Check {
    use crate::llm::select;
    let (url, probed) = match config.llm.runner {
        RunnerKind::Sim => return check("llm", Status::Ok, "sim: scripted local runner"),
        RunnerKind::Auto => {
            return match select::select_runner(&config.llm).await {
                Ok(s) if s.runner.name() == "sim" => check("llm", Status::Warn, s.note),
                Ok(s) => check("llm", Status::Ok, s.note),
                Err(e) => check("llm", Status::Fail, e.to_string()),
            };
        }
        RunnerKind::Ollama => (
            &config.llm.ollama.url,
            select::probe_ollama(&config.llm.ollama.url)
                .await
                .map(|v| format!("version {v}")),
        ),
        RunnerKind::Openai => (
            &config.llm.openai.url,
            select::probe_openai(&config.llm.openai.url)
                .await
                .map(|n| format!("{n} model(s) served")),
        ),
    };
    let kind = config.llm.runner.as_str();
    match probed {
        Ok(detail) => check("llm", Status::Ok, format!("{kind} at {url}: {detail}")),
        Err(e) => check("llm", Status::Fail, format!("{kind} at {url} is down: {e}")),
    }
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
