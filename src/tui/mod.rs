//! The control center: the only module that touches the terminal.
//!
//! Flow: terminal events, ticks, runtime events, bus traffic and audit records become
//! `Action`s; `App::update` applies them and may ask for `Effect`s, which run in background
//! tasks and answer with more actions; `view::draw` renders the state (pure, no I/O);
//! frames are drawn only when something changed, at most `tui.fps` times a second.

mod action;
mod app;
mod effects;
mod input;
mod keymap;
mod panes;
pub mod replay_loop;
mod theme;
mod view;
pub mod why_view;

use std::process::ExitCode;
use std::time::Duration;

use color_eyre::eyre::{Result, bail, eyre};
use futures::StreamExt;
use ratatui::crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event, EventStream, KeyEventKind,
};
use ratatui::crossterm::execute;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use action::{Action, Pane};
pub use app::{App, Effect, Mode, ReplayControl, ReplayState, diff_range};
pub use keymap::Keymap;
pub use theme::Theme;
pub use view::{draw, draw_pane, pane_areas};

use crate::agent::Runtime;
use crate::audit::{MirrorTail, read_dir, verify_dir};
use crate::bus::{Received, channels};
use crate::config::Config;
use crate::owner::{Owner, OwnerError, OwnerOptions};

/// Runtime events or bus messages folded in per wake-up before a frame may be drawn: a
/// burst is applied as a batch and drawn once.
const BATCH: usize = 4096;

/// Open the control center: on a runtime this process owns, or, with `attach`, watching
/// a runtime that runs elsewhere through its Redis.
pub async fn run(config: Config, attach: Option<String>, read_only: bool) -> Result<ExitCode> {
    // Owning a runtime without a terminal is refused before anything starts; an attach
    // first says what is wrong with its target, then checks (see `run_attached`).
    if attach.is_none()
        && let Some(code) = refuse_without_terminal()
    {
        return Ok(code);
    }
    match attach {
        Some(url) => run_attached(config, &url, read_only).await,
        None => run_owner(config, read_only).await,
    }
}

/// Exit 2 with a message on stderr when stdin or stdout is not a terminal, before anything
/// touches the terminal: no escape sequence may reach a pipe, and no panic.
fn refuse_without_terminal() -> Option<ExitCode> {
    let missing = missing_terminal()?;
    eprintln!(
        "aios: the control center needs a terminal ({missing}). Over SSH, run \
         `ssh -t HOST aios`; without a terminal (cron, a script, a service), run `aios serve` \
         and use `aios dispatch`, `aios watch` or `aios agents`."
    );
    Some(ExitCode::from(2))
}

/// Which of stdin and stdout is not a terminal (`ssh host aios` without `-t`, cron, a
/// pipe), if any: the control center draws on stdout and reads keys from stdin.
fn missing_terminal() -> Option<&'static str> {
    use std::io::IsTerminal;
    match (
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
    ) {
        (true, true) => None,
        (false, true) => Some("stdin is not a terminal"),
        (true, false) => Some("stdout is not a terminal"),
        (false, false) => Some("neither stdin nor stdout is a terminal"),
    }
}

/// Bad theme or key names are reported before the terminal is taken over.
fn looks(config: &Config) -> Result<(Theme, Keymap)> {
    let theme = Theme::for_terminal(&config.tui.theme).map_err(|e| eyre!("tui.theme: {e}"))?;
    let keymap = Keymap::new(&config.tui.keys)?;
    Ok((theme, keymap))
}

/// The control center on a runtime this process owns; the control socket is served too,
/// so `aios dispatch` from another terminal reaches this runtime.
async fn run_owner(config: Config, read_only: bool) -> Result<ExitCode> {
    let looks = looks(&config)?;
    // MCP clients reach this runtime through `aios mcp` (the mcp.sock socket); HTTP is
    // `aios serve`'s, so a TUI never competes for mcp.http_bind.
    let options = OwnerOptions {
        sockets: true,
        metrics: true,
        verify_audit: true,
        ..OwnerOptions::default()
    };
    let owner = Owner::start(&config, options).await?;
    let broken_at = owner
        .chain_at_start()
        .and_then(|c| Some((c.broken_at?, c.warning.clone())));
    let audit = AuditSource::Local { broken_at };
    let result = show(&config, &owner, looks, audit, read_only).await;
    owner.shutdown().await;
    result
}

/// The control center on a runtime that runs elsewhere (`aios serve` on a server), seen
/// through its Redis alone: traffic, heartbeats, agent activity and contexts from the bus
/// and the shared store, the audit log from its mirror stream. Intents typed here go on
/// the durable queue, where the nodes that host the agents take them.
async fn run_attached(config: Config, url: &str, read_only: bool) -> Result<ExitCode> {
    let config = attached_config(config, url)?;
    let url = config.bus.url.clone();
    let looks = looks(&config)?;
    // This process keeps its own small data dir: its operator's own audit trail (goal
    // edits, reads) and prompt history, never the watched runtime's files.
    let options = OwnerOptions {
        metrics: true,
        watch_only: true,
        ..OwnerOptions::default()
    };
    let owner = Owner::start(&config, options).await.map_err(|e| match e {
        OwnerError::Runtime(e) => {
            eyre!("attaching to {url}: {e}")
        }
        e => e.into(),
    })?;
    if let Some(code) = refuse_without_terminal() {
        owner.shutdown().await;
        return Ok(code);
    }
    let source = AuditSource::Mirror {
        url,
        prefix: config.bus.prefix.clone(),
    };
    let result = show(&config, &owner, looks, source, read_only).await;
    owner.shutdown().await;
    result
}

/// The configuration of a watcher attached to the Redis at `url`.
pub fn attached_config(mut config: Config, url: &str) -> Result<Config> {
    let scheme_ok = ["redis://", "rediss://", "unix://"]
        .iter()
        .any(|s| url.starts_with(s));
    if !scheme_ok || (redis::parse_redis_url(url).is_none() && !url.starts_with("unix://")) {
        bail!(
            "--attach takes a Redis URL (redis://HOST[:PORT][/DB], rediss://… or \
             unix:///PATH), not {:?}",
            crate::config::url::ShownUrl(url).to_string()
        );
    }
    config.bus.backend = crate::config::BusBackend::Redis;
    config.bus.url = url.into();
    config.runtime.data_dir = config.data_dir().join("attached");
    config.audit.dir = std::path::PathBuf::new();
    // A watcher runs no model: no probing of model servers it will never call.
    config.llm.runner = crate::config::RunnerKind::Sim;
    Ok(config)
}

/// Where the audit pane reads from.
enum AuditSource {
    /// This runtime's own files.
    Local {
        /// Where the chain was broken when this process started, and the warning.
        broken_at: Option<(u64, String)>,
    },
    /// The mirror stream of a runtime that runs elsewhere.
    Mirror {
        url: crate::config::RedisUrl,
        prefix: String,
    },
}

/// Take over the terminal, run the event loop, give the terminal back. The loop's tasks
/// (feeds, effects) run on the owner's tracker, so its shutdown waits for them.
async fn show(
    config: &Config,
    owner: &Owner,
    (theme, keymap): (Theme, Keymap),
    audit: AuditSource,
    read_only: bool,
) -> Result<ExitCode> {
    let runtime = owner.runtime();
    // Read-only, the control center is a viewer to the runtime it shows (its own or, when
    // attached, its watcher's): the handle every key's effect goes through refuses, and
    // audits, anything more, whatever key slips past the keymap.
    let lowered;
    let runtime = if read_only {
        lowered = runtime.lowered(crate::roles::Role::Viewer);
        &lowered
    } else {
        runtime
    };
    let mut app = App::new(runtime, config.tui.max_lines as usize);
    app.theme = theme;
    app.keymap = keymap;
    app.read_only = read_only;
    app.stall_s = config.runtime.stall_s;
    app.notify = config.tui.notify;
    let history = effects::history_path(&config.data_dir());
    let keep = config.tui.history as usize;
    app.history = effects::load_history(&history, keep).into();
    let fps = config.tui.fps.clamp(1, 240);
    let mut terminal = take_terminal();
    let tasks = Tasks {
        tracker: owner.tasks().clone(),
        stop: owner.stopping(),
        history,
        history_keep: keep,
    };
    let result = event_loop(&mut terminal, &mut app, runtime, audit, fps, &tasks).await;
    give_back_terminal();
    result.map(|()| ExitCode::SUCCESS)
}

/// Where the event loop's background work goes: the owner's tracker and token, and the
/// history file intents are saved to.
struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
    history: std::path::PathBuf,
    history_keep: usize,
}

/// Take over the terminal: the alternate screen, raw mode and the mouse. A panic gives it
/// back (the mouse included) before the report is printed.
fn take_terminal() -> ratatui::DefaultTerminal {
    let terminal = ratatui::init();
    restore_on_panic();
    if let Err(e) = execute!(std::io::stdout(), EnableMouseCapture) {
        tracing::warn!(error = %e, "no mouse capture");
    }
    terminal
}

/// Chain a hook that turns mouse capture off before ratatui's own (installed by
/// `ratatui::init`, which leaves the alternate screen and raw mode), so a panic never
/// leaves a shell that prints escape sequences at every mouse move.
fn restore_on_panic() {
    let ratatui_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui_hook(info);
    }));
}

/// Give the terminal back as it was.
fn give_back_terminal() {
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
}

/// The action a terminal event stands for: a key pressed, the mouse, a new size.
fn terminal_action(ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) if k.kind == KeyEventKind::Press => Some(Action::Key(k)),
        Event::Mouse(m) => Some(Action::Mouse(m)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

/// The audit pane's feed: the newest records on disk and the chain's state, then live
/// records as they are appended (skipping what the read already gave).
fn feed_audit(runtime: &Runtime, tx: mpsc::Sender<Action>, keep: usize, tasks: &Tasks) {
    let log = runtime.hub().audit_log().clone();
    let mut live = log.subscribe();
    let dir = log.dir().to_path_buf();
    let stop = tasks.stop.clone();
    tasks.tracker.spawn(async move {
        let read = tokio::task::spawn_blocking(move || {
            let records = read_dir(&dir).map(|r| r.records).unwrap_or_default();
            let report = verify_dir(&dir);
            (records, report)
        })
        .await;
        let mut last_seq = None;
        if let Ok((records, report)) = read {
            let start = records.len().saturating_sub(keep);
            for r in records.into_iter().skip(start) {
                last_seq = Some(r.seq);
                if tx
                    .send(Action::Audit(std::sync::Arc::new(r)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let (records, broken_at) = match report {
                Ok(rep) => (rep.records, rep.first_bad.map(|b| b.seq.unwrap_or(0))),
                Err(e) => {
                    let _ = tx.send(Action::Notice(format!("audit: {e}"))).await;
                    (0, None)
                }
            };
            let _ = tx.send(Action::AuditChain { records, broken_at }).await;
        }
        loop {
            let r = tokio::select! {
                () = stop.cancelled() => return,
                r = live.recv() => r,
            };
            match r {
                Ok(rec) if last_seq.is_some_and(|s| rec.seq <= s) => {}
                Ok(rec) => {
                    if tx.send(Action::Audit(rec)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let _ = tx
                        .send(Action::Notice(format!("audit pane skipped {n} records")))
                        .await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// The audit pane's feed on an attached TUI: the newest records of the mirror stream, then
/// each one as it is mirrored. The pane checks the chain as records arrive.
fn feed_mirror(
    url: crate::config::RedisUrl,
    prefix: String,
    recorder: crate::recorder::Recorder,
    tx: mpsc::Sender<Action>,
    keep: usize,
    tasks: &Tasks,
) {
    let stop = tasks.stop.clone();
    tasks.tracker.spawn(async move {
        let mut tail = tokio::select! {
            () = stop.cancelled() => return,
            t = MirrorTail::connect(&url, &prefix, Duration::from_secs(1)) => match t {
                Ok(t) => t,
                Err(e) => {
                    let _ = tx.send(Action::Notice(e.to_string())).await;
                    return;
                }
            },
        };
        let mut first = true;
        // One notice per outage, not one per retry.
        let mut failing = false;
        loop {
            let read = tokio::select! {
                () = stop.cancelled() => return,
                r = async { if first { tail.recent(keep).await } else { tail.next().await } } => r,
            };
            let entries = match read {
                Ok(entries) => {
                    failing = false;
                    entries
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        let _ = tx.send(Action::Notice(format!("audit stream: {e}"))).await;
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let mut last = None;
            for (seq, record) in entries {
                last = Some(seq);
                let action = match record {
                    Ok(r) => {
                        // An attached TUI keeps the recording of what it watches.
                        let r = std::sync::Arc::new(r);
                        recorder.audit(r.clone());
                        Action::Audit(r)
                    }
                    Err(e) => Action::Notice(e.to_string()),
                };
                if tx.send(action).await.is_err() {
                    return;
                }
            }
            if first {
                first = false;
                let records = last.map_or(0, |s| s + 1);
                let chain = Action::AuditChain {
                    records,
                    broken_at: None,
                };
                if tx.send(chain).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Apply `first` and whatever else already waits on `rx`, up to `BATCH`: a burst is folded
/// in as one batch and drawn once. `apply` gets each item, or how many were lost to lag,
/// and says whether the screen changed.
fn drain<T: Clone>(
    rx: &mut tokio::sync::broadcast::Receiver<T>,
    first: Result<T, RecvError>,
    mut apply: impl FnMut(Result<T, u64>) -> bool,
) -> bool {
    use tokio::sync::broadcast::error::TryRecvError;
    let mut dirty = false;
    let mut next = Some(first);
    let mut n = 0;
    while let Some(item) = next.take() {
        dirty |= match item {
            Ok(v) => apply(Ok(v)),
            Err(RecvError::Lagged(k)) => apply(Err(k)),
            Err(RecvError::Closed) => break,
        };
        n += 1;
        if n < BATCH {
            next = match rx.try_recv() {
                Ok(v) => Some(Ok(v)),
                Err(TryRecvError::Lagged(k)) => Some(Err(RecvError::Lagged(k))),
                Err(_) => None,
            };
        }
    }
    dirty
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    runtime: &Runtime,
    audit: AuditSource,
    fps: u32,
    tasks: &Tasks,
) -> Result<()> {
    let mut keys = EventStream::new();
    let mut events = runtime.subscribe();
    let mut bus = runtime.bus().subscribe();
    let (tx, mut results) = mpsc::channel::<Action>(1024);
    match audit {
        AuditSource::Local { broken_at } => {
            if let Some((seq, warning)) = broken_at {
                // Shown until the end, whatever the feed's own verification finds later.
                let _ = tx.try_send(Action::AuditChain {
                    records: 0,
                    broken_at: Some(seq),
                });
                let _ = tx.try_send(Action::Notice(warning));
            }
            feed_audit(runtime, tx.clone(), app.max_lines, tasks);
        }
        AuditSource::Mirror { url, prefix } => {
            let recorder = runtime.recorder().clone();
            feed_mirror(url, prefix, recorder, tx.clone(), app.max_lines, tasks);
        }
    }
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut clock = tokio::time::interval(Duration::from_millis(250));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let size = terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut dirty = true;
    let stop = crate::shutdown::shutdown_signal();
    tokio::pin!(stop);
    let result = loop {
        for effect in app.effects.drain(..) {
            effects::spawn(
                &tasks.tracker,
                runtime,
                effect,
                tx.clone(),
                tasks.history.clone(),
                tasks.history_keep,
            );
        }
        if app.should_quit() {
            break Ok(());
        }
        tokio::select! {
            signal = &mut stop => {
                tracing::info!(signal, "stopping the control center");
                break Ok(());
            }
            _ = frame.tick() => {
                if dirty {
                    terminal.draw(|f| draw(f, app))?;
                    dirty = false;
                }
                // Between frames, so an alert never splits a frame's escape sequences.
                alert(app);
            }
            _ = clock.tick() => {
                dirty |= app.update(Action::Tick(chrono::Utc::now()));
                dirty |= app.update(Action::BusState(runtime.bus().state().label()));
            }
            key = keys.next() => match key {
                Some(Ok(ev)) => {
                    if let Some(a) = terminal_action(ev) {
                        dirty |= app.update(a);
                    }
                }
                Some(Err(e)) => break Err(e.into()),
                None => break Ok(()),
            },
            ev = events.recv() => {
                // Token times (first token, tokens/s) need a clock finer than the tick.
                app.update(Action::Tick(chrono::Utc::now()));
                dirty |= drain(&mut events, ev, |ev| match ev {
                    Ok(ev) => app.update(Action::Runtime(Box::new(ev))),
                    Err(k) => app.update(Action::Dropped(k)),
                });
            }
            msg = bus.recv() => {
                dirty |= drain(&mut bus, msg, |msg| match msg {
                    // Agent activity is drawn as status and token stream, not as
                    // channel lines.
                    Ok(Received::Message { channel, .. }) if channel == channels::ACTIVITY => false,
                    Ok(m) => app.update(Action::Bus(m)),
                    Err(k) => app.update(Action::BusDropped(k)),
                });
            }
            Some(a) = results.recv() => dirty |= app.update(a),
        }
    };
    // The feeds stop with the owner; its shutdown waits for them and for every effect (a
    // history save still running when the key that quits came).
    result
}

/// Tell the terminal an agent newly needs a person, as `tui.notify` says.
fn alert(app: &mut App) {
    use std::io::Write;
    let alerts = std::mem::take(&mut app.alerts);
    let Some(last) = alerts.last() else { return };
    let seq = match app.notify {
        crate::config::Notify::Off => return,
        crate::config::Notify::Bell => "\x07".to_string(),
        // OSC 9 (iTerm2, WezTerm, Windows Terminal, …): a desktop notification; the text
        // is one sanitized line, and BEL ends the sequence (and rings where it is not known).
        crate::config::Notify::Osc9 => {
            let text: String = crate::sanitize::one_line(last).chars().take(200).collect();
            let more = match alerts.len() {
                1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            format!("\x1b]9;{text}{more}\x07")
        }
    };
    let mut out = std::io::stdout();
    let _ = out.write_all(seq.as_bytes()).and_then(|()| out.flush());
}
