//! Tracing to a daily-rolled file under the data dir, never to the terminal the TUI owns.
//! The filter comes from `AIOS_LOG` (e.g. `debug`, `aios=trace`), default `info`.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Start logging; keep the guard alive for the process's life (it flushes on drop).
/// Returns `None` when the log dir cannot be made: a command still runs, just unlogged.
pub fn init(data_dir: &Path) -> Option<WorkerGuard> {
    let dir = log_dir(data_dir);
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("aios")
        .filename_suffix("log")
        .max_log_files(14)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("AIOS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}
