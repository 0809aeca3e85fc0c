//! `bus.url` as a type: the Redis URL holds the password (`redis://user:pass@host`), so
//! the only way to print one is the masked form. `Display` and `Debug` both go through
//! [`ShownUrl`], a config dump or an error that formats the config shows `***`, and the
//! full text is reached by name ([`RedisUrl::expose`]) where a Redis client is made.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::url::ShownUrl;

/// A Redis URL (`redis://`, `rediss://`, `unix://`, or before `resolve_config` a `vault:`
/// reference to one). Not checked here: `config::validate` checks `bus.url`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> RedisUrl {
        RedisUrl(url.into())
    }

    /// The URL with its password: for the Redis client (and the vault reference check),
    /// never for a message, a log line or a screen.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The form that may be shown anywhere (`redis://user:***@host`).
    pub fn shown(&self) -> ShownUrl<'_> {
        ShownUrl(&self.0)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shown().fmt(f)
    }
}

/// Masked too: `{:?}` of a config or an options struct is how a password usually leaks.
impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", self.shown().to_string())
    }
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> RedisUrl {
        RedisUrl(url.to_string())
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> RedisUrl {
        RedisUrl(url)
    }
}

impl PartialEq<str> for RedisUrl {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RedisUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_one_never_shows_the_password() {
        let url = RedisUrl::from("redis://aios:hunter2@cache:6379/0");
        assert_eq!(url.to_string(), "redis://aios:***@cache:6379/0");
        let debug = format!("{url:?} {:?}", Some(&url));
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("redis://aios:***@cache:6379/0"), "{debug}");
        assert_eq!(url.expose(), "redis://aios:hunter2@cache:6379/0");
    }

    #[test]
    fn a_config_dump_masks_it_and_a_file_keeps_it() {
        let mut config = super::super::Config::default();
        config.bus.url = "rediss://:s3cret@redis.internal".into();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("s3cret"),
            "the config's Debug shows the password"
        );
        // Serialized (a config written back) it is the URL itself: masking there would
        // lose the password.
        let json = serde_json::to_value(&config.bus).unwrap();
        assert_eq!(json["url"], "rediss://:s3cret@redis.internal");
        let back: super::super::BusConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back.url, "rediss://:s3cret@redis.internal");
    }
}
