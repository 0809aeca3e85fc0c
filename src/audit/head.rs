//! The `HEAD` file: seq and hash of the newest fsynced record, so that cutting records off the end of the log is detectable.
//!
//! A hash chain alone cannot tell a log whose last records were deleted from a shorter
//! log. The writer rewrites `HEAD` after every fsync; the verifier then requires the
//! chain to reach `HEAD`'s seq with `HEAD`'s hash. `HEAD` is written only after the
//! records it names are durable, so after a crash it is at worst behind the files, which
//! is harmless; it is replaced by rename, so a reader never sees half of it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name of the head marker inside the audit dir.
pub const HEAD_FILE: &str = "HEAD";
const HEAD_TMP: &str = "HEAD.tmp";

/// The newest record known to be on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    /// The audit file holding that record.
    pub file: String,
}

/// What the audit dir's `HEAD` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadState {
    /// No `HEAD`: an empty log, or one written before `HEAD` existed (or it was removed).
    Absent,
    /// `HEAD` exists but cannot be read as one.
    Unreadable(String),
    Present(Head),
}

pub fn read_head(dir: &Path) -> HeadState {
    match std::fs::read(dir.join(HEAD_FILE)) {
        Ok(bytes) => match serde_json::from_slice::<Head>(&bytes) {
            Ok(head) => HeadState::Present(head),
            Err(e) => HeadState::Unreadable(e.to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HeadState::Absent,
        Err(e) => HeadState::Unreadable(e.to_string()),
    }
}

/// Replace `HEAD` atomically (write a sibling, rename over).
pub fn write_head(dir: &Path, head: &Head) -> std::io::Result<()> {
    let tmp = dir.join(HEAD_TMP);
    let mut bytes = serde_json::to_vec(head).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(HEAD_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips_and_reports_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_head(dir.path()), HeadState::Absent);
        let head = Head {
            seq: 3,
            hash: "ab".repeat(32),
            file: "audit-000001.jsonl".into(),
        };
        write_head(dir.path(), &head).unwrap();
        assert_eq!(read_head(dir.path()), HeadState::Present(head));
        std::fs::write(dir.path().join(HEAD_FILE), b"{\"seq\":").unwrap();
        assert!(matches!(read_head(dir.path()), HeadState::Unreadable(_)));
    }
}
