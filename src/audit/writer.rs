//! The audit writer: seals entries into the hash chain as they are appended, and writes them from one thread in fsynced batches, rotating files by size.
//!
//! Callers are tokio tasks that must not wait on a disk. `append` seals the entry under
//! a short lock (redaction happens before it), so chain order is the order of appends,
//! subscribers see the record at once, and the line goes on a bounded queue (a full
//! queue is the back-pressure). The writer thread writes queued lines in batches and
//! fsyncs at least every `flush_interval`, on `flush`, on `close` and when the last
//! handle is dropped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Why the writer stopped, when it stopped on an I/O error.
    failure: Arc<Mutex<Option<String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Sealing {
    chain: Chain,
    queue: SyncSender<Command>,
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
            current: state.current,
            next_number: state.next_number,
            buf: Vec::with_capacity(WRITE_CHUNK + 4096),
            last: None,
            unsynced: 0,
            oldest_unsynced: None,
            waiters: Vec::new(),
            written: written.clone(),
            failure: failure.clone(),
            _lock: lock,
        };
        let (queue, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
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
                redactor,
                sealing: Mutex::new(Some(Sealing {
                    chain: Chain::resume(state.tip),
                    queue,
                })),
                records,
                written,
                failure,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Seal one record into the chain and queue it; it is on disk within the flush
    /// interval. Subscribers see it at once. Blocks only while the queue is full.
    pub fn append(&self, mut entry: AuditEntry) -> Result<(), AuditError> {
        // Outside the lock: redaction is the costly part and needs no chain state.
        redact_entry(&self.shared.redactor, &mut entry);
        let mut sealing = self
            .shared
            .sealing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(Sealing { chain, queue }) = sealing.as_mut() else {
            return Err(self.stopped_error());
        };
        let (record, line) = chain.seal(entry);
        let write = Command::Write {
            line,
            seq: record.seq,
            hash: record.hash.clone(),
        };
        if queue.send(write).is_err() {
            // The writer is gone; nothing after this could be written either.
            *sealing = None;
            return Err(self.stopped_error());
        }
        if self.shared.records.receiver_count() > 0 {
            // Under the lock, so that subscribers see records in chain order.
            let _ = self.shared.records.send(Arc::new(record));
        }
        Ok(())
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
        let sealing = self
            .shared
            .sealing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(Sealing { queue, .. }) = sealing else {
            return self.stopped_result();
        };
        self.ask(queue, Command::Close).await
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
            Ok(Err(message)) => Err(AuditError::Failed(message)),
            // The writer stopped after a close that already flushed these records, or
            // because it failed.
            Err(_) => self.stopped_result(),
        }
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
    size: u64,
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
    /// Lines not yet handed to the OS.
    buf: Vec<u8>,
    /// Seq and hash of the newest line taken from the queue, for `HEAD`.
    last: Option<(u64, String)>,
    /// Lines taken since the last fsync.
    unsynced: u64,
    oldest_unsynced: Option<Instant>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    written: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<String>>>,
    /// Held for the writer's life; dropping it frees the dir for the next writer.
    _lock: File,
}

impl Writer {
    fn run(mut self, rx: Receiver<Command>) {
        let mut closing = None;
        let mut hung_up = false;
        while closing.is_none() && !hung_up {
            let first = match self.oldest_unsynced {
                Some(since) => match rx.recv_timeout(self.until_due(since)) {
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
                && got_work
            {
                // Let the queue fill for a moment instead of going back to a blocking
                // receive: a parked writer is woken by every single append, and those
                // wake-ups cost more than writing the line (group commit, as in
                // Kafka's linger). Bounded by the flush deadline.
                std::thread::sleep(LINGER.min(self.until_due(since)));
            }
        }
        // Files and the dir lock are released before the closer hears back, so the dir
        // can be reopened as soon as `close` returns.
        drop(self);
        if let Some(reply) = closing {
            let _ = reply.send(Ok(()));
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
            Command::Write { line, seq, hash } => self.push(&line, seq, hash),
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

    /// Buffer one line, starting a new file first if the current one is full.
    fn push(&mut self, line: &[u8], seq: u64, hash: String) -> Result<(), AuditError> {
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
        self.buf.extend_from_slice(line);
        if let Some(current) = &mut self.current {
            current.size += line.len() as u64;
        }
        self.last = Some((seq, hash));
        self.unsynced += 1;
        self.oldest_unsynced.get_or_insert_with(Instant::now);
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

    /// Write and fsync everything taken so far, move `HEAD`, then answer the waiters.
    fn commit(&mut self) -> Result<(), AuditError> {
        if self.unsynced > 0 {
            self.write_buf()?;
            if let Some(current) = &self.current {
                current.file.sync_data().map_err(io_at(&current.path))?;
                if let Some((seq, hash)) = &self.last {
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
            }
            self.written.fetch_add(self.unsynced, Ordering::AcqRel);
            crate::metrics::audit_records_written(self.unsynced);
            self.unsynced = 0;
        }
        self.oldest_unsynced = None;
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
