//! `vault:<mount>/<path>#<key>`: a secret kept in a Vault (or OpenBao) KV v2 engine.
//!
//! The mount is the first path segment (`secret` in `vault:secret/aios/mcp#token`); the
//! rest is the secret's path inside it, the part after `#` the key within the secret. The
//! reference is what config, errors, logs and `doctor` show; the value never is.

use std::fmt;

/// The prefix that marks a config value as a Vault reference.
pub const PREFIX: &str = "vault:";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultRef {
    pub mount: String,
    pub path: String,
    pub key: String,
}

/// Whether a config value is meant as a Vault reference (and must then parse as one).
pub fn is_vault_ref(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The form a reference error ends with.
const FORM: &str = "expected vault:<mount>/<path>#<key>, e.g. vault:secret/aios/mcp#token";

/// Why a text is not a Vault reference. It repeats at most the reference (which holds no
/// secret) and ends with the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultRefError {
    #[error("not a Vault reference: {}", FORM)]
    NoPrefix,
    #[error("`{}` names no key (`#<key>`): {}", .0, FORM)]
    NoKey(String),
    #[error("`{}` names no path inside its mount: {}", .0, FORM)]
    NoPath(String),
    #[error(
        "`{}`: a mount and path are segments of letters, digits and - _ . + @ = joined by /: {}",
        .0,
        FORM
    )]
    BadSegment(String),
    #[error("`{}` names an empty or unprintable key: {}", .0, FORM)]
    BadKey(String),
}

/// Why a secret-reference text (`env:VAR` or `vault:…`) is refused. It never repeats a
/// text that is neither, which may be a secret pasted in by mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefError {
    #[error(transparent)]
    Vault(#[from] VaultRefError),
    #[error(
        "a secret is referenced as `env:VAR_NAME` (an environment variable) or \
         `vault:<mount>/<path>#<key>` (Vault or OpenBao KV v2); write the secret \
         itself there, never into the config"
    )]
    NotAReference,
    #[error(
        "`env:{0}` does not name an environment variable (letters, digits and `_`, \
         not starting with a digit)"
    )]
    BadEnvName(String),
}

impl VaultRef {
    /// Parse `vault:<mount>/<path>#<key>`; the error says what the form is, and never
    /// repeats more than the reference (which holds no secret).
    pub fn parse(text: &str) -> Result<VaultRef, VaultRefError> {
        let rest = text.strip_prefix(PREFIX).ok_or(VaultRefError::NoPrefix)?;
        let (location, key) = rest
            .rsplit_once('#')
            .ok_or_else(|| VaultRefError::NoKey(text.to_string()))?;
        let (mount, path) = location
            .trim_matches('/')
            .split_once('/')
            .ok_or_else(|| VaultRefError::NoPath(text.to_string()))?;
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@' | '=')
                })
        };
        if !segment_ok(mount) || !path.split('/').all(segment_ok) {
            return Err(VaultRefError::BadSegment(text.to_string()));
        }
        if key.is_empty() || key.chars().any(|c| c.is_control() || c == '#') {
            return Err(VaultRefError::BadKey(text.to_string()));
        }
        Ok(VaultRef {
            mount: mount.to_string(),
            path: path.to_string(),
            key: key.to_string(),
        })
    }

    /// The KV v2 read endpoint, relative to `<addr>/v1/`.
    pub fn data_endpoint(&self) -> String {
        format!("{}/data/{}", self.mount, self.path)
    }
}

impl fmt::Display for VaultRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}/{}#{}", self.mount, self.path, self.key)
    }
}

/// Where a secret is read from at call time; never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// `env:VAR_NAME`: the environment variable of that name.
    Env(String),
    /// `vault:<mount>/<path>#<key>`: resolved at start, refreshed while aios runs.
    Vault(VaultRef),
}

impl SecretRef {
    /// The name the secrets lookup is asked for: the variable name, or the whole Vault
    /// reference (a variable name holds no `:`, so the two cannot be confused).
    pub fn name(&self) -> String {
        match self {
            SecretRef::Env(var) => var.clone(),
            SecretRef::Vault(r) => r.to_string(),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(var) => write!(f, "environment variable {var}"),
            SecretRef::Vault(r) => write!(f, "Vault secret {r}"),
        }
    }
}

impl TryFrom<String> for SecretRef {
    type Error = SecretRefError;

    fn try_from(text: String) -> Result<Self, SecretRefError> {
        if is_vault_ref(&text) {
            return Ok(SecretRef::Vault(VaultRef::parse(&text)?));
        }
        // The text may be a secret pasted in by mistake: never repeat it.
        let var = text
            .strip_prefix("env:")
            .ok_or(SecretRefError::NotAReference)?;
        if is_env_name(var) {
            Ok(SecretRef::Env(var.to_string()))
        } else {
            Err(SecretRefError::BadEnvName(var.to_string()))
        }
    }
}

impl From<SecretRef> for String {
    fn from(secret: SecretRef) -> String {
        match secret {
            SecretRef::Env(var) => format!("env:{var}"),
            SecretRef::Vault(r) => r.to_string(),
        }
    }
}

/// An environment variable's name: letters, digits and `_`, not starting with a digit.
pub fn is_env_name(var: &str) -> bool {
    let mut chars = var.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let r = VaultRef::parse("vault:secret/aios/mcp#token").unwrap();
        assert_eq!(r.mount, "secret");
        assert_eq!(r.path, "aios/mcp");
        assert_eq!(r.key, "token");
        assert_eq!(r.data_endpoint(), "secret/data/aios/mcp");
        assert_eq!(r.to_string(), "vault:secret/aios/mcp#token");
        assert!(is_vault_ref("vault:x"));
        assert!(!is_vault_ref("env:X"));
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for bad in [
            "secret/aios#k",
            "vault:secret/aios",
            "vault:secret#k",
            "vault:/aios#k",
            "vault:secret/../x#k",
            "vault:secret/a b#k",
            "vault:secret/aios#",
            "vault:secret//x#k",
            "vault:secret/x#\u{1b}[2J",
        ] {
            let e = VaultRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("vault:<mount>/<path>#<key>"), "{bad}: {e}");
        }
        assert_eq!(
            VaultRef::parse("vault:secret/aios"),
            Err(VaultRefError::NoKey("vault:secret/aios".into()))
        );
        assert_eq!(
            VaultRef::parse("vault:secret#k"),
            Err(VaultRefError::NoPath("vault:secret#k".into()))
        );
        assert_eq!(
            VaultRef::parse("vault:secret/aios#")
                .unwrap_err()
                .to_string(),
            "`vault:secret/aios#` names an empty or unprintable key: expected \
             vault:<mount>/<path>#<key>, e.g. vault:secret/aios/mcp#token"
        );
    }

    #[test]
    fn a_secret_ref_is_env_or_vault_and_never_repeats_a_pasted_secret() {
        assert_eq!(
            SecretRef::try_from("env:TOKEN".to_string()),
            Ok(SecretRef::Env("TOKEN".into()))
        );
        let pasted = SecretRef::try_from("sk-live-123".to_string()).unwrap_err();
        assert_eq!(pasted, SecretRefError::NotAReference);
        assert!(!pasted.to_string().contains("sk-live-123"));
        assert_eq!(
            SecretRef::try_from("env:1X".to_string()),
            Err(SecretRefError::BadEnvName("1X".into()))
        );
        assert!(matches!(
            SecretRef::try_from("vault:x".to_string()),
            Err(SecretRefError::Vault(VaultRefError::NoKey(_)))
        ));
    }
}
