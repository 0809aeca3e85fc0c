//! `aios serve`: the runtime headless, owning the data dir and serving the control socket,
//! MCP on `mcp.sock` and Streamable HTTP at `mcp.http_bind`, and Prometheus `/metrics` at
//! `metrics.bind`, until SIGINT or SIGTERM.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::config::Config;
use crate::control::socket_path;
use crate::owner::{Owner, OwnerOptions};
use crate::shutdown::shutdown_signal;

pub async fn run(config: Config) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let options = OwnerOptions {
        sockets: true,
        http: true,
        metrics: true,
        verify_audit: true,
        watch_only: false,
    };
    let mut owner = Owner::start(&config, options).await?;
    if let Some(m) = owner.metrics() {
        outln!("metrics listening on {}", m.url);
    }
    if let Some(chain) = owner.chain_at_start() {
        // The log is evidence, not a reason to stop: serving goes on.
        eprintln!(
            "aios serve: warning: {}",
            crate::sanitize::one_line(&chain.warning)
        );
    }
    let mcp = owner.mcp();
    if let Some(url) = mcp.and_then(|m| m.http_url()) {
        // One stdout line, so scripts and tests find a server bound to port 0.
        outln!("mcp http listening on {url}");
    }
    match mcp.and_then(|m| m.http_access()) {
        Some(crate::mcp::Access::TokenFile(path)) => eprintln!(
            "aios serve: MCP HTTP requires `Authorization: Bearer <token>`; the token is in {}",
            path.display()
        ),
        Some(crate::mcp::Access::Open) => eprintln!(
            "aios serve: MCP HTTP without authentication (mcp.loopback_without_auth): any local user can call every tool"
        ),
        _ => {}
    }
    let info = owner.runtime().info();
    eprintln!(
        "aios serve: node {}, {} agents, runner {}, store {}, memory {}; control socket {}; logs in {}",
        info.node,
        info.agents,
        info.runner,
        info.store,
        info.memory,
        socket_path(&data_dir).display(),
        crate::telemetry::log_dir(&data_dir).display()
    );
    let stopped_by = tokio::select! {
        s = shutdown_signal() => s,
        e = owner.control_failed() => {
            // The socket failed (e.g. a path too long): nothing can reach us, so stop.
            owner.shutdown().await;
            return Err(e.into());
        }
    };
    eprintln!("aios serve: {stopped_by}, shutting down");
    tracing::info!(signal = stopped_by, "shutting down");
    owner.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
