//! Replay shows what the control center showed live: a session (a handoff chain, a second
//! intent, a goal edit) is watched by a headless app fed as the TUI's loop feeds it, its
//! panes are drawn at three quiet points, then the recording is replayed and the panes at
//! the same points are drawn again and compared. Also: the recording's entries carry what
//! only the turn knows (recall, the model request, whole tool calls).

mod support;

use std::sync::Arc;
use std::time::Duration;

use aios::agent::{Runtime, RuntimeOptions};
use aios::bus::{LocalBus, Received, channels};
use aios::context::Caller;
use aios::event::RuntimeEvent;
use aios::recorder::{Kind, Range};
use aios::replay::{Player, Timeline};
use aios::tui::{Action, App, Effect, Pane, draw_pane};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use serde_json::json;
use std::sync::Mutex;
use support::scripted_runner::ScriptedRunner;

/// A headless control center: the same feeds and answers as `tui::event_loop`, run as
/// things happen (timings such as the first token's latency are read on arrival, live).
struct Live {
    app: Arc<Mutex<App>>,
    last: Arc<Mutex<std::time::Instant>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Live {
    fn start(rt: &Runtime, focus: &str) -> Live {
        let mut app = App::new(rt, 500);
        app.update(Action::Resize(160, 48));
        app.focus_agent(focus);
        let app = Arc::new(Mutex::new(app));
        let last = Arc::new(Mutex::new(std::time::Instant::now()));
        let stop = tokio_util::sync::CancellationToken::new();
        let mut events = rt.subscribe();
        let mut bus = aios::bus::Bus::subscribe(rt.bus().as_ref());
        let mut audit = rt.hub().audit_log().subscribe();
        let (rt, a, l, s) = (rt.clone(), app.clone(), last.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let action = tokio::select! {
                    () = s.cancelled() => return,
                    ev = events.recv() => ev.ok().map(|e| Action::Runtime(Box::new(e))),
                    m = bus.recv() => m.ok().filter(|m| !matches!(m,
                        Received::Message { channel, .. } if channel == channels::ACTIVITY))
                        .map(Action::Bus),
                    r = audit.recv() => r.ok().map(Action::Audit),
                    () = tokio::time::sleep(Duration::from_millis(20)) => None,
                };
                let effects = {
                    let mut app = a.lock().unwrap();
                    if let Some(action) = action {
                        app.update(Action::Tick(Utc::now()));
                        app.update(action);
                        *l.lock().unwrap() = std::time::Instant::now();
                    }
                    app.take_effects()
                };
                for answer in answers(&rt, effects).await {
                    a.lock().unwrap().update(answer);
                    *l.lock().unwrap() = std::time::Instant::now();
                }
            }
        });
        Live { app, last, stop }
    }

    /// Wait until nothing has happened for a while; then the recording holds it all.
    /// Returns the app then and the seq of the recording's last entry.
    async fn settle(&self, rt: &Runtime) -> (App, u64) {
        while self.last.lock().unwrap().elapsed() < Duration::from_millis(400) {
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        let app = self.app.lock().unwrap().clone();
        rt.recorder().flush().await;
        let dir = rt.recorder().dir().unwrap().to_path_buf();
        let rec = aios::recorder::read(&dir, Range::default()).unwrap();
        (app, rec.entries.last().unwrap().seq)
    }
}

/// The loads the live effect runner answers from the hub.
async fn answers(rt: &Runtime, effects: Vec<Effect>) -> Vec<Action> {
    let me = Caller::operator("test");
    let mut out = Vec::new();
    for e in effects {
        match e {
            Effect::LoadAgent(id) => {
                let s = rt.hub().get_agent(&me, &id).await.unwrap();
                out.push(Action::AgentLoaded(Box::new(s)));
            }
            Effect::LoadDiff { agent_id, range } => {
                let versions = rt.hub().list_versions(&me, &agent_id).await.unwrap();
                let (from, to) = aios::tui::diff_range(range, &versions);
                out.push(Action::Versions {
                    agent_id: agent_id.clone(),
                    versions,
                });
                if to > 0 {
                    let d = rt
                        .hub()
                        .diff_context(&me, &agent_id, from, to)
                        .await
                        .unwrap();
                    out.push(Action::Diff(Box::new(d)));
                }
            }
            _ => {}
        }
    }
    out
}

fn text(app: &App, p: Pane) -> String {
    let (w, h) = (90, 26);
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw_pane(f, app, p, Rect::new(0, 0, w, h)))
        .unwrap();
    support::buffer_text(term.backend().buffer())
}

/// Every pane, drawn at the same instant `at` (ages and rates are read against it; far
/// after the session, so both sides round the same way). Latencies and token rates are
/// read on arrival, live by the TUI and in the recording by the recorder, two observers
/// a few milliseconds apart (a rate is only shown once tokens came apart in time): they
/// are compared without their figures.
fn snapshot(app: &App, at: DateTime<Utc>) -> Vec<(Pane, String)> {
    let mut app = app.clone();
    app.update(Action::Tick(at));
    let rate = regex::Regex::new(r" · \d+(\.\d+)? tok/s").unwrap();
    let latency = regex::Regex::new(r"\d+ ms").unwrap();
    let spaces = regex::Regex::new(r" +").unwrap();
    Pane::ALL
        .iter()
        .map(|p| {
            let t = text(&app, *p);
            let t = rate.replace_all(&t, "");
            let t = latency.replace_all(&t, "N ms");
            // The line's padding moves with the figures' width.
            (*p, spaces.replace_all(&t, " ").into_owned())
        })
        .collect()
}

fn runner() -> ScriptedRunner {
    support::scripted_runner::launch_handoff()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_session_shows_the_panes_it_showed_live() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let rt = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        runner: Some(Arc::new(runner())),
        ..support::options(support::config_in(dir.path()))
    })
    .await
    .unwrap();
    let live = Live::start(&rt, "strategy-agent");
    let alice = Caller::operator("alice");

    let mut points = Vec::new();
    rt.dispatch_and_wait(&alice, "strategy-agent", "Plan the product launch")
        .await
        .unwrap();
    let (live_1, p) = live.settle(&rt).await;
    points.push(p);

    rt.dispatch_and_wait(&alice, "ops-agent", "Check the deploy queue")
        .await
        .unwrap();
    let (live_2, p) = live.settle(&rt).await;
    points.push(p);

    rt.hub()
        .set_goals(
            &alice,
            "strategy-agent",
            vec!["ship_the_launch".into(), "measure_signups".into()],
        )
        .await
        .unwrap();
    let (live_3, p) = live.settle(&rt).await;
    points.push(p);
    live.stop.cancel();
    let dir_rec = rt.recorder().dir().unwrap().to_path_buf();
    rt.shutdown().await;

    // Each point is a real moment of the session: the handoff chain, then more.
    let at = Utc::now() + chrono::Duration::hours(3);
    let s1 = snapshot(&live_1, at);
    assert!(s1[4].1.contains("Content-agent is writing"), "{}", s1[4].1);
    assert!(snapshot(&live_3, at)[1].1.contains("ship_the_launch"));

    let rec = aios::recorder::read(&dir_rec, Range::default()).unwrap();
    assert!(
        aios::recorder::verify(&dir_rec)
            .unwrap()
            .first_bad
            .is_none()
    );
    let tl = Arc::new(Timeline::build(&rec.entries));
    assert_eq!(tl.unreadable, 0);
    let mut template = aios::tui::replay_loop::template_app(&tl, 500);
    template.update(Action::Resize(160, 48));
    template.focus_agent("strategy-agent");
    let mut player = Player::new(tl.clone(), template);
    assert!(player.take_effects().is_empty());

    // Scrub: the last point first, then back to the first, then forward: each time the
    // panes are the ones seen live at that moment.
    for (point, live_app) in [(2, &live_3), (0, &live_1), (1, &live_2)] {
        player.seek_index(tl.index_of_entry(points[point]));
        let replayed = snapshot(&player.app, at);
        let seen = snapshot(live_app, at);
        for ((pane, r), (_, l)) in replayed.iter().zip(&seen) {
            assert_eq!(
                r, l,
                "pane {pane:?} at point {point} differs (replayed, then live)"
            );
        }
        assert!(player.app.replay().is_some(), "the status bar says REPLAY");
    }
}

#[tokio::test]
async fn the_recording_keeps_what_only_the_turn_knows() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::start(RuntimeOptions {
        runner: Some(Arc::new(runner())),
        ..support::options(support::config_in(dir.path()))
    })
    .await
    .unwrap();
    let alice = Caller::operator("alice");
    rt.hub()
        .remember(
            &alice,
            "strategy-agent",
            "fact",
            "Launch day is 1 December",
            vec![],
        )
        .await
        .unwrap();
    let reply = rt
        .dispatch_and_wait(&alice, "strategy-agent", "When is launch day?")
        .await
        .unwrap();
    let rec_dir = rt.recorder().dir().unwrap().to_path_buf();
    rt.shutdown().await;
    let entries = aios::recorder::read(&rec_dir, Range::default())
        .unwrap()
        .entries;
    let of = |k: Kind| -> Vec<&aios::recorder::Entry> {
        entries
            .iter()
            .filter(|e| e.kind == k && e.intent_id.as_deref() == Some(reply.intent_id.as_str()))
            .collect()
    };
    let recall = of(Kind::Recall);
    assert_eq!(recall.len(), 1);
    let items = recall[0].body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|i| i["text"] == "Launch day is 1 December" && i["score"].is_number())
    );
    let requests = of(Kind::ModelRequest);
    assert_eq!(requests.len(), 2, "one per model turn");
    let first = &requests[0].body;
    assert!(
        first["request"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Launch day is 1 December")
    );
    let recalled_id = items[0]["id"].as_str().unwrap();
    assert!(
        first["recalled_in_prompt"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == recalled_id)
    );
    assert!(
        first["request"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let calls = of(Kind::ToolCall);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["name"], "handoff");
    assert_eq!(calls[0].body["arguments"]["agent_id"], "content-agent");
    assert_eq!(calls[0].body["ok"], true);
    assert!(
        calls[0].body["result"]
            .to_string()
            .contains("handed_off_to")
    );
    assert_eq!(of(Kind::ModelUsage).len(), 2);
    // Context versions are recorded whole, with the intent that caused them.
    assert!(entries.iter().any(|e| e.kind == Kind::ContextVersion
        && e.body["cause"]["intent_id"] == json!(reply.intent_id)
        && e.body["text"].as_str().is_some_and(|t| !t.is_empty())));
    // Every entry of the intent's audit records is in the recording too.
    assert!(entries.iter().any(|e| e.kind == Kind::Audit
        && e.body["action"] == "dispatch_intent"
        && e.intent_id.as_deref() == Some(reply.intent_id.as_str())));
}

/// An attached watcher keeps its own recording of what it watches: the other node's agent
/// activity (tokens, outcome) and the bus, not what only that node knew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_records_what_it_watches() {
    let bus = Arc::new(LocalBus::new(1024 * 1024));
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut oc = support::config_in(a.path());
    oc.runtime.node = "edge-1".into();
    let owner = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        runner: Some(Arc::new(runner())),
        ..support::options(oc)
    })
    .await
    .unwrap();
    let mut wc = support::config_in(b.path());
    wc.runtime.node = "laptop".into();
    let watcher = Runtime::start(RuntimeOptions {
        bus: Some(bus.clone()),
        watch_only: true,
        ..support::options(wc)
    })
    .await
    .unwrap();
    let mut seen = watcher.subscribe();
    let reply = owner
        .dispatch_and_wait(
            &Caller::operator("alice"),
            "ops-agent",
            "Check the deploy queue",
        )
        .await
        .unwrap();
    // The watcher has heard the outcome before it stops.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(RuntimeEvent::IntentDone { intent_id, .. }) = seen.recv().await
                && intent_id == reply.intent_id
            {
                break;
            }
        }
    })
    .await
    .expect("the watcher hears the outcome");
    let rec_dir = watcher.recorder().dir().unwrap().to_path_buf();
    assert!(
        rec_dir.starts_with(b.path()),
        "in the watcher's own data dir"
    );
    watcher.shutdown().await;
    owner.shutdown().await;
    let entries = aios::recorder::read(&rec_dir, Range::default())
        .unwrap()
        .entries;
    assert_eq!(entries[0].kind, Kind::Start);
    assert_eq!(entries[0].body["source"], "attached");
    let mine = |k: Kind| {
        entries
            .iter()
            .filter(|e| e.kind == k && e.intent_id.as_deref() == Some(reply.intent_id.as_str()))
            .count()
    };
    assert!(entries.iter().any(|e| e.kind == Kind::Event
        && e.body["event"] == "intent_done"
        && e.body["intent_id"] == json!(reply.intent_id)));
    assert!(entries.iter().any(|e| e.kind == Kind::Event
        && e.body["event"] == "token"
        && e.body["intent_id"] == json!(reply.intent_id)));
    assert!(
        entries
            .iter()
            .any(|e| e.kind == Kind::Bus && e.body["channel"] == channels::INTENTS)
    );
    assert_eq!(
        mine(Kind::ModelRequest),
        0,
        "only the node that ran it knows its prompt"
    );
    assert!(
        aios::recorder::verify(&rec_dir)
            .unwrap()
            .first_bad
            .is_none()
    );
}

/// From the shell: `aios replay --check` verifies the recording and names the entry an
/// edit broke; `aios replay` without a terminal says so instead of drawing.
#[tokio::test]
async fn the_shell_checks_a_recording_and_finds_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = Runtime::start(RuntimeOptions {
        runner: Some(Arc::new(runner())),
        ..support::options(support::config_in(&data))
    })
    .await
    .unwrap();
    rt.dispatch_and_wait(
        &Caller::operator("alice"),
        "ops-agent",
        "Check the deploy queue",
    )
    .await
    .unwrap();
    let rec_dir = rt.recorder().dir().unwrap().to_path_buf();
    rt.shutdown().await;

    let check = |args: &[&str]| {
        support::aios(dir.path(), &data)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = check(&["replay", "--check"]);
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{out}");
    assert!(out.starts_with("recording OK:"), "{out}");

    // Edit one entry's text in place: its hash no longer matches.
    let file = aios::recorder::list_segments(&rec_dir).unwrap()[0]
        .1
        .clone();
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("Check the deploy queue", "Check the deploy QUEUE", 1);
    assert_ne!(text, edited);
    std::fs::write(&file, edited).unwrap();
    let broken = check(&["replay", "--check", "--json"]);
    assert_eq!(broken.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert!(
        report["first_bad"].as_str().unwrap().contains("edited"),
        "{report}"
    );

    let no_tty = check(&["replay"]);
    assert_eq!(no_tty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_tty.stderr).contains("needs a terminal"));
}
