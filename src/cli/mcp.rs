//! `aios mcp`: MCP on stdin/stdout. With an owner running on the data dir, stdin and stdout
//! are piped to its `mcp.sock` (one owner per data dir); with none, this process becomes the
//! owner for its lifetime, serving MCP in-process and the sockets for other invocations.

use std::process::ExitCode;

use color_eyre::eyre::{Result, eyre};
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::agent::{Runtime, RuntimeOptions};
use crate::config::Config;
use crate::control::{DataDirLock, serve, socket_path};
use crate::mcp::{OwnerServers, pipe_stdio};
use crate::shutdown::shutdown_signal;

pub async fn run(config: Config) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let lock = match DataDirLock::try_acquire(&data_dir)? {
        Ok(lock) => lock,
        Err(holder) => {
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
    };
    let runtime = Runtime::start(RuntimeOptions::new(config.clone())).await?;
    let result = serve_owned(&runtime, &config).await;
    runtime.shutdown().await;
    drop(lock);
    result
}

async fn serve_owned(runtime: &Runtime, config: &Config) -> Result<ExitCode> {
    let servers = OwnerServers::start(runtime, config, false).await?;
    let stop_control = CancellationToken::new();
    let control = tokio::spawn({
        let rt = runtime.clone();
        let socket = socket_path(&config.data_dir());
        let stop = stop_control.clone();
        async move { serve(rt, &socket, stop).await }
    });
    let outcome = async {
        let running = servers
            .server()
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
        Ok::<_, color_eyre::Report>(ExitCode::SUCCESS)
    }
    .await;
    stop_control.cancel();
    let _ = control.await;
    servers.stop().await;
    outcome
}
