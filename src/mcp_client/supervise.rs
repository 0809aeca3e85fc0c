//! One server's life: connect, list its tools into the registry, re-list on
//! `tools/list_changed`, and on death remove its tools and try again with backoff, until
//! aios stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::RoleClient;
use rmcp::model::Tool;
use rmcp::service::Peer;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connect::{self, ConnectError, Connection};
use super::{Phase, Server, backoff, names};
use crate::agent::registry::{Registry, ToolEntry};
use crate::agent::turn::Origin;

/// A server up this long is well again: its next failure waits the first delay, not a
/// doubled one.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Longest wait for a `tools/list` answer (all pages).
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    server: Arc<Server>,
    registry: Arc<Registry>,
    cancel: CancellationToken,
    env: super::Env,
) {
    let source = format!("mcp:{}", server.name);
    let lookup = move |var: &str| env(var);
    let mut failures = 0u32;
    // Config load checks this; a config built in code gets the same answer here.
    let refused = server.config.problem(&server.name).map(|(key, message)| {
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("{key}: ")
        };
        ConnectError::Permanent(format!("{key}{message}"))
    });
    loop {
        let relist = Arc::new(Notify::new());
        let connected = match &refused {
            Some(e) => Err(e.clone()),
            None => tokio::select! {
                () = cancel.cancelled() => break,
                c = connect::connect(&server.name, &server.config, relist.clone(), cancel.child_token(), &lookup) => c,
            },
        };
        let error = match connected {
            Ok(conn) => {
                let up = Instant::now();
                match serve(&server, &registry, &source, conn, &relist, &cancel).await {
                    None => break,
                    Some(e) => {
                        if up.elapsed() >= HEALTHY_AFTER {
                            failures = 0;
                        }
                        e
                    }
                }
            }
            Err(ConnectError::Permanent(e)) => {
                tracing::error!(server = %server.name, error = %e, "MCP server cannot start");
                registry.replace_source(&source, Vec::new());
                {
                    let mut s = server.state();
                    s.phase = Some(Phase::Failed);
                    s.last_error = Some(e);
                    s.listed = 0;
                }
                cancel.cancelled().await;
                break;
            }
            Err(ConnectError::Transient(e)) => e,
        };
        failures = failures.saturating_add(1);
        let delay = backoff::delay(failures, backoff::jitter());
        registry.replace_source(&source, Vec::new());
        tracing::warn!(server = %server.name, error = %error, retry_in_ms = delay.as_millis() as u64, "MCP server down; tools removed until it is back");
        {
            let mut s = server.state();
            s.phase = Some(Phase::Restarting);
            s.last_error = Some(error);
            s.peer = None;
            s.pid = None;
            s.listed = 0;
            s.next_attempt = Some(Instant::now() + delay);
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
        let mut s = server.state();
        s.restarts += 1;
        s.next_attempt = None;
    }
    registry.replace_source(&source, Vec::new());
    let mut s = server.state();
    s.peer = None;
    s.pid = None;
    s.listed = 0;
}

/// Run one connection until it ends: `Some(why)` when it died, `None` when aios stops.
async fn serve(
    server: &Server,
    registry: &Registry,
    source: &str,
    conn: Connection,
    relist: &Notify,
    cancel: &CancellationToken,
) -> Option<String> {
    let Connection { client, pid } = conn;
    let peer = client.peer().clone();
    if let Err(e) = list(server, registry, source, &peer).await {
        let _ = client.cancel().await;
        return (!cancel.is_cancelled()).then_some(e);
    }
    {
        let mut s = server.state();
        s.phase = Some(Phase::Ready);
        s.peer = Some(peer.clone());
        s.pid = pid;
        s.next_attempt = None;
    }
    tracing::info!(server = %server.name, tools = server.state().listed, "MCP server ready");
    // Ends when the transport closes (the process died, the HTTP server went away) or
    // when `cancel` stops the service loop; either way after the transport is closed and
    // a child process reaped.
    let quit = client.waiting();
    tokio::pin!(quit);
    loop {
        tokio::select! {
            reason = &mut quit => {
                if cancel.is_cancelled() {
                    return None;
                }
                return Some(match reason {
                    Ok(reason) => format!("connection closed ({reason:?})"),
                    Err(e) => format!("connection failed: {e}"),
                });
            }
            () = relist.notified() => {
                tracing::info!(server = %server.name, "MCP server's tool list changed; re-listing");
                if let Err(e) = list(server, registry, source, &peer).await {
                    // The old list stays: the server answers calls still.
                    tracing::warn!(server = %server.name, error = %e, "MCP re-list failed");
                }
            }
        }
    }
}

/// List every tool (all pages) and replace the server's tools in the registry.
async fn list(
    server: &Server,
    registry: &Registry,
    source: &str,
    peer: &Peer<RoleClient>,
) -> Result<(), String> {
    let tools = match tokio::time::timeout(LIST_TIMEOUT, peer.list_all_tools()).await {
        Ok(Ok(tools)) => tools,
        Ok(Err(e)) => {
            return Err(format!(
                "tools/list failed: {}",
                names::cut(&e.to_string(), 1024)
            ));
        }
        Err(_) => {
            return Err(format!(
                "no answer to tools/list within {} s",
                LIST_TIMEOUT.as_secs()
            ));
        }
    };
    let (entries, naming) = entries(&server.name, source, &tools);
    let listed = entries.len();
    registry.replace_source(source, entries);
    let mut s = server.state();
    s.names = naming;
    s.listed = listed;
    Ok(())
}

/// The registry's entries for a server's tools, and the exposed → real name map.
fn entries(
    server: &str,
    source: &str,
    tools: &[Tool],
) -> (Vec<ToolEntry>, std::collections::BTreeMap<String, String>) {
    let real: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let naming = names::expose(server, &real);
    for note in &naming.notes {
        tracing::warn!(server, "{note}");
    }
    let by_real: HashMap<&str, &Tool> = tools.iter().map(|t| (t.name.as_ref(), t)).collect();
    let mut out = Vec::with_capacity(naming.names.len());
    for (exposed, real) in &naming.names {
        let Some(tool) = by_real.get(real.as_str()) else {
            continue;
        };
        let (parameters, note) = names::schema(&tool.input_schema);
        if let Some(note) = note {
            tracing::warn!(server, tool = %real, "{note}; the model gets {{\"type\": \"object\"}}");
        }
        out.push(ToolEntry {
            name: exposed.clone(),
            description: names::description(tool.description.as_deref(), tool.title.as_deref()),
            parameters,
            origin: Origin::Mcp,
            source: source.to_string(),
        });
    }
    (out, naming.names)
}
