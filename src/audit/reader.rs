//! Reading the audit files back, in chain order, reporting damaged lines instead of failing on them.
//!
//! Readers take no lock: the writer only ever appends whole lines and creates new files,
//! so a reader sees at worst a partly written last line, which it reports (or, when
//! following, waits on) like a line torn by a crash.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::AuditError;
use super::record::AuditRecord;

const PREFIX: &str = "audit-";

/// The name of audit file number `number`: `audit-000001.jsonl`.
pub fn segment_name(number: u64) -> String {
    crate::segments::name(PREFIX, number)
}

/// One audit file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Files are read in increasing number; the chain runs through them in that order.
    pub number: u64,
    pub path: PathBuf,
}

/// The audit files in `dir`, oldest first. A missing dir has none.
pub fn list_segments(dir: &Path) -> Result<Vec<Segment>, AuditError> {
    let listed = crate::segments::list(dir, PREFIX).map_err(|source| AuditError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(listed
        .into_iter()
        .map(|(number, path)| Segment { number, path })
        .collect())
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The last line of a file is incomplete or unreadable: a crash mid-write. The record
    /// was never acknowledged, so the chain goes on without it.
    TornTail,
    /// A line inside a file is not a valid record: it was damaged or edited.
    Malformed,
}

/// A line that could not be read as a record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditProblem {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ProblemKind::TornTail => "torn last line (a crash mid-write?)",
            ProblemKind::Malformed => "malformed line",
        };
        write!(
            f,
            "{}:{}: {what}: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// One line of an audit file.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "records are the common case; boxing them would allocate once more per line"
)]
pub enum LineRead {
    Record {
        /// 1-based.
        line: usize,
        /// The line as written, without its newline.
        raw: String,
        record: AuditRecord,
    },
    Problem(AuditProblem),
}

/// Reads one audit file line by line, tracking where it is so that it can be resumed
/// when the file grows (`tail -f`).
#[derive(Debug)]
pub struct SegmentReader {
    path: PathBuf,
    reader: BufReader<File>,
    /// Lines returned so far.
    line: usize,
    /// Bytes of the file consumed by returned lines.
    offset: u64,
    /// Bytes of an incomplete last line, kept until it is completed or declared torn.
    partial: Vec<u8>,
}

impl SegmentReader {
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let file = File::open(path).map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(256 * 1024, file),
            line: 0,
            offset: 0,
            partial: Vec::new(),
        })
    }

    /// Open `path` positioned after the first `line` lines, which end at byte `offset`.
    pub fn open_at(path: &Path, offset: u64, line: usize) -> Result<Self, AuditError> {
        let mut r = Self::open(path)?;
        r.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|source| r.io(source))?;
        r.offset = offset;
        r.line = line;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Byte offset just past the last line returned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of lines returned so far.
    pub fn lines_read(&self) -> usize {
        self.line
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The next line, or `None` at the end of the file.
    ///
    /// `finished` says whether the file can still grow. When it cannot, an incomplete last
    /// line is returned (as a record if it parses, as a torn tail otherwise); when it can,
    /// the incomplete line is held back until a later call finds it completed.
    pub fn next_line(&mut self, finished: bool) -> Result<Option<LineRead>, AuditError> {
        self.reader
            .read_until(b'\n', &mut self.partial)
            .map_err(|e| self.io(e))?;
        let complete = self.partial.last() == Some(&b'\n');
        if self.partial.is_empty() || (!complete && !finished) {
            return Ok(None);
        }
        let bytes = std::mem::take(&mut self.partial);
        self.offset += bytes.len() as u64;
        self.line += 1;
        let at_end = if complete {
            match self.reader.fill_buf() {
                Ok(rest) => rest.is_empty(),
                Err(e) => return Err(self.io(e)),
            }
        } else {
            true
        };
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        Ok(Some(match serde_json::from_slice::<AuditRecord>(body) {
            Ok(record) => LineRead::Record {
                line: self.line,
                raw: String::from_utf8_lossy(body).into_owned(),
                record,
            },
            Err(e) => {
                let kind = if at_end {
                    ProblemKind::TornTail
                } else {
                    ProblemKind::Malformed
                };
                let message = if body.is_empty() {
                    "empty line".to_string()
                } else if !complete {
                    format!("no newline, {} bytes: {e}", body.len())
                } else {
                    e.to_string()
                };
                LineRead::Problem(AuditProblem {
                    file: self.path.clone(),
                    line: self.line,
                    kind,
                    message,
                })
            }
        }))
    }
}

/// Every record and every problem in the audit dir.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub records: Vec<AuditRecord>,
    pub problems: Vec<AuditProblem>,
    /// Number of audit files read.
    pub files: usize,
}

/// Read all audit files in `dir`, oldest first. Damaged lines become `problems`; only an
/// I/O error fails the read.
pub fn read_dir(dir: &Path) -> Result<ReadOutcome, AuditError> {
    read_from(dir, 0)
}

/// Like [`read_dir`], keeping only records with `seq >= from_seq`.
pub fn read_from(dir: &Path, from_seq: u64) -> Result<ReadOutcome, AuditError> {
    let mut out = ReadOutcome::default();
    for segment in list_segments(dir)? {
        out.files += 1;
        let mut reader = SegmentReader::open(&segment.path)?;
        while let Some(item) = reader.next_line(true)? {
            match item {
                LineRead::Record { record, .. } if record.seq >= from_seq => {
                    out.records.push(record)
                }
                LineRead::Record { .. } => {}
                LineRead::Problem(p) => out.problems.push(p),
            }
        }
    }
    Ok(out)
}

/// Follows the audit dir as it grows: new lines of the current file, then the files
/// created by rotation. Polled; it holds no lock and never blocks the writer.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    current: Option<(u64, SegmentReader)>,
}

impl Follower {
    /// Start before the first line of the oldest file.
    pub fn from_start(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            current: None,
        }
    }

    /// Resume with `reader`, already positioned inside file `number`.
    pub fn resume(dir: &Path, number: u64, reader: SegmentReader) -> Self {
        Self {
            dir: dir.to_path_buf(),
            current: Some((number, reader)),
        }
    }

    /// Everything written since the last poll.
    pub fn poll(&mut self) -> Result<Vec<LineRead>, AuditError> {
        let mut out = Vec::new();
        loop {
            if let Some((_, reader)) = &mut self.current {
                while let Some(item) = reader.next_line(false)? {
                    out.push(item);
                }
            }
            let after = self.current.as_ref().map(|(n, _)| *n);
            let next = list_segments(&self.dir)?
                .into_iter()
                .find(|s| after.is_none_or(|n| s.number > n));
            let Some(next) = next else {
                return Ok(out);
            };
            // A newer file exists, so the writer has left this one for good: whatever
            // incomplete line it still ends in is torn, not pending.
            if let Some((_, reader)) = &mut self.current {
                while let Some(item) = reader.next_line(true)? {
                    out.push(item);
                }
            }
            self.current = Some((next.number, SegmentReader::open(&next.path)?));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(1), "audit-000001.jsonl");
        let number = |f| crate::segments::number(PREFIX, f);
        assert_eq!(number("audit-000001.jsonl"), Some(1));
        assert_eq!(number("audit-1234567.jsonl"), Some(1_234_567));
        assert_eq!(number("audit-01.jsonl"), None);
        assert_eq!(number("audit-000001.jsonl.tmp"), None);
        assert_eq!(number("HEAD"), None);
    }

    #[test]
    fn incomplete_line_waits_until_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(1));
        std::fs::write(&path, b"{\"seq\":").unwrap();
        let mut r = SegmentReader::open(&path).unwrap();
        assert!(r.next_line(false).unwrap().is_none());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"1, oops\n").unwrap();
        match r.next_line(false).unwrap() {
            Some(LineRead::Problem(p)) => {
                assert_eq!(p.line, 1);
                assert_eq!(p.kind, ProblemKind::TornTail);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(r.offset(), std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn garbage_inside_a_file_is_malformed_and_at_its_end_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(1));
        std::fs::write(&path, b"not json\n{\"half\":").unwrap();
        let mut r = SegmentReader::open(&path).unwrap();
        let kinds: Vec<_> = std::iter::from_fn(|| r.next_line(true).unwrap())
            .map(|item| match item {
                LineRead::Problem(p) => (p.line, p.kind),
                LineRead::Record { .. } => panic!("no record expected"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![(1, ProblemKind::Malformed), (2, ProblemKind::TornTail)]
        );
    }
}
