//! The outbox in one redb file (`<data>/hooks.redb`), for a node without Redis.
//!
//! The indexes live in memory (rebuilt from the file at open); the file holds the records.
//! Every write is committed before the call returns, and writes that arrive while a commit
//! runs go into the next one together (group commit): one fsync serves many deliveries, so
//! durability does not cap throughput at one delivery per fsync. A claim writes nothing:
//! with one process per data dir, a lease only has to hold in memory; after a crash every
//! pending delivery is due again at its stored time.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::{Delivery, KEEP_FINISHED, Outbox, OutboxError, State, backend_error};
use crate::redb_file::{RedbFile, ReopenError};

const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const NAME: &str = "local";

enum Op {
    Put(String, Vec<u8>),
    Delete(String),
    Meta(String, i64),
}

struct Batch {
    ops: Vec<Op>,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Default)]
struct Index {
    records: HashMap<String, Delivery>,
    /// Pending deliveries by (due or lease end, id).
    due: BTreeSet<(i64, String)>,
    /// Each pending id's key in `due`.
    due_of: HashMap<String, i64>,
    /// Finished deliveries by (finish time, id).
    finished: BTreeSet<(i64, String)>,
    meta: HashMap<String, i64>,
}

pub struct LocalOutbox {
    index: Arc<Mutex<Index>>,
    writes: mpsc::UnboundedSender<Batch>,
}

impl LocalOutbox {
    /// Open (or create) the file and start its writer.
    pub fn open(path: &Path) -> Result<LocalOutbox, OutboxError> {
        let file = RedbFile::open(path)
            .map_err(|e| backend_error(NAME, format!("{}: {e}", path.display())))?;
        let mut index = Index::default();
        file.run(|db| -> Result<(), FileError> {
            let tx = db.begin_write().map_err(redb)?;
            tx.open_table(DELIVERIES).map_err(redb)?;
            tx.open_table(META).map_err(redb)?;
            tx.commit().map_err(redb)?;
            let tx = db.begin_read().map_err(redb)?;
            let table = tx.open_table(DELIVERIES).map_err(redb)?;
            for row in table.iter().map_err(redb)? {
                let (k, v) = row.map_err(redb)?;
                match serde_json::from_slice::<Delivery>(v.value()) {
                    Ok(d) => index.insert(d),
                    // One unreadable record must not stop the others from going out.
                    Err(e) => tracing::error!(id = k.value(), error = %e, "an unreadable hook delivery was skipped"),
                }
            }
            let meta = tx.open_table(META).map_err(redb)?;
            for row in meta.iter().map_err(redb)? {
                let (k, v) = row.map_err(redb)?;
                index.meta.insert(k.value().to_string(), v.value());
            }
            Ok(())
        })
        .map_err(|e| backend_error(NAME, e))?;
        let (writes, rx) = mpsc::unbounded_channel();
        let file = Arc::new(file);
        std::thread::Builder::new()
            .name("aios-hooks-outbox".into())
            .spawn(move || writer(file, rx))
            .map_err(|e| backend_error(NAME, e))?;
        Ok(LocalOutbox {
            index: Arc::new(Mutex::new(index)),
            writes,
        })
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // The index is rebuilt from each completed call; a panic mid-call leaves no half state
        // another call could trip on, so a poisoned lock is taken as is.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn commit(&self, ops: Vec<Op>) -> Result<(), OutboxError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        self.writes
            .send(Batch { ops, done })
            .map_err(|_| backend_error(NAME, "the writer stopped"))?;
        rx.await
            .map_err(|_| backend_error(NAME, "the writer stopped"))?
            .map_err(|e| backend_error(NAME, e))
    }
}

impl Index {
    fn insert(&mut self, d: Delivery) {
        self.unindex(&d.id);
        if d.state.is_finished() {
            self.finished.insert((d.due_ms, d.id.clone()));
        } else if d.state == State::Pending {
            self.due.insert((d.due_ms, d.id.clone()));
            self.due_of.insert(d.id.clone(), d.due_ms);
        }
        self.records.insert(d.id.clone(), d);
    }

    fn unindex(&mut self, id: &str) {
        if let Some(old) = self.records.get(id) {
            self.finished.remove(&(old.due_ms, id.to_string()));
        }
        if let Some(due) = self.due_of.remove(id) {
            self.due.remove(&(due, id.to_string()));
        }
    }

    /// Drop the oldest finished records past the limit; their ids, to delete on disk.
    fn trim(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        while self.finished.len() > KEEP_FINISHED {
            if let Some((_, id)) = self.finished.pop_first() {
                self.records.remove(&id);
                gone.push(id);
            }
        }
        gone
    }
}

fn encode(d: &Delivery) -> Result<Vec<u8>, OutboxError> {
    serde_json::to_vec(d).map_err(|e| backend_error(NAME, e))
}

/// What a step on the file can fail with: redb's own errors (as their text: the writer
/// logs them and answers each batch with it), or a reopen that did not succeed.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("{0}")]
    Redb(String),
    #[error(transparent)]
    Reopen(#[from] ReopenError),
}

fn redb(e: impl std::fmt::Display) -> FileError {
    FileError::Redb(e.to_string())
}

/// The one thread that writes the file: takes every batch waiting, commits them in one
/// transaction, answers each.
fn writer(file: Arc<RedbFile>, mut rx: mpsc::UnboundedReceiver<Batch>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let result = file
            .run(|db| -> Result<(), FileError> {
                let tx = db.begin_write().map_err(redb)?;
                {
                    let mut table = tx.open_table(DELIVERIES).map_err(redb)?;
                    let mut meta = tx.open_table(META).map_err(redb)?;
                    for op in batches.iter().flat_map(|b| &b.ops) {
                        match op {
                            Op::Put(id, bytes) => {
                                table.insert(id.as_str(), bytes.as_slice()).map_err(redb)?;
                            }
                            Op::Delete(id) => {
                                table.remove(id.as_str()).map_err(redb)?;
                            }
                            Op::Meta(k, v) => {
                                meta.insert(k.as_str(), *v).map_err(redb)?;
                            }
                        }
                    }
                }
                tx.commit().map_err(redb)
            })
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "hook outbox: a write failed");
        }
        for b in batches {
            let _ = b.done.send(result.clone());
        }
    }
}

#[async_trait]
impl Outbox for LocalOutbox {
    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, OutboxError> {
        let mut ops = Vec::new();
        let fresh: Vec<&Delivery> = {
            let index = self.index();
            deliveries
                .iter()
                .filter(|d| !index.records.contains_key(&d.id))
                .collect()
        };
        for d in &fresh {
            ops.push(Op::Put(d.id.clone(), encode(d)?));
        }
        // On disk first: a delivery a worker could take must survive a crash.
        self.commit(ops).await?;
        let mut index = self.index();
        let mut added = 0;
        for d in fresh {
            if !index.records.contains_key(&d.id) {
                index.insert(d.clone());
                added += 1;
            }
        }
        Ok(added)
    }

    async fn claim(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Delivery>, OutboxError> {
        let mut index = self.index();
        let due: Vec<(i64, String)> = index
            .due
            .iter()
            .take_while(|(t, _)| *t <= now_ms)
            .take(max)
            .cloned()
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for (t, id) in due {
            index.due.remove(&(t, id.clone()));
            let until = now_ms.saturating_add(lease_ms);
            index.due.insert((until, id.clone()));
            index.due_of.insert(id.clone(), until);
            if let Some(d) = index.records.get(&id) {
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    async fn save(&self, delivery: &Delivery) -> Result<(), OutboxError> {
        let mut ops = vec![Op::Put(delivery.id.clone(), encode(delivery)?)];
        let gone = {
            let mut index = self.index();
            index.insert(delivery.clone());
            index.trim()
        };
        ops.extend(gone.into_iter().map(Op::Delete));
        self.commit(ops).await
    }

    async fn get(&self, id: &str) -> Result<Option<Delivery>, OutboxError> {
        Ok(self.index().records.get(id).cloned())
    }

    async fn list(&self, finished: usize) -> Result<Vec<Delivery>, OutboxError> {
        let index = self.index();
        let mut open: Vec<Delivery> = index
            .records
            .values()
            .filter(|d| !d.state.is_finished())
            .cloned()
            .collect();
        open.sort_by_key(|d| std::cmp::Reverse(d.created_ms));
        open.extend(
            index
                .finished
                .iter()
                .rev()
                .take(finished)
                .filter_map(|(_, id)| index.records.get(id).cloned()),
        );
        Ok(open)
    }

    async fn last_fired(&self, hook_key: &str) -> Result<Option<i64>, OutboxError> {
        Ok(self.index().meta.get(hook_key).copied())
    }

    async fn set_last_fired(&self, hook_key: &str, ms: i64) -> Result<(), OutboxError> {
        self.index().meta.insert(hook_key.to_string(), ms);
        self.commit(vec![Op::Meta(hook_key.to_string(), ms)]).await
    }
}
