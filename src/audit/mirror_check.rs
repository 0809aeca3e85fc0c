//! Comparing the audit files with their Redis mirror (`{prefix}aios:audit`), so that files rewritten with a recomputed, valid chain are caught as long as the mirror was not rewritten too.
//!
//! The mirror holds each record's exact line as it was first written (trimmed to about
//! `bus.stream_max_len` of the newest). Every record the mirror holds must be in the files
//! with the same bytes; records the mirror does not hold (older than its window, or not
//! mirrored yet) are not compared.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::AuditError;
use super::mirror::{MirrorError, entry_of, mirror_key};
use super::reader::{LineRead, SegmentReader, list_segments};

/// Longest wait for Redis when fetching the mirror.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the connection itself: `auto` may name a Redis that is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How the files and the mirror disagree at one seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorMismatch {
    /// The files hold another record at this seq than the one mirrored.
    Differs { file: PathBuf, line: usize },
    /// The mirror holds this seq; the files do not.
    MissingFromFiles,
}

/// What comparing the files with the mirror found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorComparison {
    /// Records found in both and compared byte for byte.
    pub compared: u64,
    /// The seqs the mirror holds, first and last.
    pub mirror_range: Option<(u64, u64)>,
    /// The lowest seq at which they disagree.
    pub first_mismatch: Option<(u64, MirrorMismatch)>,
}

impl fmt::Display for MirrorComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first_mismatch {
            Some((seq, MirrorMismatch::Differs { file, line })) => write!(
                f,
                "the audit files differ from the Redis mirror at seq {seq} ({}:{line}): the \
                 record in the files is not the one mirrored when it was written, so the files \
                 were rewritten",
                file.display()
            ),
            Some((seq, MirrorMismatch::MissingFromFiles)) => write!(
                f,
                "seq {seq} is on the Redis mirror but not in the audit files: records were deleted"
            ),
            None => match self.mirror_range {
                Some((first, last)) => write!(
                    f,
                    "{} record(s) match the Redis mirror (it holds seqs {first}..={last})",
                    self.compared
                ),
                None => write!(f, "the Redis mirror holds no records"),
            },
        }
    }
}

/// Compare the files in `dir` with the mirror's records (seq, raw line).
pub fn compare_with_mirror(
    dir: &Path,
    mirror: &[(u64, String)],
) -> Result<MirrorComparison, AuditError> {
    let mirrored: BTreeMap<u64, &str> = mirror
        .iter()
        .map(|(seq, raw)| (*seq, raw.as_str()))
        .collect();
    let mut report = MirrorComparison {
        mirror_range: mirrored
            .keys()
            .next()
            .zip(mirrored.keys().next_back())
            .map(|(a, b)| (*a, *b)),
        ..MirrorComparison::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let note = |report: &mut MirrorComparison, seq: u64, mismatch: MirrorMismatch| {
        if report.first_mismatch.as_ref().is_none_or(|(s, _)| seq < *s) {
            report.first_mismatch = Some((seq, mismatch));
        }
    };
    for segment in list_segments(dir)? {
        let mut reader = SegmentReader::open(&segment.path)?;
        while let Some(item) = reader.next_line(true)? {
            let LineRead::Record { line, raw, record } = item else {
                continue;
            };
            let Some(expected) = mirrored.get(&record.seq) else {
                continue;
            };
            seen.insert(record.seq);
            report.compared += 1;
            if raw != *expected {
                let file = segment.path.clone();
                note(
                    &mut report,
                    record.seq,
                    MirrorMismatch::Differs { file, line },
                );
            }
        }
    }
    if let Some(seq) = mirrored.keys().find(|seq| !seen.contains(seq)) {
        note(&mut report, *seq, MirrorMismatch::MissingFromFiles);
    }
    Ok(report)
}

/// The mirror's records from the Redis at `url`, or `None` when it has no mirror stream.
/// One connection attempt, no retries: a Redis that is not there is said at once.
pub async fn fetch_mirror(
    url: &crate::config::RedisUrl,
    prefix: &str,
) -> Result<Option<Vec<(u64, String)>>, MirrorError> {
    const WHAT: &str = "audit mirror";
    let key = mirror_key(prefix);
    let read = |source| MirrorError::Read {
        what: WHAT,
        key: key.clone(),
        source,
    };
    let fetch = async {
        let client = crate::tls::redis_client(url.expose())
            .map_err(|source| MirrorError::Url { what: WHAT, source })?;
        let mut conn =
            tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
                .await
                .map_err(|_| MirrorError::Timeout {
                    what: WHAT,
                    within: CONNECT_TIMEOUT,
                })?
                .map_err(|source| MirrorError::Unreachable { what: WHAT, source })?;
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(read)?;
        if !exists {
            return Ok(None);
        }
        let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .map_err(read)?;
        Ok(Some(
            rows.into_iter()
                .filter_map(|(_, fields)| entry_of(&fields))
                .collect(),
        ))
    };
    tokio::time::timeout(FETCH_TIMEOUT, fetch)
        .await
        .unwrap_or(Err(MirrorError::Timeout {
            what: WHAT,
            within: FETCH_TIMEOUT,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, AuditLog, AuditOptions, Outcome, read_dir};

    async fn log_of(dir: &Path, n: usize) -> Vec<(u64, String)> {
        let log = AuditLog::open(AuditOptions::new(dir)).unwrap();
        for i in 0..n {
            log.append(AuditEntry {
                agent_id: None,
                action: format!("step-{i}"),
                input: serde_json::Value::Null,
                context_id: None,
                caller: "cli".into(),
                outcome: Outcome::Ok,
                error: None,
                duration_ms: 0.5,
                cause: Default::default(),
            })
            .unwrap();
        }
        log.close().await.unwrap();
        read_dir(dir)
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.seq, serde_json::to_string(&r).unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn equal_files_and_mirror_agree_and_differences_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let mirror = log_of(dir.path(), 5).await;
        let ok = compare_with_mirror(dir.path(), &mirror).unwrap();
        assert_eq!(ok.first_mismatch, None);
        assert_eq!((ok.compared, ok.mirror_range), (5, Some((0, 4))));
        // The mirror keeps only its newest records: fine.
        let ok = compare_with_mirror(dir.path(), &mirror[3..]).unwrap();
        assert_eq!((ok.compared, ok.first_mismatch), (2, None));

        let mut other = mirror.clone();
        other[2].1 = other[2].1.replace("step-2", "step-X");
        other[4].1 = other[4].1.replace("step-4", "step-Y");
        let bad = compare_with_mirror(dir.path(), &other).unwrap();
        assert!(
            matches!(
                bad.first_mismatch,
                Some((2, MirrorMismatch::Differs { line: 3, .. }))
            ),
            "{bad:?}"
        );
        assert!(bad.to_string().contains("at seq 2"), "{bad}");

        let mut longer = mirror.clone();
        longer.push((5, "{}".into()));
        let bad = compare_with_mirror(dir.path(), &longer).unwrap();
        assert_eq!(
            bad.first_mismatch,
            Some((5, MirrorMismatch::MissingFromFiles))
        );
        assert!(
            bad.to_string().contains("seq 5 is on the Redis mirror"),
            "{bad}"
        );
    }
}
