//! `aios context AGENT`: the latest context, one version, the list of versions, or a diff.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use color_eyre::eyre::{Result, bail, eyre};

use crate::config::Config;
use crate::context::{Caller, ContextDiff, ContextVersion, VersionInfo};
use crate::control::Request;
use crate::sanitize::{for_terminal, one_line};

use super::session::Session;

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// The agent id, e.g. support-agent.
    pub agent: String,
    /// Show this version instead of the latest.
    #[arg(long, value_name = "N", conflicts_with_all = ["diff", "versions"])]
    pub version: Option<u64>,
    /// Diff two versions: `A..B`, `A..` (A to the latest), or `N` (N-1 to N).
    #[arg(long, value_name = "A..B", conflicts_with = "versions")]
    pub diff: Option<String>,
    /// List the kept versions.
    #[arg(long)]
    pub versions: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A parsed `--diff` range; `None` for the end means the latest version.
fn parse_range(spec: &str) -> Result<(u64, Option<u64>)> {
    let num = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| eyre!("--diff {spec}: `{s}` is not a version number (use A..B, A.. or N)"))
    };
    match spec.split_once("..") {
        Some((a, "")) => Ok((num(a)?, None)),
        Some((a, b)) => Ok((num(a)?, Some(num(b)?))),
        None => {
            let n = num(spec)?;
            if n == 0 {
                bail!("--diff 0: versions start at 1");
            }
            Ok((n - 1, Some(n)))
        }
    }
}

pub async fn run(config: Config, args: ContextArgs) -> Result<ExitCode> {
    let range = args.diff.as_deref().map(parse_range).transpose()?;
    let caller = Caller::cli();
    let mut session = Session::open(&config, caller.clone()).await?;
    let result = show(&mut session, &caller, &args, range).await;
    session.close().await;
    result
}

async fn show(
    session: &mut Session,
    caller: &Caller,
    args: &ContextArgs,
    range: Option<(u64, Option<u64>)>,
) -> Result<ExitCode> {
    let agent_id = args.agent.clone();
    if args.versions {
        let v = session
            .call(caller, Request::Versions { agent_id }, |_| {})
            .await?;
        let versions: Vec<VersionInfo> = serde_json::from_value(v)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&versions)?);
        } else if versions.is_empty() {
            outln!("{} has no context versions yet", args.agent);
        } else {
            for v in versions {
                outln!(
                    "v{:<5} {}  {:>5} lines  {}  ({})",
                    v.version,
                    v.created_at,
                    v.lines,
                    one_line(&v.summary),
                    one_line(&v.cause.caller)
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((from, to)) = range {
        let to = match to {
            Some(t) => t,
            None => latest(session, caller, &agent_id).await?.version,
        };
        let d = session
            .call(caller, Request::Diff { agent_id, from, to }, |_| {})
            .await?;
        let diff: ContextDiff = serde_json::from_value(d)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&diff)?);
        } else if diff.hunks.is_empty() {
            outln!("v{from} and v{to} of {} are identical", args.agent);
        } else {
            print_unified(&diff.unified);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let found = session
        .call(
            caller,
            Request::Context {
                agent_id: agent_id.clone(),
                version: args.version,
            },
            |_| {},
        )
        .await?;
    let ctx: Option<ContextVersion> = serde_json::from_value(found)?;
    match (ctx, args.json) {
        (Some(c), true) => outln!("{}", serde_json::to_string_pretty(&c)?),
        (None, true) => outln!("null"),
        (Some(c), false) => {
            outln!(
                "{} context v{} ({}) · {} · {}",
                c.agent_id,
                c.version,
                c.context_id,
                c.created_at,
                one_line(&c.summary)
            );
            outln!();
            out!("{}", for_terminal(&c.text));
            if !c.text.ends_with('\n') {
                outln!();
            }
        }
        (None, false) => {
            outln!("{agent_id} has no context yet; `aios dispatch {agent_id} \"…\"` makes one")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn latest(session: &mut Session, caller: &Caller, agent_id: &str) -> Result<ContextVersion> {
    let v = session
        .call(
            caller,
            Request::Context {
                agent_id: agent_id.to_string(),
                version: None,
            },
            |_| {},
        )
        .await?;
    serde_json::from_value::<Option<ContextVersion>>(v)?
        .ok_or_else(|| eyre!("{agent_id} has no context versions yet"))
}

/// Colour the diff when printing to a terminal (and NO_COLOR is unset).
fn print_unified(text: &str) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for line in for_terminal(text).lines() {
        let code = match line.chars().next() {
            _ if !color => None,
            Some('+') if !line.starts_with("+++") => Some("32"),
            Some('-') if !line.starts_with("---") => Some("31"),
            Some('@') => Some("36"),
            _ => None,
        };
        match code {
            Some(c) => outln!("\u{1b}[{c}m{line}\u{1b}[0m"),
            None => outln!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("1..2").unwrap(), (1, Some(2)));
        assert_eq!(parse_range("3..").unwrap(), (3, None));
        assert_eq!(parse_range("5").unwrap(), (4, Some(5)));
        assert!(parse_range("a..2").is_err());
        assert!(parse_range("0").is_err());
    }
}
