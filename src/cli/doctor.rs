//! `aios doctor`: configuration, policy, data dir and every backend — which is configured,
//! which is live, whether its server answers and how fast — and, next to a compose file,
//! every service of that deployment. Exits non-zero when something required is down or the
//! configuration breaks the policy.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::config::url::ShownUrl;
use crate::config::{BusBackend, Config, ConfigError, ConfigSource, RunnerKind};
use crate::control::{Acquired, DataDirLock};

use super::{Cli, compose, load_config};

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
    /// The compose service a `compose` line is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
}

fn check(check: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
        latency_ms: None,
        service: None,
    }
}

/// `compose`: the file `--compose` names (its services must answer), else the one `docker
/// compose` would pick in the current directory (a service that is down is only a warning:
/// a source checkout has the file without running the stack).
pub async fn run(cli: &Cli, json: bool, compose: Option<&Path>) -> Result<ExitCode> {
    let mut checks = match load_config(cli) {
        Ok((config, source)) => checks(&config, &source).await,
        Err(e) => {
            let name = match e {
                ConfigError::ClosedApi { .. } => "policy",
                _ => "config",
            };
            vec![check(name, Status::Fail, e.to_string())]
        }
    };
    let found = match compose {
        Some(path) => Some((path.to_path_buf(), true)),
        None => std::env::current_dir()
            .ok()
            .and_then(|dir| compose::find_in(&dir))
            .map(|path| (path, false)),
    };
    if let Some((path, strict)) = found {
        checks.extend(compose_checks(&path, strict).await);
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&checks)?);
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
            outln!("{:<10} {:<5} {}{latency}", c.check, status, c.detail);
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

    // Each Vault reference, then the rest on the values read (a `vault:` bus URL is probed
    // at the address it holds); the values themselves are never shown.
    let (vault, resolved) = vault_checks(config).await;
    out.extend(vault);
    let config = &resolved;

    let data_dir = config.data_dir();
    out.push(match DataDirLock::try_acquire(&data_dir) {
        Ok(Acquired::Owner(_lock)) => check(
            "data dir",
            Status::Ok,
            format!("{} (no owner running)", data_dir.display()),
        ),
        Ok(Acquired::HeldBy(holder)) => check(
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
    out.push(audit_chain_check(config).await);

    out.push(bus);

    out.push(memory_check(config, &data_dir).await);
    if let Some(c) = schema_check(config).await {
        out.push(c);
    }
    out.push(match crate::memory::open_embedder(config).await {
        // Runs, but recall matches words only: worth a warning, not a failure.
        Ok(c) if !crate::memory::choose_embedder::is_semantic(&c.embedder.name()) => {
            check("embedder", Status::Warn, c.note)
        }
        Ok(c) => check("embedder", Status::Ok, c.note),
        Err(e) => check("embedder", Status::Fail, e.to_string()),
    });
    out.push(llm_check(config).await);
    out.push(tools_check(config));
    out.push(hooks_check(config, &data_dir));
    out.push(recorder_check(config));
    out
}

/// One line per `vault:` reference: found, missing, forbidden (or Vault unreachable),
/// with the keys that use it; and the config with the values read when all were found.
async fn vault_checks(config: &Config) -> (Vec<Check>, Config) {
    let refs = crate::secrets::config_refs(config);
    let Some(first) = refs.first() else {
        return (Vec::new(), config.clone());
    };
    let settings = match crate::secrets::process_settings(config, &first.label) {
        Ok(s) => s,
        Err(e) => {
            return (
                vec![check("vault", Status::Fail, e.to_string())],
                config.clone(),
            );
        }
    };
    let addr = settings.addr.clone();
    let client = match crate::secrets::VaultClient::new(settings) {
        Ok(c) => c,
        Err(e) => {
            return (
                vec![check("vault", Status::Fail, e.to_string())],
                config.clone(),
            );
        }
    };
    let users = match crate::secrets::refs_by_reference(config) {
        Ok(users) => users,
        Err(e) => {
            return (
                vec![check("vault", Status::Fail, e.to_string())],
                config.clone(),
            );
        }
    };
    let mut out = Vec::new();
    let mut all_found = true;
    for (reference, labels) in users {
        let used_by = labels.join(", ");
        let started = Instant::now();
        let line = match crate::secrets::check(&client, &reference).await {
            Ok(()) => Check {
                latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
                ..check(
                    "vault",
                    Status::Ok,
                    format!("{reference} ({used_by}): found at {addr}"),
                )
            },
            Err(e) => {
                let why = match &e {
                    crate::secrets::VaultError::Missing(what) => what.clone(),
                    other => other.to_string(),
                };
                check(
                    "vault",
                    Status::Fail,
                    format!("{reference} ({used_by}): {}: {why}", e.kind()),
                )
            }
        };
        all_found &= line.status == Status::Ok;
        out.push(line);
    }
    let mut resolved = config.clone();
    // A copy with a handle of its own: doctor's reads never reach the caller's config.
    resolved.secrets = crate::secrets::Secrets::default();
    if all_found && let Err(e) = crate::secrets::resolve_config(&mut resolved).await {
        out.push(check("vault", Status::Fail, e.to_string()));
    }
    (out, resolved)
}

/// Where the flight recording goes, how much of it there is, and whether its chain holds.
fn recorder_check(config: &Config) -> Check {
    if !config.recorder.enabled {
        return check(
            "recorder",
            Status::Warn,
            "off (recorder.enabled = false): nothing to replay or to ask why of".to_string(),
        );
    }
    let dir = crate::recorder::RecorderOptions::from_config(config).dir;
    let files = crate::recorder::list_segments(&dir).unwrap_or_default();
    let bytes: u64 = files
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    if files.is_empty() {
        return check(
            "recorder",
            Status::Ok,
            format!(
                "{}: no recording yet (it begins when a runtime starts)",
                dir.display()
            ),
        );
    }
    // Checking reads every byte: past 256 MiB that is left to `aios replay --check`.
    let chain = if bytes > 256 * 1_048_576 {
        "chain not checked here (large): run `aios replay --check`".to_string()
    } else {
        match crate::recorder::verify(&dir) {
            Ok(c) => match c.first_bad {
                None => format!("{} entries, chain verified", c.entries),
                Some(b) => {
                    let why = format!("{}: the chain is broken at {b}", dir.display());
                    return check("recorder", Status::Fail, why);
                }
            },
            Err(e) => return check("recorder", Status::Fail, format!("{}: {e}", dir.display())),
        }
    };
    check(
        "recorder",
        Status::Ok,
        format!(
            "{}: {} file(s), {:.1} MiB, {chain}; kept up to {} MiB",
            dir.display(),
            files.len(),
            bytes as f64 / 1_048_576.0,
            config.recorder.keep_mb
        ),
    )
}

/// The hooks in config and how webhooks are signed (never the secret itself): a secret
/// named by an unset variable is a failure, since no webhook could be signed.
fn hooks_check(config: &Config, data_dir: &std::path::Path) -> Check {
    let in_config: usize = config
        .agents
        .values()
        .map(|a| a.protocol_hooks.as_ref().map_or(0, Vec::len))
        .sum();
    let signing = match config.hooks.resolve_secrets(&|n| config.secrets.lookup(n)) {
        Err(e) => return check("hooks", Status::Fail, e.to_string()),
        Ok(s) if s.is_empty() => format!(
            "webhooks signed with the generated secret in {}",
            data_dir.join("hooks.secret").display()
        ),
        Ok(s) => format!("webhooks signed with {} configured secret(s)", s.len()),
    };
    check(
        "hooks",
        Status::Ok,
        format!(
            "{in_config} hook(s) in config (more may be added over MCP; `aios hooks` lists all); {signing}; \
             up to {} attempts",
            config.hooks.max_attempts
        ),
    )
}

/// Every agent's listed tools that stand for no tool: the agent cannot call them, and the
/// operator should know (map them with an MCP server or HTTP actions, or drop them).
fn tools_check(config: &Config) -> Check {
    let catalog = match crate::agent::Catalog::from_config(config) {
        Ok(c) => c,
        Err(e) => return check("tools", Status::Fail, e.to_string()),
    };
    let registry = crate::agent::registry::Registry::for_config(config);
    let unmapped: Vec<String> = catalog
        .agents()
        .iter()
        .filter_map(|a| {
            // A configured MCP server's tools are known once it runs: its name counts.
            let unmapped: Vec<String> = registry
                .resolve(&a.tools)
                .unmapped
                .into_iter()
                .filter(|n| !config.mcp_servers.get(n).is_some_and(|s| s.enabled))
                .collect();
            (!unmapped.is_empty()).then(|| format!("{}: {}", a.id, unmapped.join(", ")))
        })
        .collect();
    if unmapped.is_empty() {
        check(
            "tools",
            Status::Ok,
            format!(
                "every listed tool of {} agents maps to a tool",
                catalog.len()
            ),
        )
    } else {
        check(
            "tools",
            Status::Warn,
            format!(
                "listed but mapping to no tool (not callable): {}",
                unmapped.join("; ")
            ),
        )
    }
}

/// Whether the audit files' hash chain verifies (`aios audit verify` says more).
async fn audit_chain_check(config: &Config) -> Check {
    let dir = config.audit_dir();
    let verified = tokio::task::spawn_blocking(move || crate::audit::verify_dir(&dir)).await;
    match verified {
        Ok(Ok(report)) => match report.first_bad {
            None => check(
                "audit",
                Status::Ok,
                format!("chain verified: {} record(s)", report.records),
            ),
            Some(bad) => check(
                "audit",
                Status::Warn,
                crate::sanitize::one_line(&format!(
                    "the chain does not verify: broken at {bad}; see `aios audit verify`"
                )),
            ),
        },
        Ok(Err(e)) => check(
            "audit",
            Status::Warn,
            format!("could not verify the chain: {e}"),
        ),
        Err(e) => check(
            "audit",
            Status::Warn,
            format!("could not verify the chain: {e}"),
        ),
    }
}

/// The model runner `llm.runner` names, probed: an explicit one that is down fails; `auto`
/// says which it chose and why.
async fn llm_check(config: &Config) -> Check {
    use crate::llm::select;
    let (url, probed) = match config.llm.runner {
        RunnerKind::Sim => return check("llm", Status::Ok, "sim: scripted local runner"),
        RunnerKind::Auto => {
            return match select::select_runner(&config.llm).await {
                Ok(s) if s.runner.simulated() => check("llm", Status::Warn, s.note),
                Ok(s) => check("llm", Status::Ok, s.note),
                Err(e) => check("llm", Status::Fail, e.to_string()),
            };
        }
        RunnerKind::Ollama => (
            ShownUrl(&config.llm.ollama.url),
            select::probe_ollama(&config.llm.ollama.url)
                .await
                .map(|v| format!("version {v}")),
        ),
        RunnerKind::Openai => (
            ShownUrl(&config.llm.openai.url),
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
        _ => probe(config.bus.url.expose()).await,
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

/// The stores the agents' memory schemas name beyond the default one: does each answer,
/// and where do their agents' memories go when it does not. `None` when none is named.
async fn schema_check(config: &Config) -> Option<Check> {
    use crate::memory::schema::of_catalog;
    use crate::memory::{select, stores};
    let catalog = crate::agent::Catalog::from_config(config).ok()?;
    let schemas = of_catalog(config, &catalog).ok()?;
    let default = stores::default_kind(&config.memory).await;
    let mut status = Status::Ok;
    let mut parts = Vec::new();
    for kind in stores::named_kinds(&schemas) {
        if kind == default {
            continue;
        }
        let users: Vec<(&str, bool)> = schemas
            .iter()
            .filter(|(_, s)| s.uses(kind))
            .map(|(id, s)| (id.as_str(), s.explicit))
            .collect();
        let names = users
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>()
            .join(", ");
        let probe = stores::health(kind, &config.memory, select::AUTO_PROBE).await;
        match probe {
            Ok(_) => parts.push(format!("{names} → {} ✓", kind.as_str())),
            Err(e) if users.iter().any(|(_, explicit)| *explicit) => {
                status = Status::Warn;
                parts.push(format!(
                    "{names} → {} unreachable ({e}): kept in the local index",
                    kind.as_str()
                ));
            }
            Err(_) => parts.push(format!(
                "{names} → {} (spec preference) not running: the default store keeps it",
                kind.as_str()
            )),
        }
    }
    (!parts.is_empty()).then(|| check("schemas", status, parts.join("; ")))
}

/// One line for the compose file, then one per service: do its published ports answer?
/// `strict`: a started-by-default service that is down fails; otherwise it warns. A service
/// behind a profile only warns (it runs only when that profile is enabled).
async fn compose_checks(path: &Path, strict: bool) -> Vec<Check> {
    let shown = path.display();
    let services = match compose::load(path) {
        Ok(s) => s,
        Err(e) => {
            let status = if strict { Status::Fail } else { Status::Warn };
            return vec![check("compose", status, e.to_string())];
        }
    };
    let mut out = vec![check(
        "compose",
        Status::Ok,
        if strict {
            format!("{shown}: {} services", services.len())
        } else {
            format!(
                "{shown}: {} services (found in the current directory: one that is down is a \
                 warning; pass --compose to make it a failure)",
                services.len()
            )
        },
    )];
    let probed = futures::future::join_all(services.iter().map(|svc| async move {
        let results = futures::future::join_all(
            svc.published
                .iter()
                .map(|p| async move { (p.address(), probe_addr(&p.address()).await) }),
        )
        .await;
        (svc, results)
    }))
    .await;
    for (svc, results) in probed {
        out.push(service_check(svc, &results, strict));
    }
    out
}

fn service_check(
    svc: &compose::Service,
    results: &[(String, Result<f64, String>)],
    strict: bool,
) -> Check {
    let name = &svc.name;
    let skipped = if svc.skipped.is_empty() {
        String::new()
    } else {
        format!("; not probed: {}", svc.skipped.join(", "))
    };
    let down: Vec<String> = results
        .iter()
        .filter_map(|(addr, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{addr} does not answer ({e})"))
        })
        .collect();
    let up: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(addr, _)| addr.as_str())
        .collect();
    let (status, detail, latency) = if results.is_empty() {
        (
            Status::Ok,
            format!(
                "{name}: publishes no host port (reachable inside the compose network only){skipped}"
            ),
            None,
        )
    } else if down.is_empty() {
        let slowest = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().copied())
            .fold(0.0_f64, f64::max);
        (
            Status::Ok,
            format!("{name}: {} answers{skipped}", up.join(", ")),
            Some(slowest),
        )
    } else {
        let (status, hint) = if !svc.profiles.is_empty() {
            let profile = &svc.profiles[0];
            (
                Status::Warn,
                format!(
                    " (profile {profile}: runs only after docker compose --profile {profile} up -d)"
                ),
            )
        } else if strict {
            (Status::Fail, String::new())
        } else {
            (
                Status::Warn,
                " (is the stack up? docker compose up -d)".to_string(),
            )
        };
        let also_up = if up.is_empty() {
            String::new()
        } else {
            format!("; {} answers", up.join(", "))
        };
        (
            status,
            format!("{name}: {}{hint}{also_up}{skipped}", down.join("; ")),
            None,
        )
    };
    Check {
        latency_ms: latency,
        service: Some(name.clone()),
        ..check("compose", status, detail)
    }
}

/// TCP connect to the URL's host and port; milliseconds on success.
async fn probe(url: &str) -> Result<f64, String> {
    let addr = crate::config::url::split(url)
        .and_then(|p| p.socket_address())
        .ok_or_else(|| format!("cannot read a host and port from `{}`", ShownUrl(url)))?;
    probe_addr(&addr).await
}

/// TCP connect to `host:port`; milliseconds on success.
async fn probe_addr(addr: &str) -> Result<f64, String> {
    let started = Instant::now();
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(started.elapsed().as_secs_f64() * 1000.0),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}
