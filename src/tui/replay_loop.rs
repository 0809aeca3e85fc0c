//! `aios replay`: the control center driven by a recording. No runtime, model or network:
//! the player answers the app's loads from the recording, and anything that would change
//! the world (an intent, a goal edit, an approval) is refused with a notice.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, bail, eyre};
use futures::StreamExt;
use ratatui::crossterm::event::EventStream;

use super::{
    Action, App, Effect, draw, give_back_terminal, looks, refuse_without_terminal, take_terminal,
    terminal_action,
};
use crate::config::Config;
use crate::recorder::{Entry, Kind, Range};
use crate::replay::{Player, Timeline};

/// What `aios replay` was asked for.
pub struct ReplayArgs {
    pub range: Range,
    pub speed: f64,
    /// Start playing at once.
    pub play: bool,
}

/// Read the recording at `path`, then show it until the operator quits.
pub async fn run(config: Config, path: &Path, args: ReplayArgs) -> Result<ExitCode> {
    if let Some(code) = refuse_without_terminal() {
        return Ok(code);
    }
    let looks = looks(&config)?;
    let (entries, warning) = load(path, args.range).await?;
    let tl = Arc::new(Timeline::build(&entries));
    let mut template = template_app(&tl, config.tui.max_lines as usize);
    template.theme = looks.0;
    template.keymap = looks.1;
    template.stall_s = config.runtime.stall_s;
    // The audit pane counts what the recording holds; a broken recording is said below.
    let audited = entries.iter().filter(|e| e.kind == Kind::Audit).count() as u64;
    template.update(Action::AuditChain {
        records: audited,
        broken_at: None,
    });
    let mut player = Player::new(tl, template);
    player.set_speed(args.speed);
    player.playing = args.play;
    if let Some(w) = warning {
        player.operator(Action::Notice(w));
    }
    let entries = Arc::new(entries);
    let fps = config.tui.fps.clamp(1, 240);
    let mut terminal = take_terminal();
    let result = event_loop(&mut terminal, &mut player, &entries, fps).await;
    give_back_terminal();
    result.map(|()| ExitCode::SUCCESS)
}

/// The entries to replay, and a warning when the chain does not hold.
pub async fn load(path: &Path, range: Range) -> Result<(Vec<Entry>, Option<String>)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let rec = crate::recorder::read(&path, Range::default())
            .map_err(|e| eyre!("reading the recording at {}: {e}", path.display()))?;
        if rec.entries.is_empty() {
            bail!(
                "{} holds no recording (is recorder.enabled on? a data dir keeps it in recording/)",
                path.display()
            );
        }
        let checked = crate::recorder::verify(&path)
            .map_err(|e| eyre!("checking the recording at {}: {e}", path.display()))?;
        let warning = checked
            .first_bad
            .map(|b| format!("the recording does not verify: {b}"));
        let entries = window(rec.entries, range);
        if !entries.iter().any(|e| {
            !matches!(
                e.kind,
                Kind::Start | Kind::AgentState | Kind::ContextVersion
            )
        }) {
            bail!("the recording has nothing in the time range asked for");
        }
        Ok((entries, warning))
    })
    .await
    .map_err(|e| eyre!("reading the recording: {e}"))?
}

/// The entries within `range`, after what the app needs from before it: the last start,
/// each agent's latest state, and the context versions (diffs reach back).
pub fn window(entries: Vec<Entry>, range: Range) -> Vec<Entry> {
    let Some(since) = range.since else {
        return entries
            .into_iter()
            .filter(|e| range.until.is_none_or(|u| e.time().is_none_or(|t| t <= u)))
            .collect();
    };
    let mut before_start = None;
    let mut states = std::collections::BTreeMap::new();
    let mut versions = Vec::new();
    let mut inside = Vec::new();
    for e in entries {
        let t = e.time();
        if t.is_some_and(|t| t < since) {
            match e.kind {
                Kind::Start => {
                    before_start = Some(e);
                    states.clear();
                }
                Kind::AgentState => {
                    states.insert(e.agent_id.clone(), e);
                }
                Kind::ContextVersion => versions.push(e),
                _ => {}
            }
        } else if range.until.is_none_or(|u| t.is_none_or(|t| t <= u)) {
            inside.push(e);
        }
    }
    let mut out: Vec<Entry> = before_start.into_iter().collect();
    out.extend(states.into_values());
    out.extend(versions);
    out.sort_by_key(|e| e.seq);
    out.extend(inside);
    out
}

/// The app before the first step: the first start's runtime and agents.
pub fn template_app(tl: &Timeline, max_lines: usize) -> App {
    let start = tl.steps.iter().find_map(|s| match &s.what {
        crate::replay::What::Start(s) => Some(s.clone()),
        _ => None,
    });
    match start {
        Some(s) => App::from_parts(s.info, s.agents, s.status, max_lines),
        None => App::from_parts(recorded_info(), Vec::new(), Default::default(), max_lines),
    }
}

fn recorded_info() -> crate::agent::RuntimeInfo {
    crate::agent::RuntimeInfo {
        node: "recording".into(),
        data_dir: Default::default(),
        bus: "recorded".into(),
        store: "recorded".into(),
        memory: "recorded".into(),
        embedder: "recorded".into(),
        warnings: Vec::new(),
        runner: "recorded".into(),
        model: String::new(),
        agents: 0,
        attached: None,
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    player: &mut Player,
    entries: &Arc<Vec<Entry>>,
    fps: u32,
) -> Result<()> {
    let mut keys = EventStream::new();
    let mut frame = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps)));
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let size = terminal.size()?;
    player.operator(Action::Resize(size.width, size.height));
    let mut last = Instant::now();
    let mut dirty = true;
    loop {
        for effect in player.take_effects() {
            dirty = true;
            run_effect(player, entries, effect);
        }
        if player.app.should_quit() {
            return Ok(());
        }
        tokio::select! {
            _ = frame.tick() => {
                let now = Instant::now();
                dirty |= player.advance(now - last);
                last = now;
                if dirty {
                    terminal.draw(|f| draw(f, &player.app))?;
                    dirty = false;
                }
            }
            key = keys.next() => match key {
                Some(Ok(ev)) => {
                    if let Some(a) = terminal_action(ev) {
                        dirty |= player.operator(a);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}

/// What a replay does with an effect the player left: move, explain, or refuse.
pub fn run_effect(player: &mut Player, entries: &[Entry], effect: Effect) {
    match effect {
        Effect::Replay(c) => player.control(c),
        Effect::Why(of) => {
            // The whole recording: what an intent caused later is part of its answer.
            let answer = super::why_view::answer(entries, of);
            player.operator(answer);
        }
        Effect::SaveHistory(_) | Effect::LoadAgent(_) | Effect::LoadDiff { .. } => {}
        other => {
            player.operator(Action::Notice(format!(
                "a replay changes nothing ({}): it only shows what was recorded",
                refused(&other)
            )));
        }
    }
}

fn refused(e: &Effect) -> &'static str {
    match e {
        Effect::Dispatch { .. } => "no intent sent",
        Effect::SaveGoals { .. } => "goals not saved",
        Effect::AddPattern(_) => "no channel added",
        Effect::Stop(_) => "nothing to stop",
        Effect::Decide { .. } => "nothing to decide",
        _ => "refused",
    }
}
