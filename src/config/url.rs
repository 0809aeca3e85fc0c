//! The parts of a server URL (`[scheme://][user@]host[:port][/…]`) that validation, the
//! open-models policy and `doctor` need, and the check that an HTTP URL is written in the
//! one form the HTTP client reads it (reqwest's parser, the `url` crate).

use std::net::Ipv6Addr;

/// A URL split into what aios reads of it; nothing is checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Lower case; `None` when the text has no `scheme://`.
    pub scheme: Option<String>,
    /// As written, IPv6 without its brackets.
    pub host: &'a str,
    pub ipv6: bool,
    /// As written; may not be a number.
    pub port: Option<&'a str>,
}

/// Split a URL; `None` only for an unclosed `[` or junk after `]`.
pub fn split(url: &str) -> Option<UrlParts<'_>> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, rest)) => (Some(s.to_ascii_lowercase()), rest),
        None => (None, url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, ipv6, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return None,
            };
            (addr, true, port)
        }
        None => match host_port.split_once(':') {
            Some((h, p)) => (h, false, Some(p)),
            None => (host_port, false, None),
        },
    };
    Some(UrlParts {
        scheme,
        host,
        ipv6,
        port,
    })
}

impl UrlParts<'_> {
    /// The host for comparisons: lower case, without a trailing dot; `None` when empty.
    pub fn normalized_host(&self) -> Option<String> {
        let host = self.host.trim_end_matches('.').to_ascii_lowercase();
        (!host.is_empty()).then_some(host)
    }

    /// A DNS name, an IPv4 address or a bracketed IPv6 address, and a numeric port if any.
    pub fn is_valid_host_port(&self) -> bool {
        let host_ok = if self.ipv6 {
            self.host.parse::<Ipv6Addr>().is_ok()
        } else {
            !self.host.is_empty()
                && self
                    .host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        host_ok && self.port.is_none_or(|p| p.parse::<u16>().is_ok())
    }

    /// `host:port` to connect to, with the scheme's default port when none is written.
    pub fn socket_address(&self) -> Option<String> {
        if !self.is_valid_host_port() {
            return None;
        }
        let port = match self.port {
            Some(p) => p.parse::<u16>().ok()?,
            None => match self.scheme.as_deref() {
                Some("redis") => 6379,
                Some("rediss") => 6380,
                Some("https") => 443,
                _ => 80,
            },
        };
        Some(if self.ipv6 {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        })
    }
}

/// A URL as it may be shown anywhere (a terminal, a log line, an error, `doctor`): the
/// password is replaced by `***` (`redis://user:***@host`), and a user name alone, which
/// is often a token (`redis://secret@host`, `https://ghp_…@github.com`), becomes `***`.
/// Every place that shows a configured URL goes through this one type.
#[derive(Debug, Clone, Copy)]
pub struct ShownUrl<'a>(pub &'a str);

impl std::fmt::Display for ShownUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.0;
        let Some((scheme, rest)) = url.split_once("://") else {
            return f.write_str(url);
        };
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        // The userinfo ends at the last `@` of the authority; in a URL no parser accepts,
        // at the last `@` anywhere, so a password holding `/` is masked too.
        let at = rest[..end].rfind('@').or_else(|| {
            reqwest::Url::parse(url)
                .is_err()
                .then(|| rest.rfind('@'))
                .flatten()
        });
        let Some(at) = at else {
            return f.write_str(url);
        };
        let (userinfo, after) = (&rest[..at], &rest[at..]);
        match userinfo.split_once(':') {
            Some((user, _)) => write!(f, "{scheme}://{user}:***{after}"),
            None => write!(f, "{scheme}://***{after}"),
        }
    }
}

/// Why an HTTP URL is not written the way the HTTP client reads it. The text completes a
/// sentence that starts with the URL ("`http://…` contains a backslash, …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCanonical {
    #[error("contains a backslash, which HTTP clients read as `/`: write the URL with `/` only")]
    Backslash,
    #[error("contains whitespace or a control character")]
    Whitespace,
    #[error("is not a URL: {0}")]
    NotAUrl(String),
    #[error(
        "carries a user name or password (`user:pass@`): model, embedder and memory servers \
         take no credentials in the URL"
    )]
    Credentials,
    /// The parser rewrites the authority: `written` is read as `canonical`.
    #[error(
        "is not written in canonical form: the HTTP client reads `{written}` as \
         `{canonical}`; write `{canonical}`"
    )]
    Rewritten { written: String, canonical: String },
}

/// `Err` when `url` is not written the way the HTTP client reads it: a backslash
/// (read as `/`), a user name or password, whitespace or control characters, or an
/// authority the parser rewrites (percent-encoding, full-width dots, Unicode instead of
/// its `xn--` form, numeric IPv4 shorthands, an uncompressed IPv6, an empty port). Such a
/// URL means one host to a person or another program and another to the client.
pub fn canonical_http_url(url: &str) -> Result<(), NotCanonical> {
    if url.contains('\\') {
        return Err(NotCanonical::Backslash);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NotCanonical::Whitespace);
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| NotCanonical::NotAUrl(e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() || authority(url).contains('@')
    {
        return Err(NotCanonical::Credentials);
    }
    let host = parsed.host_str().unwrap_or_default();
    let written = authority(url).to_ascii_lowercase();
    let mut read_as = vec![host.to_string()];
    if let Some(port) = parsed.port_or_known_default() {
        read_as.push(format!("{host}:{port}"));
    }
    if read_as.contains(&written) {
        Ok(())
    } else {
        let canonical = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Err(NotCanonical::Rewritten { written, canonical })
    }
}

/// The authority as written: after `scheme://`, up to the first `/`, `?` or `#`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_behind_userinfo_ports_and_paths() {
        let p = split("https://u:p@API.OpenAI.com:443/v1").unwrap();
        assert_eq!(p.scheme.as_deref(), Some("https"));
        assert_eq!(p.normalized_host().as_deref(), Some("api.openai.com"));
        assert_eq!(p.port, Some("443"));
        assert_eq!(
            split("api.openai.com./v1")
                .unwrap()
                .normalized_host()
                .as_deref(),
            Some("api.openai.com")
        );
        assert_eq!(split("http://").unwrap().normalized_host(), None);
        assert!(split("http://[::1").is_none());
    }

    #[test]
    fn shown_urls_hide_credentials() {
        let shown = |u: &str| ShownUrl(u).to_string();
        assert_eq!(
            shown("redis://user:secret@127.0.0.1:6380/0"),
            "redis://user:***@127.0.0.1:6380/0"
        );
        assert_eq!(
            shown("redis://:secret@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(shown("rediss://secret@cache"), "rediss://***@cache");
        assert_eq!(shown("redis://:pa/ss@cache"), "redis://:***@cache");
        assert_eq!(shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(shown("http://h/a@b"), "http://h/a@b");
        assert_eq!(shown("unix:///run/redis.sock"), "unix:///run/redis.sock");
        assert_eq!(shown("not a url"), "not a url");
    }

    #[test]
    fn canonical_http_urls() {
        for ok in [
            "http://127.0.0.1:11434",
            "http://LocalHost:8000/v1",
            "https://gpu-box.lan/v1",
            "https://gpu-box.lan:443/v1",
            "http://[::1]:8000/v1",
            "http://vllm.internal./v1",
        ] {
            assert_eq!(canonical_http_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://h\\@127.0.0.1/v1", "backslash"),
            ("http://u:p@h/v1", "user name or password"),
            ("http://u@h/v1", "user name or password"),
            ("http://h%2Eexample/v1", "canonical"),
            ("http://h\u{3002}example/v1", "canonical"),
            ("http://2130706433/v1", "canonical"),
            ("http://[0:0:0:0:0:0:0:1]/v1", "canonical"),
            ("http://h:/v1", "canonical"),
            ("http://h\t/v1", "control"),
        ] {
            let err = canonical_http_url(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(
            canonical_http_url("http://2130706433/v1"),
            Err(NotCanonical::Rewritten {
                written: "2130706433".into(),
                canonical: "127.0.0.1".into()
            })
        );
        assert_eq!(
            canonical_http_url("http://u@h/v1"),
            Err(NotCanonical::Credentials)
        );
        assert!(matches!(
            canonical_http_url("http//"),
            Err(NotCanonical::NotAUrl(_))
        ));
    }

    #[test]
    fn socket_addresses_default_the_port_by_scheme() {
        let addr = |u: &str| split(u).and_then(|p| p.socket_address());
        assert_eq!(
            addr("redis://127.0.0.1:6379").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(addr("redis://user:pw@cache").as_deref(), Some("cache:6379"));
        assert_eq!(
            addr("http://127.0.0.1:8000/v1").as_deref(),
            Some("127.0.0.1:8000")
        );
        assert_eq!(addr("https://h/x").as_deref(), Some("h:443"));
        assert_eq!(addr("http://[::1]:11434").as_deref(), Some("[::1]:11434"));
        assert_eq!(addr("http://h:port"), None);
        assert_eq!(addr("nonsense://"), None);
    }
}
