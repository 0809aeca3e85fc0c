//! The control center drawn on a TestBackend with fixed data: every pane, the full screen
//! at 80×24 and 160×48, and the overlays, as insta snapshots (the clock is fixed, ages are
//! computed from a fixed "now").

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use aios::agent::{Catalog, RuntimeInfo};
use aios::audit::{AuditRecord, GENESIS_HASH, Outcome};
use aios::bus::{Envelope, Received, RejectedMessage, Rejection, Source, channels, kinds};
use aios::context::{AgentState, Cause, VersionInfo, diff_texts};
use aios::event::{AgentStatus, RuntimeEvent};
use aios::tui::{Action, App, Mode, Pane, draw, draw_pane};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn info() -> RuntimeInfo {
    RuntimeInfo {
        node: "edge-1".into(),
        data_dir: PathBuf::from("/tmp/x"),
        bus: "redis".into(),
        store: "redis".into(),
        memory: "local".into(),
        embedder: "hash".into(),
        runner: "sim".into(),
        model: "sim".into(),
        agents: 30,
        warnings: Vec::new(),
        attached: None,
    }
}

fn empty_app() -> App {
    let mut app = App::from_parts(
        info(),
        Catalog::builtin().agents().to_vec(),
        HashMap::new(),
        1000,
    );
    app.take_effects();
    app.update(Action::Tick(now()));
    app.set_clock_text("12:00:00");
    app
}

fn ev(e: RuntimeEvent) -> Action {
    Action::Runtime(Box::new(e))
}

fn envelope(kind: &str, agent: &str, payload: serde_json::Value, sec: u32) -> Arc<Envelope> {
    let mut e = Envelope::new(
        kind,
        Source {
            node: "edge-1".into(),
            agent_id: None,
            operator: Some("alice".into()),
        },
        Some(agent),
        payload,
    );
    e.id = format!("0190000{sec}");
    e.ts = format!("2026-11-24T11:59:{sec:02}.000Z");
    Arc::new(e)
}

fn audit_records(n: u64) -> Vec<Arc<AuditRecord>> {
    let mut prev = GENESIS_HASH.to_string();
    (0..n)
        .map(|seq| {
            let mut r = AuditRecord {
                seq,
                id: format!("rec-{seq}"),
                timestamp: format!("2026-11-24T11:59:{:02}.000Z", seq % 60),
                agent_id: Some(
                    if seq % 2 == 0 {
                        "ops-agent"
                    } else {
                        "sec-agent"
                    }
                    .into(),
                ),
                action: ["dispatch_intent", "recall", "update_context", "set_goals"]
                    [seq as usize % 4]
                    .into(),
                input: serde_json::json!({"n": seq}),
                context_id: None,
                caller: "tui:alice".into(),
                outcome: if seq == 5 {
                    Outcome::Error
                } else {
                    Outcome::Ok
                },
                error: (seq == 5).then(|| "no such goal".to_string()),
                duration_ms: 1.0,
                intent_id: None,
                trace_id: None,
                parent_id: None,
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            r.seal();
            prev = r.hash.clone();
            Arc::new(r)
        })
        .collect()
}

/// An app with every pane full of fixed data, focused on ops-agent.
fn full_app() -> App {
    let mut app = empty_app();
    let spec = app
        .agents()
        .iter()
        .find(|a| a.id == "ops-agent")
        .unwrap()
        .clone();
    app.update(ev(RuntimeEvent::IntentQueued {
        agent_id: "ops-agent".into(),
        intent_id: "i-1".into(),
        text: "deploy staging".into(),
        operator: "alice".into(),
        trace_id: None,
        depth: 0,
    }));
    for (id, st) in [
        ("ops-agent", AgentStatus::Streaming),
        ("sec-agent", AgentStatus::CallingTool),
        ("dev-agent", AgentStatus::Thinking),
        ("billing-agent", AgentStatus::Error),
        ("seo-agent", AgentStatus::Recalling),
    ] {
        app.update(ev(RuntimeEvent::Status {
            agent_id: id.into(),
            status: st,
        }));
    }
    let t0 = now();
    app.update(Action::Tick(t0 + chrono::Duration::milliseconds(150)));
    app.update(ev(RuntimeEvent::Token {
        agent_id: "ops-agent".into(),
        intent_id: "i-1".into(),
        text: "The user wants staging deployed; check the pipeline first.\n".into(),
        thinking: true,
    }));
    for (k, word) in "Deploying build 42 to staging.\nPipeline is green; rolling out \
                      in two batches.\u{1b}[2J\nBatch 1 done."
        .split_inclusive(' ')
        .enumerate()
    {
        app.update(Action::Tick(
            t0 + chrono::Duration::milliseconds(200 + 50 * k as i64),
        ));
        app.update(ev(RuntimeEvent::Token {
            agent_id: "ops-agent".into(),
            intent_id: "i-1".into(),
            text: word.into(),
            thinking: false,
        }));
    }
    app.update(Action::Tick(t0 + chrono::Duration::seconds(3)));
    app.set_clock_text("12:00:03");
    // Channels: the three seed channels, a pattern's channel, a rejected message.
    let msgs = [
        (
            channels::INTENTS,
            kinds::INTENT,
            serde_json::json!({"text": "deploy staging"}),
        ),
        (
            channels::CONTEXT,
            kinds::CONTEXT,
            serde_json::json!({"version": 2, "summary": "intent i-1: deploy staging"}),
        ),
        (
            channels::MEMORY,
            kinds::MEMORY,
            serde_json::json!({"text": "staging runs v2", "tags": ["deploy"]}),
        ),
        (
            "ops.deploy",
            "note",
            serde_json::json!({"text": "batch 1 done"}),
        ),
    ];
    for (i, (ch, kind, payload)) in msgs.into_iter().enumerate() {
        app.update(Action::Bus(Received::Message {
            channel: ch.into(),
            envelope: envelope(kind, "ops-agent", payload, 50 + i as u32),
        }));
    }
    app.update(Action::Bus(Received::Rejected(RejectedMessage {
        channel: channels::INTENTS.into(),
        ts: "2026-11-24T11:59:58.000Z".into(),
        reason: Rejection::NotUtf8,
        preview: "\\xff\\xfe".into(),
    })));
    for r in audit_records(12) {
        app.update(Action::Audit(r));
    }
    app.update(Action::AuditChain {
        records: 12,
        broken_at: None,
    });
    app.update(Action::AgentLoaded(Box::new(AgentState {
        goals: spec.goals.clone(),
        persona_traits: spec.persona_traits.clone(),
        protocol_hooks: vec![aios::context::ProtocolHook {
            name: "sec-review".into(),
            on: "intent.received".into(),
            action: "handoff:sec-agent".into(),
        }],
        memory_count: 7,
        context_version: Some(2),
        context_id: Some("ctx-2".into()),
        spec,
    })));
    let version = |v: u64, summary: &str| VersionInfo {
        version: v,
        context_id: format!("ctx-{v}"),
        created_at: "2026-11-24T11:59:00.000Z".into(),
        summary: summary.into(),
        cause: Cause {
            caller: "agent:ops-agent".into(),
            intent_id: Some("i-1".into()),
            tool: Some("update_context".into()),
        },
        lines: 5,
    };
    app.update(Action::Versions {
        agent_id: "ops-agent".into(),
        versions: vec![
            version(1, "first"),
            version(2, "intent i-1: deploy staging"),
        ],
    });
    app.update(Action::Diff(Box::new(diff_texts(
        "ops-agent",
        1,
        "# ops-agent context\n\n## Goals\n- orchestrate_deployments\n- keep pipelines green\n\nstatus: idle\n",
        2,
        "# ops-agent context\n\n## Goals\n- orchestrate_deployments\n- keep all pipelines green\n\nstatus: deploying staging\nbatch: 1 of 2\n",
    ))));
    app.take_effects();
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, app)).unwrap();
    support::buffer_text(term.backend().buffer())
}

fn pane(app: &App, p: Pane, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw_pane(f, app, p, Rect::new(0, 0, w, h)))
        .unwrap();
    support::buffer_text(term.backend().buffer())
}

#[test]
fn full_screen_80x24() {
    insta::assert_snapshot!(screen(&full_app(), 80, 24));
}

#[test]
fn full_screen_160x48() {
    insta::assert_snapshot!(screen(&full_app(), 160, 48));
}

#[test]
fn pane_agents() {
    insta::assert_snapshot!(pane(&full_app(), Pane::Agents, 70, 40));
}

#[test]
fn pane_goals() {
    insta::assert_snapshot!(pane(&full_app(), Pane::Goals, 70, 14));
}

#[test]
fn pane_channels() {
    insta::assert_snapshot!(pane(&full_app(), Pane::Channels, 90, 14));
}

#[test]
fn pane_diff_unified_and_side_by_side() {
    let mut app = full_app();
    let unified = pane(&app, Pane::Diff, 90, 16);
    app.update(Action::ToggleDiffView);
    let side = pane(&app, Pane::Diff, 120, 16);
    insta::assert_snapshot!(format!("{unified}\n\n{side}"));
}

#[test]
fn pane_stream() {
    let s = pane(&full_app(), Pane::Stream, 70, 12);
    assert!(
        !s.contains("[2J"),
        "escape sequences must not reach the screen"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn pane_audit() {
    insta::assert_snapshot!(pane(&full_app(), Pane::Audit, 90, 12));
}

#[test]
fn help_overlay_lists_the_keymap() {
    let mut app = full_app();
    app.update(Action::Help);
    let s = screen(&app, 160, 48);
    for (keys, what) in app.keymap().help() {
        assert!(s.contains(&keys), "{keys} missing:\n{s}");
        assert!(s.contains(&what[..what.len().min(20)]), "{what} missing");
    }
    insta::assert_snapshot!(s);
}

#[test]
fn intent_prompt_and_json_detail() {
    let mut app = full_app();
    app.update(Action::Intent);
    let prompt = screen(&app, 100, 30);
    assert!(prompt.contains("@ops-agent"), "{prompt}");
    app.update(Action::Back);
    app.update(Action::Focus(Pane::Channels));
    app.update(Action::Top);
    app.update(Action::Open);
    assert!(matches!(app.mode(), Mode::Detail { .. }));
    let detail = screen(&app, 100, 30);
    assert!(detail.contains("\"kind\": \"intent\""), "{detail}");
    insta::assert_snapshot!(format!("{prompt}\n\n{detail}"));
}

#[test]
fn a_small_terminal_gets_a_clear_message() {
    let s = screen(&empty_app(), 60, 20);
    assert!(s.contains("terminal too small: 60×20"), "{s}");
}

#[test]
fn the_status_bar_shows_backends_bus_state_and_chain() {
    let mut app = full_app();
    app.update(Action::BusState(
        "reconnecting (attempt 2, 3 waiting)".into(),
    ));
    let s = screen(&app, 200, 40);
    assert!(
        s.contains("bus redis reconnecting (attempt 2, 3 waiting)"),
        "{s}"
    );
    assert!(s.contains("runner sim (simulated)"), "{s}");
    assert!(s.contains("agents 4/30 busy"), "{s}");
    assert!(s.contains("audit 12 ✓"), "{s}");
}

#[test]
fn a_tampered_audit_record_shows_a_broken_chain() {
    let mut app = empty_app();
    let mut recs: Vec<AuditRecord> = audit_records(4).iter().map(|r| (**r).clone()).collect();
    recs[2].caller = "mallory".into();
    for r in recs {
        app.update(Action::Audit(Arc::new(r)));
    }
    let s = pane(&app, Pane::Audit, 90, 10);
    assert!(s.contains("chain broken at record 2"), "{s}");
}

#[test]
fn mouse_click_focuses_and_wheel_scrolls() {
    use ratatui::crossterm::event::{MouseEvent, MouseEventKind};
    let mut app = full_app();
    app.update(Action::Resize(160, 48));
    let areas = aios::tui::pane_areas(Rect::new(0, 0, 160, 48), &app);
    let (_, audit) = areas.iter().find(|(p, _)| *p == Pane::Audit).unwrap();
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::Down(ratatui::crossterm::event::MouseButton::Left),
        column: audit.x + 2,
        row: audit.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.focus(), Pane::Audit);
    let before = app.audit().cursor.selected;
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: audit.x + 2,
        row: audit.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.audit().cursor.selected, before - 3);
    assert!(!app.audit().cursor.follow);
}

#[test]
fn channels_filter_pause_and_bounded_buffer() {
    let mut app = full_app();
    app.update(Action::Focus(Pane::Channels));
    app.update(Action::Filter);
    for c in "channel:memory".chars() {
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    assert_eq!(app.channels().visible.len(), 1);
    app.update(Action::Pause);
    for i in 0..5000 {
        app.update(Action::Bus(Received::Message {
            channel: channels::MEMORY.into(),
            envelope: envelope(
                kinds::MEMORY,
                "ops-agent",
                serde_json::json!({"text": i}),
                1,
            ),
        }));
    }
    assert_eq!(
        app.channels().visible.len(),
        1,
        "paused: the view holds still"
    );
    app.update(Action::Pause);
    assert_eq!(app.channels().lines.len(), 1000, "bounded by max_lines");
    assert_eq!(app.channels().visible.len(), 1000);
    assert!(app.channels().selected_line().is_some());
}

fn pending(id: &str, agent: &str, tool: &str, origin: &str, preview: &str) -> RuntimeEvent {
    RuntimeEvent::ApprovalAsked {
        approval: Box::new(aios::approvals::PendingApproval {
            id: id.into(),
            agent_id: agent.into(),
            intent_id: "019ad0c4-7a1e-7c3d-9e21-4f5a6b7c8d9e".into(),
            call_id: "c1".into(),
            tool: tool.into(),
            origin: origin.into(),
            arguments: serde_json::json!({"email": "ada@example.com", "source": "webinar"}),
            preview: preview.into(),
            asked_at: "2026-11-24T11:59:40Z".into(),
            node: "edge-1".into(),
        }),
    }
}

fn approvals_app() -> App {
    let mut app = full_app();
    app.update(ev(pending(
        "7c3d9e214f5a",
        "sales-agent",
        "n8n_new_lead",
        "http",
        "POST http://n8n.internal:5678/webhook/new-lead\nHost: n8n.internal:5678\n\
         Content-Type: application/json\nX-N8N-Token: ••••\nContent-Length: 50\n\n\
         {\"email\":\"ada@example.com\",\"source\":\"webinar\"}",
    )));
    app.update(ev(pending(
        "9e214f5a6b7c",
        "strategy-agent",
        "set_goals",
        "builtin",
        "--- strategy-agent goals\n+++ strategy-agent goals (new)\n@@ -1,2 +1,2 @@\n\
         -optimize_conversion\n+close_enterprise_deals\n map_growth_trajectory\n",
    )));
    app.take_effects();
    app
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn approvals_view_80x24() {
    let mut app = approvals_app();
    let before = screen(&app, 80, 24);
    assert!(before.contains("⏸ 2 waiting for approval (a)"), "{before}");
    app.update(key(KeyCode::Char('a')));
    assert_eq!(*app.mode(), Mode::Approvals);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("POST http://n8n.internal:5678/webhook/new-lead"),
        "{s}"
    );
    assert!(s.contains("X-N8N-Token: ••••"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn approvals_view_160x48() {
    let mut app = approvals_app();
    app.update(key(KeyCode::Char('a')));
    app.update(key(KeyCode::Char('j')));
    let s = screen(&app, 160, 48);
    assert!(s.contains("-optimize_conversion"), "{s}");
    assert!(s.contains("+close_enterprise_deals"), "{s}");
    insta::assert_snapshot!(s);
}

fn decided(app: &mut App) -> (String, aios::approvals::DecisionInput) {
    let effects = app.take_effects();
    match effects.as_slice() {
        [aios::tui::Effect::Decide { id, decision }] => (id.clone(), decision.clone()),
        other => panic!("expected one decision, got {other:?}"),
    }
}

#[test]
fn approvals_are_decided_from_the_keyboard() {
    let mut app = approvals_app();
    app.update(key(KeyCode::Char('a')));
    app.update(key(KeyCode::Char('y')));
    let (id, d) = decided(&mut app);
    assert_eq!(id, "7c3d9e214f5a");
    assert!(d.approve && !d.always && d.arguments.is_none());

    // Deny asks why, and an empty reason is not accepted.
    app.update(key(KeyCode::Char('j')));
    app.update(key(KeyCode::Char('n')));
    assert_eq!(*app.mode(), Mode::DenyReason);
    app.update(key(KeyCode::Enter));
    assert!(app.effects().is_empty());
    for c in "freeze".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    let (id, d) = decided(&mut app);
    assert_eq!(id, "9e214f5a6b7c");
    assert!(!d.approve);
    assert_eq!(d.reason.as_deref(), Some("freeze"));
    assert_eq!(*app.mode(), Mode::Approvals);

    // Edit: the arguments as JSON; bad JSON is refused, ctrl-s approves an object.
    app.update(key(KeyCode::Char('k')));
    app.update(key(KeyCode::Char('e')));
    assert_eq!(*app.mode(), Mode::EditArguments);
    let edit = screen(&app, 100, 30);
    assert!(edit.contains("\"email\": \"ada@example.com\""), "{edit}");
    app.set_input("{\"email\": \"x@y\"");
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    assert!(app.effects().is_empty(), "bad JSON is not sent");
    app.set_input("{\"email\": \"x@y\"}");
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    let (_, d) = decided(&mut app);
    assert_eq!(d.arguments, Some(serde_json::json!({"email": "x@y"})));

    app.update(key(KeyCode::Char('A')));
    let (_, d) = decided(&mut app);
    assert!(d.approve && d.always);

    // Decided elsewhere: it leaves the list.
    app.update(ev(RuntimeEvent::ApprovalDecided {
        id: "7c3d9e214f5a".into(),
        agent_id: "sales-agent".into(),
        approved: true,
        by: "operator:bob".into(),
    }));
    assert_eq!(app.approvals().len(), 1);
    app.update(key(KeyCode::Esc));
    assert_eq!(*app.mode(), Mode::Normal);
}

#[test]
fn agents_needing_a_person_are_marked_alerted_once_and_reached_with_one_key() {
    let mut app = empty_app();
    let status = |agent: &str, status| {
        ev(RuntimeEvent::Status {
            agent_id: agent.into(),
            status,
        })
    };
    app.update(status("sales-agent", AgentStatus::Waiting));
    app.update(ev(RuntimeEvent::Attention {
        agent_id: "sec-agent".into(),
        intent_id: "i1".into(),
        reason: "looping: called recall with the same arguments 3 times (stopped)".into(),
    }));
    app.update(status("dev-agent", AgentStatus::Error));
    assert_eq!(
        app.attention("sales-agent").as_deref(),
        Some("waiting for approval")
    );
    assert!(app.attention("sec-agent").unwrap().starts_with("looping"));
    assert_eq!(app.attention("dev-agent").as_deref(), Some("failed"));
    assert_eq!(app.attention("ops-agent"), None);
    assert_eq!(app.alerts().len(), 3, "{:?}", app.alerts());
    app.update(Action::Tick(now() + chrono::Duration::seconds(1)));
    assert_eq!(app.alerts().len(), 3, "no second alert for the same state");

    let agents = pane(&app, Pane::Agents, 60, 40);
    let row = |id: &str| agents.lines().find(|l| l.contains(id)).unwrap().to_string();
    assert!(row("sales-agent").contains("!"), "{agents}");
    assert!(!row("ops-agent").contains("!"), "{agents}");

    // `!` visits them in list order and focuses each.
    let mut seen = Vec::new();
    for _ in 0..3 {
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('!'),
            KeyModifiers::NONE,
        )));
        seen.push(app.focused_agent().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, ["dev-agent", "sales-agent", "sec-agent"]);

    // A new intent ends the loop mark; a quiet stream becomes stalled after stall_s.
    app.update(status("sec-agent", AgentStatus::Recalling));
    assert_eq!(app.attention("sec-agent"), None);
    app.set_stall_s(30);
    app.update(status("ops-agent", AgentStatus::Streaming));
    assert_eq!(app.attention("ops-agent"), None);
    app.update(Action::Tick(now() + chrono::Duration::seconds(45)));
    assert!(app.attention("ops-agent").unwrap().starts_with("stalled"));
    assert!(
        app.alerts().iter().any(|a| a.contains("ops-agent stalled")),
        "{:?}",
        app.alerts()
    );
}

fn hook_delivery(
    id: &str,
    state: &str,
    created: &str,
    attempts: u32,
    status: Option<u16>,
    error: Option<&str>,
) -> Action {
    ev(RuntimeEvent::HookDelivery {
        delivery: Box::new(aios::hooks::DeliveryRow {
            id: id.into(),
            agent_id: "ops-agent".into(),
            hook: "sec-review".into(),
            event: "intent.done".into(),
            target: "webhook".into(),
            state: state.into(),
            attempts,
            status,
            latency_ms: Some(12),
            error: error.map(String::from),
            created: created.into(),
            next_attempt: None,
        }),
    })
}

#[test]
fn the_goals_pane_shows_each_hooks_latest_delivery() {
    let mut app = full_app();
    let goals = |app: &App| pane(app, Pane::Goals, 80, 16);
    assert!(!goals(&app).contains("last:"), "no delivery yet");
    app.update(hook_delivery(
        "d1",
        "dead",
        "2026-11-24T12:00:00.000Z",
        8,
        Some(503),
        Some("answered 503; gave up after 8 attempts"),
    ));
    let text = goals(&app);
    assert!(
        text.contains("last: dead 8 attempts · HTTP 503 · 12 ms · answered 503; gave up after 8"),
        "{text}"
    );
    app.update(hook_delivery(
        "d2",
        "delivered",
        "2026-11-24T12:01:00.000Z",
        1,
        Some(204),
        None,
    ));
    assert!(goals(&app).contains("last: delivered 1 attempt · HTTP 204 · 12 ms"));
    // A retry of the older one reports late: the newer delivery stays shown.
    app.update(hook_delivery(
        "d1",
        "pending",
        "2026-11-24T12:00:00.000Z",
        0,
        None,
        None,
    ));
    assert!(
        goals(&app).contains("last: delivered 1 attempt"),
        "{}",
        goals(&app)
    );
}

#[test]
fn the_goals_pane_shows_the_focused_agents_last_recall_with_scores() {
    let mut app = full_app();
    let goals = |app: &App| pane(app, Pane::Goals, 80, 20);
    assert!(!goals(&app).contains("Last recall"), "no recall yet");
    let recalled = |agent: &str, query: &str, items: Vec<(f32, &str)>| {
        ev(RuntimeEvent::Recalled {
            agent_id: agent.into(),
            caller: format!("agent:{agent}"),
            query: query.into(),
            embedder: "minilm:all-MiniLM-L6-v2".into(),
            items: items
                .into_iter()
                .map(|(score, text)| aios::event::RecalledItem {
                    score,
                    kind: "episodic".into(),
                    text: text.into(),
                })
                .collect(),
        })
    };
    // Another agent's recall is not the focused one's.
    app.update(recalled(
        "sec-agent",
        "rotate keys",
        vec![(0.9, "keys rotated")],
    ));
    assert!(!goals(&app).contains("Last recall"));
    let long = format!("deploy staging after the fix {}", "x".repeat(200));
    app.update(recalled(
        "ops-agent",
        "roll out to staging",
        vec![(0.8123, long.as_str()), (0.4, "restart worker 7")],
    ));
    let text = goals(&app);
    assert!(
        text.contains("Last recall · MiniLM · \"roll out to staging\" (agent:ops-agent)"),
        "{text}"
    );
    assert!(
        text.contains("0.812 [episodic] deploy staging after the fix"),
        "{text}"
    );
    assert!(text.contains("0.400 [episodic] restart worker 7"), "{text}");
    // A long memory is cut to one line, not wrapped over the others.
    let line = text.lines().find(|l| l.contains("0.812")).expect("line");
    assert!(line.contains('…'), "{line}");
    assert!(
        text.lines().filter(|l| l.contains("xxxx")).count() == 1,
        "{text}"
    );
}

#[test]
fn the_status_bar_names_the_embedder_and_says_hash_is_not_semantic() {
    let app = empty_app();
    let bar = screen(&app, 400, 24);
    let first = bar.lines().next().unwrap_or_default();
    assert!(
        first.contains("memory local · hash (not semantic)"),
        "{first}"
    );
    let mut info = info();
    info.embedder = "minilm:all-MiniLM-L6-v2".into();
    info.warnings = vec!["memory_schema of strategy-agent names qdrant, …".into()];
    let app = App::from_parts(
        info,
        Catalog::builtin().agents().to_vec(),
        HashMap::new(),
        1000,
    );
    let bar = screen(&app, 400, 24);
    let first = bar.lines().next().unwrap_or_default();
    assert!(first.contains("memory local · MiniLM"), "{first}");
    assert!(
        first.contains("⚠ 1 memory store unreachable → local (aios doctor)"),
        "{first}"
    );
}

#[test]
fn a_read_only_control_center_hides_and_refuses_every_key_that_changes_anything() {
    let mut app = full_app();
    app.set_read_only(true);
    app.take_effects();
    // Help: the changing keys are not offered.
    app.update(Action::Help);
    let help = screen(&app, 160, 48);
    for hidden in [
        "send an intent",
        "stop the agent's generation",
        "edit goals",
    ] {
        assert!(!help.contains(hidden), "{hidden} offered:\n{help}");
    }
    assert!(
        help.contains("move down") || help.contains("down"),
        "{help}"
    );
    app.update(Action::Back);
    let bar = screen(&app, 160, 48);
    assert!(bar.contains("read-only · tab/1-6 panes"), "{bar}");
    assert!(!bar.contains("i intent"), "{bar}");

    // The keys themselves: refused, said, and nothing leaves the app.
    for k in ['i', 'x', 'e'] {
        app.update(key(KeyCode::Char(k)));
        let notice = app.notice().unwrap_or_default().to_string();
        assert!(notice.contains("read-only"), "{k}: {notice:?}");
        assert_eq!(*app.mode(), Mode::Normal, "{k} opened an editor");
    }
    // A command line that would save goals, and an approval: refused at the effect.
    app.update(key(KeyCode::Char(':')));
    for c in "goal add ship it".chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
    app.update(Action::Approvals);
    app.update(key(KeyCode::Char('y')));
    assert!(
        !app.effects().iter().any(|e| matches!(
            e,
            aios::tui::Effect::Dispatch { .. }
                | aios::tui::Effect::SaveGoals { .. }
                | aios::tui::Effect::Stop(_)
                | aios::tui::Effect::Decide { .. }
        )),
        "{:?}",
        app.effects()
    );

    // The same app, not read-only, does produce them (the test can fail).
    app.set_read_only(false);
    app.update(Action::Back);
    app.update(key(KeyCode::Char('x')));
    assert!(
        app.effects()
            .iter()
            .any(|e| matches!(e, aios::tui::Effect::Stop(_)))
    );
}
