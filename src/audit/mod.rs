//! The audit log: one hash-chained JSON record per MCP (ContextHub) interaction.
//!
//! Records go to `audit-NNNNNN.jsonl` files under the audit dir, rotated by size; each
//! record's `hash` is SHA-256 over its `prev_hash` and its canonical bytes, so an edit, a
//! deletion or a reordering anywhere breaks the chain at that record. The chain runs on
//! across files, and a `HEAD` file anchors its end so that records cut off the tail are
//! noticed too.
//!
//! - `record`: the record, its canonical bytes and the line format.
//! - `writer`: [`AuditLog`], the batching, fsyncing, rotating writer.
//! - `chain`: sealing an entry into the next record (seq, id, time, hashes).
//! - `reader`: reading and following the files; damaged lines are reported, not fatal.
//! - `verify`: [`verify_dir`], which names the first record that breaks the chain.
//! - `redact`: masking secrets before they are written.
//! - `head`: the `HEAD` file.
//! - `mirror`: the copy on a Redis stream; `mirror_check`: comparing the files with it.

pub mod cause;
mod chain;
mod head;
pub(crate) mod mirror;
mod mirror_check;
mod mirror_tail;
mod reader;
mod record;
mod redact;
pub mod signing;
mod verify;
mod writer;

pub use head::{HEAD_FILE, Head, HeadState, read_head};
pub use mirror::{AuditMirror, MirrorError, mirror_key, read_mirror};
pub use mirror_check::{MirrorComparison, MirrorMismatch, compare_with_mirror, fetch_mirror};
pub use mirror_tail::{MirrorTail, TailEntry, UnreadableEntry};
pub use reader::{
    AuditProblem, Follower, LineRead, ProblemKind, ReadOutcome, Segment, SegmentReader,
    list_segments, read_dir, read_from, segment_name,
};
pub use record::{AuditEntry, AuditRecord, GENESIS_HASH, Outcome, line_hash};
pub use redact::{BUILTIN_PATTERNS, REDACTED, Redactor, builtin};
pub use verify::{BadRecord, Breach, VerifyReport, VerifyWarning, chain_warning, verify_dir};
#[cfg(test)]
pub(crate) use writer::tests as writer_tests;
pub use writer::{AuditLog, AuditOptions, SigningKeySource};
/// The files' seam, shared with the recording's writer (a test fills the disk).
pub(crate) use writer::{Disk, RealDisk};

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
    /// Another process (or another open log in this one) writes this audit dir.
    #[error("the audit dir is already being written (lock held on {path})")]
    Locked { path: std::path::PathBuf },
    /// The writer is gone (its thread died, or it was closed while it could not write);
    /// nothing more is accepted.
    #[error("the audit writer failed: {0}")]
    Failed(String),
    /// The writer cannot write right now (e.g. the disk is full). It keeps what it was
    /// given, retries, and refuses new records meanwhile.
    #[error("the audit log cannot be written ({0}); calls are refused until it can")]
    Unavailable(String),
}
