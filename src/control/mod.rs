//! One owner per data dir: the lock that makes a process the owner, and the local control
//! socket through which other invocations (`dispatch`, `context`, …) reach that owner
//! instead of failing on the store's lock.

mod client;
mod handler;
mod lock;
mod protocol;
mod server;

pub use client::{CallError, ControlClient};
pub use handler::{HandleError, handle};
pub use lock::{Acquired, DataDirLock, LockError};
pub use protocol::{
    AgentRow, AgentTools, RecallAnswer, Reply, Request, RequestLine, Streamed, ToolRow,
};
pub use server::{serve, serve_private};

use std::path::{Path, PathBuf};

/// The socket an owner listens on.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("aios.sock")
}
