//! `aios mcp`: MCP on stdin/stdout. With an owner running on the data dir, stdin and stdout
//! are piped to its `mcp.sock` (one owner per data dir); with none, this process becomes the
//! owner for its lifetime, serving MCP in-process and the sockets for other invocations.

use std::process::ExitCode;

use color_eyre::eyre::{Result, eyre};
use rmcp::ServiceExt;

use crate::config::Config;
use crate::control::LockError;
use crate::mcp::pipe_stdio;
use crate::owner::{Owner, OwnerError, OwnerOptions};
use crate::shutdown::shutdown_signal;

pub async fn run(config: Config) -> Result<ExitCode> {
    let options = OwnerOptions {
        sockets: true,
        ..OwnerOptions::default()
    };
    let owner = match Owner::start(&config, options).await {
        Ok(owner) => owner,
        Err(OwnerError::Lock(LockError::Owned { data_dir, holder })) => {
            let path = crate::mcp::socket_path(&data_dir);
            pipe_stdio(&path).await.map_err(|e| {
                eyre!(
                    "data dir {} is owned by {holder}, but its MCP socket {} does not answer: {e}",
                    data_dir.display(),
                    path.display()
                )
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = serve_stdio(&owner).await;
    owner.shutdown().await;
    outcome
}

/// MCP on stdin/stdout against this process's runtime, until the client leaves or a signal.
async fn serve_stdio(owner: &Owner) -> Result<ExitCode> {
    let server = owner
        .mcp()
        .ok_or_else(|| eyre!("MCP is not served"))?
        .server();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| eyre!("MCP on stdio: {e}"))?;
    tokio::select! {
        quit = running.waiting() => {
            tracing::info!(?quit, "MCP stdio client finished");
        }
        signal = shutdown_signal() => {
            tracing::info!(signal, "stopping MCP on stdio");
        }
    }
    Ok(ExitCode::SUCCESS)
}
