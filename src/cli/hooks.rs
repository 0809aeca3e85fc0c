//! `aios hooks [AGENT] [--json]` and `aios hooks retry ID`: each hook with its latest
//! deliveries and next fire time, and a dead delivery sent again (through the owner).

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::config::Config;
use crate::control::Request;
use crate::hooks::{DeliveryRow, HookRow};
use crate::sanitize::one_line;

use super::session::Session;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HooksArgs {
    #[command(subcommand)]
    pub cmd: Option<HooksCmd>,
    /// Only this agent's hooks.
    pub agent: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum HooksCmd {
    /// Send a dead-lettered delivery again (its id is in `aios hooks`).
    Retry {
        /// The delivery's id.
        id: String,
    },
}

pub async fn run(config: Config, args: HooksArgs) -> Result<ExitCode> {
    match args.cmd {
        Some(HooksCmd::Retry { id }) => retry(config, id).await,
        None => list(config, args.agent, args.json).await,
    }
}

async fn list(config: Config, agent: Option<String>, json: bool) -> Result<ExitCode> {
    let rows: Vec<HookRow> = serde_json::from_value(
        Session::request(&config, Request::Hooks { agent_id: agent }).await?,
    )?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!(
            "no protocol hooks; add one with the MCP tool add_protocol_hook or in config ([agents.<id>] protocol_hooks)"
        );
    }
    for h in &rows {
        outln!(
            "{}  {}  on {}  → {}  ({})",
            one_line(&h.agent_id),
            one_line(&h.name),
            one_line(&h.on),
            one_line(&h.action),
            h.source
        );
        if let Some(p) = &h.problem {
            outln!("    cannot fire: {}", one_line(p));
        }
        if let Some(t) = &h.next_fire {
            outln!("    next fire {t}");
        }
        if h.deliveries.is_empty() {
            outln!("    no deliveries yet");
        }
        for d in h.deliveries.iter().take(5) {
            outln!("    {}", delivery_line(d));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One delivery on one line: state, attempts, status, latency, error.
pub fn delivery_line(d: &DeliveryRow) -> String {
    let mut line = format!(
        "{}  {:<9} {} attempt{}",
        one_line(&d.id),
        d.state,
        d.attempts,
        if d.attempts == 1 { "" } else { "s" }
    );
    if let Some(s) = d.status {
        line.push_str(&format!("  HTTP {s}"));
    }
    if let Some(ms) = d.latency_ms {
        line.push_str(&format!("  {ms} ms"));
    }
    line.push_str(&format!(
        "  {} {}",
        one_line(&d.event),
        one_line(&d.created)
    ));
    if let Some(t) = &d.next_attempt {
        line.push_str(&format!("  next {}", one_line(t)));
    }
    if let Some(e) = &d.error {
        line.push_str(&format!("  — {}", one_line(e)));
    }
    line
}

async fn retry(config: Config, id: String) -> Result<ExitCode> {
    let d: DeliveryRow =
        serde_json::from_value(Session::request(&config, Request::HookRetry { id }).await?)?;
    outln!(
        "sending again: {} of {} ({})",
        one_line(&d.hook),
        one_line(&d.agent_id),
        one_line(&d.id)
    );
    Ok(ExitCode::SUCCESS)
}
