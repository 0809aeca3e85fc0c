//! The recording writer: one thread that seals entries into the chain and appends them to
//! segment files, rotating by size and age and removing the oldest past `keep_bytes`.
//!
//! Callers never wait: an entry goes on a bounded queue with `try_send`, and an entry that
//! finds it full is counted, not waited for. The count goes on record as a `gap` entry, so
//! a replay says where it cannot be trusted instead of silently skipping. Serializing and
//! redacting happen here, off the callers' tasks. A failed write (a full disk) cuts the file
//! back to what was written before the batch and rewinds the chain, so the file never holds
//! a torn or unlinked line; the batch is counted as lost and the writer goes on.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::entry::{Kind, Sealing, timestamp};
use super::read::{last_entry, list_segments, segment_name};
use super::{Body, Command, Pending, RecorderOptions};
use crate::audit::{Disk, Redactor};

/// Lines taken from the queue before they are written out together.
const MAX_BATCH: usize = 4096;
/// Longest a line waits in memory before it is handed to the OS.
const WRITE_EVERY: Duration = Duration::from_millis(200);
/// Longest a written line waits for its fsync.
const SYNC_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Writer {
    opts: RecorderOptions,
    /// Where bytes go: the real disk, or in a test one that fills up.
    disk: Box<dyn Disk>,
    redactor: Redactor,
    lost: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    next_seq: u64,
    prev_hash: String,
    file: Option<File>,
    number: u64,
    size: u64,
    opened: Instant,
    synced: Instant,
    dirty: bool,
    /// The last write error, logged once per run of failures.
    failing: Option<String>,
}

impl Writer {
    /// Continue the chain after the newest entry in `opts.dir`; a new file is begun.
    pub(super) fn open(
        opts: RecorderOptions,
        disk: Box<dyn Disk>,
        redactor: Redactor,
        lost: Arc<AtomicU64>,
        written: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&opts.dir)?;
        for warning in crate::file_modes::secure_dir(&opts.dir) {
            tracing::warn!(%warning, "recording dir");
        }
        let segments = list_segments(&opts.dir)?;
        let number = segments.last().map_or(1, |(n, _)| n + 1);
        let (next_seq, prev_hash) = match last_entry(&segments)? {
            Some(e) => (e.seq + 1, e.hash),
            None => (0, crate::chain::GENESIS_HASH.to_string()),
        };
        let mut w = Self {
            opts,
            disk,
            redactor,
            lost,
            written,
            next_seq,
            prev_hash,
            file: None,
            number,
            size: 0,
            opened: Instant::now(),
            synced: Instant::now(),
            dirty: false,
            failing: None,
        };
        w.begin_segment()?;
        Ok(w)
    }

    pub(super) fn run(mut self, rx: Receiver<Command>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = match rx.recv_timeout(WRITE_EVERY) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish();
                    return;
                }
            };
            let mut reply = None;
            let mut close = false;
            for cmd in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match cmd {
                    Command::Entry(p) => batch.push(p),
                    Command::Flush(tx) => {
                        reply = Some(tx);
                        break;
                    }
                    Command::Close(tx) => {
                        reply = Some(tx);
                        close = true;
                        break;
                    }
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
            }
            self.write_batch(&mut batch);
            if reply.is_some() || self.synced.elapsed() >= SYNC_EVERY {
                self.sync();
            }
            if close {
                self.finish();
                if let Some(tx) = reply {
                    let _ = tx.send(());
                }
                return;
            }
            if let Some(tx) = reply {
                let _ = tx.send(());
            }
        }
    }

    /// A `stop` entry and the last fsync.
    fn finish(&mut self) {
        let entries = self.next_seq;
        let mut last = vec![Pending::now(
            Kind::Stop,
            None,
            None,
            Body::Value(json!({"entries": entries})),
        )];
        self.write_batch(&mut last);
        self.sync();
    }

    fn write_batch(&mut self, batch: &mut Vec<Pending>) {
        let lost = self.lost.swap(0, Ordering::Relaxed);
        if batch.is_empty() && lost == 0 {
            return;
        }
        if self.rotation_due()
            && let Err(e) = self.rotate()
        {
            let lost = batch.len() as u64 + lost;
            self.failed(format!("starting a new recording file: {e}"), lost);
            batch.clear();
            return;
        }
        let (seq, prev) = (self.next_seq, self.prev_hash.clone());
        let mut bytes = Vec::with_capacity(batch.len() * 256);
        if lost > 0 {
            let gap = Pending::now(
                Kind::Gap,
                None,
                None,
                Body::Value(
                    json!({"lost": lost, "why": "the recorder fell behind or could not write"}),
                ),
            );
            bytes.extend_from_slice(&self.seal(gap));
        }
        let n = batch.len() as u64;
        for p in batch.drain(..) {
            bytes.extend_from_slice(&self.seal(p));
        }
        match self.append(&bytes) {
            Ok(()) => {
                self.written.fetch_add(n, Ordering::Relaxed);
                if self.failing.take().is_some() {
                    tracing::info!("the recording is written again");
                }
            }
            Err(e) => {
                // Rewind: nothing of this batch is on disk or in the chain.
                self.next_seq = seq;
                self.prev_hash = prev;
                self.failed(e, n + lost);
            }
        }
    }

    fn failed(&mut self, error: String, lost: u64) {
        self.lost.fetch_add(lost, Ordering::Relaxed);
        if self.failing.is_none() {
            tracing::warn!(error = %error, "the recording cannot be written; entries are counted as lost");
        }
        self.failing = Some(error);
    }

    fn seal(&mut self, p: Pending) -> Vec<u8> {
        let body = self.body_json(p.body);
        let t = timestamp(p.t);
        let (hash, line) = Sealing {
            seq: self.next_seq,
            t: &t,
            kind: p.kind,
            agent_id: &p.agent_id,
            intent_id: &p.intent_id,
            body: &body,
            prev_hash: &self.prev_hash,
        }
        .seal();
        self.next_seq += 1;
        self.prev_hash = hash;
        line
    }

    /// The body as JSON text, secrets masked. Serialized once; walked for secrets only
    /// when its text could hold one (most bus traffic cannot, and the walk is what would
    /// make the recorder fall behind a flood).
    fn body_json(&self, body: Body) -> Box<RawValue> {
        let text = match &body {
            Body::Event(ev) => serde_json::to_string(ev),
            Body::Bus(m) => serde_json::to_string(m),
            Body::Audit(r) => serde_json::to_string(&**r),
            Body::Value(v) => serde_json::to_string(v),
        }
        .unwrap_or_else(|e| json!({"unrecordable": e.to_string()}).to_string());
        if !self.redactor.may_match_json(&text) {
            return RawValue::from_string(text).unwrap_or_else(|_| unrecordable());
        }
        let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.redactor.redact_value(&mut value);
        serde_json::value::to_raw_value(&value).unwrap_or_else(|_| unrecordable())
    }

    /// Append whole lines; on failure the file is cut back to its length before them.
    fn append(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some(file) = self.file.as_mut() else {
            return Err("no recording file is open".into());
        };
        match self.disk.write_all(file, bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                self.dirty = true;
                Ok(())
            }
            Err(e) => {
                let _ = file.set_len(self.size);
                Err(e.to_string())
            }
        }
    }

    fn sync(&mut self) {
        if let (Some(file), true) = (&self.file, self.dirty)
            && let Err(e) = self.disk.sync_data(file)
        {
            tracing::warn!(error = %e, "recording fsync failed");
        }
        self.dirty = false;
        self.synced = Instant::now();
    }

    fn rotation_due(&self) -> bool {
        self.file.is_none()
            || (self.size > 0
                && (self.size >= self.opts.segment_bytes
                    || self.opened.elapsed() >= self.opts.segment_age))
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.sync();
        if self.file.is_some() {
            self.number += 1;
        }
        self.begin_segment()?;
        self.prune();
        Ok(())
    }

    fn begin_segment(&mut self) -> std::io::Result<()> {
        let path = self.opts.dir.join(segment_name(self.number));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        self.opened = Instant::now();
        Ok(())
    }

    /// Remove the oldest files while all of them pass `keep_bytes`; the current one stays.
    fn prune(&self) {
        if self.opts.keep_bytes == 0 {
            return;
        }
        let Ok(segments) = list_segments(&self.opts.dir) else {
            return;
        };
        let sizes: Vec<(PathBuf, u64)> = segments
            .into_iter()
            .map(|(_, p)| {
                let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, len)
            })
            .collect();
        let mut total: u64 = sizes.iter().map(|(_, l)| l).sum();
        for (path, len) in &sizes[..sizes.len().saturating_sub(1)] {
            if total <= self.opts.keep_bytes {
                break;
            }
            match std::fs::remove_file(path) {
                Ok(()) => total -= len,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "old recording file not removed");
                    break;
                }
            }
        }
    }
}

fn unrecordable() -> Box<RawValue> {
    serde_json::value::to_raw_value(&json!({"unrecordable": true})).unwrap_or_default()
}
