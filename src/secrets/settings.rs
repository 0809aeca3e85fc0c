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
    pub file: &'a dyn Fn(&Path) -> Result<Option<String>, String>,
    pub home: Option<PathBuf>,
}

impl Sources<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.var)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

/// The settings; the error says what to set, naming `needed_by` (the first reference).
pub fn settings(
    config: &VaultConfig,
    sources: &Sources<'_>,
    needed_by: &str,
) -> Result<VaultSettings, String> {
    let addr = if config.addr.is_empty() {
        sources.var("VAULT_ADDR").unwrap_or_default()
    } else {
        config.addr.clone()
    };
    if addr.is_empty() {
        return Err(format!(
            "{needed_by} is a Vault reference, but no Vault address is set: set VAULT_ADDR \
             or [vault] addr (e.g. http://127.0.0.1:8200)"
        ));
    }
    if !(addr.starts_with("http://") || addr.starts_with("https://")) {
        return Err(format!(
            "VAULT_ADDR is not an http(s) URL: expected http(s)://HOST:PORT (needed by {needed_by})"
        ));
    }
    let namespace = if config.namespace.is_empty() {
        sources.var("VAULT_NAMESPACE").unwrap_or_default()
    } else {
        config.namespace.clone()
    };
    let auth = match config.auth {
        VaultAuthKind::Token => token(config, sources)?
            .ok_or_else(|| format!("no Vault token for {needed_by}: {}", TOKEN_HELP))?,
        VaultAuthKind::Approle => approle(config, sources)?
            .ok_or_else(|| format!("no AppRole credentials for {needed_by}: {}", APPROLE_HELP))?,
        VaultAuthKind::Auto => match token(config, sources)? {
            Some(auth) => auth,
            None => approle(config, sources)?.ok_or_else(|| {
                format!(
                    "no way to log in to Vault for {needed_by}: {TOKEN_HELP}; or {APPROLE_HELP}"
                )
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
fn token(config: &VaultConfig, sources: &Sources<'_>) -> Result<Option<VaultAuth>, String> {
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
        Ok(_) if !config.token_file.is_empty() => Err(format!(
            "vault.token_file {} holds no token",
            path.display()
        )),
        Ok(_) => Ok(None),
        Err(e) => Err(format!("vault.token_file {}: {e}", path.display())),
    }
}

fn approle(config: &VaultConfig, sources: &Sources<'_>) -> Result<Option<VaultAuth>, String> {
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
            Ok(_) => {
                return Err(format!(
                    "vault.secret_id_file {} holds no secret id",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("vault.secret_id_file {}: {e}", path.display())),
        }
    };
    let Some(secret_id) = secret_id else {
        return Err(format!(
            "AppRole role id {role_id} is set but no secret id: {APPROLE_HELP}"
        ));
    };
    Ok(Some(VaultAuth::AppRole {
        mount: config.approle_mount.clone(),
        role_id,
        secret_id,
    }))
}

/// A credential file's text: refused when others may read it (it is a password), `None`
/// when there is none.
pub fn read_private_file(path: &Path) -> Result<Option<String>, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {mode:o}: a Vault credential must be readable by its owner only (chmod 600)"
        ));
    }
    if meta.len() > 64 * 1024 {
        return Err("larger than 64 KiB: not a credential".into());
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        config: &VaultConfig,
        vars: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<VaultSettings, String> {
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
        // The debug form of the settings never shows the token.
        let s = run(&c, &[], &[("/etc/aios/vault-token", "hvs.s3cr3t")]).unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_credential_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        assert_eq!(read_private_file(&path), Ok(None));
        std::fs::write(&path, "t\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_private_file(&path).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private_file(&path), Ok(Some("t\n".into())));
    }
}
