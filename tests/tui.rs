//! The control center drawn on a TestBackend: what an operator sees, without a terminal.

use std::collections::HashMap;
use std::path::PathBuf;

use aios::agent::{Catalog, RuntimeInfo};
use aios::event::{AgentStatus, RuntimeEvent};
use aios::tui::{Action, App, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    let info = RuntimeInfo {
        node: "edge-1".into(),
        data_dir: PathBuf::from("/tmp/x"),
        bus: "redis".into(),
        store: "redis".into(),
        memory: "local".into(),
        embedder: "hash".into(),
        runner: "sim".into(),
        model: "sim".into(),
        agents: 30,
    };
    let agents = Catalog::builtin().agents().to_vec();
    App::from_parts(info, agents, HashMap::new(), 1000)
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_screen_shows_agents_backends_and_the_live_bus_state() {
    let mut app = app();
    app.update(Action::BusState(
        "reconnecting (attempt 2, 3 waiting)".into(),
    ));
    app.update(Action::Runtime(Box::new(RuntimeEvent::Status {
        agent_id: "sec-agent".into(),
        status: AgentStatus::Streaming,
    })));
    let s = screen(&app, 160, 48);
    assert!(
        s.contains("bus redis reconnecting (attempt 2, 3 waiting)"),
        "{s}"
    );
    assert!(s.contains("runner sim (scripted)"), "{s}");
    assert!(s.contains("agents 1/30 busy"), "{s}");
    for id in ["ops-agent", "lead-router-agent", "review-agent"] {
        assert!(s.contains(id), "{id} missing:\n{s}");
    }
    assert!(
        s.contains("Core system") && s.contains("Domain-specific"),
        "{s}"
    );
}

#[test]
fn a_small_terminal_gets_a_clear_message() {
    let s = screen(&app(), 60, 20);
    assert!(s.contains("terminal too small: 60×20"), "{s}");
}

#[test]
fn streamed_text_is_neutralized_and_quit_quits() {
    let mut app = app();
    app.update(Action::Runtime(Box::new(RuntimeEvent::Token {
        agent_id: "ops-agent".into(),
        intent_id: "i".into(),
        text: "deploy\u{1b}]0;pwned\u{7} done".into(),
        thinking: false,
    })));
    let s = screen(&app, 120, 30);
    assert!(s.contains("deploy done"), "{s}");
    assert!(!s.contains("pwned"), "{s}");
    assert!(!app.should_quit());
    app.update(Action::Quit);
    assert!(app.should_quit());
}
