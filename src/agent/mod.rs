//! Agents: the catalog of the spec's 30 agents, their specs, and the runtime that runs them.

pub mod activity;
pub(crate) mod backends;
pub mod catalog;
pub mod dispatcher;
mod hook_start;
pub mod intake;
pub mod intent;
pub mod pending;
pub mod prompt;
pub mod registry;
pub mod relay;
pub mod runtime;
pub mod spec;
pub mod tools;
pub mod turn;
mod turn_record;
pub mod types;

pub use catalog::Catalog;
pub use dispatcher::{Dispatcher, Lineage, MAX_INTENT_BYTES};
pub use runtime::{Runtime, RuntimeInfo, RuntimeOptions};
pub use spec::{AgentSpec, Category};
pub use types::{
    Intent, IntentFailure, IntentReply, IntentResult, ResultError, RuntimeError, StatusBoard,
    Ticket, TurnFailure,
};
