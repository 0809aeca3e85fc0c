//! The audit log: one hash-chained JSON record per MCP (ContextHub) interaction.
//!
//! Records go to `audit-NNNNNN.jsonl` files under the audit dir, rotated by size; each
//! record's `hash` is SHA-256 over its `prev_hash` and its canonical bytes, so an edit, a
//! deletion or a reordering anywhere breaks the chain at that record.

mod reader;
mod record;
mod redact;
mod verify;
mod writer;

pub use reader::{AuditProblem, ReadOutcome, read_dir, read_from};
pub use record::{AuditEntry, AuditRecord, GENESIS_HASH, Outcome};
pub use redact::Redactor;
pub use verify::{VerifyReport, verify_dir};
pub use writer::{AuditLog, AuditOptions};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log I/O at {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("audit redaction pattern `{pattern}` is not a valid regex: {message}")]
    BadPattern { pattern: String, message: String },
    #[error("the audit writer has stopped")]
    Closed,
}
