//! `aios watch`: live decoded bus traffic, one line per message, for SSH sessions without
//! the TUI. Rejected messages are marked; `--json` prints each as JSON. Into a pipe or a
//! file nothing is dropped (the reader's pace slows the Redis socket); a terminal that falls
//! behind is told how many messages it missed, in the stream's own format.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use color_eyre::eyre::{Result, bail, eyre};
use tokio::sync::broadcast::error::RecvError;

use crate::bus::tap::{Tap, TapOptions};
use crate::bus::{Bus, Received, RedisBus, RedisBusOptions, pattern_matches};
use crate::config::{Config, RedisUrl};
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
    // A script, a pipe or a file counts what it reads: it gets every message, at the pace
    // it reads them. A terminal cannot keep up with a flood and is told what it missed.
    let lossless = !std::io::stdout().is_terminal();
    // The lock, if we get it, is released at once: a watch owns nothing.
    let owner = DataDirLock::try_acquire(&data_dir)?.holder();
    match owner {
        Some(holder) => {
            if lossless && owner_runs_on_redis(&config).await {
                tap_redis(&config, &args, &config.bus.url).await
            } else {
                through_owner(&config, &args, &holder).await
            }
        }
        None => match crate::agent::backends::redis_url(&config, false).await {
            Some(url) if lossless => tap_redis(&config, &args, &url).await,
            Some(url) => straight_from_redis(&config, &args, &url).await,
            None => bail!(
                "nothing to watch: no aios process owns {} and no Redis answers at {}; \
                 start `aios serve` (or the TUI), or point bus.url at the runtime's Redis",
                data_dir.display(),
                config.bus.url
            ),
        },
    }
}

/// Whether the owner's bus is Redis: then the watch reads Redis itself, where a slow reader
/// can slow the socket, rather than the owner's in-process fan-out, which must not wait for
/// one watcher.
async fn owner_runs_on_redis(config: &Config) -> bool {
    let Ok(mut client) =
        ControlClient::connect(&socket_path(&config.data_dir()), Caller::cli()).await
    else {
        return false;
    };
    let info = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.call(Request::Info, |_| {}),
    )
    .await;
    matches!(info, Ok(Ok(v)) if v["bus"] == "redis")
}

/// Every message, none dropped: a blocking subscription read only as fast as stdout takes
/// the lines. Pub/sub itself is at-most-once, so a lost connection is said on stderr and
/// the tap reopened.
async fn tap_redis(config: &Config, args: &WatchArgs, url: &RedisUrl) -> Result<ExitCode> {
    let opts = TapOptions {
        url: url.clone(),
        prefix: config.bus.prefix.clone(),
        pattern: args.channel.clone(),
        max_message_bytes: config.bus.max_message_bytes as usize,
    };
    eprintln!(
        "aios watch: {} on redis {url}, every message (not a terminal); Ctrl-C stops",
        args.channel.as_deref().unwrap_or("all seed channels")
    );
    let stop = Arc::new(AtomicBool::new(false));
    let json = args.json;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // Not connecting at all is the user's error to see at once; losing the connection later
    // is said and mended.
    let mut tap = Tap::open(opts.clone()).map_err(|e| eyre!(e))?;
    // A thread of its own, not the blocking pool: at Ctrl-C it may be parked in a read, and
    // the process must not wait for it to end.
    std::thread::spawn({
        let stop = stop.clone();
        move || {
            let mut backoff = Duration::from_millis(100);
            loop {
                let result = tap.listen(&stop, |m| {
                    show(Streamed::Bus(m), json, false);
                    ControlFlow::Continue(())
                });
                let Err(e) = result else { break };
                eprintln!(
                    "aios watch: {e}; reconnecting (messages published meanwhile are not \
                     seen: pub/sub keeps nothing for absent subscribers)"
                );
                tap = loop {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    if stop.load(Ordering::Relaxed) {
                        let _ = done_tx.send(Ok(()));
                        return;
                    }
                    if let Ok(t) = Tap::open(opts.clone()) {
                        eprintln!("aios watch: reconnected");
                        backoff = Duration::from_millis(100);
                        break t;
                    }
                };
            }
            let _ = done_tx.send(Ok::<(), crate::bus::BusError>(()));
        }
    });
    tokio::select! {
        r = done_rx => match r {
            Ok(outcome) => outcome.map_err(|e| eyre!(e))?,
            Err(_) => bail!("the watch's reader stopped unexpectedly"),
        },
        _ = crate::shutdown::shutdown_signal() => stop.store(true, Ordering::Relaxed),
    }
    Ok(ExitCode::SUCCESS)
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
        move |item| show(item, json, std::io::stdout().is_terminal()),
    );
    tokio::select! {
        r = call => { r?; }
        _ = crate::shutdown::shutdown_signal() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// No owner here, but the runtime's Redis answers: subscribe to it directly.
async fn straight_from_redis(
    config: &Config,
    args: &WatchArgs,
    url: &RedisUrl,
) -> Result<ExitCode> {
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
                show(Streamed::Bus(m), args.json, true)
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => show(Streamed::Lagged(n), args.json, true),
            Err(RecvError::Closed) => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print one streamed item; a closed stdout (`| head`) ends the watch quietly. A drop is
/// said in the stream's own format, so a JSON reader never meets a plain-text line.
fn show(item: Streamed, json: bool, terminal: bool) {
    let Some(line) = render(item, json, terminal) else {
        return;
    };
    let mut out = std::io::stdout();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// The line one streamed item prints as, if any.
fn render(item: Streamed, json: bool, terminal: bool) -> Option<String> {
    Some(match item {
        Streamed::Bus(m) if json => serde_json::to_string(&m).unwrap_or_default(),
        Streamed::Bus(m) => line_of(&m),
        Streamed::Lagged(n) if json => {
            serde_json::json!({"type": "dropped", "count": n}).to_string()
        }
        Streamed::Lagged(n) => dropped_line(n, terminal),
        Streamed::Runtime(_) => return None,
    })
}

/// `… 1 message dropped: this terminal fell behind`.
fn dropped_line(n: u64, terminal: bool) -> String {
    let what = if n == 1 { "message" } else { "messages" };
    let who = if terminal {
        "this terminal"
    } else {
        "the reader"
    };
    format!("… {n} {what} dropped: {who} fell behind")
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

    #[test]
    fn drops_are_said_in_the_stream_s_own_format_and_in_english() {
        let json = render(Streamed::Lagged(303), true, false).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).expect("a JSON line");
        assert_eq!(v, serde_json::json!({"type": "dropped", "count": 303}));
        assert_eq!(
            render(Streamed::Lagged(1), false, true).unwrap(),
            "… 1 message dropped: this terminal fell behind"
        );
        assert_eq!(
            render(Streamed::Lagged(2), false, false).unwrap(),
            "… 2 messages dropped: the reader fell behind"
        );
    }
}
