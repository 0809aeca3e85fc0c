//! Reading a recording back: its files in order, its entries within a time range, and
//! whether its chain holds.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::entry::Entry;
use crate::chain::{LinkBreak, Linker};

const PREFIX: &str = "rec-";

/// The name of recording file number `number`: `rec-000001.jsonl`.
pub fn segment_name(number: u64) -> String {
    crate::segments::name(PREFIX, number)
}

/// The recording files in `dir`, oldest first. A missing dir has none.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    crate::segments::list(dir, PREFIX)
}

/// The files a path names: every segment of a recording dir, or one file.
pub fn files_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        Ok(list_segments(path)?.into_iter().map(|(_, p)| p).collect())
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
        ))
    }
}

/// The newest entry that hashes right, searching files from the newest: where a writer
/// resumes the chain. A torn last line (a crash mid-write) is passed over.
pub(super) fn last_entry(segments: &[(u64, PathBuf)]) -> std::io::Result<Option<Entry>> {
    for (_, path) in segments.iter().rev() {
        let mut last = None;
        for line in BufReader::new(std::fs::File::open(path)?).split(b'\n') {
            let line = line?;
            if let Ok(e) = serde_json::from_slice::<Entry>(&line)
                && crate::chain::line_hash(&e.prev_hash, &line).as_deref() == Some(&e.hash)
            {
                last = Some(e);
            }
        }
        if last.is_some() {
            return Ok(last);
        }
    }
    Ok(None)
}

/// Which entries to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Range {
    fn holds(&self, e: &Entry) -> bool {
        let Some(t) = e.time() else { return true };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
}

/// A recording read into memory.
#[derive(Debug, Default)]
pub struct Recording {
    pub files: Vec<PathBuf>,
    pub entries: Vec<Entry>,
    /// Lines that could not be read (a torn tail, a damaged line), with where.
    pub unreadable: Vec<String>,
}

/// Read the entries of `path` (a recording dir or one file) within `range`, in order.
pub fn read(path: &Path, range: Range) -> std::io::Result<Recording> {
    let files = files_of(path)?;
    let mut rec = Recording {
        files: files.clone(),
        ..Recording::default()
    };
    for file in &files {
        for (i, line) in BufReader::new(std::fs::File::open(file)?)
            .split(b'\n')
            .enumerate()
        {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Entry>(&line) {
                Ok(e) if range.holds(&e) => rec.entries.push(e),
                Ok(_) => {}
                Err(e) => rec
                    .unreadable
                    .push(format!("{}:{}: {e}", file.display(), i + 1)),
            }
        }
    }
    Ok(rec)
}

/// Where and why a recording's chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub seq: Option<u64>,
    pub why: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " seq {seq}")?;
        }
        write!(f, ": {}", self.why)
    }
}

/// What checking a recording found.
#[derive(Debug, Default)]
pub struct Checked {
    pub entries: u64,
    pub files: usize,
    /// The seq the kept recording starts at (older files may have been removed by
    /// `recorder.keep_mb`; the first kept entry is the anchor).
    pub first_seq: Option<u64>,
    pub first_bad: Option<Break>,
    /// Files that end in a torn line: a crash mid-write. The writer begins a new file
    /// after a restart, so this is never a break.
    pub torn: Vec<PathBuf>,
}

/// Check the chain of a recording dir (or one file): every entry hashes to itself and
/// links to the one before. A torn last line of a file is a crash, not a break.
pub fn verify(path: &Path) -> std::io::Result<Checked> {
    let files = files_of(path)?;
    let mut out = Checked {
        files: files.len(),
        ..Checked::default()
    };
    let mut linker = Linker::from_first_line();
    for file in &files {
        let lines: Vec<Vec<u8>> = BufReader::new(std::fs::File::open(file)?)
            .split(b'\n')
            .collect::<Result<_, _>>()?;
        let n = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            let bad = |seq, why: String| Break {
                file: file.clone(),
                line: i + 1,
                seq,
                why,
            };
            let entry = match serde_json::from_slice::<Entry>(&line) {
                Ok(e) => e,
                Err(_) if i + 1 == n => {
                    out.torn.push(file.clone());
                    continue;
                }
                Err(e) => {
                    out.first_bad = Some(bad(None, format!("not a recording entry: {e}")));
                    return Ok(out);
                }
            };
            out.entries += 1;
            if let Err(b) = linker.check(entry.seq, &entry.prev_hash, &entry.hash, &line) {
                out.first_bad = Some(bad(Some(entry.seq), why(b)));
                return Ok(out);
            }
            out.first_seq.get_or_insert(entry.seq);
        }
    }
    Ok(out)
}

fn why(b: LinkBreak) -> String {
    match b {
        LinkBreak::Edited => "hash mismatch: the entry was edited".into(),
        LinkBreak::Gap { expected, found } => {
            format!("seq {found} where seq {expected} belongs: entries were deleted")
        }
        LinkBreak::Backwards { expected, found } => {
            format!("seq {found} where seq {expected} belongs: entries reordered or duplicated")
        }
        LinkBreak::BrokenLink { previous } => match previous {
            Some(p) => format!("prev_hash is not the hash of seq {p}: that entry was replaced"),
            None => "prev_hash does not link".into(),
        },
    }
}
