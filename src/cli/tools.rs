//! `aios tools [AGENT]`: the tools each agent can call, where each comes from, and the
//! listed names that give an agent nothing.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::config::Config;
use crate::control::{AgentTools, Request};
use crate::sanitize::one_line;

use super::session::Session;

pub async fn run(config: Config, agent: Option<String>, json: bool) -> Result<ExitCode> {
    let rows: Vec<AgentTools> = serde_json::from_value(
        Session::request(&config, Request::Tools { agent_id: agent }).await?,
    )?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        out!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[AgentTools]) -> String {
    let mut out = String::new();
    for agent in rows {
        out.push_str(&format!("{}\n", one_line(&agent.agent_id)));
        for t in &agent.tools {
            out.push_str(&format!(
                "  {:<28} {:<8} {:<24} {}\n",
                one_line(&t.name),
                t.origin,
                one_line(&t.source),
                one_line(&t.description)
            ));
        }
        if !agent.unmapped.is_empty() {
            out.push_str(&format!(
                "  listed, maps to no tool: {}\n",
                one_line(&agent.unmapped.join(", "))
            ));
        }
    }
    out
}

/// `aios tools --servers`: each outside MCP server's state.
pub async fn servers(config: Config, json: bool) -> Result<ExitCode> {
    let rows: Vec<crate::mcp_client::ServerStatus> =
        serde_json::from_value(Session::request(&config, Request::McpServers).await?)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no MCP server is configured ([mcp_servers.<name>])");
    }
    for s in &rows {
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        outln!(
            "{:<20} {:<6} {:<11} {:>3} tools  {} restarts{}",
            one_line(&s.name),
            s.transport,
            state,
            s.tools,
            s.restarts,
            s.last_error
                .as_deref()
                .map(|e| format!("  last error: {}", one_line(e)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
