//! `aios watch`: live decoded bus traffic, one line per message, for SSH sessions without
//! the TUI. Rejected messages are marked; `--json` prints each as JSON.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use color_eyre::eyre::{Result, bail, eyre};
use tokio::sync::broadcast::error::RecvError;

use crate::bus::{Bus, Received, RedisBus, RedisBusOptions, pattern_matches};
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
    // The lock, if we get it, is released at once: a watch owns nothing.
    let owner = DataDirLock::try_acquire(&data_dir)?.err();
    match owner {
        Some(holder) => through_owner(&config, &args, &holder).await,
        None => match crate::agent::backends::redis_url(&config, false).await {
            Some(url) => straight_from_redis(&config, &args, &url).await,
            None => bail!(
                "nothing to watch: no aios process owns {} and no Redis answers at {}; \
                 start `aios serve` (or the TUI), or point bus.url at the runtime's Redis",
                data_dir.display(),
                crate::config::url::ShownUrl(&config.bus.url)
            ),
        },
    }
}

/// The owner streams what its bus hears (the in-process bus lives only there).
async fn through_owner(config: &Config, args: &WatchArgs, holder: &str) -> Result<ExitCode> {
    let mut client = ControlClient::connect(&socket_path(&config.data_dir()), Caller::cli())
        .await
        .map_err(|e| eyre!("cannot reach the owner ({holder}): {e}"))?;
    eprintln!(
        "aios watch: {} on the bus of {holder}; Ctrl-C stops",
        args.channel.as_deref().unwrap_or("all seed channels")
    );
    let json = args.json;
    let call = client.call(
        Request::Watch {
            pattern: args.channel.clone(),
        },
        move |item| show(item, json),
    );
    tokio::select! {
        r = call => { r.map_err(|e| eyre!(e))?; }
        _ = crate::shutdown::shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// No owner here, but the runtime's Redis answers: subscribe to it directly.
async fn straight_from_redis(config: &Config, args: &WatchArgs, url: &str) -> Result<ExitCode> {
    let opts = RedisBusOptions {
        node: format!("{}-watch-{}", config.node_name(), std::process::id()),
        ..RedisBusOptions::for_config(config)
    };
    let bus = RedisBus::connect(opts).await?;
    let mut rx = bus.subscribe();
    if let Some(p) = &args.channel {
        bus.add_pattern(p).await?;
    }
    eprintln!(
        "aios watch: {} on redis {url}; Ctrl-C stops",
        args.channel.as_deref().unwrap_or("all seed channels")
    );
    let stop = crate::shutdown::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let heard = tokio::select! {
            _ = &mut stop => break,
            h = rx.recv() => h,
        };
        match heard {
            Ok(m)
                if args
                    .channel
                    .as_deref()
                    .is_none_or(|p| pattern_matches(p, m.channel())) =>
            {
                show(Streamed::Bus(m), args.json)
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => show(Streamed::Lagged(n), args.json),
            Err(RecvError::Closed) => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print one streamed item; a closed stdout (`| head`) ends the watch quietly.
fn show(item: Streamed, json: bool) {
    let line = match item {
        Streamed::Bus(m) if json => serde_json::to_string(&m).unwrap_or_default(),
        Streamed::Bus(m) => line_of(&m),
        Streamed::Lagged(n) => format!("… {n} messages dropped: this terminal fell behind"),
        Streamed::Runtime(_) => return,
    };
    let mut out = std::io::stdout();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
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
            envelope: std::sync::Arc::new(env),
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
