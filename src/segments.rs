//! Numbered files of an append-only log (`audit-000001.jsonl`, `rec-000001.jsonl`): their
//! names, and listing them oldest first. The audit log and the recording both rotate
//! through such files.

use std::path::{Path, PathBuf};

const SUFFIX: &str = ".jsonl";

/// The name of file `number` of the log whose files begin with `prefix`.
pub fn name(prefix: &str, number: u64) -> String {
    format!("{prefix}{number:06}{SUFFIX}")
}

/// The number in a file name of that log, if it is one of its files.
pub fn number(prefix: &str, file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix(prefix)?.strip_suffix(SUFFIX)?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The log's files in `dir`, oldest (lowest number) first. A missing dir has none.
pub fn list(dir: &Path, prefix: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(|f| number(prefix, f)) {
            out.push((n, entry.path()));
        }
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(name("rec-", 7), "rec-000007.jsonl");
        assert_eq!(number("rec-", "rec-000007.jsonl"), Some(7));
        assert_eq!(number("rec-", "rec-1234567.jsonl"), Some(1_234_567));
        assert_eq!(number("rec-", "audit-000007.jsonl"), None);
        assert_eq!(number("rec-", "rec-00007.jsonl"), None);
        assert_eq!(number("rec-", "rec-00000x.jsonl"), None);
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "rec-000002.jsonl",
            "rec-000001.jsonl",
            "other.txt",
            "audit-000001.jsonl",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let listed: Vec<u64> = list(dir.path(), "rec-")
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(listed, [1, 2]);
        assert!(
            list(&dir.path().join("missing"), "rec-")
                .unwrap()
                .is_empty()
        );
    }
}
