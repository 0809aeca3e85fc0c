//! The flight recorder: one append-only, hash-chained recording per data dir of what the
//! runtime did and what its operator saw, so that `aios replay` can show it again with no
//! runtime, model or network, and `aios why` can name every cause of a row.
//!
//! - `entry`: the line format (`seq`, `t`, `kind`, `agent_id`, `intent_id`, `body`,
//!   `prev_hash`, `hash`); the chain is [`crate::chain`]'s, shared with the audit log.
//! - `writer`: the thread that seals and writes entries, rotating and pruning files.
//! - `read`: listing, reading by time range, and verifying recordings.
//! - `tap`: the tasks that feed it runtime events (tokens gathered per agent per ~50 ms),
//!   bus messages, audit records and agent state snapshots.
//!
//! The agent turn adds what only it knows (recall results, the model request and usage,
//! whole tool calls and results) through [`Recorder::note`]. Entries are redacted with the
//! audit log's patterns before they are written.

mod config;
mod entry;
mod read;
pub mod tap;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use config::RecorderConfig;
pub use entry::{Entry, Kind, timestamp};
pub use read::{
    Break, Checked, Range, Recording, files_of, list_segments, read, segment_name, verify,
};

use crate::audit::{AuditRecord, Redactor};
use crate::bus::Received;
use crate::event::RuntimeEvent;

/// Entries that may wait for the writer before new ones are counted as lost.
const QUEUE: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct RecorderOptions {
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub segment_age: Duration,
    /// 0 keeps every file.
    pub keep_bytes: u64,
    /// Extra redaction patterns (the audit log's `audit.redact`).
    pub redact: Vec<String>,
    /// Values read from Vault, masked as the audit log masks them.
    pub secrets: crate::secrets::Secrets,
}

impl RecorderOptions {
    /// The options of `config`, recording into `dir` (the data dir's unless configured).
    pub fn from_config(config: &crate::config::Config) -> Self {
        let r = &config.recorder;
        Self {
            dir: if r.dir.as_os_str().is_empty() {
                config.data_dir().join("recording")
            } else {
                r.dir.clone()
            },
            segment_bytes: u64::from(r.segment_mb) * 1024 * 1024,
            segment_age: Duration::from_secs(r.segment_age_s),
            keep_bytes: u64::from(r.keep_mb) * 1024 * 1024,
            redact: config.audit.redact.clone(),
            secrets: config.secrets.clone(),
        }
    }
}

/// What an entry carries before it is serialized (on the writer thread, not the caller's).
pub(crate) enum Body {
    Event(RuntimeEvent),
    Bus(Received),
    Audit(Arc<AuditRecord>),
    Value(serde_json::Value),
}

pub(crate) struct Pending {
    t: DateTime<Utc>,
    kind: Kind,
    agent_id: Option<String>,
    intent_id: Option<String>,
    body: Body,
}

impl Pending {
    fn now(kind: Kind, agent_id: Option<&str>, intent_id: Option<&str>, body: Body) -> Self {
        Self {
            t: Utc::now(),
            kind,
            agent_id: agent_id.map(str::to_string),
            intent_id: intent_id.map(str::to_string),
            body,
        }
    }
}

enum Command {
    Entry(Pending),
    Flush(std::sync::mpsc::Sender<()>),
    Close(std::sync::mpsc::Sender<()>),
}

/// A cheap-clone handle to the recorder; [`Recorder::off`] records nothing.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Option<Arc<Shared>>,
}

struct Shared {
    dir: PathBuf,
    /// Dropped with the last handle; after `close` the writer is gone and sends fail.
    tx: SyncSender<Command>,
    lost: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("the recording in {dir} cannot be opened: {source}")]
    Open {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("recording redaction: {0}")]
    Redact(String),
}

impl Recorder {
    /// A recorder that records nothing (`recorder.enabled = false`, tests).
    pub fn off() -> Self {
        Self::default()
    }

    /// Open the recording in `opts.dir`, continuing its chain in a new file.
    pub fn open(opts: RecorderOptions) -> Result<Self, RecorderError> {
        Self::open_on(opts, Box::new(crate::audit::RealDisk))
    }

    /// The same, writing through `disk` (a test's that fills up).
    pub(crate) fn open_on(
        opts: RecorderOptions,
        disk: Box<dyn crate::audit::Disk>,
    ) -> Result<Self, RecorderError> {
        let redactor = Redactor::new(&opts.redact)
            .map_err(|e| RecorderError::Redact(e.to_string()))?
            .with_secrets(opts.secrets.clone());
        let lost = Arc::new(AtomicU64::new(0));
        let written = Arc::new(AtomicU64::new(0));
        let dir = opts.dir.clone();
        let writer = writer::Writer::open(opts, disk, redactor, lost.clone(), written.clone())
            .map_err(|source| RecorderError::Open {
                dir: dir.clone(),
                source,
            })?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("aios-recorder".into())
            .spawn(move || writer.run(rx))
            .map_err(|source| RecorderError::Open {
                dir: dir.clone(),
                source,
            })?;
        Ok(Self {
            inner: Some(Arc::new(Shared {
                dir,
                tx,
                lost,
                written,
                thread: Mutex::new(Some(thread)),
            })),
        })
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Where the recording is written, when on.
    pub fn dir(&self) -> Option<&Path> {
        self.inner.as_ref().map(|s| s.dir.as_path())
    }

    /// Entries written so far by this process.
    pub fn written(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |s| s.written.load(Ordering::Relaxed))
    }

    fn send(&self, p: Pending) {
        let Some(shared) = &self.inner else { return };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            shared.tx.try_send(Command::Entry(p))
        {
            shared.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Record what only the caller knows (recall results, a model request, a tool call).
    pub fn note(
        &self,
        kind: Kind,
        agent_id: &str,
        intent_id: Option<&str>,
        body: serde_json::Value,
    ) {
        if self.is_on() {
            self.send(Pending::now(
                kind,
                Some(agent_id),
                intent_id,
                Body::Value(body),
            ));
        }
    }

    pub fn event(&self, ev: RuntimeEvent) {
        if self.is_on() {
            let agent = ev.agent_id().map(str::to_string);
            let intent = ev.intent_id().map(str::to_string);
            self.send(Pending {
                t: Utc::now(),
                kind: Kind::Event,
                agent_id: agent,
                intent_id: intent,
                body: Body::Event(ev),
            });
        }
    }

    pub fn bus(&self, m: Received) {
        if self.is_on() {
            let agent = match &m {
                Received::Message { envelope, .. } => envelope.agent_id.clone(),
                Received::Rejected(_) => None,
            };
            self.send(Pending {
                t: Utc::now(),
                kind: Kind::Bus,
                agent_id: agent,
                intent_id: None,
                body: Body::Bus(m),
            });
        }
    }

    pub fn audit(&self, r: Arc<AuditRecord>) {
        if self.is_on() {
            let agent = r.agent_id.clone();
            let intent = r.intent_id.clone();
            self.send(Pending {
                t: Utc::now(),
                kind: Kind::Audit,
                agent_id: agent,
                intent_id: intent,
                body: Body::Audit(r),
            });
        }
    }

    /// Record a value that is not about one agent (the start entry).
    pub fn global(&self, kind: Kind, body: serde_json::Value) {
        if self.is_on() {
            self.send(Pending::now(kind, None, None, Body::Value(body)));
        }
    }

    /// Entries lost before they reached the recorder (a lagging subscription): the next
    /// written entry is a `gap` that says how many.
    pub fn lost(&self, n: u64) {
        if let Some(shared) = &self.inner {
            shared.lost.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Wait until everything recorded so far is written and fsynced.
    pub async fn flush(&self) {
        self.ask(Command::Flush).await;
    }

    /// Write a `stop` entry, fsync and end the writer; later entries are counted as lost.
    pub async fn close(&self) {
        let Some(shared) = &self.inner else { return };
        self.ask(Command::Close).await;
        let thread = shared.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    async fn ask(&self, make: fn(std::sync::mpsc::Sender<()>) -> Command) {
        let Some(shared) = &self.inner else { return };
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = shared.tx.clone();
        // The queue may be full: wait for room off the async threads.
        let _ = tokio::task::spawn_blocking(move || {
            if sender.send(make(tx)).is_ok() {
                let _ = rx.recv();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests;
