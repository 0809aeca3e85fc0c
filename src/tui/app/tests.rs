//! The app's own tests: focusing an agent, focus keys, the intent prompt and its history,
//! `:` commands, the quit question, the agents filter, a stream's timings.

use super::*;
use crate::agent::Catalog;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use std::path::PathBuf;

fn app() -> App {
    let info = RuntimeInfo {
        node: "n".into(),
        data_dir: PathBuf::from("/tmp/x"),
        bus: "in-process".into(),
        store: "embedded".into(),
        memory: "local".into(),
        embedder: "hash".into(),
        warnings: Vec::new(),
        runner: "sim".into(),
        model: "sim".into(),
        agents: 30,
        attached: None,
    };
    let mut a = App::from_parts(
        info,
        Catalog::builtin().agents().to_vec(),
        HashMap::new(),
        100,
    );
    a.effects.clear();
    a
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn enter_on_an_agent_focuses_it_and_loads_its_state() {
    let mut a = app();
    press(&mut a, KeyCode::Char('j'));
    let id = a.selected_agent().unwrap().id.clone();
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.focused_agent.as_deref(), Some(id.as_str()));
    assert!(a.effects.contains(&Effect::LoadAgent(id)));
}

#[test]
fn typing_an_intent_dispatches_it_and_keeps_history() {
    let mut a = app();
    press(&mut a, KeyCode::Char('i'));
    assert_eq!(a.mode, Mode::Prompt);
    // Replace the prefilled agent with a completed one.
    for _ in 0..40 {
        press(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "@sec");
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.input.lines()[0], "@sec-agent ");
    typed(&mut a, "check the keys");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.mode, Mode::Normal);
    assert!(a.effects.contains(&Effect::Dispatch {
        agent_id: "sec-agent".into(),
        text: "check the keys".into()
    }));
    assert_eq!(a.focused_agent.as_deref(), Some("sec-agent"));
    press(&mut a, KeyCode::Char('i'));
    press(&mut a, KeyCode::Up);
    assert_eq!(a.input.lines()[0], "@sec-agent check the keys");
}

#[test]
fn a_bad_intent_is_explained_not_sent() {
    let mut a = app();
    press(&mut a, KeyCode::Char('i'));
    for _ in 0..40 {
        press(&mut a, KeyCode::Backspace);
    }
    typed(&mut a, "@nobody hi");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.mode, Mode::Prompt);
    assert!(a.notice.as_ref().unwrap().0.contains("nobody"));
    assert!(
        !a.effects
            .iter()
            .any(|e| matches!(e, Effect::Dispatch { .. }))
    );
}

#[test]
fn quit_asks_first_while_a_generation_runs() {
    let mut a = app();
    a.update(Action::Runtime(Box::new(RuntimeEvent::Status {
        agent_id: "ops-agent".into(),
        status: AgentStatus::Streaming,
    })));
    press(&mut a, KeyCode::Char('q'));
    assert_eq!(a.mode, Mode::ConfirmQuit);
    assert!(!a.should_quit());
    press(&mut a, KeyCode::Char('n'));
    assert!(!a.should_quit());
    press(&mut a, KeyCode::Char('q'));
    press(&mut a, KeyCode::Char('y'));
    assert!(a.should_quit());
}

#[test]
fn focus_cycles_and_numbers_jump() {
    let mut a = app();
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Pane::Goals);
    a.update(Action::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    a.update(Action::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(a.focus, Pane::Audit);
    press(&mut a, KeyCode::Char('3'));
    assert_eq!(a.focus, Pane::Channels);
    press(&mut a, KeyCode::Char('z'));
    assert!(a.zoom);
}

#[test]
fn commands_change_theme_goals_and_patterns() {
    let mut a = app();
    a.run_command("theme dracula");
    assert_eq!(a.theme.name, "dracula");
    a.run_command("theme nope");
    assert!(a.notice.as_ref().unwrap().0.contains("no theme"));
    a.run_command("channel add ops.*");
    assert!(a.effects.contains(&Effect::AddPattern("ops.*".into())));
    a.run_command("pause");
    assert!(a.channels.paused);
    a.run_command("frobnicate");
    assert!(a.notice.as_ref().unwrap().0.contains("unknown command"));
    a.run_command("quit");
    assert!(a.should_quit());
}

#[test]
fn the_agent_filter_narrows_the_list() {
    let mut a = app();
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "sec");
    press(&mut a, KeyCode::Enter);
    let shown: Vec<_> = a
        .agent_rows()
        .into_iter()
        .filter_map(|r| match r {
            AgentRow::Agent(i) => Some(a.agents.specs[i].id.clone()),
            _ => None,
        })
        .collect();
    assert!(shown.contains(&"sec-agent".to_string()));
    assert!(!shown.contains(&"ops-agent".to_string()));
    assert_eq!(
        a.selected_agent().map(|s| s.id.as_str()),
        Some(shown[0].as_str())
    );
}

#[test]
fn the_stream_measures_first_token_and_rate() {
    let mut a = app();
    let t0 = Utc::now();
    a.update(Action::Tick(t0));
    a.update(Action::Runtime(Box::new(RuntimeEvent::IntentQueued {
        agent_id: "ops-agent".into(),
        intent_id: "i1".into(),
        text: "go".into(),
        operator: "me".into(),
        trace_id: None,
        depth: 0,
    })));
    a.update(Action::Tick(t0 + chrono::Duration::milliseconds(200)));
    for k in 0..11 {
        a.update(Action::Tick(
            t0 + chrono::Duration::milliseconds(200 + k * 100),
        ));
        a.update(Action::Runtime(Box::new(RuntimeEvent::Token {
            agent_id: "ops-agent".into(),
            intent_id: "i1".into(),
            text: "x ".into(),
            thinking: false,
        })));
    }
    let s = a.streams.get("ops-agent").expect("a stream");
    assert_eq!(s.first_token_ms(), Some(200));
    assert_eq!(s.tokens, 11);
    assert!((s.tokens_per_second().unwrap() - 10.0).abs() < 0.01);
}
