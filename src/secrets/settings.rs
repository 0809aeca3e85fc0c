//! Where Vault is and how to log in, from `[vault]` and the variables the Vault CLI uses
//! (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE`, `VAULT_ROLE_ID`, `VAULT_SECRET_ID`).
//! Pure over the variables and a file reader, so every choice is tested without a process
//! environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{VaultAuthKind, VaultConfig};

use super::vault::{VaultAuth, VaultSettings};

/// The variables and files the settings are read from.
pub struct Sources<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// A private file's text; `Ok(None)` when there is no such file.
    pub file: &'a dyn Fn(&Path) -> Result<Option<String>, FileError>,
    pub home: Option<PathBuf>,
}

impl Sources<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.var)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

/// Why there are no settings to reach Vault with; the text says what to set, naming the
/// key that needs Vault (the first reference).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "{needed_by} is a Vault reference, but no Vault address is set: set VAULT_ADDR \
         or [vault] addr (e.g. http://127.0.0.1:8200)"
    )]
    NoAddress { needed_by: String },
    #[error(
        "VAULT_ADDR is not an http(s) URL: expected http(s)://HOST:PORT (needed by {needed_by})"
    )]
    NotHttp { needed_by: String },
    #[error("no Vault token for {needed_by}: {}", TOKEN_HELP)]
    NoToken { needed_by: String },
    #[error("no AppRole credentials for {needed_by}: {}", APPROLE_HELP)]
    NoAppRole { needed_by: String },
    #[error(
        "no way to log in to Vault for {needed_by}: {}; or {}",
        TOKEN_HELP,
        APPROLE_HELP
    )]
    NoLogin { needed_by: String },
    #[error("vault.token_file {} holds no token", .0.display())]
    EmptyTokenFile(PathBuf),
    #[error("vault.token_file {}: {source}", .path.display())]
    TokenFile { path: PathBuf, source: FileError },
    #[error("vault.secret_id_file {} holds no secret id", .0.display())]
    EmptySecretIdFile(PathBuf),
    #[error("vault.secret_id_file {}: {source}", .path.display())]
    SecretIdFile { path: PathBuf, source: FileError },
    #[error("AppRole role id {role_id} is set but no secret id: {}", APPROLE_HELP)]
    NoSecretId { role_id: String },
}

/// Why a credential file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Group or others may read it: it is a password.
    #[error("mode {0:o}: a Vault credential must be readable by its owner only (chmod 600)")]
    Shared(u32),
    #[error("larger than 64 KiB: not a credential")]
    TooLarge,
}

/// The settings; the error says what to set, naming `needed_by` (the first reference).
pub fn settings(
    config: &VaultConfig,
    sources: &Sources<'_>,
    needed_by: &str,
) -> Result<VaultSettings, SettingsError> {
    let needed = || needed_by.to_string();
    let addr = if config.addr.is_empty() {
        sources.var("VAULT_ADDR").unwrap_or_default()
    } else {
        config.addr.clone()
    };
    if addr.is_empty() {
        return Err(SettingsError::NoAddress {
            needed_by: needed(),
        });
    }
    if !(addr.starts_with("http://") || addr.starts_with("https://")) {
        return Err(SettingsError::NotHttp {
            needed_by: needed(),
        });
    }
    let namespace = if config.namespace.is_empty() {
        sources.var("VAULT_NAMESPACE").unwrap_or_default()
    } else {
        config.namespace.clone()
    };
    let auth = match config.auth {
        VaultAuthKind::Token => token(config, sources)?.ok_or_else(|| SettingsError::NoToken {
            needed_by: needed(),
        })?,
        VaultAuthKind::Approle => {
            approle(config, sources)?.ok_or_else(|| SettingsError::NoAppRole {
                needed_by: needed(),
            })?
        }
        VaultAuthKind::Auto => match token(config, sources)? {
            Some(auth) => auth,
            None => approle(config, sources)?.ok_or_else(|| SettingsError::NoLogin {
                needed_by: needed(),
            })?,
        },
    };
    Ok(VaultSettings {
        addr: addr.trim_end_matches('/').to_string(),
        namespace,
        auth,
        timeout: Duration::from_millis(u64::from(config.timeout_ms)),
    })
}

const TOKEN_HELP: &str = "set VAULT_TOKEN, or vault.token_file, or log in with the Vault CLI \
                          (~/.vault-token)";
const APPROLE_HELP: &str = "set vault.role_id (or VAULT_ROLE_ID) and vault.secret_id_file \
                            (or VAULT_SECRET_ID)";

/// `VAULT_TOKEN`, else the token file (configured, else `~/.vault-token`).
fn token(config: &VaultConfig, sources: &Sources<'_>) -> Result<Option<VaultAuth>, SettingsError> {
    if let Some(token) = sources.var("VAULT_TOKEN") {
        return Ok(Some(VaultAuth::Token {
            token,
            from: "VAULT_TOKEN".into(),
        }));
    }
    let path = if config.token_file.is_empty() {
        match &sources.home {
            Some(home) => home.join(".vault-token"),
            None => return Ok(None),
        }
    } else {
        PathBuf::from(&config.token_file)
    };
    match (sources.file)(&path) {
        Ok(Some(text)) if !text.trim().is_empty() => Ok(Some(VaultAuth::Token {
            token: text.trim().to_string(),
            from: path.display().to_string(),
        })),
        Ok(_) if !config.token_file.is_empty() => Err(SettingsError::EmptyTokenFile(path)),
        Ok(_) => Ok(None),
        Err(source) => Err(SettingsError::TokenFile { path, source }),
    }
}

fn approle(
    config: &VaultConfig,
    sources: &Sources<'_>,
) -> Result<Option<VaultAuth>, SettingsError> {
    let role_id = if config.role_id.is_empty() {
        sources.var("VAULT_ROLE_ID")
    } else {
        Some(config.role_id.clone())
    };
    let Some(role_id) = role_id else {
        return Ok(None);
    };
    let secret_id = if config.secret_id_file.is_empty() {
        sources.var("VAULT_SECRET_ID")
    } else {
        let path = Path::new(&config.secret_id_file);
        match (sources.file)(path) {
            Ok(Some(text)) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Ok(_) => return Err(SettingsError::EmptySecretIdFile(path.to_path_buf())),
            Err(source) => {
                return Err(SettingsError::SecretIdFile {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    };
    let Some(secret_id) = secret_id else {
        return Err(SettingsError::NoSecretId { role_id });
    };
    Ok(Some(VaultAuth::AppRole {
        mount: config.approle_mount.clone(),
        role_id,
        secret_id,
    }))
}

/// A credential file's text: refused when others may read it (it is a password), `None`
/// when there is none.
pub fn read_private_file(path: &Path) -> Result<Option<String>, FileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FileError::Shared(mode));
    }
    if meta.len() > 64 * 1024 {
        return Err(FileError::TooLarge);
    }
    Ok(Some(std::fs::read_to_string(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        config: &VaultConfig,
        vars: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<VaultSettings, String> {
        run_typed(config, vars, files).map_err(|e| e.to_string())
    }

    fn run_typed(
        config: &VaultConfig,
        vars: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<VaultSettings, SettingsError> {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let file = |path: &Path| {
            Ok(files
                .iter()
                .find(|(k, _)| Path::new(k) == path)
                .map(|(_, v)| v.to_string()))
        };
        settings(
            config,
            &Sources {
                var: &var,
                file: &file,
                home: Some(PathBuf::from("/home/op")),
            },
            "mcp.tokens[0]",
        )
    }

    #[test]
    fn the_address_comes_from_config_or_vault_addr() {
        let c = VaultConfig::default();
        let e = run(&c, &[("VAULT_TOKEN", "t")], &[]).unwrap_err();
        assert!(
            e.contains("mcp.tokens[0]") && e.contains("VAULT_ADDR"),
            "{e}"
        );
        let s = run(
            &c,
            &[("VAULT_ADDR", "http://v:8200/"), ("VAULT_TOKEN", "t")],
            &[],
        )
        .unwrap();
        assert_eq!(s.addr, "http://v:8200");
        let c = VaultConfig {
            addr: "https://cfg:8200".into(),
            ..VaultConfig::default()
        };
        let s = run(
            &c,
            &[("VAULT_ADDR", "http://v:8200"), ("VAULT_TOKEN", "t")],
            &[],
        )
        .unwrap();
        assert_eq!(s.addr, "https://cfg:8200");
    }

    #[test]
    fn auto_prefers_a_token_then_the_token_file_then_approle() {
        let c = VaultConfig {
            addr: "http://v:8200".into(),
            ..VaultConfig::default()
        };
        let s = run(
            &c,
            &[("VAULT_TOKEN", "env-token")],
            &[("/home/op/.vault-token", "file")],
        )
        .unwrap();
        assert!(matches!(s.auth, VaultAuth::Token { ref token, .. } if token == "env-token"));
        let s = run(&c, &[], &[("/home/op/.vault-token", "file-token\n")]).unwrap();
        assert!(matches!(s.auth, VaultAuth::Token { ref token, .. } if token == "file-token"));
        let s = run(&c, &[("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", "s")], &[]).unwrap();
        assert!(
            matches!(s.auth, VaultAuth::AppRole { ref role_id, ref secret_id, ref mount }
            if role_id == "r" && secret_id == "s" && mount == "approle")
        );
        let e = run(&c, &[], &[]).unwrap_err();
        assert!(
            e.contains("VAULT_TOKEN") && e.contains("VAULT_ROLE_ID"),
            "{e}"
        );
        let e = run(&c, &[("VAULT_ROLE_ID", "r")], &[]).unwrap_err();
        assert!(e.contains("no secret id"), "{e}");
        assert!(matches!(
            run_typed(&c, &[], &[]),
            Err(SettingsError::NoLogin { needed_by }) if needed_by == "mcp.tokens[0]"
        ));
    }

    #[test]
    fn an_explicit_method_is_kept_to() {
        let c = VaultConfig {
            addr: "http://v:8200".into(),
            auth: VaultAuthKind::Approle,
            role_id: "cfg-role".into(),
            secret_id_file: "/run/secrets/sid".into(),
            ..VaultConfig::default()
        };
        let s = run(
            &c,
            &[("VAULT_TOKEN", "ignored")],
            &[("/run/secrets/sid", "sid\n")],
        )
        .unwrap();
        assert!(
            matches!(s.auth, VaultAuth::AppRole { ref role_id, ref secret_id, .. }
            if role_id == "cfg-role" && secret_id == "sid")
        );
        let c = VaultConfig {
            addr: "http://v:8200".into(),
            auth: VaultAuthKind::Token,
            token_file: "/etc/aios/vault-token".into(),
            ..VaultConfig::default()
        };
        let e = run(&c, &[], &[]).unwrap_err();
        assert!(e.contains("holds no token"), "{e}");
        assert!(matches!(
            run_typed(&c, &[], &[("/etc/aios/vault-token", " \n")]),
            Err(SettingsError::EmptyTokenFile(p)) if p == Path::new("/etc/aios/vault-token")
        ));
        // The debug form of the settings never shows the token.
        let s = run(&c, &[], &[("/etc/aios/vault-token", "hvs.s3cr3t")]).unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_credential_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert!(matches!(read_private_file(&path), Ok(None)));
        std::fs::write(&path, "t\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_private_file(&path).unwrap_err();
        assert!(matches!(e, FileError::Shared(0o644)));
        assert!(e.to_string().contains("mode 644") && e.to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private_file(&path).unwrap(), Some("t\n".into()));
    }
}
