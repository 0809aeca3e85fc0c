//! The parts of a server URL (`[scheme://][user@]host[:port][/…]`) that validation, the
//! open-models policy and `doctor` need. Three fields do not justify a URL crate.

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
