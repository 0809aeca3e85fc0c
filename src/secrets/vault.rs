//! A Vault / OpenBao client for what aios needs: log in (a token, or AppRole), read a KV v2
//! secret, and keep the login alive. The HTTP API is the same for both servers.
//!
//! Neither the token nor a value read is ever part of an error or a log line: errors name
//! the reference and the server's status only.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::reference::VaultRef;

/// How aios logs in.
#[derive(Clone)]
pub enum VaultAuth {
    /// A token, from `VAULT_TOKEN` or a token file.
    Token { token: String, from: String },
    /// AppRole: `role_id` and `secret_id` exchanged for a token at `auth/<mount>/login`.
    AppRole {
        mount: String,
        role_id: String,
        secret_id: String,
    },
}

impl std::fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultAuth::Token { from, .. } => write!(f, "token ({from})"),
            VaultAuth::AppRole { mount, .. } => write!(f, "AppRole (auth/{mount})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VaultSettings {
    /// `http(s)://host:port`, no trailing `/`.
    pub addr: String,
    /// Vault Enterprise / OpenBao namespace; empty = none.
    pub namespace: String,
    pub auth: VaultAuth,
    pub timeout: Duration,
}

/// Why a read failed. The texts name no value and no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("not found")]
    Missing(String),
    #[error("forbidden: the token's policies do not allow reading it")]
    Forbidden,
    #[error("Vault at {addr} is unreachable: {message}")]
    Unreachable { addr: String, message: String },
    #[error("cannot log in to Vault at {addr}: {message}")]
    Login { addr: String, message: String },
    #[error("Vault answered {0}")]
    Other(String),
}

impl VaultError {
    /// `found` / `missing` / `forbidden` / `unreachable` / `error`, for `doctor`.
    pub fn kind(&self) -> &'static str {
        match self {
            VaultError::Missing(_) => "missing",
            VaultError::Forbidden => "forbidden",
            VaultError::Unreachable { .. } => "unreachable",
            VaultError::Login { .. } => "login failed",
            VaultError::Other(_) => "error",
        }
    }

    /// The error with what was missing (the whole secret, or one key of it).
    pub fn detail(&self) -> String {
        match self {
            VaultError::Missing(what) => format!("not found: {what}"),
            other => other.to_string(),
        }
    }
}

/// One value read, and how long Vault says it may be used (`None`: no lease, as for KV v2).
#[derive(Clone)]
pub struct Read {
    pub value: String,
    pub lease: Option<Duration>,
}

/// The login in use: the token, and when to renew it (`None`: it does not expire).
struct Login {
    token: String,
    renew_at: Option<Instant>,
    renewable: bool,
}

pub struct VaultClient {
    settings: VaultSettings,
    http: reqwest::Client,
    login: Mutex<Option<Login>>,
}

#[derive(Deserialize)]
struct AuthBody {
    auth: Option<AuthInfo>,
}

#[derive(Deserialize)]
struct AuthInfo {
    client_token: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct LookupBody {
    data: Option<LookupData>,
}

#[derive(Deserialize)]
struct LookupData {
    #[serde(default)]
    ttl: u64,
    #[serde(default)]
    renewable: bool,
}

#[derive(Deserialize)]
struct KvBody {
    #[serde(default)]
    lease_duration: u64,
    data: Option<KvData>,
}

#[derive(Deserialize)]
struct KvData {
    data: Option<serde_json::Map<String, Value>>,
}

/// Renew a login when this share of its lifetime has passed.
fn renew_point(ttl: Duration) -> Instant {
    Instant::now() + ttl * 2 / 3
}

impl VaultClient {
    pub fn new(settings: VaultSettings) -> Result<VaultClient, VaultError> {
        crate::tls::ensure_provider();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| VaultError::Unreachable {
                addr: settings.addr.clone(),
                message: e.to_string(),
            })?;
        Ok(VaultClient {
            settings,
            http,
            login: Mutex::new(None),
        })
    }

    pub fn addr(&self) -> &str {
        &self.settings.addr
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/v1/{}", self.settings.addr, endpoint)
    }

    fn request(&self, method: reqwest::Method, endpoint: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, self.url(endpoint))
            .header("X-Vault-Request", "true");
        if !self.settings.namespace.is_empty() {
            req = req.header("X-Vault-Namespace", &self.settings.namespace);
        }
        req
    }

    fn unreachable(&self, e: reqwest::Error) -> VaultError {
        // Without the URL: it is ours anyway, and the error's chain says what failed.
        let e = crate::actions::execute::error_chain(&e.without_url());
        VaultError::Unreachable {
            addr: self.settings.addr.clone(),
            message: e,
        }
    }

    fn login_error(&self, message: String) -> VaultError {
        VaultError::Login {
            addr: self.settings.addr.clone(),
            message,
        }
    }

    /// The token to send, logging in first when there is none yet.
    async fn token(&self) -> Result<String, VaultError> {
        let mut login = self.login.lock().await;
        if let Some(l) = login.as_ref() {
            return Ok(l.token.clone());
        }
        let fresh = self.log_in().await?;
        let token = fresh.token.clone();
        *login = Some(fresh);
        Ok(token)
    }

    async fn log_in(&self) -> Result<Login, VaultError> {
        match &self.settings.auth {
            VaultAuth::Token { token, .. } => {
                // How long the token lives, so a renewable one is renewed in time. A token
                // that may not look itself up is still used: reads will say what it may do.
                let looked = self
                    .request(reqwest::Method::GET, "auth/token/lookup-self")
                    .header("X-Vault-Token", token)
                    .send()
                    .await
                    .map_err(|e| self.unreachable(e))?;
                let status = looked.status();
                if status == reqwest::StatusCode::FORBIDDEN
                    || status == reqwest::StatusCode::UNAUTHORIZED
                {
                    return Err(self.login_error(format!(
                        "the token was refused (HTTP {}): expired, revoked or mistyped",
                        status.as_u16()
                    )));
                }
                let data = if status.is_success() {
                    looked.json::<LookupBody>().await.ok().and_then(|b| b.data)
                } else {
                    None
                };
                Ok(Login {
                    token: token.clone(),
                    renew_at: data
                        .as_ref()
                        .filter(|d| d.ttl > 0)
                        .map(|d| renew_point(Duration::from_secs(d.ttl))),
                    renewable: data.is_some_and(|d| d.renewable),
                })
            }
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => {
                let response = self
                    .request(reqwest::Method::POST, &format!("auth/{mount}/login"))
                    .json(&serde_json::json!({"role_id": role_id, "secret_id": secret_id}))
                    .send()
                    .await
                    .map_err(|e| self.unreachable(e))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(self.login_error(format!(
                        "AppRole login at auth/{mount} answered HTTP {}{}",
                        status.as_u16(),
                        errors_of(response).await
                    )));
                }
                let auth = response
                    .json::<AuthBody>()
                    .await
                    .ok()
                    .and_then(|b| b.auth)
                    .ok_or_else(|| self.login_error("the login answer held no token".into()))?;
                Ok(Login {
                    token: auth.client_token,
                    renew_at: (auth.lease_duration > 0)
                        .then(|| renew_point(Duration::from_secs(auth.lease_duration))),
                    renewable: auth.renewable,
                })
            }
        }
    }

    /// When the login must next be renewed; `None` when it never expires (or there is none).
    pub async fn renew_due(&self) -> Option<Instant> {
        self.login.lock().await.as_ref().and_then(|l| l.renew_at)
    }

    /// Renew the login if it is due: `renew-self` for a renewable token, a new AppRole
    /// login otherwise. A token that can be neither renewed nor replaced is left to expire,
    /// and said.
    pub async fn keep_alive(&self) -> Result<(), VaultError> {
        let mut login = self.login.lock().await;
        let Some(current) = login.as_ref() else {
            return Ok(());
        };
        if current.renew_at.is_none_or(|t| t > Instant::now()) {
            return Ok(());
        }
        if current.renewable {
            let response = self
                .request(reqwest::Method::POST, "auth/token/renew-self")
                .header("X-Vault-Token", &current.token)
                .json(&serde_json::json!({}))
                .send()
                .await
                .map_err(|e| self.unreachable(e))?;
            if response.status().is_success()
                && let Some(auth) = response.json::<AuthBody>().await.ok().and_then(|b| b.auth)
            {
                let renewed = Login {
                    token: current.token.clone(),
                    renew_at: (auth.lease_duration > 0)
                        .then(|| renew_point(Duration::from_secs(auth.lease_duration))),
                    renewable: auth.renewable,
                };
                *login = Some(renewed);
                return Ok(());
            }
        }
        match self.settings.auth {
            VaultAuth::AppRole { .. } => {
                *login = Some(self.log_in().await?);
                Ok(())
            }
            VaultAuth::Token { .. } => {
                // Nothing more to do: stop trying until it is gone.
                if let Some(l) = login.as_mut() {
                    l.renew_at = None;
                }
                Err(self.login_error(
                    "the token cannot be renewed and will expire; give aios a new one".into(),
                ))
            }
        }
    }

    /// Read one key of a KV v2 secret.
    pub async fn read(&self, reference: &VaultRef) -> Result<Read, VaultError> {
        let token = self.token().await?;
        let response = self
            .request(reqwest::Method::GET, &reference.data_endpoint())
            .header("X-Vault-Token", &token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        match status.as_u16() {
            200 => {}
            404 => {
                return Err(VaultError::Missing(format!(
                    "no secret at {}/{} (KV v2)",
                    reference.mount, reference.path
                )));
            }
            403 => return Err(VaultError::Forbidden),
            _ => {
                return Err(VaultError::Other(format!(
                    "HTTP {}{}",
                    status.as_u16(),
                    errors_of(response).await
                )));
            }
        }
        let body: KvBody = response
            .json()
            .await
            .map_err(|e| VaultError::Other(format!("a body that is not KV v2 JSON: {e}")))?;
        let value = body
            .data
            .and_then(|d| d.data)
            .and_then(|mut m| m.remove(&reference.key))
            .ok_or_else(|| {
                VaultError::Missing(format!(
                    "the secret at {}/{} has no key `{}`",
                    reference.mount, reference.path, reference.key
                ))
            })?;
        let value = match value {
            Value::String(s) => s,
            Value::Null => {
                return Err(VaultError::Missing(format!(
                    "the key `{}` at {}/{} is null",
                    reference.key, reference.mount, reference.path
                )));
            }
            other => other.to_string(),
        };
        if value.is_empty() {
            return Err(VaultError::Missing(format!(
                "the key `{}` at {}/{} is empty",
                reference.key, reference.mount, reference.path
            )));
        }
        Ok(Read {
            value,
            lease: (body.lease_duration > 0).then(|| Duration::from_secs(body.lease_duration)),
        })
    }
}

/// `: <the server's error texts>` (Vault's `{"errors": [...]}`), cut short and cleaned; ""
/// when there are none. Vault's errors name paths and policies, never values.
async fn errors_of(response: reqwest::Response) -> String {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    let Ok(body) = response.json::<Errors>().await else {
        return String::new();
    };
    if body.errors.is_empty() {
        return String::new();
    }
    let text = crate::sanitize::ellipsize(&crate::sanitize::one_line(&body.errors.join("; ")), 200);
    format!(": {text}")
}
