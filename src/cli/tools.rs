//! `aios tools [AGENT]`: the tools each agent can call, where each comes from, and the
//! listed names that give an agent nothing.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::config::Config;
use crate::context::Caller;
use crate::control::{AgentTools, Request};
use crate::sanitize::one_line;

use super::session::Session;

pub async fn run(config: Config, agent: Option<String>, json: bool) -> Result<ExitCode> {
    let caller = Caller::cli();
    let mut session = Session::open(&config, caller.clone()).await?;
    let result = session
        .call(&caller, Request::Tools { agent_id: agent }, |_| {})
        .await;
    session.close().await;
    let rows: Vec<AgentTools> = serde_json::from_value(result?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
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
