//! Reading the audit files back. (Skeleton.)

use std::path::{Path, PathBuf};

use super::AuditError;
use super::record::AuditRecord;

#[derive(Debug, Clone, PartialEq)]
pub struct AuditProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub records: Vec<AuditRecord>,
    pub problems: Vec<AuditProblem>,
}

pub fn read_dir(dir: &Path) -> Result<ReadOutcome, AuditError> {
    let _ = dir;
    Ok(ReadOutcome::default())
}

pub fn read_from(dir: &Path, seq: u64) -> Result<ReadOutcome, AuditError> {
    let _ = (dir, seq);
    Ok(ReadOutcome::default())
}
