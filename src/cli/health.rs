//! `aios health`: does the owner of the data dir (a running `aios serve` or TUI) answer on
//! its control socket? Made for container healthchecks and service monitors: it never takes
//! the data dir itself (so it cannot race the server's start the way `aios agents` would),
//! writes no audit record, and needs no curl in the image. An owner that answers but whose
//! audit writer cannot write (a full disk) is unhealthy: it refuses every call.

use std::process::ExitCode;
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use crate::config::Config;
use crate::context::Caller;
use crate::control::{ControlClient, Request, socket_path};

/// Longest wait for the owner's answer once connected; a healthcheck must not hang.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(config: &Config) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let socket = socket_path(&data_dir);
    let unhealthy = |why: String| {
        eyre!(
            "no aios owner answers on {} (data dir {}): {why}",
            socket.display(),
            data_dir.display()
        )
    };
    let mut client = ControlClient::connect(&socket, Caller::cli())
        .await
        .map_err(|e| unhealthy(e.to_string()))?;
    let info = tokio::time::timeout(ANSWER_TIMEOUT, client.call(Request::Info, |_| {}))
        .await
        .map_err(|_| unhealthy(format!("no answer within {} s", ANSWER_TIMEOUT.as_secs())))?
        .map_err(|e| unhealthy(e.to_string()))?;
    let field = |k: &str| match &info[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "?".to_string(),
        other => other.to_string(),
    };
    if info["audit"]["ok"] == serde_json::Value::Bool(false) {
        return Err(eyre!(
            "unhealthy: node {} answers, but its audit writer cannot write, so every call is \
             refused: {}",
            field("node"),
            info["audit"]["error"].as_str().unwrap_or("no reason given")
        ));
    }
    outln!(
        "ok: node {} answers: {} agents, runner {}, store {}, memory {}",
        field("node"),
        field("agents"),
        field("runner"),
        field("store"),
        field("memory")
    );
    Ok(ExitCode::SUCCESS)
}
