//! The checks a value must pass beyond its type: ranges, URLs, bind addresses, regexes,
//! agent ids, and the open-models-only policy on every URL key.

use std::net::SocketAddr;

use super::load::{Origins, key_path};
use super::url::{ShownUrl, canonical_http_url, split};
use super::{Config, ConfigError, check_open_model_url};
use crate::agent::spec::{Category, is_valid_agent_id};

/// The first problem found, naming the key and where its value came from.
pub(crate) fn validate(config: &Config, origins: &Origins) -> Result<(), ConfigError> {
    check_policy(config, origins)?;

    let bad = |path: &[&str], message: String| Err(origins.invalid(&key_path(path), message));
    let at_least = |path: &[&str], value: u32, min: u32| {
        if value < min {
            bad(path, format!("must be at least {min}, got {value}"))
        } else {
            Ok(())
        }
    };
    let between = |path: &[&str], value: u32, min: u32, max: u32| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            bad(
                path,
                format!("must be between {min} and {max}, got {value}"),
            )
        }
    };
    let socket_or_empty = |path: &[&str], value: &str, example: &str| {
        if value.is_empty() || value.parse::<SocketAddr>().is_ok() {
            Ok(())
        } else {
            bad(
                path,
                format!(
                    "`{value}` is not a socket address: expected IP:PORT such as {example}, \
                     or \"\" to turn it off"
                ),
            )
        }
    };
    // Model, embedder and memory servers: one plain spelling, the one the HTTP client
    // reads, so no reader of the config (or of the policy) can see another host.
    let http_url = |path: &[&str], value: &str| {
        let shown = ShownUrl(value);
        if !is_http_url(value) {
            return bad(
                path,
                format!(
                    "`{shown}` is not an http(s) URL: expected http://HOST[:PORT][/PATH] or \
                     https://HOST[:PORT][/PATH]"
                ),
            );
        }
        match canonical_http_url(value) {
            Ok(()) => Ok(()),
            Err(problem) => bad(path, format!("`{shown}` {problem}")),
        }
    };

    let r = &config.runtime;
    at_least(&["runtime", "context_versions"], r.context_versions, 2)?;
    at_least(&["runtime", "queue_depth"], r.queue_depth, 1)?;

    let b = &config.bus;
    between(
        &["bus", "max_message_bytes"],
        b.max_message_bytes,
        1024,
        512 * 1024 * 1024,
    )?;
    between(&["bus", "claim_idle_ms"], b.claim_idle_ms, 100, 86_400_000)?;
    between(&["bus", "max_deliveries"], b.max_deliveries, 1, 1000)?;
    between(
        &["bus", "stream_max_len"],
        b.stream_max_len,
        100,
        1_000_000_000,
    )?;
    between(&["bus", "heartbeat_ms"], b.heartbeat_ms, 100, 600_000)?;

    if !is_redis_url(config.bus.url.expose())
        && !crate::secrets::is_vault_ref(config.bus.url.expose())
    {
        bad(
            &["bus", "url"],
            format!(
                "`{}` is not a Redis URL: expected redis://HOST[:PORT][/DB], \
                 rediss://HOST[:PORT][/DB] or unix:///PATH",
                config.bus.url
            ),
        )?;
    }

    http_url(&["memory", "url"], &config.memory.url)?;
    http_url(&["memory", "chroma", "url"], &config.memory.chroma.url)?;
    http_url(&["memory", "weaviate", "url"], &config.memory.weaviate.url)?;
    between(&["memory", "dims"], config.memory.dims, 1, 65536)?;

    http_url(&["llm", "ollama", "url"], &config.llm.ollama.url)?;
    http_url(&["llm", "openai", "url"], &config.llm.openai.url)?;

    socket_or_empty(
        &["mcp", "http_bind"],
        &config.mcp.http_bind,
        "127.0.0.1:8765",
    )?;
    if let Some((key, message)) = config.mcp.problem() {
        // Keys of nested tables come dotted (`roles.viewer`).
        let path: Vec<&str> = std::iter::once("mcp").chain(key.split('.')).collect();
        bad(&path, message)?;
    }

    let a = &config.audit;
    at_least(&["audit", "rotate_mb"], a.rotate_mb, 1)?;
    between(&["audit", "flush_ms"], a.flush_ms, 1, 10_000)?;
    between(&["audit", "sign_every"], a.sign_every, 1, 1_000_000)?;
    for (i, pattern) in a.redact.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            bad(
                &["audit", "redact"],
                format!(
                    "item {} `{pattern}` is not a valid regex: {}",
                    i + 1,
                    regex_problem(&e)
                ),
            )?;
        }
    }

    let t = &config.tui;
    if t.theme.trim().is_empty() {
        bad(
            &["tui", "theme"],
            "must not be empty: name a theme such as \"default\"".into(),
        )?;
    }
    between(&["tui", "fps"], t.fps, 1, 240)?;
    at_least(&["tui", "max_lines"], t.max_lines, 100)?;

    socket_or_empty(&["metrics", "bind"], &config.metrics.bind, "127.0.0.1:9464")?;

    let v = &config.vault;
    if !v.addr.is_empty() && !is_http_url(&v.addr) {
        bad(
            &["vault", "addr"],
            format!(
                "`{}` is not an http(s) URL: expected http(s)://HOST:PORT such as \
                 http://127.0.0.1:8200",
                ShownUrl(&v.addr)
            ),
        )?;
    }
    between(&["vault", "refresh_s"], v.refresh_s, 1, 86_400)?;
    between(&["vault", "timeout_ms"], v.timeout_ms, 100, 120_000)?;
    if v.approle_mount.is_empty()
        || v.approle_mount
            .contains(|c: char| c == '/' || c.is_whitespace())
    {
        bad(
            &["vault", "approle_mount"],
            "must name an auth mount such as \"approle\" (no / or spaces)".into(),
        )?;
    }
    // Every `vault:` value anywhere must be a reference, checked here so that a typo is
    // a config error naming its key rather than a failure at first use.
    for r in crate::secrets::config_refs(config) {
        if let Err(message) = crate::secrets::VaultRef::parse(&r.text) {
            return Err(origins.invalid(&r.path, format!("{}: {message}", r.label)));
        }
    }

    let timeout = config.approvals.timeout_s;
    if !(1..=86_400).contains(&timeout) {
        bad(
            &["approvals", "timeout_s"],
            format!("must be between 1 and 86400 seconds, got {timeout}"),
        )?;
    }
    for (i, rule) in config.approvals.rules.iter().enumerate() {
        if let Some(problem) = rule.problem() {
            let n = (i + 1).to_string();
            bad(&["approvals", "rules", &n], problem)?;
        }
    }

    for (id, agent) in &config.agents {
        if !is_valid_agent_id(id) {
            bad(
                &["agents", id],
                format!(
                    "`{id}` is not an agent id: expected lower-case kebab-case such as \
                     `support-agent` (letters, digits and single dashes, at most 64)"
                ),
            )?;
        }
        if let Some(category) = &agent.category
            && Category::parse(category).is_none()
        {
            let names: Vec<String> = Category::ALL
                .iter()
                .map(|c| format!("`{}`", c.as_str()))
                .collect();
            bad(
                &["agents", id, "category"],
                format!(
                    "unknown category `{category}`, expected one of {}",
                    names.join(", ")
                ),
            )?;
        }
    }

    // Each action compiles as the runtime will compile it: URL policy, templates, schema.
    for (name, action) in &config.actions {
        if let Err(e) = crate::actions::Action::from_config(name, action) {
            let mut path = vec!["actions", name.as_str()];
            path.extend(e.key.splitn(2, '.').filter(|k| !k.is_empty()));
            bad(&path, e.message)?;
        }
    }

    for (name, server) in &config.mcp_servers {
        if let Some((key, message)) = server.problem(name) {
            let mut path = vec!["mcp_servers", name.as_str()];
            path.extend(Some(key).filter(|k| !k.is_empty()));
            bad(&path, message)?;
        }
    }

    if let Some((key, message)) = config.hooks.problem() {
        bad(&["hooks", key], message)?;
    }
    if let Some((key, message)) = config.recorder.problem() {
        bad(&["recorder", key], message)?;
    }
    // Hooks in config are checked as the MCP tool checks them when they are added.
    let known = crate::hooks::known_of(config);
    for (id, agent) in &config.agents {
        let mut names = std::collections::BTreeSet::new();
        for hook in agent.protocol_hooks.iter().flatten() {
            let path = ["agents", id.as_str(), "protocol_hooks"];
            if hook.name.trim().is_empty() {
                bad(&path, "every hook needs a `name`".into())?;
            }
            if !names.insert(hook.name.as_str()) {
                bad(&path, format!("two hooks are named `{}`", hook.name))?;
            }
            if let Err(e) = crate::hooks::spec::check(&hook.on, &hook.action, &known) {
                bad(&path, format!("hook `{}`: {e}", hook.name))?;
            }
        }
    }
    Ok(())
}

/// TOML's `nan` and `inf` have no JSON form: in a `memory_schema` (JSON) they became a
/// silent `null`, and a config holding one could not be written back as TOML. Refused
/// first, before anything else reads the config.
pub(crate) fn check_schema_numbers(config: &Config, origins: &Origins) -> Result<(), ConfigError> {
    fn null_at(value: &serde_json::Value, path: &mut Vec<String>) -> bool {
        match value {
            serde_json::Value::Null => true,
            serde_json::Value::Array(items) => items.iter().any(|v| null_at(v, path)),
            serde_json::Value::Object(map) => map.iter().any(|(key, v)| {
                path.push(key.clone());
                let found = null_at(v, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        }
    }
    for (id, agent) in &config.agents {
        if let Some(schema) = &agent.memory_schema
            && let Err(message) = crate::memory::schema::parse(id, schema)
        {
            return Err(origins.invalid(
                &key_path(&["agents", id, "memory_schema"]),
                message.to_string(),
            ));
        }
        for (key, value) in agent.memory_schema.iter().flatten() {
            let mut inner = vec![key.clone()];
            if null_at(value, &mut inner) {
                return Err(origins.invalid(
                    &key_path(&["agents", id, "memory_schema"]),
                    format!(
                        "`{}` is nan or inf, which JSON cannot hold: write a finite number or \
                         a string",
                        inner.join(".")
                    ),
                ));
            }
        }
    }
    // An action's `args` and `body` are JSON too.
    for (name, action) in &config.actions {
        for (key, value) in [("args", Some(&action.args)), ("body", action.body.as_ref())] {
            let mut inner = Vec::new();
            if let Some(value) = value
                && null_at(value, &mut inner)
            {
                return Err(origins.invalid(
                    &key_path(&["actions", name, key]),
                    format!(
                        "`{}` is nan or inf, which JSON cannot hold: write a finite number or \
                         a string",
                        inner.join(".")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Every URL key must not point at a closed API. The keys are read from the typed config,
/// not from a re-serialised copy, so nothing in the config (a `nan`, a non-UTF-8 data dir)
/// can make the check skip: it always runs on every URL the runtime may connect to.
fn check_policy(config: &Config, origins: &Origins) -> Result<(), ConfigError> {
    for (path, url) in url_keys(config) {
        if let Err(violation) = check_open_model_url(&path.join("."), &url) {
            return Err(ConfigError::ClosedApi {
                origin: origins.of(&path),
                violation,
            });
        }
    }
    Ok(())
}

/// Every URL the configuration holds, with its dotted key: the fixed URL keys and any
/// `url`/`…_url` string inside an agent's `memory_schema`. A test holds the fixed list
/// against every `url`-named key of the config's shape.
pub(crate) fn url_keys(config: &Config) -> Vec<(Vec<String>, String)> {
    let key = |path: &[&str], url: &str| (key_path(path), url.to_string());
    let mut out = vec![
        key(&["bus", "url"], config.bus.url.expose()),
        key(&["memory", "url"], &config.memory.url),
        key(&["memory", "chroma", "url"], &config.memory.chroma.url),
        key(&["memory", "weaviate", "url"], &config.memory.weaviate.url),
        key(&["llm", "ollama", "url"], &config.llm.ollama.url),
        key(&["llm", "openai", "url"], &config.llm.openai.url),
        key(&["mcp", "oidc_issuer"], &config.mcp.oidc_issuer),
        key(&["mcp", "oidc_jwks_url"], &config.mcp.oidc_jwks_url),
    ];
    for (name, server) in &config.mcp_servers {
        if let Some(url) = &server.url {
            out.push(key(&["mcp_servers", name, "url"], url));
        }
    }
    for (id, agent) in &config.agents {
        for (key, value) in agent.memory_schema.iter().flatten() {
            let mut path = key_path(&["agents", id, "memory_schema", key]);
            collect_json_urls(&mut path, value, &mut out);
        }
    }
    out
}

fn collect_json_urls(
    path: &mut Vec<String>,
    value: &serde_json::Value,
    out: &mut Vec<(Vec<String>, String)>,
) {
    match value {
        serde_json::Value::String(url) => {
            let key = path.last().map(String::as_str).unwrap_or_default();
            if key == "url" || key.ends_with("_url") {
                out.push((path.clone(), url.clone()));
            }
        }
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                collect_json_urls(path, child, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The one-line cause of a regex error (its Display draws a caret diagram over lines).
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default())
        .trim()
        .to_string()
}

fn is_http_url(url: &str) -> bool {
    split(url).is_some_and(|p| {
        matches!(p.scheme.as_deref(), Some("http" | "https")) && p.is_valid_host_port()
    })
}

fn is_redis_url(url: &str) -> bool {
    let Some(parts) = split(url) else {
        return false;
    };
    match parts.scheme.as_deref() {
        Some("redis" | "rediss") => parts.is_valid_host_port(),
        Some(scheme @ ("unix" | "redis+unix")) => url.trim().len() > scheme.len() + 3,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        for ok in [
            "http://127.0.0.1:11434",
            "https://gpu-box.lan/v1",
            "http://localhost:8000/v1",
            "http://[::1]:8000/v1",
            "http://user:pw@host:1/x?y#z",
        ] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1:11434",
            "ftp://host",
            "http://",
            "http://host:port",
            "http://host:99999",
            "http://[::1",
            "http://ho st",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }

    #[test]
    fn redis_urls() {
        for ok in [
            "redis://127.0.0.1:6379",
            "rediss://:secret@cache.example:6380/2",
            "unix:///run/redis.sock",
            "redis+unix:///run/redis.sock",
            "REDIS://host",
        ] {
            assert!(is_redis_url(ok), "{ok}");
        }
        for bad in [
            "",
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "unix://",
            "redis://",
        ] {
            assert!(!is_redis_url(bad), "{bad}");
        }
    }

    /// Every `url`-named key of the config's shape is in [`url_keys`]: a URL key added
    /// later cannot escape the policy.
    #[test]
    fn url_keys_cover_every_url_key() {
        fn walk(path: &mut Vec<String>, table: &toml::Table, out: &mut Vec<String>) {
            for (key, value) in table {
                path.push(key.clone());
                match value {
                    toml::Value::Table(child) => walk(path, child, out),
                    toml::Value::String(_)
                        if key == "url" || key.ends_with("_url") || key.contains("issuer") =>
                    {
                        out.push(path.join("."))
                    }
                    _ => {}
                }
                path.pop();
            }
        }
        let config = Config::default();
        let table = toml::Table::try_from(&config).unwrap();
        let mut shape = Vec::new();
        walk(&mut Vec::new(), &table, &mut shape);
        let known: Vec<String> = url_keys(&config)
            .into_iter()
            .map(|(p, _)| p.join("."))
            .collect();
        for key in shape {
            assert!(known.contains(&key), "{key} is not checked by the policy");
        }
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let pattern = String::from("(unclosed");
        let e = regex::Regex::new(&pattern).unwrap_err();
        let problem = regex_problem(&e);
        assert!(!problem.contains('\n'));
        assert!(problem.contains("unclosed"), "{problem}");
    }
}
