//! The audit writer: one thread that seals queued entries into the hash chain and writes them in fsynced batches, rotating files by size.
//!
//! Callers are tokio tasks that must not wait on a disk, so `append` only queues the
//! entry on a bounded channel (a full queue is the back-pressure). The writer thread
//! assigns seq, id, timestamp and hashes in queue order, so chain order is write order,
//! and it fsyncs at least every `flush_interval`, on `flush`, on `close` and when the last
//! handle is dropped. Records are announced to subscribers only once they are durable.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use super::AuditError;
use super::head::{Head, HeadState, read_head, write_head};
use super::reader::{LineRead, SegmentReader, list_segments, segment_name};
use super::record::{AuditEntry, AuditRecord, GENESIS_HASH};
use super::redact::Redactor;
use crate::config::Config;

/// Entries that may wait in the queue before `append` blocks its caller.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Records sealed between two checks of the flush deadline, so a steady stream of
/// appends cannot postpone the fsync.
const MAX_BATCH: usize = 4096;
/// Buffered bytes that are handed to the OS without waiting for the next fsync.
const WRITE_CHUNK: usize = 1024 * 1024;
/// Pause between batches while records are waiting for their fsync.
const LINGER: Duration = Duration::from_millis(1);
/// Lock file that keeps two writers from interleaving one chain.
const LOCK_FILE: &str = "LOCK";

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dir: PathBuf,
    /// A file is left for a new one once it reaches this size; 0 never rotates.
    pub rotate_bytes: u64,
    pub redact: Vec<String>,
    /// Longest time a record waits before it is written and fsynced.
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

    /// The built-in defaults (64 MiB files, default redactions, 100 ms) in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            rotate_bytes: 64 * 1024 * 1024,
            redact: crate::config::default_redactions(),
            flush_interval: Duration::from_millis(100),
        }
    }
}

enum Command {
    Append(AuditEntry),
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
    /// `None` once closed. Appends send under the read lock, so `close` (which takes the
    /// sender under the write lock) orders every accepted append before its own command.
    sender: RwLock<Option<SyncSender<Command>>>,
    records: broadcast::Sender<Arc<AuditRecord>>,
    written: Arc<AtomicU64>,
    /// Why the writer stopped, when it stopped on an I/O error.
    failure: Arc<Mutex<Option<String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
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
        let redactor = Redactor::new(&opts.redact)?;
        let dir = opts.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| AuditError::Io {
            path: dir.clone(),
            source,
        })?;
        let lock = take_lock(&dir)?;
        let state = recover(&dir, opts.rotate_bytes)?;
        let (records, _) = broadcast::channel(1024);
        let written = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(Mutex::new(None));
        let writer = Writer {
            dir: dir.clone(),
            rotate_bytes: opts.rotate_bytes,
            flush_interval: opts.flush_interval,
            redactor,
            current: state.current,
            next_number: state.next_number,
            buf: Vec::with_capacity(WRITE_CHUNK + 4096),
            next_seq: state.next_seq,
            last_hash: state.last_hash,
            unsynced: 0,
            oldest_unsynced: None,
            to_announce: Vec::new(),
            waiters: Vec::new(),
            records: records.clone(),
            written: written.clone(),
            failure: failure.clone(),
            ids: IdSource::new(),
            clock: TimestampCache::default(),
            _lock: lock,
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("aios-audit".into())
            .spawn({
                let failure = failure.clone();
                move || {
                    let run = std::panic::AssertUnwindSafe(|| writer.run(rx));
                    if std::panic::catch_unwind(run).is_err() {
                        // Without this, flush would report success for records that
                        // died with the thread.
                        *failure.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some("the writer thread panicked".into());
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
                sender: RwLock::new(Some(tx)),
                records,
                written,
                failure,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Queue one record; it is on disk within the flush interval. Blocks only while the
    /// queue is full.
    pub fn append(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let guard = self
            .shared
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(tx) => tx
                .send(Command::Append(entry))
                .map_err(|_| self.stopped_error()),
            None => Err(self.stopped_error()),
        }
    }

    /// Records as they are written (after their fsync), for live panes.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AuditRecord>> {
        self.shared.records.subscribe()
    }

    /// Wait until every record appended before this call is written and fsynced.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let Some(tx) = self.sender() else {
            return self.stopped_result();
        };
        let (reply, done) = oneshot::channel();
        if send_async(&tx, Command::Flush(reply)).await.is_err() {
            return self.stopped_result();
        }
        drop(tx);
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AuditError::Failed(message)),
            // The writer stopped after a close that already flushed these records, or
            // because it failed.
            Err(_) => self.stopped_result(),
        }
    }

    /// Flush and stop the writer; later appends fail with `Closed`. Closing twice is fine.
    pub async fn close(&self) -> Result<(), AuditError> {
        let tx = self
            .shared
            .sender
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(tx) = tx else {
            return self.stopped_result();
        };
        let (reply, done) = oneshot::channel();
        if send_async(&tx, Command::Close(reply)).await.is_err() {
            return self.stopped_result();
        }
        drop(tx);
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AuditError::Failed(message)),
            Err(_) => self.stopped_result(),
        }
    }

    /// Records written and fsynced since this process opened the log.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// The audit dir.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    fn sender(&self) -> Option<SyncSender<Command>> {
        self.shared
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn stopped_error(&self) -> AuditError {
        match self.failure() {
            Some(message) => AuditError::Failed(message),
            None => AuditError::Closed,
        }
    }

    fn stopped_result(&self) -> Result<(), AuditError> {
        match self.failure() {
            Some(message) => Err(AuditError::Failed(message)),
            None => Ok(()),
        }
    }
}

impl Drop for Shared {
    /// The last handle is gone: hang up so the writer drains the queue, fsyncs and exits,
    /// and wait for it, so that no acknowledged record is lost at shutdown and the dir's
    /// lock is free when this returns.
    fn drop(&mut self) {
        drop(
            self.sender
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
    size: u64,
}

/// Where the chain stands on disk when the log is opened.
struct Recovered {
    current: Option<OpenSegment>,
    next_number: u64,
    next_seq: u64,
    last_hash: String,
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
            });
        }
    }
    let (next_seq, last_hash) = match tip {
        Some((seq, hash)) => (seq + 1, hash),
        None => (0, GENESIS_HASH.to_string()),
    };
    Ok(Recovered {
        current,
        next_number,
        next_seq,
        last_hash,
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

/// Durations are kept to the microsecond: a float with few digits reads back exactly,
/// so a parsed record hashes like the written one. Non-finite values would serialize as
/// `null` and make the line unreadable.
fn settle_duration(ms: f64) -> f64 {
    if !ms.is_finite() || ms <= 0.0 {
        return 0.0;
    }
    (ms.min(1e12) * 1000.0).round() / 1000.0
}

/// UUIDv7 ids without a system call each.
///
/// `Uuid::now_v7` asks the OS for fresh random bits for every id, which at audit rates
/// costs more than hashing the record. Here the OS seeds a splitmix64 generator once; the
/// 12 bits after the version hold a counter that starts at a random point each
/// millisecond (RFC 9562, method 1), so ids stay strictly increasing, and the 62 bits
/// after the variant are random. Ids only need to be unique; the chain order is `seq`.
struct IdSource {
    state: u64,
    last_ms: u64,
    counter: u16,
}

impl IdSource {
    fn new() -> Self {
        let seed = uuid::Uuid::now_v7().as_u128();
        Self {
            state: (seed as u64) ^ ((seed >> 64) as u64),
            last_ms: 0,
            counter: 0,
        }
    }

    fn random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next(&mut self, now_ms: u64) -> uuid::Uuid {
        let random = self.random();
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            // Start low enough that a busy millisecond does not run out of counter.
            self.counter = (random >> 53) as u16 & 0x7FF;
        } else if self.counter >= 0xFFF {
            // Counter exhausted, or the clock stepped back: borrow the next millisecond
            // rather than repeat or reorder ids.
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&self.counter.to_be_bytes());
        bytes[2..].copy_from_slice(&self.random().to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.last_ms, &bytes).into_uuid()
    }
}

/// Formats the record timestamp once per millisecond; a burst of records shares it.
#[derive(Default)]
struct TimestampCache {
    ms: i64,
    text: String,
}

impl TimestampCache {
    fn timestamp(&mut self, now: chrono::DateTime<chrono::Utc>) -> String {
        let ms = now.timestamp_millis();
        if ms != self.ms || self.text.is_empty() {
            self.ms = ms;
            self.text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        }
        self.text.clone()
    }
}

struct Writer {
    dir: PathBuf,
    rotate_bytes: u64,
    flush_interval: Duration,
    redactor: Redactor,
    current: Option<OpenSegment>,
    /// Number of the next file to create.
    next_number: u64,
    /// Sealed lines not yet handed to the OS.
    buf: Vec<u8>,
    next_seq: u64,
    last_hash: String,
    /// Records sealed since the last fsync.
    unsynced: u64,
    oldest_unsynced: Option<Instant>,
    /// Records to broadcast once fsynced (kept only while someone listens).
    to_announce: Vec<Arc<AuditRecord>>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    records: broadcast::Sender<Arc<AuditRecord>>,
    written: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
    ids: IdSource,
    clock: TimestampCache,
    /// Held for the writer's life; dropping it frees the dir for the next writer.
    _lock: File,
}

impl Writer {
    fn run(mut self, rx: Receiver<Command>) {
        let mut closing = None;
        let mut hung_up = false;
        while closing.is_none() && !hung_up {
            let first = match self.oldest_unsynced {
                Some(since) => {
                    let wait = self.until_due(since);
                    match rx.recv_timeout(wait) {
                        Ok(cmd) => Some(cmd),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            hung_up = true;
                            None
                        }
                    }
                }
                None => rx.recv().ok().or_else(|| {
                    hung_up = true;
                    None
                }),
            };
            let mut outcome = Ok(());
            let first_was_command = first.is_some();
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
            let due = self
                .oldest_unsynced
                .is_some_and(|since| since.elapsed() >= self.flush_interval);
            if outcome.is_ok() && (due || !self.waiters.is_empty() || closing.is_some() || hung_up)
            {
                outcome = self.commit();
            }
            if let Err(e) = outcome {
                self.fail(e, closing.take());
                return;
            }
            if let Some(since) = self.oldest_unsynced
                && first_was_command
            {
                // Let the queue fill for a moment instead of going back to a blocking
                // receive: a parked writer is woken by every single append, and those
                // wake-ups cost more than sealing the record (group commit, as in
                // Kafka's linger). Bounded by the flush deadline.
                let left = self.until_due(since);
                std::thread::sleep(LINGER.min(left));
            }
        }
        // Files and the dir lock are released before the closer hears back, so the dir
        // can be reopened as soon as `close` returns.
        drop(self);
        if let Some(reply) = closing {
            let _ = reply.send(Ok(()));
        }
    }

    /// Time left before records sealed at `since` must be fsynced.
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
            Command::Append(entry) => self.push(entry),
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

    /// Seal one entry into the chain and buffer its line.
    fn push(&mut self, entry: AuditEntry) -> Result<(), AuditError> {
        let now = chrono::Utc::now();
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut input = entry.input;
        self.redactor.redact_value(&mut input);
        let error = entry
            .error
            .map(|e| self.redactor.redact_str(&e).unwrap_or(e));
        let mut record = AuditRecord {
            seq: self.next_seq,
            id: self.ids.next(now_ms).to_string(),
            timestamp: self.clock.timestamp(now),
            agent_id: entry.agent_id,
            action: entry.action,
            input,
            context_id: entry.context_id,
            caller: entry.caller,
            outcome: entry.outcome,
            error,
            duration_ms: settle_duration(entry.duration_ms),
            prev_hash: std::mem::take(&mut self.last_hash),
            hash: String::new(),
        };
        let line = record.seal();
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
        self.buf.extend_from_slice(&line);
        if let Some(current) = &mut self.current {
            current.size += line.len() as u64;
        }
        self.next_seq += 1;
        self.last_hash.clone_from(&record.hash);
        self.unsynced += 1;
        self.oldest_unsynced.get_or_insert_with(Instant::now);
        if self.records.receiver_count() > 0 {
            self.to_announce.push(Arc::new(record));
        }
        if self.buf.len() >= WRITE_CHUNK {
            self.write_buf()?;
        }
        Ok(())
    }

    fn create_segment(&mut self) -> Result<(), AuditError> {
        let name = segment_name(self.next_number);
        let path = self.dir.join(&name);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
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
        });
        Ok(())
    }

    /// Finish the current file (written and fsynced) so the next line starts a new one.
    fn rotate(&mut self) -> Result<(), AuditError> {
        self.write_buf()?;
        if let Some(current) = self.current.take() {
            current.file.sync_data().map_err(io_at(&current.path))?;
        }
        Ok(())
    }

    fn write_buf(&mut self) -> Result<(), AuditError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            self.create_segment()?;
        }
        if let Some(current) = &mut self.current {
            current
                .file
                .write_all(&self.buf)
                .map_err(io_at(&current.path))?;
        }
        self.buf.clear();
        Ok(())
    }

    /// Write and fsync everything sealed so far, move `HEAD`, then tell waiters and
    /// subscribers.
    fn commit(&mut self) -> Result<(), AuditError> {
        if self.unsynced > 0 {
            self.write_buf()?;
            if let Some(current) = &self.current {
                current.file.sync_data().map_err(io_at(&current.path))?;
                let head = Head {
                    seq: self.next_seq - 1,
                    hash: self.last_hash.clone(),
                    file: current.name.clone(),
                };
                // The records are durable either way; a stale `HEAD` only weakens the
                // truncation check until the next commit.
                if let Err(e) = write_head(&self.dir, &head) {
                    tracing::warn!(error = %e, "could not update the audit HEAD file");
                }
            }
            self.written.fetch_add(self.unsynced, Ordering::AcqRel);
            self.unsynced = 0;
        }
        self.oldest_unsynced = None;
        for record in self.to_announce.drain(..) {
            // Nobody listening is fine.
            let _ = self.records.send(record);
        }
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Ok(()));
        }
        Ok(())
    }

    /// Stop for good after an I/O error: a chain with a hole in the middle is worse than
    /// a writer that refuses further records, which callers then see as errors.
    fn fail(mut self, error: AuditError, closing: Option<oneshot::Sender<Result<(), String>>>) {
        let message = error.to_string();
        tracing::error!(error = %message, "audit writer stopped");
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(message.clone());
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(Err(message.clone()));
        }
        if let Some(reply) = closing {
            let _ = reply.send(Err(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_strictly_increasing() {
        let mut ids = IdSource::new();
        let mut previous = uuid::Uuid::nil();
        // Many ids in one millisecond (the counter overflows into the next), then a
        // clock that steps back.
        let times = std::iter::repeat_n(1_700_000_000_000u64, 5000)
            .chain(std::iter::repeat_n(1_699_999_999_000, 10))
            .chain([1_700_000_000_500]);
        for ms in times {
            let id = ids.next(ms);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(id > previous, "{id} after {previous}");
            previous = id;
        }
        let (secs, _) = previous.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }

    #[test]
    fn timestamps_have_the_contract_format() {
        let mut clock = TimestampCache::default();
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00.1234Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(clock.timestamp(t), "2026-11-24T12:00:00.123Z");
        let later = t + chrono::TimeDelta::milliseconds(1);
        assert_eq!(clock.timestamp(later), "2026-11-24T12:00:00.124Z");
    }

    #[test]
    fn durations_read_back_exactly() {
        for ms in [0.1234567, 1.0 / 3.0, 12_345.678_901, 7e-7, f64::NAN, -1.0] {
            let settled = settle_duration(ms);
            let text = serde_json::to_string(&settled).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back, settled, "{ms}");
        }
    }
}
