//! The ContextHub and agent state: the MCP core, the one door to every agent's goals,
//! persona traits, protocol hooks, behavioral traces, memory and versioned context.

mod caller;
mod diff;
mod embedded;
mod hub;
mod redis_store;
mod routed_store;
mod store;
mod types;

pub use caller::{Caller, Door, whoami};
pub use diff::{ContextDiff, DiffLine, DiffLineKind, Hunk, diff_texts};
pub use embedded::EmbeddedStore;
pub use hub::{AgentState, Call, ContextHub, HubError, HubOptions};
pub use redis_store::RedisStore;
pub use routed_store::RoutedStore;
pub use store::{Modifier, Store, StoreError};
pub use types::{
    Cause, ChatTurn, ContextVersion, NewContext, Part, ProtocolHook, Trace, VersionInfo,
    now_rfc3339,
};
