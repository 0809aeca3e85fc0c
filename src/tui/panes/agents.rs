//! The agents pane's state: when each agent was last heard from, and its first goal.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Default)]
pub struct AgentActivity {
    pub last: Option<DateTime<Utc>>,
    pub goal: Option<String>,
}

/// How long ago, short: `5s`, `3m`, `2h`, `4d`.
pub fn ago(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = then else {
        return "-".into();
    };
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub type ActivityMap = HashMap<String, AgentActivity>;
