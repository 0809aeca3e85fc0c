//! The mouse: a click focuses the pane under it, the wheel scrolls it (the focus stays).

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::{Action, App, Mode, Pane};

impl App {
    fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        super::super::view::pane_areas(self.size, self)
            .into_iter()
            .find(|(_, r)| r.contains(Position { x, y }))
            .map(|(p, _)| p)
    }

    pub(super) fn mouse(&mut self, m: MouseEvent) -> bool {
        if self.mode != Mode::Normal {
            return false;
        }
        let Some(pane) = self.pane_at(m.column, m.row) else {
            return false;
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => self.command(Action::Focus(pane)),
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let prev = self.focus;
                self.focus = pane;
                let a = if m.kind == MouseEventKind::ScrollDown {
                    Action::Down
                } else {
                    Action::Up
                };
                for _ in 0..3 {
                    self.command(a.clone());
                }
                self.focus = prev;
                true
            }
            _ => false,
        }
    }
}
