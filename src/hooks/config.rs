//! `[hooks]`: how deliveries are signed, retried and scheduled.

use serde::{Deserialize, Deserializer, Serialize};

use super::schedule::Zone;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// Webhook signing secrets: each signs as its own `v1=` (several during a rotation).
    /// A value is the secret, or `env:VAR` to read it from the environment. Empty: a
    /// secret is generated once in `<data>/hooks.secret` (mode 0600).
    #[serde(deserialize_with = "one_or_many")]
    pub secret: Vec<String>,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// Longest one attempt may take.
    pub timeout_ms: u64,
    /// Deliveries in flight at once on this node.
    pub concurrency: usize,
    /// First pause before a retry; it doubles each attempt (with jitter) up to
    /// `backoff_max_s`.
    pub backoff_ms: u64,
    pub backoff_max_s: u64,
    /// Schedules are read in the node's time zone (`local`) or in `UTC`.
    pub timezone: Zone,
    /// Missed schedule times fired after a node was down: at most this many (the latest).
    pub catch_up: u32,
}

impl Default for HooksConfig {
    fn default() -> Self {
        Self {
            secret: Vec::new(),
            max_attempts: 8,
            timeout_ms: 10_000,
            concurrency: 32,
            backoff_ms: 1_000,
            backoff_max_s: 600,
            timezone: Zone::Local,
            catch_up: 1,
        }
    }
}

impl HooksConfig {
    /// A problem with the values, for config validation.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.max_attempts == 0 {
            return Some(("max_attempts", "must be at least 1".into()));
        }
        if self.timeout_ms == 0 {
            return Some(("timeout_ms", "must be at least 1".into()));
        }
        if self.concurrency == 0 || self.concurrency > 1024 {
            return Some(("concurrency", "must be between 1 and 1024".into()));
        }
        if self.secret.iter().any(|s| s.trim().is_empty()) {
            return Some(("secret", "an empty secret signs nothing; remove it".into()));
        }
        if let Some(var) = self
            .secret
            .iter()
            .filter_map(|s| s.strip_prefix("env:"))
            .find(|v| v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Some((
                "secret",
                format!("`env:{var}` does not name an environment variable"),
            ));
        }
        None
    }

    /// The secrets, with `env:VAR` and `vault:…` read through `lookup`
    /// ([`crate::secrets::Secrets::lookup`]). One that is unset or empty is an error naming
    /// it (never a silent empty secret).
    pub fn resolve_secrets(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, SecretError> {
        self.secret
            .iter()
            .map(|s| {
                let (name, unset) = if let Some(var) = s.strip_prefix("env:") {
                    (var, SecretError::EnvUnset(var.to_string()))
                } else if crate::secrets::is_vault_ref(s) {
                    (s.as_str(), SecretError::VaultUnset(s.clone()))
                } else {
                    return Ok(s.clone());
                };
                lookup(name).filter(|v| !v.is_empty()).ok_or(unset)
            })
            .collect()
    }
}

/// A signing secret that could not be had. The reference is shown, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("hooks.secret: the environment variable {0} is not set")]
    EnvUnset(String),
    #[error("hooks.secret: the Vault secret {0} is not set")]
    VaultUnset(String),
    /// No secret is configured and the generated one could not be read or written.
    #[error(transparent)]
    Generated(#[from] crate::mcp::token::TokenError),
}

/// `secret = "…"` or `secret = ["…", "…"]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) if s.is_empty() => Vec::new(),
        OneOrMany::One(s) => vec![s],
        // An empty variable (`AIOS_HOOKS_SECRET=` from compose) is no secret, not an
        // empty one.
        OneOrMany::Many(v) => v.into_iter().filter(|s| !s.is_empty()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_secret_is_named_by_its_reference() {
        let config = HooksConfig {
            secret: vec!["plain".into(), "env:NO_SUCH_HOOK_SECRET".into()],
            ..HooksConfig::default()
        };
        let err = config.resolve_secrets(&|_| None).unwrap_err();
        assert!(matches!(&err, SecretError::EnvUnset(v) if v == "NO_SUCH_HOOK_SECRET"));
        assert_eq!(
            err.to_string(),
            "hooks.secret: the environment variable NO_SUCH_HOOK_SECRET is not set"
        );
        let vault = HooksConfig {
            secret: vec!["vault:secret/aios/hooks#key".into()],
            ..HooksConfig::default()
        };
        // Empty is unset: an empty secret would sign nothing.
        let err = vault.resolve_secrets(&|_| Some(String::new())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hooks.secret: the Vault secret vault:secret/aios/hooks#key is not set"
        );
        assert_eq!(
            config.resolve_secrets(&|_| Some("s3".into())).unwrap(),
            ["plain", "s3"]
        );
    }
}
