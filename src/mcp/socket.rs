//! `mcp.sock`: the owner of a data dir serves MCP on a Unix socket there (0600), speaking
//! the stdio transport (newline-delimited JSON-RPC) over each connection. `aios mcp` pipes
//! its stdin and stdout to it when an owner runs, so a client that launches a command gets
//! the owner's runtime without a second process opening the store.

use std::path::{Path, PathBuf};

use rmcp::ServiceExt;
use tokio::io::{AsyncWriteExt, copy};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::server::AiosMcp;

/// The MCP socket of a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mcp.sock")
}

/// Serve MCP on `path` until `cancel`, each connection a task on `tasks`; the caller holds
/// the data-dir lock (which makes removing a stale socket file safe).
pub async fn serve_socket(
    mcp: AiosMcp,
    path: &Path,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> std::io::Result<()> {
    crate::control::serve_private(path, "MCP", &cancel, |stream| {
        let server = mcp.connection();
        let cancel = cancel.child_token();
        tasks.spawn(async move {
            let (read, write) = stream.into_split();
            match server.serve_with_ct((read, write), cancel).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(e) => tracing::info!(error = %e, "MCP socket client left early"),
            }
        });
    })
    .await
}

/// Copy stdin to the owner's MCP socket and its answers to stdout, until the client closes
/// stdin and the owner has answered, or the owner goes away.
pub async fn pipe_stdio(path: &Path) -> std::io::Result<()> {
    let stream = UnixStream::connect(path).await?;
    let (mut from_owner, mut to_owner) = stream.into_split();
    let upstream = async {
        let mut stdin = tokio::io::stdin();
        copy(&mut stdin, &mut to_owner).await?;
        // The client is done: let the owner see end-of-input, so it closes its side.
        to_owner.shutdown().await
    };
    let downstream = async {
        let mut stdout = tokio::io::stdout();
        copy(&mut from_owner, &mut stdout).await?;
        stdout.flush().await
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        r = &mut downstream => r,
        r = &mut upstream => {
            r?;
            downstream.await
        }
    }
}
