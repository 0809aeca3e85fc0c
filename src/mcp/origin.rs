//! Which browser origins may call the HTTP server, and the CORS headers they get: those in
//! `mcp.allowed_origins`, and on a loopback bind the local ones (`http://localhost:<port>`,
//! `http://127.0.0.1:<port>`, `http://[::1]:<port>`), so a browser client such as the MCP
//! Inspector can connect. Any other origin is refused (DNS-rebinding defence). Pure.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Request headers a browser client may send (answered in a preflight).
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-session-id, \
mcp-protocol-version, last-event-id, mcp-method, mcp-name";
/// Response headers a browser client may read.
const EXPOSE_HEADERS: &str = "mcp-session-id, mcp-protocol-version, www-authenticate";
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// The origins rmcp's own check accepts on a loopback bind (its `:*` = any port).
pub const LOCAL_ORIGIN_PATTERNS: [&str; 6] = [
    "http://localhost:*",
    "http://127.0.0.1:*",
    "http://[::1]:*",
    "https://localhost:*",
    "https://127.0.0.1:*",
    "https://[::1]:*",
];

pub struct Origins {
    /// From `mcp.allowed_origins`, normalized.
    configured: Vec<String>,
    /// The server listens on loopback only, so local pages may call it.
    loopback: bool,
}

impl Origins {
    pub fn new(configured: Vec<String>, loopback: bool) -> Origins {
        Origins {
            configured,
            loopback,
        }
    }

    /// Whether a request carrying `Origin: origin` may be served.
    pub fn allows(&self, origin: &str) -> bool {
        let Some(o) = normalize_origin(origin) else {
            return false;
        };
        self.configured.contains(&o) || (self.loopback && is_local(&o))
    }
}

/// `scheme://host[:port]` in lower case, or `null`; `None` when it is not an origin.
pub fn normalize_origin(origin: &str) -> Option<String> {
    let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if o == "null" {
        return Some(o);
    }
    let (scheme, rest) = o.split_once("://")?;
    let ok = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains('/')
        && !rest.contains('@');
    ok.then_some(o)
}

/// A normalized origin whose host is this machine: `localhost`, `127.0.0.1` or `[::1]`,
/// with any port or none.
fn is_local(origin: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        return false;
    };
    // `[v6]:port` or `host:port`, the port optional.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, rest)) => match rest.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Headers every answer to an allowed browser origin carries.
pub fn cors_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The extra headers of a preflight (`OPTIONS`) answer.
pub fn preflight_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    cors_headers(headers, origin);
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    set(headers, header::ACCESS_CONTROL_MAX_AGE, "600");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized() {
        assert_eq!(
            normalize_origin("HTTP://LocalHost:3000/").as_deref(),
            Some("http://localhost:3000")
        );
        assert_eq!(normalize_origin("null").as_deref(), Some("null"));
        assert_eq!(normalize_origin("localhost:3000"), None);
        assert_eq!(normalize_origin("http://a/b"), None);
        assert_eq!(normalize_origin("ftp://a"), None);
    }

    #[test]
    fn local_origins_are_allowed_on_loopback_only() {
        let loopback = Origins::new(vec!["http://app.example:8080".into()], true);
        for o in [
            "http://localhost:6274",
            "http://127.0.0.1:3000",
            "http://[::1]:8765",
            "http://localhost",
            "HTTPS://LOCALHOST:443",
            "http://app.example:8080",
        ] {
            assert!(loopback.allows(o), "{o}");
        }
        for o in [
            "http://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example:80",
            "http://localhost:80@evil.example",
            "http://localhost:abc",
            "http://[::1]evil",
            "http://127.0.0.2:3000",
            "null",
            "file://localhost",
            "http://app.example:8081",
        ] {
            assert!(!loopback.allows(o), "{o}");
        }
        let public = Origins::new(vec!["http://app.example:8080".into()], false);
        assert!(!public.allows("http://localhost:6274"));
        assert!(public.allows("http://app.example:8080"));
    }
}
