//! Opening one connection to a server through rmcp's client: the child process or the
//! HTTP transport, the handshake of the configured protocol revision, and the wiring of
//! `notifications/tools/list_changed` to a re-list.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, ServerNotification,
    SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RunningService, serve_client_with_lifecycle_and_ct};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ClientLifecycleMode, RoleClient};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::{McpServerConfig, Protocol, Transport};
use super::names::cut;

/// Longest wait for a server to start and answer the handshake (a first `npx` run may
/// download its package).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest JSON answer read from an HTTP server; a bigger one fails the call.
const MAX_HTTP_RESPONSE: usize = 8 * 1024 * 1024;
/// What a stdio server gets of aios's environment: enough to run, no secrets.
const BASE_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
];

/// Why no connection was made.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectError {
    /// Trying again cannot help while aios runs (a referenced secret is not set).
    Permanent(String),
    /// The process would not start, the server did not answer, the handshake failed.
    Transient(String),
}

/// The client side of one connection: names aios and turns a list-changed notification
/// into a re-list.
#[derive(Clone)]
pub struct Handler {
    relist: Arc<Notify>,
    protocol: Protocol,
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")),
        );
        match self.protocol {
            Protocol::V2025_11_25 => info.with_protocol_version(ProtocolVersion::V_2025_11_25),
            Protocol::V2026_07_28 => info.with_protocol_version(ProtocolVersion::V_2026_07_28),
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.relist.notify_one();
    }
}

pub type Client = RunningService<RoleClient, Handler>;

/// A live connection; `pid` is the child's for a stdio server.
pub struct Connection {
    pub client: Client,
    pub pid: Option<u32>,
}

/// Connect to server `name`. The connection ends when `ct` is cancelled (a child process
/// is then shut down: stdin closed, SIGTERM, kill, reaped by rmcp's transport).
pub async fn connect(
    name: &str,
    config: &McpServerConfig,
    relist: Arc<Notify>,
    ct: CancellationToken,
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Connection, ConnectError> {
    let handler = Handler {
        relist: relist.clone(),
        protocol: config.protocol,
    };
    let lifecycle = match config.protocol {
        Protocol::V2025_11_25 => ClientLifecycleMode::Initialize,
        Protocol::V2026_07_28 => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    };
    let transport = config.transport().ok_or_else(|| {
        ConnectError::Permanent("needs either `command` or `url`, not both".into())
    })?;
    let (client, pid) = match transport {
        Transport::Stdio { command, args, env } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).env_clear().kill_on_drop(true);
            for var in BASE_ENV {
                if let Some(value) = lookup(var) {
                    cmd.env(var, value);
                }
            }
            for (key, value) in env {
                let value = value.resolve(lookup).map_err(|missing| {
                    ConnectError::Permanent(format!(
                        "env {key}: the {missing} is not set in aios's environment"
                    ))
                })?;
                cmd.env(key, value);
            }
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| ConnectError::Transient(format!("`{command}` did not start: {e}")))?;
            let pid = transport.id();
            if let Some(stderr) = stderr {
                tokio::spawn(log_stderr(name.to_string(), stderr));
            }
            let client = handshake(serve_client_with_lifecycle_and_ct(
                handler,
                transport,
                lifecycle,
                ct.clone(),
            ))
            .await?;
            (client, pid)
        }
        Transport::Http { url, token } => {
            let mut http = StreamableHttpClientTransportConfig::with_uri(url.to_string())
                .max_json_response_size(MAX_HTTP_RESPONSE);
            if let Some(secret) = token {
                // rmcp sends it as `Authorization: Bearer <token>`.
                let value = lookup(&secret.name()).ok_or_else(|| {
                    ConnectError::Permanent(format!(
                        "token: the {secret} is not set in aios's environment"
                    ))
                })?;
                http = http.auth_header(value);
            }
            let transport = StreamableHttpClientTransport::from_config(http);
            let client = handshake(serve_client_with_lifecycle_and_ct(
                handler,
                transport,
                lifecycle,
                ct.clone(),
            ))
            .await?;
            (client, None)
        }
    };
    if config.protocol == Protocol::V2026_07_28 {
        listen_for_changes(name, &client, relist, ct).await;
    }
    Ok(Connection { client, pid })
}

async fn handshake<E: std::fmt::Display>(
    started: impl Future<Output = Result<Client, E>>,
) -> Result<Client, ConnectError> {
    match tokio::time::timeout(STARTUP_TIMEOUT, started).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(ConnectError::Transient(format!(
            "handshake failed: {}",
            cut(&e.to_string(), 1024)
        ))),
        Err(_) => Err(ConnectError::Transient(format!(
            "no answer to the handshake within {} s",
            STARTUP_TIMEOUT.as_secs()
        ))),
    }
}

/// 2026-07-28 has no session to push notifications on: a `subscriptions/listen` stream
/// carries them. A server that refuses it is still used, just never re-listed.
async fn listen_for_changes(
    name: &str,
    client: &Client,
    relist: Arc<Notify>,
    ct: CancellationToken,
) {
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let subscribed = tokio::time::timeout(STARTUP_TIMEOUT, client.peer().listen(filter)).await;
    let mut subscription = match subscribed {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(server = name, error = %e, "MCP server refused subscriptions/listen: its tool list is read once");
            return;
        }
        Err(_) => {
            tracing::warn!(
                server = name,
                "MCP server did not acknowledge subscriptions/listen: its tool list is read once"
            );
            return;
        }
    };
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = ct.cancelled() => return,
                n = subscription.next() => n,
            };
            match next {
                Ok(Some(ServerNotification::ToolListChangedNotification(_))) => relist.notify_one(),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    tracing::debug!(server = %name, "MCP subscription ended");
                    return;
                }
            }
        }
    });
}

/// A stdio server's stderr goes to the log file (never the terminal: the TUI owns it), in
/// pieces of at most 4 KiB so a server that never ends a line cannot grow a buffer.
async fn log_stderr(server: String, mut stderr: tokio::process::ChildStderr) {
    let mut buf = vec![0u8; 4096];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    tracing::debug!(server = %server, stderr = %line, "MCP server stderr");
                }
            }
        }
    }
}
