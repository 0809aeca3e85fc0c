//! The deployment files say what operators rely on: docker-compose.yml (services, ports,
//! volumes, healthchecks, no committed secret), the Dockerfile (non-root, healthcheck,
//! `aios serve`), monitoring/prometheus.yml (scrapes what the stack serves), terraform/ (the
//! four containers); and the two commands made for a deployment: `aios doctor --compose` and
//! `aios health`.

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::aios;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}"))
}

fn compose() -> Value {
    yaml(&read("docker-compose.yml"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let svc = &compose["services"][name];
    assert!(
        svc.is_object(),
        "docker-compose.yml has no service `{name}`"
    );
    svc
}

/// A published port: (host ip, host port, container port), from the short syntax.
fn published(svc: &Value) -> Vec<(String, u16, u16)> {
    svc["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let spec = p
                .as_str()
                .unwrap_or_else(|| panic!("port {p} is not a string"));
            let parts: Vec<&str> = spec.split(':').collect();
            let (ip, host, container) = match parts.as_slice() {
                [ip, host, container] => (*ip, *host, *container),
                // No address: compose publishes on every interface.
                [host, container] => ("0.0.0.0", *host, *container),
                _ => panic!("port `{spec}` is not [IP:]HOST:CONTAINER"),
            };
            (
                ip.to_string(),
                host.parse().unwrap(),
                container.parse().unwrap(),
            )
        })
        .collect()
}

/// `environment:` as name → value, from the map or the list form.
fn environment(svc: &Value) -> Vec<(String, String)> {
    match &svc["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn env_value(svc: &Value, key: &str) -> String {
    environment(svc)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {svc}"))
}

const STACK: [&str; 7] = [
    "redis",
    "qdrant",
    "ollama",
    "aios",
    "prometheus",
    "redis-exporter",
    "keycloak",
];

#[test]
fn compose_runs_the_whole_stack_with_healthchecks_ports_and_volumes() {
    let c = compose();
    let services: BTreeSet<&str> = c["services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for name in STACK {
        assert!(services.contains(name), "no service {name}: {services:?}");
    }

    // Every service can say it is healthy, so depends_on and monitors can rely on it.
    for name in &services {
        let hc = &service(&c, name)["healthcheck"];
        let test = hc["test"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no healthcheck"));
        assert!(
            matches!(
                test.first().and_then(Value::as_str),
                Some("CMD" | "CMD-SHELL")
            ),
            "{name}: healthcheck test {test:?}"
        );
        assert!(test.len() >= 2, "{name}: empty healthcheck");
        assert_ne!(
            hc["disable"],
            Value::Bool(true),
            "{name}: healthcheck disabled"
        );
    }

    // Published ports: every one on loopback (nothing is exposed without auth by default).
    let expect: [(&str, &[(u16, u16)]); 7] = [
        ("redis", &[(6379, 6379)]),
        ("qdrant", &[(6333, 6333), (6334, 6334)]),
        ("ollama", &[(11434, 11434)]),
        ("aios", &[(8765, 8765), (9464, 9464)]),
        ("prometheus", &[(9090, 9090)]),
        ("redis-exporter", &[(9121, 9121)]),
        ("keycloak", &[(8081, 8080)]),
    ];
    for (name, ports) in expect {
        let got = published(service(&c, name));
        for &(host, container) in ports {
            assert!(
                got.iter().any(|(_, h, ct)| (*h, *ct) == (host, container)),
                "{name} does not publish {host}:{container}: {got:?}"
            );
        }
        for (ip, h, _) in &got {
            assert_eq!(ip, "127.0.0.1", "{name} publishes {h} on {ip}");
        }
    }

    // State lives in named volumes, declared at the top level.
    let volumes = [
        ("redis", "/data"),
        ("qdrant", "/qdrant/storage"),
        ("ollama", "/root/.ollama"),
        ("aios", "/var/lib/aios"),
        ("prometheus", "/prometheus"),
        ("keycloak", "/opt/keycloak/data"),
    ];
    for (name, path) in volumes {
        let mounts = service(&c, name)["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let named = mounts
            .iter()
            .filter_map(Value::as_str)
            .find_map(|m| {
                let (vol, rest) = m.split_once(':')?;
                (rest.split(':').next() == Some(path)).then_some(vol.to_string())
            })
            .unwrap_or_else(|| panic!("{name} mounts nothing at {path}: {mounts:?}"));
        assert!(
            c["volumes"].as_object().unwrap().contains_key(&named),
            "volume {named} of {name} is not declared"
        );
    }

    // Redis persists with AOF.
    let cmd: Vec<&str> = service(&c, "redis")["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        cmd.windows(2).any(|w| w == ["--appendonly", "yes"]),
        "redis without AOF: {cmd:?}"
    );

    // aios: built here, headless, started once its backends are healthy, wired to them.
    let a = service(&c, "aios");
    assert_eq!(
        a["build"],
        Value::String(".".into()),
        "aios is not built from the repo"
    );
    for dep in ["redis", "qdrant", "ollama"] {
        assert_eq!(
            a["depends_on"][dep]["condition"],
            Value::String("service_healthy".into()),
            "aios does not wait for a healthy {dep}"
        );
    }
    assert_eq!(env_value(a, "AIOS_BUS_BACKEND"), "redis");
    // Redis takes no anonymous client: aios logs in as the ACL user with .env's password.
    assert_eq!(
        env_value(a, "AIOS_BUS_URL"),
        "redis://aios:${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}@redis:6379"
    );
    let r = service(&c, "redis");
    let command: Vec<String> = r["command"]
        .as_array()
        .expect("redis command is a list")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let joined = command.join(" ");
    assert!(
        joined.contains("--user default off")
            && joined.contains("--user aios on >${REDIS_PASSWORD:?")
            && joined.contains("-@dangerous"),
        "{joined}"
    );
    assert_eq!(env_value(a, "AIOS_MEMORY_BACKEND"), "qdrant");
    assert_eq!(env_value(a, "AIOS_MEMORY_URL"), "http://qdrant:6334");
    assert_eq!(env_value(a, "AIOS_LLM_OLLAMA_URL"), "http://ollama:11434");
    assert_eq!(env_value(a, "AIOS_RUNTIME_DATA_DIR"), "/var/lib/aios");
    // The container ports aios listens on are the ones published.
    let a_ports: Vec<u16> = published(a).iter().map(|p| p.2).collect();
    for key in ["AIOS_MCP_HTTP_BIND", "AIOS_METRICS_BIND"] {
        let bind = env_value(a, key);
        let port: u16 = bind.rsplit_once(':').unwrap().1.parse().unwrap();
        assert!(
            bind.starts_with("0.0.0.0:"),
            "{key}={bind}: unreachable from outside the container"
        );
        assert!(
            a_ports.contains(&port),
            "{key}={bind} is not published: {a_ports:?}"
        );
    }

    // Only Keycloak, n8n and the dev OpenBao wait for a profile; the rest starts with
    // `docker compose up -d`.
    for name in &services {
        let profiles = &service(&c, name)["profiles"];
        if *name == "keycloak" {
            assert_eq!(profiles, &serde_json::json!(["auth"]));
        } else if *name == "n8n" {
            assert_eq!(profiles, &serde_json::json!(["automation"]));
        } else if *name == "openbao" {
            assert_eq!(profiles, &serde_json::json!(["vault"]));
        } else {
            assert!(profiles.is_null(), "{name} is behind a profile: {profiles}");
        }
    }

    // Prometheus reads the committed config.
    let mounts = service(&c, "prometheus")["volumes"].to_string();
    assert!(
        mounts.contains("./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml"),
        "{mounts}"
    );
}

/// Environment entries that look like secrets (names with PASSWORD, SECRET or TOKEN) and
/// carry a value in the file: each must be a `${VAR}` reference without a default (an
/// empty one, `${VAR:-}`, is allowed), or `${VAR:?message}`.
fn committed_secrets(compose: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, svc) in compose["services"].as_object().unwrap() {
        for (key, value) in environment(svc) {
            let upper = key.to_ascii_uppercase();
            if !["PASSWORD", "SECRET", "TOKEN"]
                .iter()
                .any(|s| upper.contains(s))
            {
                continue;
            }
            if !is_reference_without_default(&value) {
                bad.push(format!("{name}.{key}={value}"));
            }
        }
    }
    bad
}

fn is_reference_without_default(value: &str) -> bool {
    let Some(inner) = value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) else {
        return false;
    };
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let op = &inner[name_len..];
    name_len > 0 && (op.is_empty() || op == ":-" || op.starts_with(":?") || op.starts_with('?'))
}

#[test]
fn no_secret_has_a_default_in_the_committed_files() {
    // The checker itself catches the spec's own example and a defaulted reference.
    let spec_keycloak = yaml(
        "services:\n  keycloak:\n    environment:\n      KEYCLOAK_ADMIN: admin\n      KEYCLOAK_ADMIN_PASSWORD: admin\n",
    );
    assert_eq!(committed_secrets(&spec_keycloak).len(), 1);
    let defaulted =
        yaml("services:\n  a:\n    environment:\n      - AIOS_MCP_TOKENS=${T:-changeme}\n");
    assert_eq!(committed_secrets(&defaulted).len(), 1);
    let listed = yaml("services:\n  a:\n    environment:\n      - DB_SECRET=${S:?set S}\n");
    assert!(committed_secrets(&listed).is_empty());

    let c = compose();
    assert_eq!(committed_secrets(&c), Vec::<String>::new());
    // aios binds MCP on 0.0.0.0, so compose must refuse to start without a token.
    let tokens = env_value(service(&c, "aios"), "AIOS_MCP_TOKENS");
    assert!(tokens.starts_with("${AIOS_MCP_TOKENS:?"), "{tokens}");
    // Keycloak's password may be empty in compose (its profile is off by default), but then
    // its entrypoint refuses to start.
    let kc = service(&c, "keycloak");
    assert!(env_value(kc, "KC_BOOTSTRAP_ADMIN_PASSWORD").starts_with("${KEYCLOAK_ADMIN_PASSWORD"));
    let entry: Vec<&str> = kc["entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let entry = entry.join(" ");
    assert!(
        entry.contains(r#"if [ -z "$$KC_BOOTSTRAP_ADMIN_PASSWORD" ]"#) && entry.contains("exit 1"),
        "{entry}"
    );

    // The dev OpenBao has no default root token either: its entrypoint refuses without one;
    // aios is given the Vault address and login from .env, empty = no Vault.
    let bao = service(&c, "openbao");
    assert_eq!(
        env_value(bao, "BAO_DEV_ROOT_TOKEN"),
        "${BAO_DEV_ROOT_TOKEN:-}"
    );
    let entry = bao["entrypoint"].to_string();
    assert!(
        entry.contains(r#"if [ -z \"$$BAO_DEV_ROOT_TOKEN\" ]"#) && entry.contains("exit 1"),
        "{entry}"
    );
    for key in [
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_ROLE_ID",
        "VAULT_SECRET_ID",
    ] {
        assert_eq!(
            env_value(service(&c, "aios"), key),
            format!("${{{key}:-}}"),
            "aios.{key}"
        );
    }

    // .env.example documents every variable compose requires, with no value filled in.
    let example = read(".env.example");
    let assigned: Vec<(&str, &str)> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    for key in ["AIOS_MCP_TOKENS", "KEYCLOAK_ADMIN_PASSWORD"] {
        let value = assigned
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!(".env.example does not document {key}"))
            .1;
        assert!(value.is_empty(), ".env.example commits a value for {key}");
    }
    for (k, v) in &assigned {
        let upper = k.to_ascii_uppercase();
        if ["PASSWORD", "SECRET", "TOKEN"]
            .iter()
            .any(|s| upper.contains(s))
        {
            assert!(v.is_empty(), ".env.example commits {k}={v}");
        }
    }
    // The filled-in copy never reaches git or an image.
    for ignore in [".gitignore", ".dockerignore"] {
        assert!(
            read(ignore).lines().any(|l| l.trim() == ".env"),
            "{ignore} lacks .env"
        );
    }
}

/// The instructions of the Dockerfile's last stage (the image), continuation lines joined.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = read("Dockerfile").replace("\\\n", " ");
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (op, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let op = op.to_ascii_uppercase();
        if op == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("an instruction before FROM")
            .push((op, rest.trim().to_string()));
    }
    stages
}

fn json_array(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not exec form: {e}"))
}

#[test]
fn dockerfile_builds_in_stages_and_runs_aios_serve_as_a_non_root_user() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "not multi-stage");
    let build = &stages[0];
    let image = stages.last().unwrap();
    let all = |stage: &[(String, String)], op: &str| -> Vec<String> {
        stage
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, r)| r.clone())
            .collect()
    };

    assert!(
        all(build, "RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "the build stage does not build the locked release"
    );
    // The build stage copies everything Cargo needs (the manifest names the benches).
    let copied: Vec<String> = all(build, "COPY")
        .iter()
        .flat_map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "config.toml",
        "src",
        "themes",
        "benches",
    ] {
        assert!(
            copied.iter().any(|c| c == needed),
            "build stage does not copy {needed}"
        );
        assert!(repo(needed).exists(), "{needed} is missing");
    }
    let ignored = read(".dockerignore");
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "config.toml",
        "src",
        "themes",
        "benches",
    ] {
        assert!(
            !ignored
                .lines()
                .any(|l| l.trim().trim_end_matches('/') == needed),
            ".dockerignore drops {needed}"
        );
    }

    let from = &all(image, "FROM")[0];
    assert!(from.contains("slim"), "runtime image is not slim: {from}");
    let user = all(image, "USER");
    let user = user.last().expect("no USER: the image runs as root");
    let name = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&name), "USER {user} is root");

    let hc = all(image, "HEALTHCHECK");
    let hc = hc.last().expect("no HEALTHCHECK");
    let cmd = hc
        .split_once("CMD")
        .expect("HEALTHCHECK without CMD")
        .1
        .trim();
    assert_eq!(json_array(cmd), ["aios", "health"]);

    let mut run = all(image, "ENTRYPOINT")
        .last()
        .map(|e| json_array(e))
        .unwrap_or_default();
    run.extend(
        all(image, "CMD")
            .last()
            .map(|c| json_array(c))
            .unwrap_or_default(),
    );
    assert_eq!(run, ["aios", "serve"]);

    let exposed: Vec<String> = all(image, "EXPOSE")
        .iter()
        .flat_map(|e| e.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    for port in ["8765", "9464"] {
        assert!(
            exposed.iter().any(|e| e == port),
            "EXPOSE lacks {port}: {exposed:?}"
        );
    }
    assert!(
        all(image, "VOLUME")
            .iter()
            .any(|v| v.contains("/var/lib/aios"))
    );
    assert!(
        all(image, "ENV")
            .iter()
            .any(|e| e == "AIOS_RUNTIME_DATA_DIR=/var/lib/aios")
    );
}

#[test]
fn prometheus_scrapes_aios_the_redis_exporter_and_the_spec_targets() {
    let p = yaml(&read("monitoring/prometheus.yml"));
    assert_eq!(p["global"]["scrape_interval"], Value::String("15s".into()));
    let jobs: Vec<(String, Vec<String>)> = p["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let targets = j["static_configs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["targets"].as_array().unwrap().clone())
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            (j["job_name"].as_str().unwrap().to_string(), targets)
        })
        .collect();
    let job = |name: &str| {
        jobs.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no job {name}: {jobs:?}"))
            .1
            .clone()
    };
    assert_eq!(job("aios"), ["aios:9464"]);
    // The spec's block: a `redis` job on 9121 (served by the exporter) and a `docker` job.
    assert_eq!(job("redis"), ["redis-exporter:9121"]);
    assert_eq!(job("docker"), ["host.docker.internal:9323"]);

    // Every target that names a compose service is a port that service listens on.
    let c = compose();
    for (name, targets) in &jobs {
        for t in targets {
            let (host, port) = t.rsplit_once(':').unwrap();
            let port: u16 = port.parse().unwrap();
            if ["localhost", "host.docker.internal"].contains(&host) {
                continue;
            }
            let svc = service(&c, host);
            assert!(
                published(svc).iter().any(|p| p.2 == port),
                "job {name}: {host} does not listen on {port}"
            );
        }
    }
    // host.docker.internal resolves on Linux only when compose maps it.
    assert!(
        service(&c, "prometheus")["extra_hosts"]
            .to_string()
            .contains("host.docker.internal:host-gateway")
    );
}

/// The body of the HCL block that starts with `header`, by brace matching.
fn hcl_block<'a>(text: &'a str, header: &str) -> Option<&'a str> {
    let start = text.find(header)? + header.len();
    let open = start + text[start..].find('{')?;
    let mut depth = 0;
    for (i, ch) in text[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[open + 1..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn terraform_declares_the_four_containers_on_the_docker_provider() {
    let dir = repo("terraform");
    let mut tf = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "tf") {
            tf.push_str(&std::fs::read_to_string(&path).unwrap());
            tf.push('\n');
        }
    }
    assert!(
        tf.contains("source  = \"kreuzwerker/docker\""),
        "not the kreuzwerker/docker provider"
    );
    for (name, ports) in [
        ("redis", &[6379][..]),
        ("qdrant", &[6333, 6334]),
        ("ollama", &[11434]),
        ("aios", &[8765, 9464]),
    ] {
        let body = hcl_block(&tf, &format!("resource \"docker_container\" \"{name}\""))
            .unwrap_or_else(|| panic!("no docker_container {name}"));
        assert!(
            body.contains(&format!("image   = docker_image.{name}.image_id")),
            "{name} does not run its docker_image"
        );
        assert!(
            hcl_block(body, "healthcheck").is_some(),
            "{name}: no healthcheck"
        );
        assert!(body.contains("volume_name"), "{name}: no volume");
        for port in ports {
            assert!(
                body.contains(&format!("internal = {port}")),
                "{name}: port {port} not published"
            );
        }
    }
    let aios = hcl_block(&tf, "resource \"docker_container\" \"aios\"").unwrap();
    assert!(aios.contains("\"AIOS_MCP_TOKENS=${var.mcp_tokens}\""));
    // The token variable has no default: terraform asks for it instead.
    let var = hcl_block(&tf, "variable \"mcp_tokens\"").unwrap();
    assert!(
        !var.lines()
            .any(|l| l.trim_start().starts_with("default ")
                || l.trim_start().starts_with("default=")),
        "mcp_tokens has a default: {var}"
    );
    assert!(var.contains("sensitive   = true"));

    match Command::new("terraform")
        .args(["fmt", "-check", "-recursive"])
        .arg(&dir)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "terraform fmt -check: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => eprintln!("skipped `terraform fmt -check`: terraform not runnable ({e})"),
    }
}

/// What compose makes of `value` when no variable is set: each `${VAR-default}` or
/// `${VAR:-default}` its default (nested ones too), any other reference empty.
fn with_nothing_set(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inner_start = start + 2;
        // The matching `}`, past any nested `${…}`.
        let mut depth = 1;
        let mut end = inner_start;
        for (i, ch) in rest[inner_start..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = inner_start + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        assert!(depth == 0, "unclosed `${{` in {value}");
        let inner = &rest[inner_start..end];
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let op = &inner[name_len..];
        if let Some(default) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
            out.push_str(&with_nothing_set(default));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn compose_defaults_are_read_as_compose_reads_them() {
    assert_eq!(with_nothing_set("${A:-x}/y"), "x/y");
    assert_eq!(with_nothing_set("${A-${B:-http://h:1}/r}"), "http://h:1/r");
    assert_eq!(with_nothing_set("${A:?set A}"), "");
    assert_eq!(with_nothing_set("plain"), "plain");
}

#[test]
fn the_keycloak_realm_export_is_importable_and_agrees_with_aios() {
    use aios::roles::Role;
    let realm: Value = serde_json::from_str(&read("examples/keycloak/realm-aios.json"))
        .expect("the realm export is JSON");
    // What Keycloak's import reads: the realm, on.
    assert_eq!(realm["realm"], "aios");
    assert_eq!(realm["enabled"], true);
    // The client MCP clients and scripts log in with, speaking OIDC, whose access tokens
    // carry `aud: aios` (the audience aios checks).
    let clients = realm["clients"].as_array().expect("clients is a list");
    let client = clients
        .iter()
        .find(|c| c["clientId"] == "aios")
        .expect("a client `aios`");
    assert_eq!(client["protocol"], "openid-connect");
    assert_eq!(client["enabled"], true);
    let mappers = client["protocolMappers"]
        .as_array()
        .expect("protocol mappers");
    assert!(
        mappers.iter().any(|m| {
            m["protocolMapper"] == "oidc-audience-mapper"
                && m["protocol"] == "openid-connect"
                && m["config"]["included.client.audience"] == "aios"
                && m["config"]["access.token.claim"] == "true"
        }),
        "no audience mapper putting `aios` in the access token: {mappers:?}"
    );
    // The realm roles are the names aios looks for by default, so realm_access.roles grants.
    let names = aios::config::Config::default().mcp.roles;
    let realm_roles: BTreeSet<&str> = realm["roles"]["realm"]
        .as_array()
        .expect("roles.realm is a list")
        .iter()
        .map(|r| r["name"].as_str().expect("a role has a name"))
        .collect();
    // A test user per role: enabled, with a password, the role, and the profile fields
    // Keycloak's user profile requires (else a login is "not fully set up").
    let users = realm["users"].as_array().expect("users is a list");
    for role in Role::ALL {
        let name = names.name(role);
        assert!(realm_roles.contains(name), "no realm role {name}");
        let user = users
            .iter()
            .find(|u| {
                u["realmRoles"]
                    .as_array()
                    .is_some_and(|r| r.len() == 1 && r[0] == name)
            })
            .unwrap_or_else(|| panic!("no test user with only the role {name}"));
        assert!(user["username"].as_str().is_some_and(|u| !u.is_empty()));
        assert_eq!(user["enabled"], true, "{user}");
        let credentials = user["credentials"].as_array().expect("credentials");
        assert!(
            credentials.iter().any(|c| c["type"] == "password"
                && c["value"].as_str().is_some_and(|v| !v.is_empty())
                && c["temporary"] == false),
            "{user}"
        );
        for field in ["email", "firstName", "lastName"] {
            assert!(user[field].is_string(), "{field} of {user}");
        }
    }

    // Compose: Keycloak imports the file at start; aios's OIDC defaults name its issuer (as
    // clients reach Keycloak), the client as audience, and the keys inside the network.
    let c = compose();
    let kc = service(&c, "keycloak");
    let command: Vec<&str> = kc["command"]
        .as_array()
        .expect("keycloak command is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(command, ["start-dev", "--import-realm"]);
    let mounts = kc["volumes"].to_string();
    assert!(
        mounts.contains(
            "./examples/keycloak/realm-aios.json:/opt/keycloak/data/import/realm-aios.json:ro"
        ),
        "{mounts}"
    );
    let a = service(&c, "aios");
    let hostname = with_nothing_set(&env_value(kc, "KC_HOSTNAME"));
    assert_eq!(
        with_nothing_set(&env_value(a, "AIOS_MCP_OIDC_ISSUER")),
        format!("{hostname}/realms/aios")
    );
    assert_eq!(
        with_nothing_set(&env_value(a, "AIOS_MCP_OIDC_AUDIENCE")),
        "aios"
    );
    assert_eq!(
        with_nothing_set(&env_value(a, "AIOS_MCP_OIDC_JWKS_URL")),
        "http://keycloak:8080/realms/aios/protocol/openid-connect/certs"
    );
    // ...and aios takes that configuration, with the realm's client as the one whose
    // client roles count.
    let env: Vec<(String, String)> = [
        "AIOS_MCP_OIDC_ISSUER",
        "AIOS_MCP_OIDC_AUDIENCE",
        "AIOS_MCP_OIDC_JWKS_URL",
    ]
    .iter()
    .map(|k| (k.to_string(), with_nothing_set(&env_value(a, k))))
    .collect();
    let config = aios::config::parse_str("", "compose", &env).expect("compose's OIDC is valid");
    assert_eq!(config.mcp.oidc_client(), "aios");
    // The issuer is the one the realm serves tokens as.
    assert!(
        config
            .mcp
            .oidc_issuer
            .ends_with(&format!("/realms/{}", realm["realm"].as_str().unwrap()))
    );
}

#[test]
fn ci_checks_the_compose_file_with_and_without_the_auth_and_vault_profiles() {
    let ci = read(".github/workflows/ci.yml");
    for command in [
        "docker compose --env-file /dev/null config --quiet",
        "docker compose --env-file /dev/null --profile auth config --quiet",
        "docker compose --env-file /dev/null --profile vault config --quiet",
    ] {
        assert!(ci.contains(command), "CI does not run `{command}`");
    }
}

#[test]
fn docker_compose_config_accepts_the_file_when_compose_is_installed() {
    let has_compose = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_compose {
        eprintln!("skipped `docker compose config`: the docker compose plugin is not installed");
        return;
    }
    let config = |tokens: Option<&str>| {
        let mut cmd = Command::new("docker");
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["compose", "--env-file", "/dev/null", "config", "--quiet"])
            .env_remove("AIOS_MCP_TOKENS");
        if let Some(t) = tokens {
            cmd.env("AIOS_MCP_TOKENS", t);
        }
        cmd.output().unwrap()
    };
    let ok = config(Some("test-token"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // With Keycloak and its realm import too.
    let auth = Command::new("docker")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compose", "--env-file", "/dev/null", "--profile", "auth"])
        .args(["config", "--quiet"])
        .env("AIOS_MCP_TOKENS", "test-token")
        .output()
        .unwrap();
    assert!(
        auth.status.success(),
        "{}",
        String::from_utf8_lossy(&auth.stderr)
    );
    let refused = config(None);
    assert!(
        !refused.status.success(),
        "compose starts without AIOS_MCP_TOKENS"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AIOS_MCP_TOKENS"));
}

// ---- aios doctor --compose ----

fn free_port() -> u16 {
    // Bound then dropped: nothing listens there (for the length of a test).
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Stack {
    _up: TcpListener,
    up: u16,
    down: u16,
}

fn stack() -> Stack {
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = up.local_addr().unwrap().port();
    Stack {
        _up: up,
        up: port,
        down: free_port(),
    }
}

fn compose_file(s: &Stack, with_down: bool) -> String {
    let mut y = format!(
        "services:\n  web:\n    image: x\n    ports: [\"127.0.0.1:{up}:80\"]\n  \
         long:\n    ports:\n      - target: 80\n        published: {up}\n        host_ip: 127.0.0.1\n  \
         internal:\n    image: x\n  \
         sso:\n    profiles: [auth]\n    ports: [\"127.0.0.1:{down}:8080\"]\n",
        up = s.up,
        down = s.down
    );
    if with_down {
        y.push_str(&format!(
            "  db:\n    ports: [\"127.0.0.1:{}:5432\"]\n",
            s.down
        ));
    }
    y
}

fn doctor(cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = aios(cwd, &cwd.join("data"))
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn line<'a>(out: &'a str, service: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with("compose") && l.contains(&format!(" {service}: ")))
        .unwrap_or_else(|| panic!("no compose line for {service}:\n{out}"))
}

#[test]
fn doctor_fails_naming_a_compose_service_that_does_not_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let s = stack();
    let file = tmp.path().join("stack.yml");
    std::fs::write(&file, compose_file(&s, true)).unwrap();

    let (ok, out) = doctor(tmp.path(), &["--compose", file.to_str().unwrap()]);
    assert!(!ok, "a service that is down must fail doctor:\n{out}");
    let db = line(&out, "db");
    assert!(
        db.contains("FAIL") && db.contains(&format!("127.0.0.1:{} does not answer", s.down)),
        "{db}"
    );
    let web = line(&out, "web");
    assert!(
        web.contains(" ok ") && web.contains(&format!("127.0.0.1:{} answers", s.up)),
        "{web}"
    );
    assert!(line(&out, "long").contains(" ok "), "{out}");
    let internal = line(&out, "internal");
    assert!(
        internal.contains(" ok ") && internal.contains("no host port"),
        "{internal}"
    );
    // A service behind a profile is only a warning: it runs when that profile is enabled.
    let sso = line(&out, "sso");
    assert!(
        sso.contains("warn") && sso.contains("--profile auth"),
        "{sso}"
    );
    // The failure is the compose service's, not a backend's.
    let failing: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failing, [db], "{out}");

    // JSON names the service.
    let (_, json) = doctor(tmp.path(), &["--json", "--compose", file.to_str().unwrap()]);
    let checks: Vec<Value> = serde_json::from_str(&json).unwrap();
    let db = checks
        .iter()
        .find(|c| c["service"] == "db")
        .expect("db in JSON");
    assert_eq!(db["status"], "fail");
    assert_eq!(db["check"], "compose");

    // With every default service up, doctor passes.
    std::fs::write(&file, compose_file(&s, false)).unwrap();
    let (ok, out) = doctor(tmp.path(), &["--compose", file.to_str().unwrap()]);
    assert!(ok, "{out}");
}

#[test]
fn doctor_only_warns_about_a_compose_file_it_found_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = doctor(tmp.path(), &[]);
    assert!(ok, "{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("compose")),
        "no compose file, no line:\n{out}"
    );

    // A source checkout has the file without the stack running: a down service warns.
    let s = stack();
    std::fs::write(
        tmp.path().join("docker-compose.yml"),
        compose_file(&s, true),
    )
    .unwrap();
    let (ok, out) = doctor(tmp.path(), &[]);
    assert!(ok, "{out}");
    assert!(out.contains("docker-compose.yml: 5 services"), "{out}");
    let db = line(&out, "db");
    assert!(
        db.contains("warn") && db.contains("docker compose up -d"),
        "{db}"
    );
    assert!(line(&out, "web").contains(" ok "), "{out}");
}

#[test]
fn doctor_reports_an_unreadable_compose_file_as_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.yml");
    std::fs::write(&file, "services:\n  web:\n    ports: {oops: 1}\n").unwrap();
    let (ok, out) = doctor(tmp.path(), &["--compose", file.to_str().unwrap()]);
    assert!(!ok);
    let bad = out
        .lines()
        .find(|l| l.starts_with("compose"))
        .expect("a compose line");
    assert!(bad.contains("FAIL") && bad.contains("bad.yml"), "{out}");
    let missing = tmp.path().join("missing.yml");
    let (ok, out) = doctor(tmp.path(), &["--compose", missing.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains("cannot read") && out.contains("missing.yml"),
        "{out}"
    );
}

// ---- aios health ----

fn health(cwd: &Path, data: &Path) -> (bool, String, String) {
    let out = aios(cwd, data).arg("health").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn health_answers_only_while_a_server_owns_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    // No server: unhealthy, and the data dir was left alone (no lock taken, no runtime
    // started), so a healthcheck cannot race the server's start.
    let (ok, _, err) = health(tmp.path(), &data);
    assert!(!ok);
    assert!(err.starts_with("aios: no aios owner answers on "), "{err}");
    assert!(!data.join("aios.lock").exists(), "health took the data dir");
    assert!(
        !data.join("state.redb").exists(),
        "health started a runtime"
    );

    let mut serve = support::serve::Killed(
        aios(tmp.path(), &data)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let out = loop {
        let (ok, out, err) = health(tmp.path(), &data);
        if ok {
            break out;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never healthy: {err}"
        );
        if let Some(status) = serve.0.try_wait().unwrap() {
            panic!("serve exited early: {status:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(out.starts_with("ok: node "), "{out}");
    assert!(out.contains("30 agents"), "{out}");

    // A server killed without cleaning up leaves its socket file; that is not health.
    serve.0.kill().unwrap();
    serve.0.wait().unwrap();
    let (ok, _, err) = health(tmp.path(), &data);
    assert!(!ok, "healthy with the server gone");
    assert!(err.contains("no aios owner answers"), "{err}");
}
