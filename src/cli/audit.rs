//! `aios audit`: show, follow, verify and export the audit log by reading its files directly.
//!
//! Nothing here takes the data dir's lock: the writer only appends whole lines and
//! creates new files, so these commands work while another process owns the data dir.

use crate::context::Caller;
use crate::control::{Acquired, ControlClient, DataDirLock, Request, socket_path};
use crate::sanitize::{ellipsize, one_line};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::audit::signing::{check_checkpoints, keygen, public_path, read_public};
use crate::audit::{
    AuditRecord, Follower, LineRead, Outcome, SegmentReader, compare_with_mirror, fetch_mirror,
    list_segments, mirror_key, verify_dir,
};
use crate::config::{BusBackend, Config, RedisUrl};

/// How often `tail -f` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Longest input shown on a human-readable line.
const INPUT_WIDTH: usize = 60;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Print the newest audit records, optionally following new ones as they are written.
    Tail {
        /// Keep printing new records as they are written (across file rotation) until Ctrl-C.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only records of this agent, e.g. ops-agent.
        #[arg(long, value_name = "ID")]
        agent: Option<String>,
        /// Only records of this action (MCP tool or operation), e.g. update_context.
        #[arg(long, value_name = "A")]
        action: Option<String>,
        /// How many of the newest matching records to print first.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
        lines: usize,
        /// Print each record as its raw JSONL line instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain across all audit files; exit non-zero naming the first bad record.
    ///
    /// Catches edited records (hash mismatch), deleted or reordered ones (broken link or
    /// seq gap, also across files) and records cut off the end (checked against the HEAD
    /// file). A torn last line left by a crash is a warning, not a failure.
    ///
    /// With Redis configured (bus.backend = redis, or auto finding one) and its mirror
    /// stream `{prefix}aios:audit` present, the files are also compared with the mirror
    /// record by record, which catches files rewritten with a recomputed chain.
    ///
    /// With `--key` (the public key of `audit.signing_key`, a `.pub` file or 64 hex
    /// digits), every signed checkpoint must verify and name the hash the log has at its
    /// seq: a rewrite with recomputed hashes fails here, as does a log whose checkpoints
    /// were removed. Records after the last checkpoint are reported as unsigned.
    Verify {
        /// Require the comparison with the Redis mirror: fail when Redis or the mirror
        /// stream cannot be read.
        #[arg(long)]
        against_mirror: bool,
        /// Check the signed checkpoints with this public key (file or hex).
        #[arg(long, value_name = "PUB")]
        key: Option<String>,
    },
    /// Make an Ed25519 key pair for signed checkpoints: the private key at PATH (0600;
    /// set `audit.signing_key` to it), the public key at PATH.pub (give it to whoever
    /// verifies). Never overwrites.
    Keygen {
        /// Where the private key goes.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Print audit records as JSONL on stdout, as written.
    Export {
        /// Earliest record time: RFC 3339 (2026-11-24T12:00:00Z), a UTC date or date-time
        /// (2026-11-24, 2026-11-24T12:00), or an age such as 30m, 1h, 2d, 1w, 1h30m.
        /// Default: from the first record.
        #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
        since: Option<DateTime<Utc>>,
        /// Only records before this time (same forms as --since).
        #[arg(long, value_name = "TIME", value_parser = parse_time_arg)]
        until: Option<DateTime<Utc>>,
    },
}

/// Run `aios audit …`.
pub async fn run(config: &Config, cmd: AuditCommand) -> Result<()> {
    let dir = config.audit_dir();
    flush_running_owner(config).await;
    match cmd {
        AuditCommand::Tail {
            follow,
            agent,
            action,
            lines,
            json,
        } => {
            let filter = Filter { agent, action };
            tail(&dir, &filter, lines, json, follow).await
        }
        AuditCommand::Verify {
            against_mirror,
            key,
        } => {
            let mirror = MirrorUse::of(config, against_mirror);
            let key = key.as_deref().map(read_public).transpose()?;
            verify(&dir, mirror).await?;
            match key {
                Some(key) => verify_signatures(&dir, key).await,
                None => Ok(()),
            }
        }
        AuditCommand::Keygen { out } => {
            let public = keygen(&out)?;
            outln!(
                "private key: {} (set audit.signing_key to it)",
                out.display()
            );
            outln!("public key:  {} ({public})", public_path(&out).display());
            Ok(())
        }
        AuditCommand::Export { since, until } => export(&dir, since, until).await,
    }
}

/// A running owner batches audit writes for up to `audit.flush_ms`; ask it to write what it
/// holds so the files are current. With no owner, the files are already complete.
async fn flush_running_owner(config: &Config) {
    let data_dir = config.data_dir();
    let Ok(Acquired::HeldBy(holder)) = DataDirLock::try_acquire(&data_dir) else {
        return;
    };
    let flushed = async {
        let mut client = ControlClient::connect(&socket_path(&data_dir), Caller::cli()).await?;
        client
            .call(Request::FlushAudit, |_| {})
            .await
            .map_err(std::io::Error::other)
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), flushed)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("no answer within 5 s")))
    {
        eprintln!(
            "aios: warning: could not ask the owner ({holder}) to flush its audit log: {e}; the newest records may be missing"
        );
    }
}

/// Every signed checkpoint checked with `key`, after the chain itself verified.
async fn verify_signatures(dir: &Path, key: ed25519_dalek::VerifyingKey) -> Result<()> {
    let dir = dir.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        crate::audit::read_dir(&dir).map(|read| check_checkpoints(&read.records, &key))
    })
    .await
    .wrap_err("reading the audit log")??;
    if let Some(failure) = report.failure {
        return Err(eyre!("audit signatures: {failure}"));
    }
    let covered = report.covered_to.map_or("nothing".to_string(), |s| {
        format!("every record to seq {s}")
    });
    outln!(
        "audit signatures OK: {} checkpoint{} cover {covered}",
        report.checkpoints,
        if report.checkpoints == 1 { "" } else { "s" }
    );
    if report.unsigned_tail > 0 {
        eprintln!(
            "warning: the last {} record{} come after the last checkpoint and are not covered \
             by a signature yet",
            report.unsigned_tail,
            if report.unsigned_tail == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Which records `tail` shows.
#[derive(Debug, Default)]
struct Filter {
    agent: Option<String>,
    action: Option<String>,
}

impl Filter {
    fn matches(&self, record: &AuditRecord) -> bool {
        self.agent
            .as_deref()
            .is_none_or(|a| record.agent_id.as_deref() == Some(a))
            && self.action.as_deref().is_none_or(|a| record.action == a)
    }
}

/// A matching record, kept with its line as written.
struct Shown {
    raw: String,
    record: AuditRecord,
}

/// What `tail` found in the files before following.
struct Backlog {
    shown: Vec<Shown>,
    warnings: Vec<String>,
    /// Where following resumes: the newest file, positioned after its last full line.
    resume: Option<(u64, SegmentReader)>,
    files: usize,
}

async fn tail(dir: &Path, filter: &Filter, count: usize, json: bool, follow: bool) -> Result<()> {
    let backlog = {
        let dir = dir.to_path_buf();
        let filter = Filter {
            agent: filter.agent.clone(),
            action: filter.action.clone(),
        };
        tokio::task::spawn_blocking(move || read_backlog(&dir, &filter, count, follow))
            .await
            .wrap_err("reading the audit log")??
    };
    for w in &backlog.warnings {
        eprintln!("warning: {w}");
    }
    if backlog.files == 0 && !follow {
        eprintln!("no audit records in {}", dir.display());
    }
    let mut out = io::stdout().lock();
    if !print_all(&mut out, &backlog.shown, json)? || !follow {
        return Ok(());
    }
    drop(out);

    let mut follower = match backlog.resume {
        Some((number, reader)) => Follower::resume(dir, number, reader),
        None => Follower::from_start(dir),
    };
    let mut ticker = tokio::time::interval(FOLLOW_POLL);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = ticker.tick() => {}
        }
        let mut shown = Vec::new();
        for item in follower.poll()? {
            match item {
                LineRead::Record { raw, record, .. } if filter.matches(&record) => {
                    shown.push(Shown { raw, record });
                }
                LineRead::Record { .. } => {}
                LineRead::Problem(p) => eprintln!("warning: {p}"),
            }
        }
        if !print_all(&mut io::stdout().lock(), &shown, json)? {
            return Ok(());
        }
    }
}

/// The newest `count` matching records, reading files newest first and stopping as soon
/// as enough are found, so a long log costs only its last files.
fn read_backlog(dir: &Path, filter: &Filter, count: usize, follow: bool) -> Result<Backlog> {
    let segments = list_segments(dir)?;
    let mut per_file: VecDeque<(Vec<Shown>, Vec<String>)> = VecDeque::new();
    let mut found = 0;
    let mut resume = None;
    for (i, segment) in segments.iter().enumerate().rev() {
        let newest = i + 1 == segments.len();
        if !newest && found >= count {
            break;
        }
        let mut reader = SegmentReader::open(&segment.path)?;
        let mut shown = VecDeque::new();
        let mut warnings = Vec::new();
        // The newest file may still be growing: when following, an incomplete last line
        // is left for the follower instead of being called torn.
        let finished = !(newest && follow);
        while let Some(item) = reader.next_line(finished)? {
            match item {
                LineRead::Record { raw, record, .. } if filter.matches(&record) => {
                    shown.push_back(Shown { raw, record });
                    if shown.len() > count {
                        shown.pop_front();
                    }
                }
                LineRead::Record { .. } => {}
                LineRead::Problem(p) => warnings.push(p.to_string()),
            }
        }
        found += shown.len();
        per_file.push_front((shown.into(), warnings));
        if newest && follow {
            resume = Some((segment.number, reader));
        }
    }
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    for (shown, w) in per_file {
        all.extend(shown);
        warnings.extend(w);
    }
    let skip = all.len().saturating_sub(count);
    all.drain(..skip);
    Ok(Backlog {
        shown: all,
        warnings,
        resume,
        files: segments.len(),
    })
}

/// Print records; `false` when stdout is gone (e.g. piped into `head`).
fn print_all(out: &mut impl Write, shown: &[Shown], json: bool) -> Result<bool> {
    let mut text = String::new();
    for s in shown {
        if json {
            text.push_str(&s.raw);
        } else {
            text.push_str(&summary(&s.record));
        }
        text.push('\n');
    }
    write_out(out, text.as_bytes())
}

fn write_out(out: &mut impl Write, bytes: &[u8]) -> Result<bool> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).wrap_err("writing to stdout"),
    }
}

/// One line per record: time, agent, action, caller, outcome, context, short input, and
/// the error message last so that the columns stay aligned.
fn summary(r: &AuditRecord) -> String {
    let outcome = match r.outcome {
        Outcome::Ok => "ok",
        Outcome::Error => "error",
    };
    let input = serde_json::to_string(&r.input).unwrap_or_default();
    let mut line = format!(
        "{}  {:<20}  {:<18}  {:<14}  {:<5}  {:<12}  {}",
        one_line(&r.timestamp),
        one_line(r.agent_id.as_deref().unwrap_or("-")),
        one_line(&r.action),
        one_line(&r.caller),
        outcome,
        one_line(r.context_id.as_deref().unwrap_or("-")),
        one_line(&ellipsize(&input, INPUT_WIDTH)),
    );
    if let Some(error) = &r.error {
        line.push_str("  ! ");
        line.push_str(&one_line(&ellipsize(error, INPUT_WIDTH)));
    }
    line
}

/// Whether `verify` compares with the Redis mirror, and how hard.
enum MirrorUse {
    /// No Redis configured.
    Skip,
    /// Redis is configured: compare when the mirror can be read; say so when it cannot.
    IfThere {
        url: RedisUrl,
        prefix: String,
        quiet: bool,
    },
    /// `--against-mirror`: the comparison must happen.
    Required { url: RedisUrl, prefix: String },
}

impl MirrorUse {
    fn of(config: &Config, required: bool) -> MirrorUse {
        let url = config.bus.url.clone();
        let prefix = config.bus.prefix.clone();
        match (required, config.bus.backend) {
            (true, _) => MirrorUse::Required { url, prefix },
            (false, BusBackend::Memory) => MirrorUse::Skip,
            (false, BusBackend::Redis) => MirrorUse::IfThere {
                url,
                prefix,
                quiet: false,
            },
            // `auto` without a Redis is the in-process bus: nothing to say.
            (false, BusBackend::Auto) => MirrorUse::IfThere {
                url,
                prefix,
                quiet: true,
            },
        }
    }
}

async fn verify(dir: &Path, mirror: MirrorUse) -> Result<()> {
    let report = {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || verify_dir(&dir))
            .await
            .wrap_err("verifying the audit log")??
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(bad) = report.first_bad {
        return Err(eyre!("audit chain broken at {bad}"));
    }
    let against = match mirror {
        MirrorUse::Skip => None,
        MirrorUse::IfThere { url, prefix, quiet } => match fetch_mirror(&url, &prefix).await {
            Ok(Some(records)) => Some((records, prefix)),
            Ok(None) => None,
            Err(e) => {
                if !quiet {
                    eprintln!("warning: not compared with the Redis mirror: {e}");
                }
                None
            }
        },
        MirrorUse::Required { url, prefix } => match fetch_mirror(&url, &prefix).await {
            Ok(Some(records)) => Some((records, prefix)),
            Ok(None) => {
                return Err(eyre!(
                    "--against-mirror: Redis has no audit mirror stream `{}`",
                    mirror_key(&prefix)
                ));
            }
            Err(e) => return Err(eyre!("--against-mirror: {e}")),
        },
    };
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    outln!(
        "audit chain OK: {} in {}",
        plural(report.records, "record"),
        plural(report.files as u64, "file")
    );
    if let Some((records, prefix)) = against {
        let compared = {
            let dir = dir.to_path_buf();
            tokio::task::spawn_blocking(move || compare_with_mirror(&dir, &records))
                .await
                .wrap_err("comparing the audit log with its mirror")??
        };
        if compared.first_mismatch.is_some() {
            return Err(eyre!(
                "{} `{}`: {compared}",
                "audit mirror",
                mirror_key(&prefix)
            ));
        }
        outln!("audit mirror `{}`: {compared}", mirror_key(&prefix));
    }
    Ok(())
}

async fn export(
    dir: &Path,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || export_blocking(&dir, since, until))
        .await
        .wrap_err("exporting the audit log")?
}

fn export_blocking(
    dir: &Path,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    // The whole log is scanned rather than skipping files by their first timestamp: a
    // clock that stepped back would otherwise make the export silently miss records.
    for segment in list_segments(dir)? {
        let mut reader = SegmentReader::open(&segment.path)?;
        while let Some(item) = reader.next_line(true)? {
            match item {
                LineRead::Record { line, raw, record } => {
                    let Some(time) = record.time() else {
                        eprintln!(
                            "warning: {}:{line}: unreadable timestamp {:?}, record skipped",
                            segment.path.display(),
                            one_line(&record.timestamp)
                        );
                        continue;
                    };
                    if since.is_some_and(|s| time < s) || until.is_some_and(|u| time >= u) {
                        continue;
                    }
                    let written = out
                        .write_all(raw.as_bytes())
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = written {
                        return quiet_broken_pipe(e);
                    }
                }
                LineRead::Problem(p) => eprintln!("warning: {p}"),
            }
        }
    }
    match out.flush() {
        Ok(()) => Ok(()),
        Err(e) => quiet_broken_pipe(e),
    }
}

fn quiet_broken_pipe(e: io::Error) -> Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e).wrap_err("writing to stdout")
    }
}

pub(crate) fn parse_time_arg(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    parse_time(s, Utc::now())
}

/// A point in time given as RFC 3339, a UTC date or date-time, or an age before `now`.
fn parse_time(s: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Some(age) = parse_age(s) {
        return now
            .checked_sub_signed(age)
            .ok_or_else(|| format!("`{s}` reaches too far back"));
    }
    Err(format!(
        "`{s}` is not a time: use RFC 3339 (2026-11-24T12:00:00Z), a date (2026-11-24) \
         or an age such as 30m, 1h, 2d"
    ))
}

/// `90s`, `30m`, `1h`, `2d`, `1w`, or several of them run together (`1h30m`).
fn parse_age(s: &str) -> Option<chrono::TimeDelta> {
    let mut total = chrono::TimeDelta::zero();
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let part = match unit {
            's' => chrono::TimeDelta::try_seconds(n)?,
            'm' => chrono::TimeDelta::try_minutes(n)?,
            'h' => chrono::TimeDelta::try_hours(n)?,
            'd' => chrono::TimeDelta::try_days(n)?,
            'w' => chrono::TimeDelta::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn times_in_every_accepted_form() {
        let at = |s| parse_time(s, now()).unwrap().to_rfc3339();
        assert_eq!(at("2026-11-20T08:30:00+01:00"), "2026-11-20T07:30:00+00:00");
        assert_eq!(
            at("2026-11-20T08:30:00.5Z"),
            "2026-11-20T08:30:00.500+00:00"
        );
        assert_eq!(at("2026-11-20"), "2026-11-20T00:00:00+00:00");
        assert_eq!(at("2026-11-20T08:30"), "2026-11-20T08:30:00+00:00");
        assert_eq!(at("2026-11-20 08:30:15"), "2026-11-20T08:30:15+00:00");
        assert_eq!(at("1h"), "2026-11-24T11:00:00+00:00");
        assert_eq!(at("30m"), "2026-11-24T11:30:00+00:00");
        assert_eq!(at("2d"), "2026-11-22T12:00:00+00:00");
        assert_eq!(at("1h30m"), "2026-11-24T10:30:00+00:00");
        assert_eq!(at("90s"), "2026-11-24T11:58:30+00:00");
    }

    #[test]
    fn bad_times_say_what_is_allowed() {
        for bad in ["", "yesterday", "1x", "h", "2026-13-01", "12"] {
            let err = parse_time(bad, now()).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn summary_neutralises_terminal_escapes() {
        let record = AuditRecord {
            seq: 0,
            id: "id".into(),
            timestamp: "2026-11-24T12:00:00.000Z".into(),
            agent_id: Some("ops\u{1b}[2Jagent".into()),
            action: "update_context".into(),
            input: serde_json::json!({"text": "a\u{9b}b"}),
            context_id: None,
            caller: "cli\nfake line".into(),
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 0.0,
            intent_id: None,
            trace_id: None,
            parent_id: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        let line = summary(&record);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains("opsagent") && !line.contains("[2J"),
            "{line:?}"
        );
    }

    #[derive(Debug, clap::Parser)]
    struct Harness {
        #[command(subcommand)]
        cmd: AuditCommand,
    }

    #[test]
    fn flags_parse() {
        let h = Harness::try_parse_from([
            "audit",
            "tail",
            "-f",
            "--agent",
            "ops-agent",
            "--action",
            "recall",
            "-n",
            "5",
            "--json",
        ])
        .unwrap();
        match h.cmd {
            AuditCommand::Tail {
                follow: true,
                agent: Some(agent),
                action: Some(action),
                lines: 5,
                json: true,
            } => assert_eq!((agent.as_str(), action.as_str()), ("ops-agent", "recall")),
            other => panic!("unexpected {other:?}"),
        }
        let h = Harness::try_parse_from(["audit", "tail"]).unwrap();
        assert!(matches!(h.cmd, AuditCommand::Tail { lines: 20, .. }));
        let h = Harness::try_parse_from(["audit", "export", "--since", "2026-11-20"]).unwrap();
        assert!(matches!(
            h.cmd,
            AuditCommand::Export {
                since: Some(_),
                until: None
            }
        ));
        assert!(Harness::try_parse_from(["audit", "export", "--since", "soon"]).is_err());
    }

    #[test]
    fn backlog_keeps_the_newest_matching_records_across_files() {
        use crate::audit::{AuditEntry, AuditLog, AuditOptions, Outcome};
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let log = AuditLog::open(AuditOptions {
                rotate_bytes: 1024,
                ..AuditOptions::new(dir.path())
            })
            .unwrap();
            for i in 0..30 {
                log.append(AuditEntry {
                    agent_id: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                    action: "recall".into(),
                    input: serde_json::json!({"i": i}),
                    context_id: None,
                    caller: "cli".into(),
                    outcome: Outcome::Ok,
                    error: None,
                    duration_ms: 1.0,
                    cause: Default::default(),
                })
                .unwrap();
            }
            log.close().await.unwrap();
        });
        let filter = Filter {
            agent: Some("odd".into()),
            action: None,
        };
        let backlog = read_backlog(dir.path(), &filter, 4, false).unwrap();
        let seqs: Vec<u64> = backlog.shown.iter().map(|s| s.record.seq).collect();
        assert_eq!(seqs, vec![23, 25, 27, 29]);
        assert!(backlog.warnings.is_empty());
        assert!(backlog.shown[0].raw.starts_with("{\"seq\":23,"));
    }

    #[tokio::test]
    async fn verify_command_names_the_first_bad_record() {
        use crate::audit::{AuditEntry, AuditLog, AuditOptions, Outcome, segment_name};
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.audit.dir = dir.path().to_path_buf();
        // `auto` would look for a mirror on a Redis at 6379, which tests never touch.
        config.bus.backend = BusBackend::Memory;
        let log = AuditLog::open(AuditOptions::from_config(&config)).unwrap();
        for i in 0..3 {
            log.append(AuditEntry {
                agent_id: None,
                action: format!("step-{i}"),
                input: serde_json::Value::Null,
                context_id: None,
                caller: "cli".into(),
                outcome: Outcome::Ok,
                error: None,
                duration_ms: 0.5,
                cause: Default::default(),
            })
            .unwrap();
        }
        log.close().await.unwrap();
        run(
            &config,
            AuditCommand::Verify {
                against_mirror: false,
                key: None,
            },
        )
        .await
        .unwrap();

        let file = dir.path().join(segment_name(1));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("step-1", "step-7", 1)).unwrap();
        let err = run(
            &config,
            AuditCommand::Verify {
                against_mirror: false,
                key: None,
            },
        )
        .await
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("audit-000001.jsonl:2 seq 1"), "{message}");
        assert!(message.contains("edited"), "{message}");
    }
}
