//! `[recorder]`: where the flight recording goes and how much of it is kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecorderConfig {
    /// Record what happens (on by default): `aios replay` and `aios why` read it.
    pub enabled: bool,
    /// Empty = `<data_dir>/recording`.
    pub dir: PathBuf,
    /// A file is left for a new one once it reaches this many MiB…
    pub segment_mb: u32,
    /// …or this many seconds after it was begun.
    pub segment_age_s: u64,
    /// The oldest files are removed once all of them pass this many MiB (0 keeps all).
    pub keep_mb: u32,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::new(),
            segment_mb: 64,
            segment_age_s: 3600,
            keep_mb: 2048,
        }
    }
}

impl RecorderConfig {
    /// A problem with the values, for config validation.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.segment_mb == 0 {
            return Some(("segment_mb", "must be at least 1".into()));
        }
        if self.segment_age_s == 0 {
            return Some(("segment_age_s", "must be at least 1".into()));
        }
        if self.keep_mb != 0 && self.keep_mb < self.segment_mb.saturating_mul(2) {
            return Some((
                "keep_mb",
                format!(
                    "must be 0 (keep all) or at least two files' worth ({} MiB)",
                    self.segment_mb.saturating_mul(2)
                ),
            ));
        }
        None
    }
}
