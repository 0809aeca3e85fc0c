//! Tools from outside MCP servers (`[mcp_servers.<name>]`), through rmcp's client.
//!
//! [`McpServers::start`] starts every enabled server in the background and supervises it
//! (`supervise`): its tools join the [`Registry`] as `<server>__<tool>` (`names`), a
//! `notifications/tools/list_changed` re-lists them, and a server that dies or cannot
//! start is restarted with backoff (`backoff`). [`McpServers::call`] runs one tool and
//! hands back the result capped for the model (`result`).
//!
//! While a server is down its tools are **removed from the registry** (no agent is
//! offered a tool that cannot run), and a call that still names one (a turn that listed
//! it before) fails with "MCP server X is restarting (last error: …), next attempt in
//! N s". A server whose referenced secret is not set is `failed` and not retried (the
//! environment cannot change while aios runs). Disabled servers are not started and not
//! listed in [`McpServers::status`].
//!
//! Secrets: `token` and `env:VAR` values are read from the environment when a server
//! starts and go only to the server; no status, error or log line holds them.

mod backoff;
mod config;
mod connect;
mod names;
mod result;
mod supervise;

pub use config::{
    DEFAULT_TIMEOUT_MS, EnvValue, MAX_SERVER_NAME, McpServerConfig, Protocol, ServerNameError,
    UnsetSecret, check_server_name,
};
pub use names::{MAX_NAME, sanitize};
pub use result::MAX_RESULT_BYTES;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::Peer;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::registry::Registry;

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Connecting for the first time.
    Starting,
    /// Connected; its tools are in the registry.
    Ready,
    /// Died or could not start; the next attempt is scheduled.
    Restarting,
    /// Cannot start while aios runs (a referenced secret is not set); not retried.
    Failed,
}

/// One server's state, for `aios tools`, doctor and the TUI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    pub protocol: String,
    pub state: Phase,
    pub last_error: Option<String>,
    /// Tools it gives the registry now.
    pub tools: usize,
    /// The child process of a running stdio server.
    pub pid: Option<u32>,
    /// Times it was restarted.
    pub restarts: u32,
    /// Seconds until the next attempt, while restarting.
    pub next_attempt_s: Option<u64>,
}

/// What the supervisor and the callers share about one server.
pub(crate) struct Server {
    name: String,
    config: McpServerConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phase: Option<Phase>,
    last_error: Option<String>,
    /// Exposed name → the server's own name, from the last listing (kept while the
    /// server restarts, so a call can be told why it fails).
    names: BTreeMap<String, String>,
    /// Tools in the registry now.
    listed: usize,
    peer: Option<Peer<RoleClient>>,
    pid: Option<u32>,
    restarts: u32,
    next_attempt: Option<Instant>,
}

impl Server {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status(&self) -> ServerStatus {
        let s = self.state();
        ServerStatus {
            name: self.name.clone(),
            transport: if self.config.url.is_some() {
                "http"
            } else {
                "stdio"
            }
            .into(),
            protocol: self.config.protocol.as_str().into(),
            state: s.phase.unwrap_or(Phase::Starting),
            last_error: s.last_error.clone(),
            tools: s.listed,
            pid: s.pid,
            restarts: s.restarts,
            next_attempt_s: s
                .next_attempt
                .map(|t| t.saturating_duration_since(Instant::now()).as_secs()),
        }
    }

    /// Why a call of this server cannot run now, or the peer to run it on.
    fn peer(&self) -> Result<Peer<RoleClient>, String> {
        let s = self.state();
        let name = &self.name;
        let last = s.last_error.as_deref().unwrap_or("none");
        match (s.phase.unwrap_or(Phase::Starting), &s.peer) {
            (Phase::Ready, Some(peer)) => Ok(peer.clone()),
            (Phase::Restarting, _) => {
                let next = s
                    .next_attempt
                    .map(|t| t.saturating_duration_since(Instant::now()))
                    .filter(|d| !d.is_zero());
                Err(match next {
                    Some(next) => format!(
                        "MCP server {name} is restarting (last error: {last}), next attempt \
                         in {} s",
                        next.as_secs_f64().ceil() as u64
                    ),
                    None => format!(
                        "MCP server {name} is restarting (last error: {last}), reconnecting now"
                    ),
                })
            }
            (Phase::Failed, _) => Err(format!("MCP server {name} failed: {last}")),
            _ => Err(format!(
                "MCP server {name} is starting; its tools are not listed yet"
            )),
        }
    }
}

/// Why a tool of an outside MCP server could not be called. The text is what the model
/// (or a hook's delivery record) reads, so it names the server and the tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolCallError {
    #[error("no MCP server has a tool {0}")]
    NoSuchTool(String),
    /// The server is starting, restarting or failed: its own account of why.
    #[error("{0}")]
    Unavailable(String),
    #[error("the arguments of {tool} must be a JSON object, got {got}")]
    BadArguments { tool: String, got: &'static str },
    #[error("MCP server {server}: tool {tool} did not answer within {ms} ms")]
    Timeout {
        server: String,
        tool: String,
        ms: u32,
    },
    #[error("MCP server {server}: tool {tool} failed: {message}")]
    Failed {
        server: String,
        tool: String,
        message: String,
    },
    #[error("MCP server {server}: unreadable result: {message}")]
    Unreadable { server: String, message: String },
}

/// Reads one environment variable.
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The configured MCP servers of one runtime. Cheap to clone.
#[derive(Clone)]
pub struct McpServers {
    servers: Arc<BTreeMap<String, Arc<Server>>>,
    tasks: TaskTracker,
}

impl McpServers {
    /// Start every enabled server in the background (this returns at once, however slow a
    /// server is) and supervise it until `cancel`. Needs a Tokio runtime.
    pub fn start(
        config: &BTreeMap<String, McpServerConfig>,
        registry: Arc<Registry>,
        cancel: CancellationToken,
    ) -> McpServers {
        Self::start_with_env(
            config,
            registry,
            cancel,
            Arc::new(|var| std::env::var(var).ok()),
        )
    }

    /// [`McpServers::start`] with the environment read through `env` (the `token`,
    /// `env:VAR` values and a stdio server's base environment): tests pass their own.
    pub fn start_with_env(
        config: &BTreeMap<String, McpServerConfig>,
        registry: Arc<Registry>,
        cancel: CancellationToken,
        env: Env,
    ) -> McpServers {
        let tasks = TaskTracker::new();
        let mut servers = BTreeMap::new();
        for (name, server_config) in config.iter().filter(|(_, c)| c.enabled) {
            let server = Arc::new(Server {
                name: name.clone(),
                config: server_config.clone(),
                state: Mutex::new(State::default()),
            });
            servers.insert(name.clone(), server.clone());
            tasks.spawn(supervise::run(
                server,
                registry.clone(),
                cancel.clone(),
                env.clone(),
            ));
        }
        tasks.close();
        McpServers {
            servers: Arc::new(servers),
            tasks,
        }
    }

    /// Every enabled server's state, by name.
    pub fn status(&self) -> Vec<ServerStatus> {
        self.servers.values().map(|s| s.status()).collect()
    }

    /// The server and its own tool name behind an exposed tool name, for the approval
    /// preview (known while the server restarts, too).
    pub fn describe(&self, exposed_tool: &str) -> Option<(String, String)> {
        self.servers.values().find_map(|s| {
            let real = s.state().names.get(exposed_tool).cloned()?;
            Some((s.name.clone(), real))
        })
    }

    /// Run `exposed_tool` with `arguments` (a JSON object, or null for none) within the
    /// server's `timeout_ms`. A tool's own error (`isError: true`) is `Ok`: the model
    /// reads it. `Err` is why the call could not be made, in plain words.
    pub async fn call(
        &self,
        exposed_tool: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value, ToolCallError> {
        let (server, real) = self.find(exposed_tool)?;
        let arguments = match arguments {
            serde_json::Value::Object(map) => Some(map),
            serde_json::Value::Null => None,
            other => {
                return Err(ToolCallError::BadArguments {
                    tool: exposed_tool.to_string(),
                    got: json_kind(&other),
                });
            }
        };
        let peer = server.peer().map_err(ToolCallError::Unavailable)?;
        let mut params = CallToolRequestParams::new(real.clone());
        if let Some(map) = arguments {
            params = params.with_arguments(map);
        }
        let timeout = Duration::from_millis(u64::from(server.config.timeout_ms));
        let name = &server.name;
        // Dropping the call on timeout sends `notifications/cancelled` to the server.
        match tokio::time::timeout(timeout, peer.call_tool(params)).await {
            Err(_) => Err(ToolCallError::Timeout {
                server: name.clone(),
                tool: real,
                ms: server.config.timeout_ms,
            }),
            Ok(Err(e)) => Err(ToolCallError::Failed {
                server: name.clone(),
                tool: real,
                message: names::cut(&e.to_string(), 1024).to_string(),
            }),
            Ok(Ok(answer)) => {
                let value =
                    serde_json::to_value(&answer).map_err(|e| ToolCallError::Unreadable {
                        server: name.clone(),
                        message: e.to_string(),
                    })?;
                Ok(result::to_model(value, MAX_RESULT_BYTES))
            }
        }
    }

    /// Wait until every server is shut down (after `cancel`): child processes are
    /// stopped and reaped by then.
    pub async fn stopped(&self) {
        self.tasks.wait().await;
    }

    fn find(&self, exposed: &str) -> Result<(Arc<Server>, String), ToolCallError> {
        for server in self.servers.values() {
            if let Some(real) = server.state().names.get(exposed) {
                return Ok((server.clone(), real.clone()));
            }
        }
        // Not listed (yet): a server that has not listed its tools is named, so the model
        // learns why rather than that the tool does not exist.
        if let Some(server) = self
            .servers
            .values()
            .find(|s| exposed.starts_with(&format!("{}__", s.name)))
            && server.state().phase != Some(Phase::Ready)
        {
            return Err(ToolCallError::Unavailable(
                server.peer().err().unwrap_or_default(),
            ));
        }
        Err(ToolCallError::NoSuchTool(exposed.to_string()))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(phase: Option<Phase>, error: Option<&str>, next: Option<Duration>) -> Server {
        let config: McpServerConfig = toml::from_str("command = \"x\"\n").unwrap();
        Server {
            name: "helpdesk".into(),
            config,
            state: Mutex::new(State {
                phase,
                last_error: error.map(String::from),
                next_attempt: next.map(|d| Instant::now() + d),
                ..State::default()
            }),
        }
    }

    #[test]
    fn a_call_is_told_why_a_server_cannot_take_it() {
        let e = |s: Server| s.peer().err().unwrap();
        assert_eq!(
            e(server(None, None, None)),
            "MCP server helpdesk is starting; its tools are not listed yet"
        );
        assert_eq!(
            e(server(
                Some(Phase::Restarting),
                Some("connection closed"),
                Some(Duration::from_millis(3500))
            )),
            "MCP server helpdesk is restarting (last error: connection closed), next attempt in 4 s"
        );
        assert_eq!(
            e(server(Some(Phase::Restarting), Some("boom"), None)),
            "MCP server helpdesk is restarting (last error: boom), reconnecting now"
        );
        assert_eq!(
            e(server(Some(Phase::Failed), Some("token: unset"), None)),
            "MCP server helpdesk failed: token: unset"
        );
        // Ready without a peer is a server between listing and serving: not callable yet.
        assert!(e(server(Some(Phase::Ready), None, None)).contains("is starting"));
        let status = server(
            Some(Phase::Restarting),
            Some("x"),
            Some(Duration::from_secs(10)),
        )
        .status();
        assert_eq!(status.transport, "stdio");
        assert!(status.next_attempt_s.is_some_and(|s| s <= 10));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "restarting");
    }
}
