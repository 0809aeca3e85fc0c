//! `aios watch`: live decoded bus traffic, one line per message, for SSH sessions without
//! the TUI. Rejected messages are marked; `--json` prints each as JSON.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use color_eyre::eyre::{Result, bail};

use crate::bus::Received;
use crate::config::Config;
use crate::context::Caller;
use crate::control::{ControlClient, DataDirLock, Request, Streamed, socket_path};
use crate::sanitize::one_line;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only channels matching this glob (`*`, `?`, `[…]`); also subscribes to it, so an
    /// operator's own channels (e.g. `ops.*`) can be watched.
    #[arg(long, value_name = "PATTERN")]
    pub channel: Option<String>,
    /// One JSON object per message instead of a summary line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Config, args: WatchArgs) -> Result<ExitCode> {
    let data_dir = config.data_dir();
    let holder = match DataDirLock::try_acquire(&data_dir)? {
        Err(holder) => holder,
        Ok(_lock) => bail!(
            "nothing to watch: no aios process owns {} and the bus is in-process; \
             start `aios serve` (or the TUI) on it first",
            data_dir.display()
        ),
    };
    let mut client = ControlClient::connect(&socket_path(&data_dir), Caller::cli())
        .await
        .map_err(|e| color_eyre::eyre::eyre!("cannot reach the owner ({holder}): {e}"))?;
    eprintln!(
        "aios watch: {} on the bus of {holder}; Ctrl-C stops",
        args.channel.as_deref().unwrap_or("all seed channels")
    );
    let pattern = args.channel.clone();
    let json = args.json;
    let mut out = std::io::stdout();
    let call = client.call(Request::Watch { pattern }, move |item| {
        let line = match item {
            Streamed::Bus(m) if json => serde_json::to_string(&m).unwrap_or_default(),
            Streamed::Bus(m) => line_of(&m),
            Streamed::Lagged(n) => format!("… {n} messages dropped: this terminal fell behind"),
            Streamed::Runtime(_) => return,
        };
        // A closed stdout (`| head`) ends the watch quietly.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    });
    tokio::select! {
        r = call => { r.map_err(|e| color_eyre::eyre::eyre!(e))?; }
        _ = crate::shutdown::shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `12:00:00.123  agent.action.intents  intent  support-agent  Customer 42 cannot log in`
pub fn line_of(m: &Received) -> String {
    match m {
        Received::Message { channel, envelope } => format!(
            "{}  {:<22} {:<9} {:<18} {}",
            time_of(&envelope.ts),
            one_line(channel),
            one_line(&envelope.kind),
            one_line(envelope.agent_id.as_deref().unwrap_or("-")),
            envelope.summary()
        ),
        Received::Rejected(r) => format!(
            "{}  {:<22} REJECTED  {}: {}",
            time_of(&r.ts),
            one_line(&r.channel),
            r.reason,
            r.preview
        ),
    }
}

/// `2026-11-24T12:00:00.123Z` → `12:00:00.123`.
fn time_of(ts: &str) -> String {
    one_line(
        ts.split_once('T')
            .map_or(ts, |(_, t)| t.trim_end_matches('Z')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Envelope, RejectedMessage, Rejection, Source};

    #[test]
    fn lines_are_readable_and_rejections_marked() {
        let env = Envelope {
            ts: "2026-11-24T12:00:00.123Z".into(),
            ..Envelope::new(
                "intent",
                Source {
                    node: "n".into(),
                    agent_id: None,
                    operator: None,
                },
                Some("support-agent"),
                serde_json::json!({"text": "Customer 42\u{1b}[2J cannot log in"}),
            )
        };
        let line = line_of(&Received::Message {
            channel: "agent.action.intents".into(),
            envelope: env,
        });
        assert!(
            line.starts_with("12:00:00.123  agent.action.intents"),
            "{line}"
        );
        assert!(
            line.ends_with("support-agent      Customer 42 cannot log in"),
            "{line}"
        );
        let rejected = Received::Rejected(RejectedMessage {
            channel: "agent.broadcast.memory".into(),
            ts: "2026-11-24T12:00:01.000Z".into(),
            reason: Rejection::NotJson {
                message: "expected value".into(),
            },
            preview: "garbage".into(),
        });
        let line = line_of(&rejected);
        assert!(
            line.contains("REJECTED") && line.contains("not JSON") && line.ends_with("garbage"),
            "{line}"
        );
    }
}
