//! `Theme`: semantic colours from `themes/*.toml` (built in), so call sites never pick a
//! colour; `NO_COLOR` turns every colour off and leaves only bold/reverse/dim.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::event::AgentStatus;

/// The themes shipped in `themes/`, compiled in so the binary needs no files.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("dracula", include_str!("../../themes/dracula.toml")),
];

/// Colour names as they appear in the TOML files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    text: String,
    status_bar_fg: String,
    status_bar_bg: String,
    pane_border: String,
    pane_border_focused: String,
    title: String,
    selection_bg: String,
    selection_fg: String,
    dim: String,
    accent: String,
    status_idle: String,
    status_busy: String,
    status_streaming: String,
    status_error: String,
    diff_add: String,
    diff_remove: String,
    diff_hunk: String,
    diff_word_bg: String,
    channel_intents: String,
    channel_memory: String,
    channel_context: String,
    channel_other: String,
    rejected: String,
    warning: String,
    ok: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    /// `NO_COLOR`: styles keep their modifiers, colours are dropped.
    pub monochrome: bool,
    text: Color,
    status_bar: (Color, Color),
    border: Color,
    border_focused: Color,
    title: Color,
    selection: (Color, Color),
    dim: Color,
    accent: Color,
    idle: Color,
    busy: Color,
    streaming: Color,
    error: Color,
    add: Color,
    remove: Color,
    hunk: Color,
    word_bg: Color,
    intents: Color,
    memory: Color,
    context: Color,
    other: Color,
    rejected: Color,
    warning: Color,
    ok: Color,
}

/// Why a theme cannot be had; `tui.theme` and `:theme` show the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    #[error("no theme {name:?}; themes: {}", Theme::names().join(", "))]
    Unknown { name: String },
    /// The theme file is not TOML of the theme's fields.
    #[error("theme: {0}")]
    Toml(#[source] toml::de::Error),
    #[error("unknown colour {name:?}")]
    UnknownColour { name: String },
}

fn color(name: &str) -> Result<Color, ThemeError> {
    let n = name.trim().to_ascii_lowercase().replace('-', "_");
    if n == "reset" {
        return Ok(Color::Reset);
    }
    n.replace('_', "")
        .parse::<Color>()
        .or_else(|_| n.parse::<Color>())
        .map_err(|_| ThemeError::UnknownColour {
            name: name.to_string(),
        })
}

impl Theme {
    /// Names of the built-in themes, for `:theme` completion.
    pub fn names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let unknown = || ThemeError::Unknown {
            name: name.to_string(),
        };
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(unknown)?;
        Theme::from_toml(text)
    }

    /// The configured theme, monochrome when `NO_COLOR` is set (any non-empty value).
    pub fn for_terminal(name: &str) -> Result<Theme, ThemeError> {
        let mut t = Theme::builtin(name)?;
        t.monochrome = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ok(t)
    }

    pub fn from_toml(text: &str) -> Result<Theme, ThemeError> {
        let f: ThemeFile = toml::from_str(text).map_err(ThemeError::Toml)?;
        Ok(Theme {
            name: f.name,
            monochrome: false,
            text: color(&f.text)?,
            status_bar: (color(&f.status_bar_fg)?, color(&f.status_bar_bg)?),
            border: color(&f.pane_border)?,
            border_focused: color(&f.pane_border_focused)?,
            title: color(&f.title)?,
            selection: (color(&f.selection_fg)?, color(&f.selection_bg)?),
            dim: color(&f.dim)?,
            accent: color(&f.accent)?,
            idle: color(&f.status_idle)?,
            busy: color(&f.status_busy)?,
            streaming: color(&f.status_streaming)?,
            error: color(&f.status_error)?,
            add: color(&f.diff_add)?,
            remove: color(&f.diff_remove)?,
            hunk: color(&f.diff_hunk)?,
            word_bg: color(&f.diff_word_bg)?,
            intents: color(&f.channel_intents)?,
            memory: color(&f.channel_memory)?,
            context: color(&f.channel_context)?,
            other: color(&f.channel_other)?,
            rejected: color(&f.rejected)?,
            warning: color(&f.warning)?,
            ok: color(&f.ok)?,
        })
    }

    fn fg(&self, c: Color) -> Style {
        if self.monochrome {
            Style::new()
        } else {
            Style::new().fg(c)
        }
    }

    pub fn text(&self) -> Style {
        self.fg(self.text)
    }

    pub fn status_bar(&self) -> Style {
        if self.monochrome {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().fg(self.status_bar.0).bg(self.status_bar.1)
        }
    }

    pub fn pane_border(&self, focused: bool) -> Style {
        match (focused, self.monochrome) {
            (true, true) => Style::new().add_modifier(Modifier::BOLD),
            (true, false) => Style::new()
                .fg(self.border_focused)
                .add_modifier(Modifier::BOLD),
            (false, _) => self.fg(self.border),
        }
    }

    pub fn title(&self, focused: bool) -> Style {
        let s = self.fg(self.title);
        if focused {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }

    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().fg(self.selection.0).bg(self.selection.1)
        }
    }

    pub fn dim(&self) -> Style {
        self.fg(self.dim).add_modifier(Modifier::DIM)
    }

    pub fn accent(&self) -> Style {
        self.fg(self.accent)
    }

    pub fn heading(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }

    pub fn agent_status(&self, s: AgentStatus) -> Style {
        match s {
            AgentStatus::Idle => self.fg(self.idle),
            AgentStatus::Error => self.fg(self.error).add_modifier(Modifier::BOLD),
            AgentStatus::Streaming => self.fg(self.streaming),
            _ => self.fg(self.busy),
        }
    }

    pub fn diff_add(&self) -> Style {
        self.fg(self.add)
    }

    pub fn diff_remove(&self) -> Style {
        self.fg(self.remove)
    }

    pub fn diff_hunk(&self) -> Style {
        self.fg(self.hunk)
    }

    /// The changed words inside a changed line.
    pub fn diff_word(&self, added: bool) -> Style {
        let base = if added {
            self.diff_add()
        } else {
            self.diff_remove()
        };
        if self.monochrome {
            base.add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
        } else {
            base.bg(self.word_bg).add_modifier(Modifier::BOLD)
        }
    }

    /// A channel's colour: the three seed channels have their own, others share one.
    pub fn channel(&self, name: &str) -> Style {
        use crate::bus::channels;
        let c = match name {
            channels::INTENTS => self.intents,
            channels::MEMORY => self.memory,
            channels::CONTEXT => self.context,
            _ => self.other,
        };
        self.fg(c)
    }

    pub fn rejected(&self) -> Style {
        self.fg(self.rejected).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(self.warning).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(self.ok)
    }

    pub fn thinking(&self) -> Style {
        self.fg(self.dim)
            .add_modifier(Modifier::DIM | Modifier::ITALIC)
    }
}

impl Default for Theme {
    fn default() -> Theme {
        // The built-in default is checked by a test; the fallback only guards the impossible.
        Theme::builtin("default").unwrap_or_else(|_| Theme {
            name: "fallback".into(),
            monochrome: true,
            text: Color::Reset,
            status_bar: (Color::Reset, Color::Reset),
            border: Color::Reset,
            border_focused: Color::Reset,
            title: Color::Reset,
            selection: (Color::Reset, Color::Reset),
            dim: Color::Reset,
            accent: Color::Reset,
            idle: Color::Reset,
            busy: Color::Reset,
            streaming: Color::Reset,
            error: Color::Reset,
            add: Color::Reset,
            remove: Color::Reset,
            hunk: Color::Reset,
            word_bg: Color::Reset,
            intents: Color::Reset,
            memory: Color::Reset,
            context: Color::Reset,
            other: Color::Reset,
            rejected: Color::Reset,
            warning: Color::Reset,
            ok: Color::Reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_loads() {
        for name in Theme::names() {
            let t = Theme::builtin(name).unwrap();
            assert_eq!(t.name, name);
        }
        assert!(Theme::names().len() >= 4);
    }

    #[test]
    fn an_unknown_theme_or_colour_is_a_clear_error() {
        let e = Theme::builtin("nope").unwrap_err();
        assert_eq!(
            e,
            ThemeError::Unknown {
                name: "nope".into()
            }
        );
        assert!(e.to_string().contains("themes: default"));
        assert_eq!(
            e.to_string(),
            format!("no theme \"nope\"; themes: {}", Theme::names().join(", "))
        );
        let bad = include_str!("../../themes/default.toml").replace("\"cyan\"", "\"cyanish\"");
        let e = Theme::from_toml(&bad).unwrap_err();
        assert!(matches!(&e, ThemeError::UnknownColour { name } if name == "cyanish"));
        assert!(e.to_string().contains("cyanish"));
        assert_eq!(e.to_string(), "unknown colour \"cyanish\"");
        let e = Theme::from_toml("name = 1").unwrap_err();
        assert!(matches!(e, ThemeError::Toml(_)));
        assert!(e.to_string().starts_with("theme: "), "{e}");
    }

    #[test]
    fn monochrome_drops_colours_but_keeps_the_selection_visible() {
        let mut t = Theme::builtin("dracula").unwrap();
        t.monochrome = true;
        assert_eq!(t.channel("agent.action.intents").fg, None);
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }
}
