//! The goals pane's state beyond the agent's own (`AgentState`): each agent's last recall
//! and each hook's latest delivery.
//!
//! Its drawing is in `draw.rs`.

mod draw;
pub(crate) use draw::draw;

use std::collections::HashMap;

use crate::context::AgentState;
use crate::hooks::DeliveryRow;

/// An agent's last recall as the goals pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastRecall {
    pub caller: String,
    pub query: String,
    pub embedder: String,
    pub items: Vec<crate::event::RecalledItem>,
}

/// The goals pane's data: the focused agent's state as loaded, and what came by events.
#[derive(Clone, Default)]
pub struct GoalsState {
    /// The focused agent's goals, persona, hooks and memory count, once loaded.
    pub agent: Option<AgentState>,
    /// Each agent's last recall (query, embedder, scored items).
    pub recalls: HashMap<String, LastRecall>,
    /// Each hook's latest delivery.
    pub deliveries: Deliveries,
}

impl GoalsState {
    /// A hook's delivery, kept if it is the latest (see `keep_delivery`).
    pub fn delivered(&mut self, delivery: DeliveryRow) {
        keep_delivery(&mut self.deliveries, delivery);
    }
}

/// Each hook's latest delivery, by (agent, hook name).
pub type Deliveries = HashMap<(String, String), DeliveryRow>;

/// Keep a hook's delivery as its latest: a retry of an older delivery must not hide a newer
/// one's state.
pub fn keep_delivery(deliveries: &mut Deliveries, delivery: DeliveryRow) {
    let key = (delivery.agent_id.clone(), delivery.hook.clone());
    let newer = deliveries
        .get(&key)
        .is_none_or(|cur| cur.id == delivery.id || cur.created <= delivery.created);
    if newer {
        deliveries.insert(key, delivery);
    }
}
