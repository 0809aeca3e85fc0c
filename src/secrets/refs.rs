//! Every config value that may hold a secret, and so may be a `vault:` reference: one list,
//! so that validation, resolution and `doctor` cannot disagree on which keys those are.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::mcp_client::EnvValue;

use super::reference::{SecretRef, VaultRef, VaultRefError, is_vault_ref};

/// One `vault:` value in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRef {
    /// The key's path, for the error's origin (file and line, or variable).
    pub path: Vec<String>,
    /// The key as a person reads it: `mcp.tokens[2]`, `actions.crm.auth[0].secret`.
    pub label: String,
    /// The reference as written.
    pub text: String,
}

fn add(out: &mut Vec<ConfigRef>, path: &[&str], label: String, text: &str) {
    if is_vault_ref(text) {
        out.push(ConfigRef {
            path: path.iter().map(|s| s.to_string()).collect(),
            label,
            text: text.to_string(),
        });
    }
}

/// The `vault:` values of `config`, in a stable order.
pub fn config_refs(config: &Config) -> Vec<ConfigRef> {
    let mut out = Vec::new();
    add(
        &mut out,
        &["bus", "url"],
        "bus.url".into(),
        config.bus.url.expose(),
    );
    for (i, token) in config.mcp.tokens.iter().enumerate() {
        add(
            &mut out,
            &["mcp", "tokens"],
            format!("mcp.tokens[{i}]"),
            token,
        );
    }
    for role in crate::roles::Role::ALL {
        let name = role.as_str();
        for (i, token) in config.mcp.role_tokens.of(role).iter().enumerate() {
            add(
                &mut out,
                &["mcp", "role_tokens", name],
                format!("mcp.role_tokens.{name}[{i}]"),
                token,
            );
        }
    }
    for (i, secret) in config.hooks.secret.iter().enumerate() {
        add(
            &mut out,
            &["hooks", "secret"],
            format!("hooks.secret[{i}]"),
            secret,
        );
    }
    let key = config.audit.signing_key.to_string_lossy();
    add(
        &mut out,
        &["audit", "signing_key"],
        "audit.signing_key".into(),
        &key,
    );
    for (name, action) in &config.actions {
        for (i, auth) in action.auth.iter().enumerate() {
            let text: String = auth.secret.clone().into();
            add(
                &mut out,
                &["actions", name, "auth"],
                format!("actions.{name}.auth[{i}].secret"),
                &text,
            );
        }
    }
    for (name, server) in &config.mcp_servers {
        if let Some(SecretRef::Vault(r)) = &server.token {
            add(
                &mut out,
                &["mcp_servers", name, "token"],
                format!("mcp_servers.{name}.token"),
                &r.to_string(),
            );
        }
        for (var, value) in &server.env {
            if let EnvValue::From(SecretRef::Vault(r)) = value {
                add(
                    &mut out,
                    &["mcp_servers", name, "env", var],
                    format!("mcp_servers.{name}.env.{var}"),
                    &r.to_string(),
                );
            }
        }
    }
    out
}

/// A `vault:` value that is not a reference, named by its key (`mcp.tokens[0]: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {error}")]
pub struct BadReference {
    pub key: String,
    pub error: VaultRefError,
}

/// Each reference of `config` once, with the keys that use it (one read serves them all);
/// the first that does not parse is the error, naming its key.
pub fn refs_by_reference(config: &Config) -> Result<BTreeMap<VaultRef, Vec<String>>, BadReference> {
    let mut users: BTreeMap<VaultRef, Vec<String>> = BTreeMap::new();
    for r in config_refs(config) {
        let reference = VaultRef::parse(&r.text).map_err(|error| BadReference {
            key: r.label.clone(),
            error,
        })?;
        users.entry(reference).or_default().push(r.label);
    }
    Ok(users)
}
