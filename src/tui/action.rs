//! `Action`: everything that can change the UI's state. Keys map to actions; panes never
//! match raw keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::event::RuntimeEvent;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the control center.
    Quit,
    /// Select the next agent.
    Down,
    /// Select the previous agent.
    Up,
    /// The clock ticked (status bar time).
    Tick,
    /// The bus's connection state, e.g. `connected`, `reconnecting (attempt 2, 3 waiting)`.
    BusState(String),
    /// Something happened in the runtime.
    Runtime(Box<RuntimeEvent>),
    /// The UI fell behind and this many runtime events were dropped.
    Dropped(u64),
    /// A key with no binding.
    None,
}

impl Action {
    pub fn from_key(key: KeyEvent) -> Action {
        match (key.code, key.modifiers) {
            (KeyCode::Char('q'), _) | (KeyCode::Char('c'), KeyModifiers::CONTROL) => Action::Quit,
            (KeyCode::Char('j'), _) | (KeyCode::Down, _) => Action::Down,
            (KeyCode::Char('k'), _) | (KeyCode::Up, _) => Action::Up,
            _ => Action::None,
        }
    }
}
