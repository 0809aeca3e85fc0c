//! `aios dispatch AGENT TEXT`: send an intent, stream the reply to stdout.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::agent::IntentReply;
use crate::config::Config;
use crate::context::Caller;
use crate::control::{Request, Streamed};
use crate::event::RuntimeEvent;
use crate::sanitize::for_terminal;

use super::session::Session;

#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// The agent id, e.g. support-agent (`aios agents` lists them).
    pub agent: String,
    /// What the agent should do; `-` reads it from stdin.
    pub text: String,
    /// Print the intent id and return without waiting for the reply (when another aios
    /// process owns the data dir; otherwise this process handles the intent before it exits).
    #[arg(long)]
    pub no_wait: bool,
    /// Print the outcome as JSON instead of streaming text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Config, args: DispatchArgs) -> Result<ExitCode> {
    let text = if args.text == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        args.text.clone()
    };
    let caller = Caller::cli();
    let mut session = Session::open(&config, caller.clone()).await?;
    // Without an owner nobody would handle a queued intent once we exit: wait anyway.
    let wait = !args.no_wait || !session.is_remote();
    let stream = wait && !args.json && !args.no_wait;
    let mut stdout = std::io::stdout();
    let mut streamed = false;
    let result = session
        .call(
            &caller,
            Request::Dispatch {
                agent_id: args.agent.clone(),
                text,
                wait,
            },
            |ev| {
                if let (
                    true,
                    Streamed::Runtime(RuntimeEvent::Token {
                        text,
                        thinking: false,
                        ..
                    }),
                ) = (stream, &ev)
                {
                    let _ = write!(stdout, "{}", for_terminal(text));
                    let _ = stdout.flush();
                    streamed = true;
                }
            },
        )
        .await;
    session.close().await;
    let value = result?;

    if args.no_wait {
        let intent_id = value
            .get("intent_id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| eyre!("the owner did not return an intent id"))?;
        if args.json {
            outln!("{}", serde_json::to_string(&value)?);
        } else {
            outln!("{intent_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let reply: IntentReply = serde_json::from_value(value)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reply)?);
    } else {
        // Handled on another node: no tokens came here, only the whole reply.
        if !streamed {
            out!("{}", for_terminal(&reply.reply));
        }
        outln!();
        let note = format!(
            "— {} · {} · {} tokens{} · context v{} ({})",
            reply.agent_id,
            reply.model,
            reply.usage.completion_tokens,
            if reply.usage.counted_by.is_runner() {
                ""
            } else {
                " (counted by aios: the runner reported none)"
            },
            reply.context_version,
            reply.context_id
        );
        if std::io::stderr().is_terminal() {
            eprintln!("\u{1b}[2m{note}\u{1b}[0m");
        } else {
            eprintln!("{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
