//! `aios replay`: open the control center on a recording, check one, or compare two chains.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use color_eyre::eyre::{Result, eyre};

use crate::config::Config;
use crate::recorder::{Range, RecorderOptions};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  aios replay                         the data dir's recording\n  \
    aios replay --since 1h --play       the last hour, playing\n  \
    aios replay ./node-recording --since 2026-12-01T09:00:00Z --until 2026-12-01T10:00:00Z\n  \
    aios replay --check                 verify the recording's hash chain\n  \
    aios replay --diff INTENT-A INTENT-B  two causal chains side by side\n\n\
    Keys: space play/pause · + - speed · . , one event on/back · < > 10 s · :goto TIME · :seq N · w why?"
)]
pub struct ReplayArgs {
    /// A recording dir, one recording file, or a data dir (default: this data dir's).
    pub path: Option<PathBuf>,
    /// Start here: RFC 3339, a UTC date-time, or an age such as 30m, 1h.
    #[arg(long, value_name = "TIME", value_parser = super::audit::parse_time_arg)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// End here.
    #[arg(long, value_name = "TIME", value_parser = super::audit::parse_time_arg)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Replay speed: 0.5 to 100.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Start playing at once (else paused at the start).
    #[arg(long)]
    pub play: bool,
    /// Only verify the recording's hash chain (exit 1 when it is broken).
    #[arg(long, conflicts_with_all = ["diff", "play"])]
    pub check: bool,
    /// Compare two causal chains (intent ids or FROM..TO time ranges) instead.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub diff: Option<Vec<String>>,
    /// With --diff or --check: print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where the recording of `given` (or of the configured data dir) is.
pub fn recording_path(config: &Config, given: Option<&Path>) -> PathBuf {
    match given {
        Some(p) if p.join("recording").is_dir() => p.join("recording"),
        Some(p) => p.to_path_buf(),
        None => RecorderOptions::from_config(config).dir,
    }
}

pub async fn run(config: Config, args: ReplayArgs) -> Result<ExitCode> {
    let path = recording_path(&config, args.path.as_deref());
    if !(0.5..=100.0).contains(&args.speed) {
        return Err(eyre!(
            "--speed must be between 0.5 and 100, not {}",
            args.speed
        ));
    }
    if args.check {
        return check(&path, args.json);
    }
    if let Some(pair) = &args.diff {
        // Without a path, `aios why`'s default: the recording, else the audit log.
        let path = match &args.path {
            Some(_) => path,
            None => super::why::default_path(&config),
        };
        return Ok(super::why::diff_command(
            &path, &pair[0], &pair[1], args.json,
        ));
    }
    let range = Range {
        since: args.since,
        until: args.until,
    };
    let opts = crate::tui::replay_loop::ReplayArgs {
        range,
        speed: args.speed,
        play: args.play,
    };
    crate::tui::replay_loop::run(config, &path, opts).await
}

/// `--check`: the chain verified, or the first entry that breaks it.
fn check(path: &Path, json: bool) -> Result<ExitCode> {
    let c = crate::recorder::verify(path)
        .map_err(|e| eyre!("reading the recording at {}: {e}", path.display()))?;
    if json {
        let out = serde_json::json!({
            "entries": c.entries,
            "files": c.files,
            "first_seq": c.first_seq,
            "ok": c.first_bad.is_none(),
            "first_bad": c.first_bad.as_ref().map(ToString::to_string),
            "torn": c.torn.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        });
        outln!("{out}");
    } else {
        match &c.first_bad {
            None => outln!(
                "recording OK: {} entries in {} files{}",
                c.entries,
                c.files,
                c.first_seq
                    .filter(|s| *s > 0)
                    .map(|s| format!(" (starts at seq {s}: older files were pruned)"))
                    .unwrap_or_default()
            ),
            Some(b) => outln!("recording BROKEN at {b}"),
        }
        for t in &c.torn {
            outln!(
                "note: {} ends in a torn line (a crash mid-write; the chain goes on in the next file)",
                t.display()
            );
        }
    }
    Ok(if c.first_bad.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
