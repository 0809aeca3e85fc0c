//! `aios agents`: every agent, grouped by category, with its live status.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::agent::Category;
use crate::config::Config;
use crate::control::{AgentRow, Request};
use crate::sanitize::one_line;

use super::session::Session;

pub async fn run(config: Config, json: bool) -> Result<ExitCode> {
    let rows: Vec<AgentRow> =
        serde_json::from_value(Session::request(&config, Request::Agents).await?)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        out!("{}", table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(rows: &[AgentRow]) -> String {
    let mut out = String::new();
    for cat in Category::ALL {
        let group: Vec<&AgentRow> = rows.iter().filter(|r| r.spec.category == cat).collect();
        if group.is_empty() {
            continue;
        }
        out.push_str(&format!("{} ({})\n", cat.title(), group.len()));
        for r in group {
            out.push_str(&format!(
                "  {:<20} {:<16} {:<12} {}\n",
                one_line(&r.spec.id),
                one_line(&r.spec.name),
                r.status.as_str(),
                one_line(&r.spec.role)
            ));
        }
    }
    out.push_str(&format!("{} agents\n", rows.len()));
    out
}
