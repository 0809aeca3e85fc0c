//! The keymap: key names → `Action`s, as data. Defaults below; `[tui.keys]` in the config
//! rebinds (`"ctrl-s" = "stop"`, `"x" = "none"` unbinds). The help overlay is generated
//! from this table, so it cannot drift from what the keys do.

use std::collections::BTreeMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Pane};

/// A key name [`Key::parse`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("unknown key {text:?}")]
    Unknown { text: String },
}

/// An action name [`action_named`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("unknown action {name:?}")]
    Unknown { name: String },
}

/// Why the keymap cannot be built: a binding of `[tui.keys]`, named as the config writes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    /// A `[tui.keys]` key that is not a key.
    #[error("tui.keys: {0}")]
    Key(#[source] KeyError),
    /// A `[tui.keys]` key bound to an action that does not exist.
    #[error("tui.keys.{key}: {source}")]
    Action { key: String, source: ActionError },
    /// A built-in binding that does not read (a bug, caught by the tests).
    #[error(transparent)]
    DefaultKey(#[from] KeyError),
    #[error(transparent)]
    DefaultAction(#[from] ActionError),
}

/// A key as the keymap names it: a code and its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// Parse `q`, `ctrl-c`, `shift-tab`, `alt-enter`, `f1`, `pgdn`, `space`, `?`, …
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            let taken = ["ctrl-", "alt-", "shift-"]
                .iter()
                .find(|p| lower.starts_with(**p) && rest.len() > p.len());
            match taken {
                Some(&"ctrl-") => mods |= KeyModifiers::CONTROL,
                Some(&"alt-") => mods |= KeyModifiers::ALT,
                Some(_) => mods |= KeyModifiers::SHIFT,
                None => break,
            }
            rest = &rest[taken.map_or(0, |p| p.len())..];
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        return Err(KeyError::Unknown {
                            text: text.to_string(),
                        });
                    }
                }
            }
        };
        Ok(Key { code, mods })
    }

    /// Whether a terminal key event is this key. Shift on a printable character is part of
    /// the character (`?`, `G`), so it is not compared.
    fn matches(&self, ev: &KeyEvent) -> bool {
        let mut m = ev.modifiers;
        if matches!(ev.code, KeyCode::Char(_) | KeyCode::BackTab) {
            m.remove(KeyModifiers::SHIFT);
        }
        self.code == ev.code && self.mods == m
    }

    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("alt-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("shift-");
        }
        s.push_str(&match self.code {
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "shift-tab".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::F(n) => format!("f{n}"),
            other => format!("{other:?}").to_lowercase(),
        });
        s
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, Action)>,
}

const DEFAULTS: &[(&str, &str)] = &[
    ("q", "quit"),
    ("ctrl-c", "quit"),
    ("?", "help"),
    ("tab", "focus_next"),
    ("shift-tab", "focus_prev"),
    ("1", "agents"),
    ("2", "goals"),
    ("3", "channels"),
    ("4", "diff"),
    ("5", "stream"),
    ("6", "audit"),
    ("z", "zoom"),
    ("j", "down"),
    ("down", "down"),
    ("k", "up"),
    ("up", "up"),
    ("pgdn", "page_down"),
    ("ctrl-d", "page_down"),
    ("pgup", "page_up"),
    ("ctrl-u", "page_up"),
    ("g", "top"),
    ("home", "top"),
    ("G", "bottom"),
    ("end", "bottom"),
    ("enter", "open"),
    ("esc", "back"),
    ("i", "intent"),
    (":", "command"),
    ("/", "filter"),
    ("space", "pause"),
    ("x", "stop"),
    ("e", "edit_goals"),
    ("a", "approvals"),
    ("!", "next_attention"),
    ("n", "next_hunk"),
    ("p", "prev_hunk"),
    ("[", "older_version"),
    ("]", "newer_version"),
    ("s", "toggle_diff_view"),
    ("w", "why"),
    ("+", "faster"),
    ("-", "slower"),
    (".", "step_forward"),
    (",", "step_back"),
    ("<", "seek_back"),
    (">", "seek_forward"),
];

/// An action by its config name; pane names focus that pane.
pub fn action_named(name: &str) -> Result<Action, ActionError> {
    let pane = match name {
        "agents" => Some(Pane::Agents),
        "goals" => Some(Pane::Goals),
        "channels" => Some(Pane::Channels),
        "diff" => Some(Pane::Diff),
        "stream" => Some(Pane::Stream),
        "audit" => Some(Pane::Audit),
        _ => None,
    };
    if let Some(p) = pane {
        return Ok(Action::Focus(p));
    }
    if name == "none" {
        return Ok(Action::None);
    }
    // Unit variants deserialize from their snake_case name.
    serde_json::from_value::<Action>(serde_json::Value::String(name.to_string())).map_err(|_| {
        ActionError::Unknown {
            name: name.to_string(),
        }
    })
}

impl Keymap {
    /// The defaults, then the overrides (key name → action name) on top.
    pub fn new(overrides: &BTreeMap<String, String>) -> Result<Keymap, KeymapError> {
        let mut bindings = Vec::new();
        for (k, a) in DEFAULTS {
            bindings.push((Key::parse(k)?, action_named(a)?));
        }
        for (k, a) in overrides {
            let key = Key::parse(k).map_err(KeymapError::Key)?;
            let action = action_named(a).map_err(|source| KeymapError::Action {
                key: k.clone(),
                source,
            })?;
            bindings.retain(|(b, _)| *b != key);
            if action != Action::None {
                bindings.push((key, action));
            }
        }
        Ok(Keymap { bindings })
    }

    pub fn action(&self, ev: &KeyEvent) -> Action {
        self.bindings
            .iter()
            .find(|(k, _)| k.matches(ev))
            .map(|(_, a)| a.clone())
            .unwrap_or(Action::None)
    }

    /// Help rows: the keys of each action (in first-binding order) and what it does.
    pub fn help(&self) -> Vec<(String, String)> {
        self.help_for(false)
    }

    /// The help rows, without the keys that change anything when `read_only`.
    pub fn help_for(&self, read_only: bool) -> Vec<(String, String)> {
        let mut rows: Vec<(Vec<String>, Action)> = Vec::new();
        for (k, a) in &self.bindings {
            if read_only && a.changes() {
                continue;
            }
            match rows.iter_mut().find(|(_, b)| b == a) {
                Some((keys, _)) => keys.push(k.label()),
                None => rows.push((vec![k.label()], a.clone())),
            }
        }
        rows.into_iter()
            .map(|(keys, a)| (keys.join(" "), a.describe()))
            .collect()
    }
}

/// An action's name as `[tui.keys]` takes it (the inverse of `action_named` for bindable
/// actions): a pane's name for `Focus`, else the variant in snake_case.
pub fn action_name(action: &Action) -> String {
    if let Action::Focus(p) = action {
        return match p {
            Pane::Agents => "agents",
            Pane::Goals => "goals",
            Pane::Channels => "channels",
            Pane::Diff => "diff",
            Pane::Stream => "stream",
            Pane::Audit => "audit",
        }
        .to_string();
    }
    let mut name = String::new();
    for c in format!("{action:?}")
        .chars()
        .take_while(|c| c.is_alphanumeric())
    {
        if c.is_ascii_uppercase() && !name.is_empty() {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// A Markdown code span holding `text`, safe inside a table cell.
fn code_span(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

impl Keymap {
    /// The bindings as a Markdown table: the keys of each action (in first-binding order,
    /// as the help overlay lists them), its `[tui.keys]` name and what it does. docs/tui.md
    /// holds the default keymap's table, and `tests/docs.rs` fails when the two differ.
    pub fn markdown_table(&self) -> String {
        let mut rows: Vec<(Vec<String>, &Action)> = Vec::new();
        for (k, a) in &self.bindings {
            match rows.iter_mut().find(|(_, b)| *b == a) {
                Some((keys, _)) => keys.push(k.label()),
                None => rows.push((vec![k.label()], a)),
            }
        }
        let mut out = String::from("| keys | action | what |\n|---|---|---|\n");
        for (keys, a) in rows {
            let keys: Vec<String> = keys.iter().map(|k| code_span(k)).collect();
            let read_only = if a.changes() {
                " (not with `--read-only`)"
            } else {
                ""
            };
            out.push_str(&format!(
                "| {} | {} | {}{read_only} |\n",
                keys.join(" "),
                code_span(&action_name(a)),
                a.describe().replace('|', "\\|"),
            ));
        }
        out
    }
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap::new(&BTreeMap::new()).unwrap_or(Keymap {
            bindings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_bind_the_documented_keys() {
        let km = Keymap::default();
        assert_eq!(
            km.action(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Action::Quit
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Action::Help
        );
        assert_eq!(
            km.action(&key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Action::FocusPrev
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('4'), KeyModifiers::NONE)),
            Action::Focus(Pane::Diff)
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Action::Bottom
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('w'), KeyModifiers::NONE)),
            Action::Why
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('y'), KeyModifiers::NONE)),
            Action::None
        );
    }

    #[test]
    fn overrides_rebind_and_unbind() {
        let mut o = BTreeMap::new();
        o.insert("ctrl-s".to_string(), "stop".to_string());
        o.insert("x".to_string(), "none".to_string());
        let km = Keymap::new(&o).unwrap();
        assert_eq!(
            km.action(&key(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Action::Stop
        );
        assert_eq!(
            km.action(&key(KeyCode::Char('x'), KeyModifiers::NONE)),
            Action::None
        );
        assert!(
            km.help()
                .iter()
                .any(|(k, d)| k == "ctrl-s" && d.contains("stop"))
        );
    }

    #[test]
    fn action_names_round_trip() {
        for (_, name) in DEFAULTS {
            let action = action_named(name).unwrap();
            assert_eq!(action_name(&action), *name);
        }
    }

    #[test]
    fn markdown_table_has_a_row_per_action() {
        let table = Keymap::default().markdown_table();
        let mut lines = table.lines();
        assert_eq!(lines.next(), Some("| keys | action | what |"));
        assert_eq!(lines.next(), Some("|---|---|---|"));
        assert!(table.contains("| `q` `ctrl-c` | `quit` | quit |"));
        assert!(table.contains("| `4` | `diff` | go to Context diff |"));
        assert!(
            table.contains(
                "| `x` | `stop` | stop the agent's generation (not with `--read-only`) |"
            )
        );
        let mut o = BTreeMap::new();
        o.insert("|".to_string(), "help".to_string());
        o.insert("`".to_string(), "zoom".to_string());
        let table = Keymap::new(&o).unwrap().markdown_table();
        assert!(table.contains("| `?` `\\|` | `help` |"), "{table}");
        assert!(table.contains("| `z` `` ` `` | `zoom` |"), "{table}");
    }

    #[test]
    fn bad_keys_and_actions_are_clear_errors() {
        let mut o = BTreeMap::new();
        o.insert("hyper-q".to_string(), "quit".to_string());
        let e = Keymap::new(&o).unwrap_err();
        assert!(matches!(&e, KeymapError::Key(KeyError::Unknown { text }) if text == "hyper-q"));
        assert!(e.to_string().contains("unknown key"));
        assert_eq!(e.to_string(), "tui.keys: unknown key \"hyper-q\"");
        let mut o = BTreeMap::new();
        o.insert("q".to_string(), "explode".to_string());
        let e = Keymap::new(&o).unwrap_err();
        assert!(matches!(&e, KeymapError::Action { key, .. } if key == "q"));
        assert!(e.to_string().contains("unknown action"));
        assert_eq!(e.to_string(), "tui.keys.q: unknown action \"explode\"");
        // Data-carrying variants are not bindable.
        assert_eq!(
            action_named("tick"),
            Err(ActionError::Unknown {
                name: "tick".into()
            })
        );
        assert_eq!(
            Key::parse("ctrl-xy").unwrap_err().to_string(),
            "unknown key \"ctrl-xy\""
        );
    }
}
