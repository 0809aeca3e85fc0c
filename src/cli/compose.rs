//! The services a docker-compose file declares and the host ports they publish, read so
//! `aios doctor` can say which part of a compose deployment does not answer.
//!
//! Only what the probe needs is read (service names, `ports`, `profiles`); everything else in
//! the file is ignored, so any valid compose file loads. Port entries use compose's
//! `${VAR}` / `${VAR:-default}` interpolation from the environment and the `.env` file beside
//! the compose file, as `docker compose` does.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file names `docker compose` looks for in a directory, in its order of preference.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The compose file `docker compose` would pick in `dir`, if any.
pub fn find_in(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// Profiles that must be enabled for compose to start it; empty = started by default.
    pub profiles: Vec<String>,
    /// Host addresses where its TCP ports are published.
    pub published: Vec<HostPort>,
    /// Port entries that publish no fixed TCP port on the host (or cannot be read), and why.
    pub skipped: Vec<String>,
}

/// A published port as the host reaches it: wildcard binds are probed on loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// `host:port`, with an IPv6 host in brackets, ready for `TcpStream::connect`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a readable compose file: {source}")]
    Parse { path: PathBuf, source: NotCompose },
}

/// Text that is not compose YAML (or not shaped like a compose file): the parser's
/// message, on one line. Boxed: the parser's error is large and rarely made.
#[derive(Debug, thiserror::Error)]
#[error("{}", one_line(&.0.to_string()))]
pub struct NotCompose(#[source] Box<serde_saphyr::Error>);

/// Why a port entry gives no host address to probe; doctor lists the text as not probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum PortError {
    /// Only the container's port: docker picks the host's.
    #[error("{entry}: no fixed host port (docker picks one)")]
    Ephemeral { entry: String },
    /// An empty host port, e.g. `127.0.0.1::6379`.
    #[error("no fixed host port (docker picks one)")]
    NoHostPort,
    #[error("long syntax without `published`: no fixed host port")]
    NoPublished,
    #[error("{spec}: unclosed `[` in the address")]
    UnclosedBracket { spec: String },
    #[error("{spec}: expected `:` after the address")]
    NoColon { spec: String },
    #[error("{spec}: not a compose port mapping")]
    NotAMapping { spec: String },
    #[error("{published}/{protocol}: not TCP, not probed")]
    NotTcp { published: String, protocol: String },
    #[error("`{published}` is not a port number")]
    NotAPort { published: String },
    #[error(transparent)]
    Variable(#[from] VarError),
}

/// A variable reference in `text` that compose would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum VarError {
    #[error("{text}: unclosed `${{`")]
    Unclosed { text: String },
    #[error("{text}: a lone `$` (write `$$` for a literal one)")]
    LoneDollar { text: String },
    /// `${NAME:?message}` or `${NAME?message}` with NAME unset.
    #[error("{text}: uses ${{{name}}}, which is not set ({message})")]
    Unset {
        text: String,
        name: String,
        message: String,
    },
    #[error("{text}: `${{{inner}}}` is not compose variable syntax")]
    NotVariableSyntax { text: String, inner: String },
}

/// Read the compose file at `path`; variables come from the process environment, then from
/// the `.env` file in the same directory.
pub fn load(path: &Path) -> Result<Vec<Service>, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let dotenv = path
        .parent()
        .and_then(|dir| std::fs::read_to_string(dir.join(".env")).ok())
        .map(|t| parse_dotenv(&t))
        .unwrap_or_default();
    let lookup = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| dotenv.get(name).cloned())
    };
    parse(&text, &lookup).map_err(|source| ComposeError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    services: BTreeMap<String, Option<RawService>>,
}

#[derive(Deserialize, Default)]
struct RawService {
    #[serde(default)]
    ports: Vec<RawPort>,
    #[serde(default)]
    profiles: Vec<String>,
}

/// Compose's short syntax (`"127.0.0.1:8080:80"`, a bare number) or its long syntax.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPort {
    Number(u64),
    Short(String),
    Long(LongPort),
}

#[derive(Deserialize)]
struct LongPort {
    #[serde(default)]
    published: Option<Scalar>,
    #[serde(default)]
    host_ip: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(u64),
    Text(String),
}

/// Parse compose YAML; `lookup` answers `${VAR}` references in port entries.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Service>, NotCompose> {
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| NotCompose(Box::new(e)))?;
    Ok(raw
        .services
        .into_iter()
        .map(|(name, svc)| {
            let svc = svc.unwrap_or_default();
            let mut published = Vec::new();
            let mut skipped = Vec::new();
            for port in &svc.ports {
                match read_port(port, lookup) {
                    Ok(p) => published.push(p),
                    Err(why) => skipped.push(why.to_string()),
                }
            }
            Service {
                name,
                profiles: svc.profiles,
                published,
                skipped,
            }
        })
        .collect())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One port entry → the host address to probe, or why there is none.
fn read_port(
    port: &RawPort,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<HostPort, PortError> {
    match port {
        RawPort::Number(n) => Err(PortError::Ephemeral {
            entry: n.to_string(),
        }),
        RawPort::Short(spec) => {
            let spec = interpolate(spec, lookup)?;
            short_port(&spec)
        }
        RawPort::Long(long) => {
            let protocol = long.protocol.as_deref().unwrap_or("tcp");
            let published = match &long.published {
                Some(Scalar::Number(n)) => n.to_string(),
                Some(Scalar::Text(t)) => interpolate(t, lookup)?,
                None => return Err(PortError::NoPublished),
            };
            let ip = match &long.host_ip {
                Some(ip) => interpolate(ip, lookup)?,
                None => String::new(),
            };
            host_port(&ip, &published, protocol)
        }
    }
}

/// `[IP:]HOST:CONTAINER[/PROTOCOL]`, where IP may be `[v6]` and HOST a range `a-b`.
fn short_port(spec: &str) -> Result<HostPort, PortError> {
    let (ports, protocol) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let (ip, rest) = match ports.strip_prefix('[') {
        Some(v6) => {
            let (ip, after) = v6
                .split_once(']')
                .ok_or_else(|| PortError::UnclosedBracket { spec: spec.into() })?;
            let rest = after
                .strip_prefix(':')
                .ok_or_else(|| PortError::NoColon { spec: spec.into() })?;
            (ip.to_string(), rest)
        }
        None => (String::new(), ports),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host) = match (parts.as_slice(), ip.is_empty()) {
        ([_container], true) => {
            return Err(PortError::Ephemeral { entry: spec.into() });
        }
        ([host, _container], _) => (ip, *host),
        ([addr, host, _container], true) => (addr.to_string(), *host),
        _ => return Err(PortError::NotAMapping { spec: spec.into() }),
    };
    host_port(&ip, host, protocol)
}

fn host_port(ip: &str, published: &str, protocol: &str) -> Result<HostPort, PortError> {
    if !protocol.eq_ignore_ascii_case("tcp") {
        return Err(PortError::NotTcp {
            published: published.into(),
            protocol: protocol.into(),
        });
    }
    // A range publishes several ports; its first one tells whether the service is there.
    let first = published.split('-').next().unwrap_or_default().trim();
    if first.is_empty() {
        return Err(PortError::NoHostPort);
    }
    let port: u16 = first.parse().map_err(|_| PortError::NotAPort {
        published: published.into(),
    })?;
    let host = match ip.trim_matches(['[', ']']) {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    Ok(HostPort {
        host: host.to_string(),
        port,
    })
}

/// Compose's variable syntax: `$$` (a literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}`,
/// `${VAR-default}`, `${VAR:?err}` and `${VAR?err}`.
fn interpolate(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, VarError> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| VarError::Unclosed { text: s.into() })?;
            out.push_str(&expand(&braced[..end], lookup, s)?);
            rest = &braced[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len == 0 {
                return Err(VarError::LoneDollar { text: s.into() });
            }
            out.push_str(&lookup(&after[..len]).unwrap_or_default());
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    whole: &str,
) -> Result<String, VarError> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_len);
    let value = lookup(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let missing = |message: &str| VarError::Unset {
        text: whole.into(),
        name: name.into(),
        message: message.into(),
    };
    Ok(match op {
        "" => value.unwrap_or_default(),
        _ if op.starts_with(":-") => {
            if set_nonempty {
                value.unwrap_or_default()
            } else {
                op[2..].to_string()
            }
        }
        _ if op.starts_with('-') => value.unwrap_or_else(|| op[1..].to_string()),
        _ if op.starts_with(":?") => {
            if set_nonempty {
                value.unwrap_or_default()
            } else {
                return Err(missing(&op[2..]));
            }
        }
        _ if op.starts_with('?') => value.ok_or_else(|| missing(&op[1..]))?,
        _ => {
            return Err(VarError::NotVariableSyntax {
                text: whole.into(),
                inner: inner.into(),
            });
        }
    })
}

/// `KEY=VALUE` lines of a `.env` file; `#` comments and blank lines skipped, one level of
/// surrounding quotes removed.
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let k = k.trim().trim_start_matches("export ").trim();
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_vars(_: &str) -> Option<String> {
        None
    }

    fn one(spec: &str) -> Result<HostPort, PortError> {
        read_port(&RawPort::Short(spec.into()), &no_vars)
    }

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn short_syntax_forms() {
        assert_eq!(one("6379:6379"), Ok(hp("127.0.0.1", 6379)));
        assert_eq!(one("127.0.0.1:8765:8765"), Ok(hp("127.0.0.1", 8765)));
        assert_eq!(one("0.0.0.0:9090:9090"), Ok(hp("127.0.0.1", 9090)));
        assert_eq!(one("10.0.0.5:8081:8080/tcp"), Ok(hp("10.0.0.5", 8081)));
        assert_eq!(one("[::1]:6334:6334"), Ok(hp("::1", 6334)));
        assert_eq!(one("[::]:6334:6334"), Ok(hp("::1", 6334)));
        assert_eq!(one("8000-8010:8000-8010"), Ok(hp("127.0.0.1", 8000)));
        assert_eq!(hp("::1", 6334).address(), "[::1]:6334");
        assert_eq!(hp("127.0.0.1", 1).address(), "127.0.0.1:1");
    }

    #[test]
    fn ports_without_a_fixed_tcp_host_port_are_skipped_with_a_reason() {
        let why = |spec: &str| one(spec).unwrap_err().to_string();
        assert!(why("6379").contains("no fixed host port"));
        assert_eq!(
            one("6379"),
            Err(PortError::Ephemeral {
                entry: "6379".into()
            })
        );
        assert!(why("127.0.0.1::6379").contains("no fixed host port"));
        assert_eq!(one("127.0.0.1::6379"), Err(PortError::NoHostPort));
        assert!(why("5353:53/udp").contains("not TCP"));
        assert_eq!(why("5353:53/udp"), "5353/udp: not TCP, not probed");
        assert!(matches!(one("5353:53/udp"), Err(PortError::NotTcp { .. })));
        assert!(why("x:y").contains("not a port number"));
        assert_eq!(why("x:y"), "`x` is not a port number");
        assert!(matches!(one("x:y"), Err(PortError::NotAPort { .. })));
        assert!(why("1:2:3:4").contains("not a compose port"));
        assert!(matches!(one("1:2:3:4"), Err(PortError::NotAMapping { .. })));
        assert!(why("[::1:6334:6334").contains("unclosed"));
        assert_eq!(
            why("[::1:6334:6334"),
            "[::1:6334:6334: unclosed `[` in the address"
        );
        assert!(matches!(
            one("[::1:6334:6334"),
            Err(PortError::UnclosedBracket { .. })
        ));
        assert_eq!(
            why("[::1]6334:6334"),
            "[::1]6334:6334: expected `:` after the address"
        );
        assert!(matches!(one("[::1]6334"), Err(PortError::NoColon { .. })));
        assert_eq!(why("${X"), "${X: unclosed `${`");
        assert!(matches!(
            one("${X"),
            Err(PortError::Variable(VarError::Unclosed { .. }))
        ));
        let n = read_port(&RawPort::Number(80), &no_vars).unwrap_err();
        assert!(n.to_string().contains("no fixed host port"), "{n}");
        assert_eq!(n.to_string(), "80: no fixed host port (docker picks one)");
        let long = RawPort::Long(LongPort {
            published: None,
            host_ip: None,
            protocol: None,
        });
        assert_eq!(read_port(&long, &no_vars), Err(PortError::NoPublished));
    }

    #[test]
    fn variables_are_interpolated_like_compose() {
        let vars = |name: &str| match name {
            "PORT" => Some("9000".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let f = |s: &str| interpolate(s, &vars);
        assert_eq!(f("${PORT}:80").unwrap(), "9000:80");
        assert_eq!(f("$PORT:80").unwrap(), "9000:80");
        assert_eq!(f("${UNSET:-8765}:8765").unwrap(), "8765:8765");
        assert_eq!(f("${EMPTY:-1}").unwrap(), "1");
        assert_eq!(f("${EMPTY-1}").unwrap(), "");
        assert_eq!(f("${UNSET-2}").unwrap(), "2");
        assert_eq!(f("a$$b").unwrap(), "a$b");
        assert!(
            f("${UNSET:?set it}")
                .unwrap_err()
                .to_string()
                .contains("UNSET")
        );
        assert_eq!(
            f("${UNSET:?set it}").unwrap_err().to_string(),
            "${UNSET:?set it}: uses ${UNSET}, which is not set (set it)"
        );
        assert!(matches!(
            f("${EMPTY:?set it}"),
            Err(VarError::Unset { name, .. }) if name == "EMPTY"
        ));
        assert_eq!(f("${EMPTY?x}").unwrap(), "");
        assert!(f("${PORT").unwrap_err().to_string().contains("unclosed"));
        assert!(matches!(f("${PORT"), Err(VarError::Unclosed { .. })));
        assert_eq!(
            f("${PORT+x}").unwrap_err().to_string(),
            "${PORT+x}: `${PORT+x}` is not compose variable syntax"
        );
        assert!(matches!(
            f("${PORT+x}"),
            Err(VarError::NotVariableSyntax { inner, .. }) if inner == "PORT+x"
        ));
        assert_eq!(
            f("a $ b"),
            Err(VarError::LoneDollar {
                text: "a $ b".into()
            })
        );
        assert_eq!(
            f("a $ b").unwrap_err().to_string(),
            "a $ b: a lone `$` (write `$$` for a literal one)"
        );
    }

    #[test]
    fn a_compose_file_gives_services_profiles_and_ports() {
        let yaml = r#"
x-common: &common
  restart: unless-stopped
services:
  redis:
    <<: *common
    image: redis:7
    ports: ["127.0.0.1:6379:6379"]
  qdrant:
    ports:
      - target: 6333
        published: "6333"
        host_ip: 127.0.0.1
      - target: 6334
        published: 6334
      - target: 53
        published: 5353
        protocol: udp
  keycloak:
    profiles: [auth]
    ports: ["${KC_PORT:-8081}:8080"]
  worker:
    image: busybox
  empty:
"#;
        let services = parse(yaml, &no_vars).unwrap();
        let by = |n: &str| services.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(services.len(), 5);
        assert_eq!(by("redis").published, vec![hp("127.0.0.1", 6379)]);
        let q = by("qdrant");
        assert_eq!(
            q.published,
            vec![hp("127.0.0.1", 6333), hp("127.0.0.1", 6334)]
        );
        assert_eq!(q.skipped.len(), 1, "{:?}", q.skipped);
        let k = by("keycloak");
        assert_eq!(k.profiles, vec!["auth".to_string()]);
        assert_eq!(k.published, vec![hp("127.0.0.1", 8081)]);
        assert!(by("worker").published.is_empty());
        assert!(by("empty").published.is_empty());
    }

    #[test]
    fn a_file_that_is_not_compose_is_an_error_not_a_panic() {
        let e = parse("services: [1, 2]", &no_vars).unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(parse("services:\n  a:\n    ports: {x: 1}\n", &no_vars).is_err());
        assert!(parse(": : :\n\t- [", &no_vars).is_err());
        assert!(parse("", &no_vars).unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, "services: [1, 2]").unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(&e, ComposeError::Parse { path: p, .. } if *p == path));
        assert_eq!(
            e.to_string(),
            format!(
                "{} is not a readable compose file: {}",
                path.display(),
                parse("services: [1, 2]", &no_vars).unwrap_err()
            )
        );
    }

    #[test]
    fn dotenv_lines() {
        let env = parse_dotenv("# c\n\nA=1\nexport B = \"two\"\nC='3'\nD=\nnoequals\n");
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("B").map(String::as_str), Some("two"));
        assert_eq!(env.get("C").map(String::as_str), Some("3"));
        assert_eq!(env.get("D").map(String::as_str), Some(""));
        assert_eq!(env.len(), 4);
    }
}
