//! The audit writer: seals entries into the hash chain as they are appended, and writes them from one thread in fsynced batches, rotating files by size.
//!
//! Callers are tokio tasks that must not wait on a disk. `append` seals the entry under
//! a short lock (redaction happens before it), so chain order is the order of appends,
//! subscribers see the record at once, and the line goes on a bounded queue (a full
//! queue is the back-pressure). The writer thread writes queued lines in batches and
//! fsyncs at least every `flush_interval`, on `flush`, on `close` and when the last
//! handle is dropped.
//!
//! A failed write or fsync (a full disk) does not end the writer: it keeps every sealed
//! line that is not yet durable, refuses new appends (so callers refuse their calls rather
//! than act unaudited), and retries every `RETRY_INTERVAL` and on every `flush`. A retry
//! first cuts the file back to its last fsynced length, so a line torn by the failed write
//! never stays in the chain, then writes the kept lines again. Once that succeeds, appends
//! are accepted again and the chain goes on without a hole.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use super::AuditError;
use super::chain::{Chain, redact_entry};
use super::head::{Head, HeadState, read_head, write_head};
use super::reader::{LineRead, SegmentReader, list_segments, segment_name};
use super::record::{AuditEntry, AuditRecord};
use super::redact::Redactor;
use super::signing::AuditSigner;
use crate::config::Config;

/// Lines that may wait in the queue before `append` blocks its caller.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Lines taken from the queue between two checks of the flush deadline, so a steady
/// stream of appends cannot postpone the fsync.
const MAX_BATCH: usize = 4096;
/// Buffered bytes that are handed to the OS without waiting for the next fsync.
const WRITE_CHUNK: usize = 1024 * 1024;
/// Pause between batches while lines are waiting for their fsync.
const LINGER: Duration = Duration::from_millis(1);
/// Lock file that keeps two writers from interleaving one chain.
const LOCK_FILE: &str = "LOCK";
/// Pause between two attempts to write again after a failed write or fsync.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// Bytes written since the last fsync that force one: they are kept in memory until it
/// succeeds, so that a failed fsync can be answered by writing them again.
const UNSYNCED_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dir: PathBuf,
    /// A file is left for a new one once it reaches this size; 0 never rotates.
    pub rotate_bytes: u64,
    pub redact: Vec<String>,
    /// Longest time a record waits before it is written and fsynced.
    pub flush_interval: Duration,
    /// The Ed25519 key that signs checkpoints ([`super::signing`]); `None` = unsigned.
    pub signing_key: Option<SigningKeySource>,
    /// Records between two signed checkpoints (one more is signed at close).
    pub sign_every: u64,
    /// Values read from Vault: masked like the patterns' matches.
    pub secrets: crate::secrets::Secrets,
}

impl AuditOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            dir: config.audit_dir(),
            rotate_bytes: u64::from(config.audit.rotate_mb) * 1024 * 1024,
            redact: config.audit.redact.clone(),
            flush_interval: Duration::from_millis(u64::from(config.audit.flush_ms.max(1))),
            signing_key: SigningKeySource::of(config),
            sign_every: u64::from(config.audit.sign_every.max(1)),
            secrets: config.secrets.clone(),
        }
    }

    /// The built-in defaults (64 MiB files, default redactions, 100 ms) in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            rotate_bytes: 64 * 1024 * 1024,
            redact: crate::config::default_redactions(),
            flush_interval: Duration::from_millis(100),
            signing_key: None,
            sign_every: 1000,
            secrets: crate::secrets::Secrets::default(),
        }
    }
}

/// Where the signing key comes from: a private file, or the text of a Vault secret.
#[derive(Clone)]
pub enum SigningKeySource {
    File(PathBuf),
    /// The key's text as read from `reference`; `None` when it was not read (an unresolved
    /// config), which fails the open naming the reference.
    Vault {
        reference: String,
        text: Option<String>,
    },
}

/// Never the key itself.
impl std::fmt::Debug for SigningKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKeySource::File(path) => write!(f, "File({})", path.display()),
            SigningKeySource::Vault { reference, .. } => write!(f, "Vault({reference})"),
        }
    }
}

impl From<PathBuf> for SigningKeySource {
    fn from(path: PathBuf) -> Self {
        SigningKeySource::File(path)
    }
}

impl SigningKeySource {
    /// `audit.signing_key`: empty = none, `vault:…` = the value read from Vault, else a file.
    pub fn of(config: &Config) -> Option<SigningKeySource> {
        let key = &config.audit.signing_key;
        if key.as_os_str().is_empty() {
            return None;
        }
        let text = key.to_string_lossy();
        Some(if crate::secrets::is_vault_ref(&text) {
            SigningKeySource::Vault {
                reference: text.to_string(),
                text: config.secrets.lookup(&text),
            }
        } else {
            SigningKeySource::File(key.clone())
        })
    }

    fn load(&self) -> Result<AuditSigner, String> {
        match self {
            SigningKeySource::File(path) => AuditSigner::load(path).map_err(|e| e.to_string()),
            SigningKeySource::Vault {
                reference,
                text: Some(text),
            } => AuditSigner::from_text(text).map_err(|e| format!("{reference}: {e}")),
            SigningKeySource::Vault {
                reference,
                text: None,
            } => Err(format!("{reference} was not read from Vault")),
        }
    }
}

enum Command {
    /// A sealed record's line, with what `HEAD` needs once it is durable.
    Write {
        line: Vec<u8>,
        seq: u64,
        hash: String,
    },
    Flush(oneshot::Sender<Result<(), String>>),
    Close(oneshot::Sender<Result<(), String>>),
}

/// A cheap-clone handle to the audit writer.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    redactor: Redactor,
    /// The chain head and the queue, under one lock: a record is sealed and queued
    /// before the next one is sealed, so queue order is chain order. `None` once closed.
    sealing: Mutex<Option<Sealing>>,
    records: broadcast::Sender<Arc<AuditRecord>>,
    written: Arc<AtomicU64>,
    health: Arc<Health>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Whether the writer can write, shared between the handles and the writer thread.
#[derive(Default)]
struct Health {
    /// Set while the writer cannot write; read on every append without a lock.
    failing: AtomicBool,
    /// Why, while `failing`; `permanent` when the writer thread is gone.
    failure: Mutex<Option<Failure>>,
}

#[derive(Clone)]
struct Failure {
    message: String,
    permanent: bool,
}

impl Health {
    fn set(&self, message: String, permanent: bool) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Failure { message, permanent });
        self.failing.store(true, Ordering::Release);
    }

    fn clear(&self) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.as_ref().is_some_and(|f| !f.permanent) {
            *failure = None;
            self.failing.store(false, Ordering::Release);
        }
    }

    fn get(&self) -> Option<Failure> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn error(&self) -> Option<AuditError> {
        self.get().map(|f| {
            if f.permanent {
                AuditError::Failed(f.message)
            } else {
                AuditError::Unavailable(f.message)
            }
        })
    }
}

struct Sealing {
    chain: Chain,
    queue: SyncSender<Command>,
    /// Signs a checkpoint every `sign_every` records, and at close.
    signing: Option<Signing>,
}

struct Signing {
    signer: AuditSigner,
    every: u64,
    /// Records sealed since the last checkpoint, and the newest of them (seq, hash, time).
    since: u64,
    last: Option<(u64, String, String)>,
}

impl Signing {
    /// A record was sealed: the next checkpoint covers it.
    fn note(&mut self, record: &AuditRecord) {
        self.since += 1;
        self.last = Some((record.seq, record.hash.clone(), record.timestamp.clone()));
    }

    /// The checkpoint entry when `every` records came since the last one.
    fn due(&mut self) -> Option<AuditEntry> {
        if self.since < self.every {
            return None;
        }
        self.take_checkpoint()
    }

    /// The checkpoint entry for the newest record, if any record came since the last one.
    fn take_checkpoint(&mut self) -> Option<AuditEntry> {
        if self.since == 0 {
            return None;
        }
        let (seq, hash, time) = self.last.take()?;
        self.since = 0;
        Some(self.signer.checkpoint(seq, &hash, &time))
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.shared.dir)
            .field("written", &self.written())
            .finish()
    }
}

impl AuditLog {
    /// Open the log in `opts.dir` (created if missing) and continue its chain from the
    /// last record on disk. A torn last line is left in place for readers to report and
    /// writing goes on in a new file; another writer on the same dir is refused.
    pub fn open(opts: AuditOptions) -> Result<AuditLog, AuditError> {
        Self::open_on(opts, Box::new(RealDisk))
    }

    /// As `open`, writing through `disk` (a test passes one that fails like a full disk).
    pub(crate) fn open_on(opts: AuditOptions, disk: Box<dyn Disk>) -> Result<AuditLog, AuditError> {
        let redactor = Redactor::new(&opts.redact)?.with_secrets(opts.secrets.clone());
        let signing = match &opts.signing_key {
            Some(source) => Some(Signing {
                signer: source
                    .load()
                    .map_err(|e| AuditError::Failed(format!("audit.signing_key: {e}")))?,
                every: opts.sign_every.max(1),
                since: 0,
                last: None,
            }),
            None => None,
        };
        let dir = opts.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| AuditError::Io {
            path: dir.clone(),
            source,
        })?;
        let lock = take_lock(&dir)?;
        let state = recover(&dir, opts.rotate_bytes)?;
        let (records, _) = broadcast::channel(1024);
        let written = Arc::new(AtomicU64::new(0));
        let health = Arc::new(Health::default());
        let writer = Writer {
            dir: dir.clone(),
            rotate_bytes: opts.rotate_bytes,
            flush_interval: opts.flush_interval,
            current: state.current,
            next_number: state.next_number,
            waiting: VecDeque::new(),
            buf: Vec::with_capacity(WRITE_CHUNK + 4096),
            handed: 0,
            last: None,
            unsynced: 0,
            oldest_unsynced: None,
            waiters: Vec::new(),
            written: written.clone(),
            health: health.clone(),
            retry_at: None,
            disk,
            _lock: lock,
        };
        let (queue, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("aios-audit".into())
            .spawn({
                let health = health.clone();
                move || {
                    let run = std::panic::AssertUnwindSafe(|| writer.run(rx));
                    if std::panic::catch_unwind(run).is_err() {
                        // Without this, flush would report success for records that
                        // died with the thread.
                        health.set("the writer thread panicked".into(), true);
                    }
                }
            })
            .map_err(|source| AuditError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(AuditLog {
            shared: Arc::new(Shared {
                dir,
                redactor,
                sealing: Mutex::new(Some(Sealing {
                    chain: Chain::resume(state.tip),
                    queue,
                    signing,
                })),
                records,
                written,
                health,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Seal one record into the chain and queue it; it is on disk within the flush
    /// interval. Subscribers see it at once. Blocks only while the queue is full.
    /// Refused (`Unavailable`) while the writer cannot write: a record accepted then
    /// could only wait in memory.
    pub fn append(&self, mut entry: AuditEntry) -> Result<(), AuditError> {
        self.ready()?;
        // Outside the lock: redaction is the costly part and needs no chain state.
        redact_entry(&self.shared.redactor, &mut entry);
        let mut sealing = self
            .shared
            .sealing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(open) = sealing.as_mut() else {
            return Err(self.stopped_error());
        };
        // Again under the lock: the writer may have failed while this entry was redacted.
        if let Some(e) = self.shared.health.error() {
            return Err(e);
        }
        // A checkpoint is sealed right behind the record that makes one due, under the
        // same lock, never redacted: the signature is hex a secret pattern could mask.
        let sealed = self.seal_and_queue(open, entry, true)
            && match open.signing.as_mut().and_then(Signing::due) {
                Some(cp) => self.seal_and_queue(open, cp, false),
                None => true,
            };
        if !sealed {
            // The writer is gone; nothing after this could be written either.
            *sealing = None;
            return Err(self.stopped_error());
        }
        Ok(())
    }

    /// Seal `entry`, queue its line and tell subscribers; false when the writer is gone.
    /// A record that `counts` is noted for the next checkpoint (checkpoints themselves do
    /// not count); without a signing key nothing is copied for it.
    fn seal_and_queue(&self, open: &mut Sealing, entry: AuditEntry, counts: bool) -> bool {
        let (record, line) = open.chain.seal(entry);
        let write = Command::Write {
            line,
            seq: record.seq,
            hash: record.hash.clone(),
        };
        if open.queue.send(write).is_err() {
            return false;
        }
        if counts && let Some(signing) = open.signing.as_mut() {
            signing.note(&record);
        }
        if self.shared.records.receiver_count() > 0 {
            // Under the lock, so that subscribers see records in chain order.
            let _ = self.shared.records.send(Arc::new(record));
        }
        true
    }

    /// Records as they are appended, in chain order, for live panes. A record seen here
    /// is on disk within the flush interval (or the writer reports a failure).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AuditRecord>> {
        self.shared.records.subscribe()
    }

    /// Wait until every record appended before this call is written and fsynced.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let queue = self
            .shared
            .sealing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|s| s.queue.clone());
        let Some(queue) = queue else {
            return self.stopped_result();
        };
        self.ask(queue, Command::Flush).await
    }

    /// Flush and stop the writer; later appends fail with `Closed`. Closing twice is fine.
    pub async fn close(&self) -> Result<(), AuditError> {
        let sealing = {
            let mut guard = self
                .shared
                .sealing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // The records since the last checkpoint get theirs: after an orderly close,
            // the whole log is covered by a signature.
            if let Some(open) = guard.as_mut()
                && self.shared.health.error().is_none()
                && let Some(cp) = open.signing.as_mut().and_then(Signing::take_checkpoint)
            {
                let _ = self.seal_and_queue(open, cp, false);
            }
            guard.take()
        };
        let Some(Sealing { queue, .. }) = sealing else {
            return self.stopped_result();
        };
        self.ask(queue, Command::Close).await
    }

    /// Whether an append now would be accepted: `Unavailable` while the writer cannot
    /// write (it retries), `Failed` when it is gone, `Closed` after `close`. Callers that
    /// must not act unaudited ask this before they act.
    pub fn ready(&self) -> Result<(), AuditError> {
        if let Some(e) = self.shared.health.error() {
            return Err(e);
        }
        let closed = self
            .shared
            .sealing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none();
        if closed {
            return Err(self.stopped_error());
        }
        Ok(())
    }

    /// Why the writer cannot write right now, if it cannot (for health checks).
    pub fn failure(&self) -> Option<String> {
        self.shared.health.get().map(|f| f.message)
    }

    /// Records written and fsynced since this process opened the log.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// The audit dir.
    /// The redactor records are masked with (built-ins and `audit.redact`), for masking
    /// other writes (the stores) the same way.
    pub fn redactor(&self) -> &Redactor {
        &self.shared.redactor
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Send a command that the writer answers once everything before it is durable.
    async fn ask(
        &self,
        queue: SyncSender<Command>,
        command: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Command,
    ) -> Result<(), AuditError> {
        let (reply, done) = oneshot::channel();
        if send_async(&queue, command(reply)).await.is_err() {
            return self.stopped_result();
        }
        drop(queue);
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AuditError::Unavailable(message)),
            // The writer stopped after a close that already flushed these records, or
            // because it failed.
            Err(_) => self.stopped_result(),
        }
    }

    fn stopped_error(&self) -> AuditError {
        self.shared.health.error().unwrap_or(AuditError::Closed)
    }

    fn stopped_result(&self) -> Result<(), AuditError> {
        match self.shared.health.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Shared {
    /// The last handle is gone: hang up so the writer drains the queue, fsyncs and exits,
    /// and wait for it, so that no appended record is lost at shutdown and the dir's
    /// lock is free when this returns.
    fn drop(&mut self) {
        drop(
            self.sealing
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Send without blocking the async caller's thread while the queue is full.
async fn send_async(tx: &SyncSender<Command>, mut cmd: Command) -> Result<(), ()> {
    loop {
        match tx.try_send(cmd) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) => {
                cmd = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return Err(()),
        }
    }
}

fn take_lock(dir: &Path) -> Result<File, AuditError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| AuditError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Locked { path }),
        // A filesystem without locks (some network mounts) should not stop auditing;
        // the data dir's own owner lock still keeps a second runtime away.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            tracing::warn!(path = %path.display(), "audit dir cannot be locked here; continuing without");
            Ok(file)
        }
        Err(std::fs::TryLockError::Error(source)) => Err(AuditError::Io { path, source }),
    }
}

/// The file being appended to.
struct OpenSegment {
    file: File,
    path: PathBuf,
    name: String,
    /// Its length with the lines buffered for it: what rotation goes by.
    size: u64,
    /// Its length at the last fsync: everything after it is still in the writer's buffer.
    synced: u64,
}

/// What the writer does to its files. A test passes one that fails like a full disk.
pub(crate) trait Disk: Send {
    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> std::io::Result<()>;
    fn sync_data(&mut self, file: &File) -> std::io::Result<()>;
}

/// The real thing.
pub(crate) struct RealDisk;

impl Disk for RealDisk {
    fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
        file.write_all(bytes)
    }

    fn sync_data(&mut self, file: &File) -> std::io::Result<()> {
        file.sync_data()
    }
}

/// Where the chain stands on disk when the log is opened.
struct Recovered {
    current: Option<OpenSegment>,
    next_number: u64,
    /// Seq and hash of the record the next one links to.
    tip: Option<(u64, String)>,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Find the last record on disk and decide where the next one goes.
fn recover(dir: &Path, rotate_bytes: u64) -> Result<Recovered, AuditError> {
    let segments = list_segments(dir)?;
    let mut tip: Option<(u64, String)> = None;
    let mut newest_clean = true;
    for (i, segment) in segments.iter().enumerate().rev() {
        let mut reader = SegmentReader::open(&segment.path)?;
        let mut last = None;
        let mut ends_in_record = true;
        while let Some(item) = reader.next_line(true)? {
            match item {
                LineRead::Record { record, .. } => {
                    last = Some((record.seq, record.hash));
                    ends_in_record = true;
                }
                LineRead::Problem(_) => ends_in_record = false,
            }
        }
        if i + 1 == segments.len() {
            newest_clean = ends_in_record && ends_in_newline(&segment.path)?;
        }
        if last.is_some() {
            tip = last;
            break;
        }
    }
    // `HEAD` ahead of the files means records were cut off the end. Continuing from
    // `HEAD` keeps that visible: the next record links to the missing one, so verify
    // reports the gap instead of a chain that silently closed over it.
    if let HeadState::Present(head) = read_head(dir)
        && tip.as_ref().is_none_or(|(seq, _)| head.seq > *seq)
    {
        tracing::warn!(
            head_seq = head.seq,
            disk_seq = tip.as_ref().map(|t| t.0),
            "audit files end before HEAD: records were removed; continuing the chain from HEAD"
        );
        tip = Some((head.seq, head.hash));
    }
    let newest = segments.last();
    let next_number = newest.map_or(1, |s| s.number + 1);
    let mut current = None;
    if let Some(newest) = newest
        && newest_clean
    {
        let size = std::fs::metadata(&newest.path)
            .map_err(io_at(&newest.path))?
            .len();
        if rotate_bytes == 0 || size < rotate_bytes {
            let file = OpenOptions::new()
                .append(true)
                .open(&newest.path)
                .map_err(io_at(&newest.path))?;
            current = Some(OpenSegment {
                file,
                path: newest.path.clone(),
                name: segment_name(newest.number),
                size,
                synced: size,
            });
        }
    }
    Ok(Recovered {
        current,
        next_number,
        tip,
    })
}

/// Whether a file is empty or ends with a newline, i.e. the next line may follow it.
fn ends_in_newline(path: &Path) -> Result<bool, AuditError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path).map_err(io_at(path))?;
    let len = file.metadata().map_err(io_at(path))?.len();
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1)).map_err(io_at(path))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last).map_err(io_at(path))?;
    Ok(last[0] == b'\n')
}

struct Writer {
    dir: PathBuf,
    rotate_bytes: u64,
    flush_interval: Duration,
    current: Option<OpenSegment>,
    /// Number of the next file to create.
    next_number: u64,
    /// Sealed lines taken from the queue but not yet given a place in a file: at most
    /// one in normal operation, every line that arrives while the writer cannot write.
    waiting: VecDeque<Waiting>,
    /// The lines for `current` since its last fsync. They are kept until the fsync
    /// succeeds, so that after a failed write or fsync they can be written again.
    buf: Vec<u8>,
    /// How much of `buf` has been handed to the OS.
    handed: usize,
    /// Seq and hash of the newest line placed, for `HEAD`.
    last: Option<(u64, String)>,
    /// Lines placed since the last fsync.
    unsynced: u64,
    oldest_unsynced: Option<Instant>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    written: Arc<AtomicU64>,
    health: Arc<Health>,
    /// When to try again, while the writer cannot write.
    retry_at: Option<Instant>,
    disk: Box<dyn Disk>,
    /// Held for the writer's life; dropping it frees the dir for the next writer.
    _lock: File,
}

/// A sealed line waiting for its place in a file.
struct Waiting {
    line: Vec<u8>,
    seq: u64,
    hash: String,
}

impl Writer {
    fn run(mut self, rx: Receiver<Command>) {
        let mut closing = None;
        let mut hung_up = false;
        while closing.is_none() && !hung_up {
            let first = match self.next_deadline() {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        hung_up = true;
                        None
                    }
                },
                None => rx.recv().ok().or_else(|| {
                    hung_up = true;
                    None
                }),
            };
            let mut outcome = Ok(());
            let got_work = first.is_some();
            if let Some(cmd) = first {
                outcome = self.handle(cmd, &mut closing);
                let mut batch = 1;
                while outcome.is_ok() && closing.is_none() && batch < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(cmd) => outcome = self.handle(cmd, &mut closing),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            hung_up = true;
                            break;
                        }
                    }
                    batch += 1;
                }
            }
            let wanted = !self.waiters.is_empty() || closing.is_some() || hung_up;
            if let Some(retry_at) = self.retry_at {
                // Someone waits, or it is time: try to write the kept lines again.
                if outcome.is_ok() && (wanted || Instant::now() >= retry_at) {
                    outcome = self.recover();
                }
            } else {
                let due = self
                    .oldest_unsynced
                    .is_some_and(|since| since.elapsed() >= self.flush_interval);
                if outcome.is_ok() && (due || wanted) {
                    outcome = self.commit();
                }
            }
            if let Err(e) = outcome {
                if let Some(reply) = closing.take() {
                    self.give_up(e, reply);
                    return;
                }
                self.stall(e);
                continue;
            }
            if let Some(since) = self.oldest_unsynced
                && got_work
                && self.retry_at.is_none()
            {
                // Let the queue fill for a moment instead of going back to a blocking
                // receive: a parked writer is woken by every single append, and those
                // wake-ups cost more than writing the line (group commit, as in
                // Kafka's linger). Bounded by the flush deadline.
                std::thread::sleep(LINGER.min(self.until_due(since)));
            }
        }
        if self.retry_at.is_some() {
            tracing::error!(
                records = self.unsynced + self.waiting.len() as u64,
                "audit writer stopped while it could not write: these records were never written"
            );
        }
        // Files and the dir lock are released before the closer hears back, so the dir
        // can be reopened as soon as `close` returns.
        drop(self);
        if let Some(reply) = closing {
            let _ = reply.send(Ok(()));
        }
    }

    /// How long the receive may wait: until the fsync is due, or the next retry.
    fn next_deadline(&self) -> Option<Duration> {
        match self.retry_at {
            Some(at) => Some(at.saturating_duration_since(Instant::now())),
            None => self.oldest_unsynced.map(|since| self.until_due(since)),
        }
    }

    /// Time left before lines taken at `since` must be fsynced.
    fn until_due(&self, since: Instant) -> Duration {
        since
            .checked_add(self.flush_interval)
            .map_or(self.flush_interval, |due| {
                due.saturating_duration_since(Instant::now())
            })
    }

    fn handle(
        &mut self,
        cmd: Command,
        closing: &mut Option<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), AuditError> {
        match cmd {
            Command::Write { line, seq, hash } => {
                self.waiting.push_back(Waiting { line, seq, hash });
                if self.retry_at.is_some() {
                    // Kept in order; written by the next successful retry.
                    return Ok(());
                }
                self.place()
            }
            Command::Flush(reply) => {
                self.waiters.push(reply);
                Ok(())
            }
            Command::Close(reply) => {
                *closing = Some(reply);
                Ok(())
            }
        }
    }

    /// Give each waiting line its place in the buffer of the current file, starting a new
    /// file first when the current one is full. A line leaves `waiting` only once placed,
    /// so an error here loses nothing.
    fn place(&mut self) -> Result<(), AuditError> {
        while !self.waiting.is_empty() {
            let full = self
                .current
                .as_ref()
                .is_some_and(|c| self.rotate_bytes > 0 && c.size >= self.rotate_bytes);
            if full {
                self.rotate()?;
            }
            if self.current.is_none() {
                self.create_segment()?;
            }
            let Some(Waiting { line, seq, hash }) = self.waiting.pop_front() else {
                break;
            };
            self.buf.extend_from_slice(&line);
            if let Some(current) = &mut self.current {
                current.size += line.len() as u64;
            }
            self.last = Some((seq, hash));
            self.unsynced += 1;
            self.oldest_unsynced.get_or_insert_with(Instant::now);
            if self.buf.len() >= UNSYNCED_LIMIT {
                self.commit()?;
            } else if self.buf.len() - self.handed >= WRITE_CHUNK {
                self.write_buf()?;
            }
        }
        Ok(())
    }

    fn create_segment(&mut self) -> Result<(), AuditError> {
        let name = segment_name(self.next_number);
        let path = self.dir.join(&name);
        let file = match OpenOptions::new().create_new(true).append(true).open(&path) {
            Ok(file) => file,
            // Created by an attempt that then failed to make the name durable: still
            // empty, so it is ours to use.
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) =>
            {
                OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(io_at(&path))?
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        // Make the new name durable too, or a crash could lose the whole file.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&self.dir))?;
        self.next_number += 1;
        self.current = Some(OpenSegment {
            file,
            path,
            name,
            size: 0,
            synced: 0,
        });
        Ok(())
    }

    /// Finish the current file (written and fsynced) so the next line starts a new one.
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.sync_current()?;
        self.current = None;
        Ok(())
    }

    /// Hand the buffered bytes the OS does not have yet to the current file.
    fn write_buf(&mut self) -> Result<(), AuditError> {
        if self.handed == self.buf.len() {
            return Ok(());
        }
        if let Some(current) = &mut self.current {
            self.disk
                .write_all(&mut current.file, &self.buf[self.handed..])
                .map_err(io_at(&current.path))?;
        }
        self.handed = self.buf.len();
        Ok(())
    }

    /// Write and fsync the current file's buffer; only then is the buffer let go.
    fn sync_current(&mut self) -> Result<(), AuditError> {
        self.write_buf()?;
        if let Some(current) = &mut self.current {
            self.disk
                .sync_data(&current.file)
                .map_err(io_at(&current.path))?;
            current.synced += self.buf.len() as u64;
        }
        self.buf.clear();
        self.handed = 0;
        Ok(())
    }

    /// Write and fsync everything placed so far, move `HEAD`, then answer the waiters.
    fn commit(&mut self) -> Result<(), AuditError> {
        self.make_durable()?;
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Ok(()));
        }
        Ok(())
    }

    /// Write and fsync everything placed so far and move `HEAD`.
    fn make_durable(&mut self) -> Result<(), AuditError> {
        if self.unsynced > 0 {
            self.sync_current()?;
            if let (Some(current), Some((seq, hash))) = (&self.current, &self.last) {
                let head = Head {
                    seq: *seq,
                    hash: hash.clone(),
                    file: current.name.clone(),
                };
                // The records are durable either way; a stale `HEAD` only weakens
                // the truncation check until the next commit.
                if let Err(e) = write_head(&self.dir, &head) {
                    tracing::warn!(error = %e, "could not update the audit HEAD file");
                }
            }
            self.written.fetch_add(self.unsynced, Ordering::AcqRel);
            crate::metrics::audit_records_written(self.unsynced);
            self.unsynced = 0;
        }
        self.oldest_unsynced = None;
        Ok(())
    }

    /// After a failed write or fsync: cut the current file back to its last fsynced
    /// length (whatever part of a failed write reached it may end in a torn line), write
    /// the kept buffer and the waiting lines again, and fsync.
    fn recover(&mut self) -> Result<(), AuditError> {
        if let Some(current) = &mut self.current {
            current
                .file
                .set_len(current.synced)
                .map_err(io_at(&current.path))?;
            self.handed = 0;
        }
        self.place()?;
        self.make_durable()?;
        // Healthy again before anyone waiting hears so.
        self.recovered();
        self.commit()
    }

    /// A write or fsync failed: keep every line that is not durable, refuse appends (the
    /// handles see `health`) and try again later. Whoever waits for durability hears now.
    fn stall(&mut self, error: AuditError) {
        let message = error.to_string();
        if self.retry_at.is_none() {
            tracing::error!(
                error = %message,
                "audit writer cannot write: appends are refused and kept records are retried every {} ms",
                RETRY_INTERVAL.as_millis()
            );
        }
        self.health.set(message.clone(), false);
        self.retry_at = Some(Instant::now() + RETRY_INTERVAL);
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Err(message.clone()));
        }
    }

    /// Closing while the disk takes nothing: the kept records end with the writer. Said
    /// in the log and to the closer; the handles keep reporting the failure.
    fn give_up(mut self, error: AuditError, reply: oneshot::Sender<Result<(), String>>) {
        let lost = self.unsynced + self.waiting.len() as u64;
        let message = format!("{error}; closed with {lost} record(s) not written");
        tracing::error!(error = %message, "audit writer closed while it could not write");
        self.health.set(message.clone(), true);
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Err(message.clone()));
        }
        drop(self);
        let _ = reply.send(Err(message));
    }

    fn recovered(&mut self) {
        self.retry_at = None;
        self.health.clear();
        tracing::warn!("audit writer writes again: the kept records are on disk");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::{Outcome, verify_dir};

    /// A disk that fills up on demand: a write then stores half its bytes and fails with
    /// ENOSPC (a torn line, as on a real full disk), and fsync fails.
    pub(crate) struct FillingDisk(pub Arc<AtomicBool>);

    fn no_space() -> std::io::Error {
        std::io::Error::from_raw_os_error(28)
    }

    impl Disk for FillingDisk {
        fn write_all(&mut self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
            if self.0.load(Ordering::SeqCst) {
                file.write_all(&bytes[..bytes.len() / 2 + 1])?;
                return Err(no_space());
            }
            file.write_all(bytes)
        }

        fn sync_data(&mut self, file: &File) -> std::io::Result<()> {
            if self.0.load(Ordering::SeqCst) {
                return Err(no_space());
            }
            file.sync_data()
        }
    }

    fn entry(i: usize) -> AuditEntry {
        AuditEntry {
            agent_id: Some("ops-agent".into()),
            action: "set_goals".into(),
            input: serde_json::json!({"i": i}),
            context_id: None,
            caller: "test".into(),
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 1.0,
            cause: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_full_disk_refuses_appends_loses_nothing_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let full = Arc::new(AtomicBool::new(false));
        let opts = AuditOptions {
            flush_interval: Duration::from_secs(3600),
            ..AuditOptions::new(dir.path())
        };
        let log = AuditLog::open_on(opts, Box::new(FillingDisk(full.clone()))).unwrap();
        for i in 0..3 {
            log.append(entry(i)).unwrap();
        }
        log.flush().await.unwrap();

        full.store(true, Ordering::SeqCst);
        // Accepted by a healthy writer, which then finds the disk full.
        log.append(entry(3)).unwrap();
        log.append(entry(4)).unwrap();
        let err = log.flush().await.unwrap_err();
        assert!(matches!(err, AuditError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("os error 28"), "{err}");
        // From now on nothing is accepted, and the failure is visible.
        assert!(matches!(log.ready(), Err(AuditError::Unavailable(_))));
        assert!(matches!(
            log.append(entry(99)),
            Err(AuditError::Unavailable(_))
        ));
        assert!(log.failure().is_some());
        // The failed write left a torn line on disk.
        let file = dir.path().join(segment_name(1));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.ends_with('\n'), "a torn line is on disk");

        // Space returns: the next flush retries, cuts the torn bytes and writes the kept
        // records in their place.
        full.store(false, Ordering::SeqCst);
        log.flush().await.unwrap();
        assert!(log.ready().is_ok());
        assert!(log.failure().is_none());
        log.append(entry(5)).unwrap();
        log.close().await.unwrap();

        let report = verify_dir(dir.path()).unwrap();
        assert!(report.is_ok(), "{:?}", report.first_bad);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.records, 6);
        let read = crate::audit::read_dir(dir.path()).unwrap();
        let inputs: Vec<i64> = read
            .records
            .iter()
            .map(|r| r.input["i"].as_i64().unwrap())
            .collect();
        assert_eq!(inputs, vec![0, 1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn the_writer_retries_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let full = Arc::new(AtomicBool::new(true));
        let log = AuditLog::open_on(
            AuditOptions {
                flush_interval: Duration::from_millis(1),
                ..AuditOptions::new(dir.path())
            },
            Box::new(FillingDisk(full.clone())),
        )
        .unwrap();
        log.append(entry(0)).unwrap();
        let mut waited = 0;
        while log.failure().is_none() {
            assert!(waited < 500, "the writer never noticed the full disk");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        full.store(false, Ordering::SeqCst);
        let mut waited = 0;
        while log.failure().is_some() {
            assert!(waited < 500, "the writer did not recover without help");
            tokio::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        log.close().await.unwrap();
        let report = verify_dir(dir.path()).unwrap();
        assert!(report.is_ok() && report.records == 1, "{report:?}");
    }
}
