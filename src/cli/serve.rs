//! `aios serve`: the runtime headless, owning the data dir and serving the control socket,
//! MCP on `mcp.sock` and Streamable HTTP at `mcp.http_bind`, and Prometheus `/metrics` at
//! `metrics.bind`, until SIGINT or SIGTERM.

use std::process::ExitCode;

use color_eyre::eyre::{Result, bail};
use tokio_util::sync::CancellationToken;

use crate::agent::{Runtime, RuntimeOptions};
use crate::config::Config;
use crate::control::{DataDirLock, serve, socket_path};
use crate::shutdown::shutdown_signal;

pub async fn run(config: Config) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let _lock = match DataDirLock::try_acquire(&data_dir)? {
        Ok(lock) => lock,
        Err(holder) => bail!(
            "data dir {} is already owned by {holder}; stop that process or pass another --data-dir",
            data_dir.display()
        ),
    };
    // Before the runtime, so the handles its bus registers are live ones; stops on drop.
    let metrics = crate::metrics::start(&config.metrics).await?;
    if let Some(m) = &metrics {
        println!("metrics listening on {}", m.url);
    }
    warn_of_a_broken_chain(&config).await;
    let runtime = Runtime::start(RuntimeOptions::new(config.clone())).await?;
    let socket = socket_path(&data_dir);
    let stop_server = CancellationToken::new();
    let server = tokio::spawn({
        let rt = runtime.clone();
        let socket = socket.clone();
        let stop = stop_server.clone();
        async move { serve(rt, &socket, stop).await }
    });
    let mcp = match crate::mcp::OwnerServers::start(&runtime, &config, true).await {
        Ok(m) => m,
        Err(e) => {
            stop_server.cancel();
            runtime.shutdown().await;
            return Err(e.into());
        }
    };
    if let Some(url) = mcp.http_url() {
        // One stdout line, so scripts and tests find a server bound to port 0.
        println!("mcp http listening on {url}");
    }
    match mcp.http_access() {
        Some(crate::mcp::Access::TokenFile(path)) => eprintln!(
            "aios serve: MCP HTTP requires `Authorization: Bearer <token>`; the token is in {}",
            path.display()
        ),
        Some(crate::mcp::Access::Open) => eprintln!(
            "aios serve: MCP HTTP without authentication (mcp.loopback_without_auth): any local user can call every tool"
        ),
        _ => {}
    }
    let info = runtime.info();
    eprintln!(
        "aios serve: node {}, {} agents, runner {}, store {}, memory {}; control socket {}; logs in {}",
        info.node,
        info.agents,
        info.runner,
        info.store,
        info.memory,
        socket.display(),
        crate::telemetry::log_dir(&data_dir).display()
    );
    let stopped_by = tokio::select! {
        s = shutdown_signal() => s,
        r = server => {
            // The socket failed (e.g. a path too long): nothing can reach us, so stop.
            mcp.stop().await;
            runtime.shutdown().await;
            return match r {
                Ok(Ok(())) => Ok(ExitCode::SUCCESS),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            };
        }
    };
    eprintln!("aios serve: {stopped_by}, shutting down");
    tracing::info!(signal = stopped_by, "shutting down");
    stop_server.cancel();
    mcp.stop().await;
    runtime.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Verify the audit chain before the runtime writes to it (its first write would replace a
/// missing `HEAD`, hiding that it was gone) and warn, in the log and on stderr, when it
/// does not verify. Serving goes on: the log is evidence, not a reason to stop.
async fn warn_of_a_broken_chain(config: &Config) {
    let dir = config.audit_dir();
    let warning = tokio::task::spawn_blocking(move || crate::audit::chain_warning(&dir))
        .await
        .unwrap_or_else(|e| Some(format!("the audit log could not be verified: {e}")));
    if let Some(warning) = warning {
        tracing::warn!(warning = %warning, "starting on an audit log that does not verify");
        eprintln!(
            "aios serve: warning: {}",
            crate::sanitize::one_line(&warning)
        );
    }
}
