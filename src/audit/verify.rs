//! Verifying the hash chain across all audit files, naming the first record that breaks it.
//!
//! Each line's hash is recomputed from its own bytes (an edit), each record must carry
//! the next seq and link to its predecessor's hash (a deletion or a reordering, also
//! across file boundaries), and the chain must reach what `HEAD` says was last written
//! (records cut off the end). Records without a readable `HEAD`, or a `HEAD` without
//! records, are failures too: `HEAD` is written with the first record, so only a log that
//! never had one lacks it. A torn last line of a file is a crash artefact, reported as a
//! warning: its record was never acknowledged and the chain goes on without it.

use std::fmt;
use std::path::{Path, PathBuf};

use super::AuditError;
use super::head::{HEAD_FILE, HeadState, read_head};
use super::reader::{AuditProblem, LineRead, ProblemKind, SegmentReader, list_segments};
use crate::chain::{LinkBreak, Linker};

/// Why a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// A line inside a file is not a record at all.
    Unreadable { message: String },
    /// The record's bytes no longer hash to its `hash`.
    Edited,
    /// Records `expected..found` are missing here.
    Gap {
        expected: u64,
        found: u64,
        /// Where the first missing record turned up later, if it did: then the records
        /// were reordered rather than deleted.
        moved_to: Option<(PathBuf, usize)>,
    },
    /// The seq went backwards: a record was moved back or duplicated.
    Backwards { expected: u64, found: u64 },
    /// The seq is right but `prev_hash` is not the previous record's hash: the record
    /// before it was replaced.
    BrokenLink { previous: Option<u64> },
    /// The files end before the record `HEAD` names.
    Truncated {
        head_seq: u64,
        last_seq: Option<u64>,
    },
    /// The record `HEAD` names has another hash: the chain was rewritten up to here.
    HeadMismatch,
    /// There are records but no `HEAD`: it was removed, perhaps to hide a cut-off tail.
    NoHead { last_seq: u64 },
    /// `HEAD` exists but cannot be read: what was last written is unknown.
    UnreadableHead { message: String },
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::Unreadable { message } => {
                write!(f, "not a valid record (edited or damaged): {message}")
            }
            Breach::Edited => write!(f, "hash mismatch: the record was edited"),
            Breach::Gap {
                expected,
                found,
                moved_to: Some((file, line)),
            } => write!(
                f,
                "seq {found} where seq {expected} belongs: records reordered \
                 (seq {expected} is at {}:{line})",
                file.display()
            ),
            Breach::Gap {
                expected,
                found,
                moved_to: None,
            } => {
                if found - expected == 1 {
                    write!(f, "seq {expected} is missing: the record was deleted")
                } else {
                    write!(
                        f,
                        "seqs {expected}..={} are missing: records were deleted",
                        found - 1
                    )
                }
            }
            Breach::Backwards { expected, found } => write!(
                f,
                "seq {found} where seq {expected} belongs: records reordered or duplicated"
            ),
            Breach::BrokenLink { previous } => match previous {
                Some(seq) => write!(
                    f,
                    "prev_hash does not match the hash of seq {seq}: that record was replaced"
                ),
                None => write!(f, "prev_hash of the first record is not the genesis hash"),
            },
            Breach::Truncated { head_seq, last_seq } => match last_seq {
                Some(last) => write!(
                    f,
                    "the log ends at seq {last} but {HEAD_FILE} records seq {head_seq}: \
                     records after seq {last} were deleted"
                ),
                None => write!(
                    f,
                    "the log is empty but {HEAD_FILE} records seq {head_seq}: records were deleted"
                ),
            },
            Breach::HeadMismatch => write!(
                f,
                "hash differs from the one {HEAD_FILE} recorded: the chain was rewritten"
            ),
            Breach::NoHead { last_seq } => write!(
                f,
                "the log holds records up to seq {last_seq} but its {HEAD_FILE} file is \
                 missing: it was removed, so records cut off the end would go unnoticed"
            ),
            Breach::UnreadableHead { message } => write!(
                f,
                "{HEAD_FILE} is not readable ({message}): what was last written is unknown, \
                 so records cut off the end would go unnoticed"
            ),
        }
    }
}

/// The first record that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub file: PathBuf,
    /// 1-based line in `file`.
    pub line: usize,
    pub seq: Option<u64>,
    pub id: Option<String>,
    pub reason: Breach,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " id {id}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Something worth saying that does not break the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyWarning {
    /// A file ends in a torn line (a crash mid-write).
    Torn(AuditProblem),
}

impl fmt::Display for VerifyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyWarning::Torn(p) => write!(f, "{p}"),
        }
    }
}

/// What verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Records read (valid or not).
    pub records: u64,
    /// Audit files read.
    pub files: usize,
    /// Seq and hash of the last record of an intact chain.
    pub last: Option<(u64, String)>,
    pub warnings: Vec<VerifyWarning>,
    pub first_bad: Option<BadRecord>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Verify the chain in `dir`. Tampering is reported in the returned report; only an I/O
/// error fails the call.
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, AuditError> {
    // `HEAD` is read before the files: the writer moves it only after the records it
    // names are on disk, so it cannot get ahead of what is read next.
    let head = read_head(dir);
    let mut report = VerifyReport::default();
    let mut linker = Linker::genesis();
    // (file, line) of the last record seen, for pointing at the end of the log.
    let mut last_place: Option<(PathBuf, usize)> = None;
    let mut head_seen: Option<(String, PathBuf, usize, String)> = None;
    let head_seq = match &head {
        HeadState::Present(h) => Some(h.seq),
        _ => None,
    };

    for segment in list_segments(dir)? {
        report.files += 1;
        let mut reader = SegmentReader::open(&segment.path)?;
        while let Some(item) = reader.next_line(true)? {
            let (line, raw, record) = match item {
                LineRead::Problem(p) => {
                    if p.kind == ProblemKind::TornTail {
                        report.warnings.push(VerifyWarning::Torn(p));
                    } else if report.first_bad.is_none() {
                        report.first_bad = Some(BadRecord {
                            file: p.file,
                            line: p.line,
                            seq: None,
                            id: None,
                            reason: Breach::Unreadable { message: p.message },
                        });
                    }
                    continue;
                }
                LineRead::Record { line, raw, record } => (line, raw, record),
            };
            report.records += 1;
            if let Some(BadRecord {
                reason: Breach::Gap {
                    expected, moved_to, ..
                },
                ..
            }) = &mut report.first_bad
                && moved_to.is_none()
                && record.seq == *expected
            {
                *moved_to = Some((segment.path.clone(), line));
            }
            if report.first_bad.is_some() {
                continue;
            }
            let bad = |reason| BadRecord {
                file: segment.path.clone(),
                line,
                seq: Some(record.seq),
                id: Some(record.id.clone()),
                reason,
            };
            match linker.check(record.seq, &record.prev_hash, &record.hash, raw.as_bytes()) {
                Err(broken) => report.first_bad = Some(bad(breach_of(broken))),
                Ok(()) => {
                    if head_seq == Some(record.seq) {
                        head_seen = Some((
                            record.hash.clone(),
                            segment.path.clone(),
                            line,
                            record.id.clone(),
                        ));
                    }
                    last_place = Some((segment.path.clone(), line));
                }
            }
        }
    }

    if report.first_bad.is_none() {
        let last_seq = linker.tip().map(|(seq, _)| seq);
        report.last = linker.tip().map(|(seq, hash)| (seq, hash.to_string()));
        match head {
            HeadState::Present(h) => {
                if last_seq.is_none_or(|last| h.seq > last) {
                    let (file, line) = last_place
                        .map(|(f, l)| (f, l + 1))
                        .unwrap_or_else(|| (dir.join(&h.file), 1));
                    report.first_bad = Some(BadRecord {
                        file,
                        line,
                        seq: None,
                        id: None,
                        reason: Breach::Truncated {
                            head_seq: h.seq,
                            last_seq,
                        },
                    });
                } else if let Some((hash, file, line, id)) = head_seen
                    && hash != h.hash
                {
                    report.first_bad = Some(BadRecord {
                        file,
                        line,
                        seq: Some(h.seq),
                        id: Some(id),
                        reason: Breach::HeadMismatch,
                    });
                }
            }
            HeadState::Absent => {
                if let (Some(last_seq), Some((file, line))) = (last_seq, last_place) {
                    report.first_bad = Some(BadRecord {
                        file,
                        line,
                        seq: Some(last_seq),
                        id: None,
                        reason: Breach::NoHead { last_seq },
                    });
                }
            }
            HeadState::Unreadable(message) => {
                report.first_bad = Some(BadRecord {
                    file: dir.join(HEAD_FILE),
                    line: 1,
                    seq: last_seq,
                    id: None,
                    reason: Breach::UnreadableHead { message },
                });
            }
        }
    }
    Ok(report)
}

/// The audit report's words for a broken link.
fn breach_of(broken: LinkBreak) -> Breach {
    match broken {
        LinkBreak::Edited => Breach::Edited,
        LinkBreak::Gap { expected, found } => Breach::Gap {
            expected,
            found,
            moved_to: None,
        },
        LinkBreak::Backwards { expected, found } => Breach::Backwards { expected, found },
        LinkBreak::BrokenLink { previous } => Breach::BrokenLink { previous },
    }
}

/// What a process starting on the audit log in `dir` should warn about: the first record
/// that breaks the chain, or why the log could not be checked. `None` when it verifies.
pub fn chain_warning(dir: &Path) -> Option<String> {
    match verify_dir(dir) {
        Ok(report) => report.first_bad.map(|bad| {
            format!("the audit chain does not verify: broken at {bad}; see `aios audit verify`")
        }),
        Err(e) => Some(format!("the audit log could not be verified: {e}")),
    }
}
