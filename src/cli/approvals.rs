//! `aios approvals`, `aios approve ID`, `aios deny ID --reason …`: the tool calls waiting
//! for a person, decided from a shell (through the owner of the data dir).

use std::process::ExitCode;

use color_eyre::eyre::{Result, eyre};

use crate::approvals::{DecisionInput, PendingApproval};
use crate::config::Config;
use crate::control::Request;
use crate::sanitize::{for_terminal, one_line};

use super::session::Session;

pub async fn list(config: Config, json: bool) -> Result<ExitCode> {
    let pending: Vec<PendingApproval> =
        serde_json::from_value(Session::request(&config, Request::Approvals).await?)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&pending)?);
        return Ok(ExitCode::SUCCESS);
    }
    if pending.is_empty() {
        outln!("no tool call is waiting for approval");
    }
    for p in &pending {
        outln!(
            "{}  {}  {} ({})  asked {}  intent {}",
            one_line(&p.id),
            one_line(&p.agent_id),
            one_line(&p.tool),
            p.origin,
            one_line(&p.asked_at),
            one_line(&p.intent_id)
        );
        for line in for_terminal(&p.preview).lines() {
            outln!("    {line}");
        }
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(config: &Config, id: String, decision: DecisionInput) -> Result<ExitCode> {
    let approved = decision.approve;
    let p: PendingApproval =
        serde_json::from_value(Session::request(config, Request::Decide { id, decision }).await?)?;
    outln!(
        "{} {} for {} ({})",
        if approved { "approved" } else { "denied" },
        one_line(&p.tool),
        one_line(&p.agent_id),
        one_line(&p.id)
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn approve(
    config: Config,
    id: String,
    args: Option<&str>,
    always: bool,
) -> Result<ExitCode> {
    let arguments = match args {
        Some(text) => {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| eyre!("--args is not JSON: {e}"))?;
            if !v.is_object() {
                return Err(eyre!(
                    "--args must be a JSON object, e.g. '{{\"env\": \"staging\"}}'"
                ));
            }
            Some(v)
        }
        None => None,
    };
    decide(
        &config,
        id,
        DecisionInput {
            approve: true,
            reason: None,
            arguments,
            always,
        },
    )
    .await
}

pub async fn deny(config: Config, id: String, reason: String) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        return Err(eyre!("--reason must say why (the agent's model reads it)"));
    }
    decide(
        &config,
        id,
        DecisionInput {
            approve: false,
            reason: Some(reason),
            arguments: None,
            always: false,
        },
    )
    .await
}
