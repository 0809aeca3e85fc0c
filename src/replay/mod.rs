//! Replay: the control center driven by a recording, with no runtime, no model and no
//! network. `timeline` turns entries back into the actions the app was fed live; `player`
//! moves one time cursor through them and keeps the app as it stood at that moment.

mod player;
mod timeline;

pub use player::{Player, SPEEDS};
pub use timeline::{Start, Step, Timeline, What};
