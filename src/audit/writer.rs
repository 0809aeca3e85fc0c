//! The audit writer. (Skeleton: the batched, fsyncing, rotating writer replaces this.)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::AuditError;
use super::record::{AuditEntry, AuditRecord, GENESIS_HASH};
use crate::config::Config;

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dir: PathBuf,
    pub rotate_bytes: u64,
    pub redact: Vec<String>,
    pub flush_interval: Duration,
}

impl AuditOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            dir: config.audit_dir(),
            rotate_bytes: u64::from(config.audit.rotate_mb) * 1024 * 1024,
            redact: config.audit.redact.clone(),
            flush_interval: Duration::from_millis(u64::from(config.audit.flush_ms.max(1))),
        }
    }
}

/// A cheap-clone handle to the audit writer.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Mutex<(u64, String)>>,
    written: broadcast::Sender<Arc<AuditRecord>>,
}

impl AuditLog {
    pub fn open(opts: AuditOptions) -> Result<AuditLog, AuditError> {
        let _ = opts;
        let (written, _) = broadcast::channel(1024);
        Ok(AuditLog {
            inner: Arc::new(Mutex::new((0, GENESIS_HASH.to_string()))),
            written,
        })
    }

    /// Queue one record; it is on disk within the flush interval.
    pub fn append(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let mut head = self.inner.lock().map_err(|_| AuditError::Closed)?;
        let mut rec = AuditRecord {
            seq: head.0,
            id: uuid::Uuid::now_v7().to_string(),
            timestamp: chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            agent_id: entry.agent_id,
            action: entry.action,
            input: entry.input,
            context_id: entry.context_id,
            caller: entry.caller,
            outcome: entry.outcome,
            error: entry.error,
            duration_ms: entry.duration_ms,
            prev_hash: head.1.clone(),
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        head.0 += 1;
        head.1 = rec.hash.clone();
        let _ = self.written.send(Arc::new(rec));
        Ok(())
    }

    /// Records as they are written, for live panes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AuditRecord>> {
        self.written.subscribe()
    }

    /// Wait until every record appended so far is written and fsynced.
    pub async fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Flush and stop the writer; later appends fail with `Closed`.
    pub async fn close(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// Records written since this process opened the log.
    pub fn written(&self) -> u64 {
        self.inner.lock().map(|h| h.0).unwrap_or(0)
    }
}
