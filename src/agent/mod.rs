//! Agents: the catalog of the spec's 30 agents, their specs, and the runtime that runs them.

pub mod activity;
pub(crate) mod backends;
pub mod catalog;
pub mod dispatcher;
pub mod intake;
pub mod intent;
pub mod pending;
pub mod prompt;
pub mod relay;
pub mod runtime;
pub mod spec;
pub mod tools;

pub use catalog::Catalog;
pub use dispatcher::{Dispatcher, Lineage, MAX_INTENT_BYTES};
pub use intent::{Intent, IntentReply};
pub use runtime::{Runtime, RuntimeError, RuntimeInfo, RuntimeOptions, Ticket};
pub use spec::{AgentSpec, Category};
