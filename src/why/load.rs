//! The one function here that reads files: the entries of a recording, found from a data
//! dir, a recording dir or one recording file; without a recording, the audit log's
//! records as `audit` entries (the tree then says it was built from the audit log only).
//!
//! Nothing is locked: the recorder and the audit writer only append whole lines, so this
//! works while another process owns the data dir (its newest lines may not be there yet).

use std::path::Path;

use serde_json::Value;

use super::WhyError;
use crate::recorder::{Entry, Kind, Range};

/// The entries `path` holds, oldest first.
pub fn load(path: &Path) -> Result<Vec<Entry>, WhyError> {
    let io = |source| WhyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or directory",
        )));
    }
    if path.is_file() {
        return recording(path);
    }
    let nested = path.join("recording");
    if has_segments(&nested).map_err(io)? {
        return recording(&nested);
    }
    if has_segments(path).map_err(io)? {
        return recording(path);
    }
    for dir in [path.join("audit"), path.to_path_buf()] {
        if !crate::audit::list_segments(&dir)?.is_empty() {
            return audit_log(&dir);
        }
    }
    Err(WhyError::Empty(path.to_path_buf()))
}

fn has_segments(dir: &Path) -> std::io::Result<bool> {
    Ok(!crate::recorder::list_segments(dir)?.is_empty())
}

fn recording(path: &Path) -> Result<Vec<Entry>, WhyError> {
    crate::recorder::read(path, Range::default())
        .map(|r| r.entries)
        .map_err(|source| WhyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The audit log's records as `audit` entries, numbered by their audit seq.
fn audit_log(dir: &Path) -> Result<Vec<Entry>, WhyError> {
    let read = crate::audit::read_dir(dir)?;
    Ok(read
        .records
        .into_iter()
        .map(|r| Entry {
            seq: r.seq,
            t: r.timestamp.clone(),
            kind: Kind::Audit,
            agent_id: r.agent_id.clone(),
            intent_id: r.intent_id.clone(),
            prev_hash: r.prev_hash.clone(),
            hash: r.hash.clone(),
            body: serde_json::to_value(&r).unwrap_or(Value::Null),
        })
        .collect())
}
