//! A redb database file that comes back after an I/O error.
//!
//! redb latches the first failed write (a full disk, say): every later operation on that
//! handle fails with "Previous I/O error occurred. Please close and re-open the database",
//! even once space is free again. Without a reopen, the state store and the vector memory
//! would stay broken until the process restarts. [`RedbFile`] watches for that latch after
//! a failed operation, drops the handle and opens the file again (redb repairs it from the
//! last committed transaction), so service resumes on its own when the cause is gone.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Database, DatabaseError, StorageError, TransactionError};

/// The file could not be opened again after an I/O error; the next call tries again.
#[derive(Debug, thiserror::Error)]
pub enum ReopenError {
    /// An operation started before the error still holds the old handle.
    #[error("{}: reopening after an I/O error, the old handle is still in use; retry", path.display())]
    InUse { path: PathBuf },
    #[error("{}: cannot reopen after an I/O error: {source}", path.display())]
    Failed {
        path: PathBuf,
        source: DatabaseError,
    },
}

/// One redb file, opened lazily again after its handle latched an I/O error.
pub struct RedbFile {
    path: PathBuf,
    /// `None` after the handle was dropped and the reopen has not succeeded yet.
    db: Mutex<Option<Arc<Database>>>,
}

impl RedbFile {
    /// Open (or create) the file.
    pub fn open(path: &Path) -> Result<Self, DatabaseError> {
        let db = Database::create(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            db: Mutex::new(Some(Arc::new(db))),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live handle, opening the file again if an earlier error dropped it.
    pub fn handle(&self) -> Result<Arc<Database>, ReopenError> {
        let mut slot = self.slot();
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        let path = self.path.clone();
        let db = Arc::new(Database::create(&self.path).map_err(|e| match e {
            // An operation started before the error still holds the old handle; the next
            // call tries again once it has finished.
            DatabaseError::DatabaseAlreadyOpen => ReopenError::InUse { path },
            source => ReopenError::Failed { path, source },
        })?);
        tracing::warn!(path = %self.path.display(), "reopened after an I/O error");
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Run `op` on the live handle; if it fails and the handle has latched an I/O error,
    /// drop the handle (and try to reopen at once) so later calls work again.
    pub fn run<T, E>(&self, op: impl FnOnce(&Database) -> Result<T, E>) -> Result<T, E>
    where
        E: From<ReopenError>,
    {
        let db = self.handle().map_err(E::from)?;
        let out = op(&db);
        if out.is_err() && latched(&db) {
            tracing::warn!(path = %self.path.display(), "I/O error latched; reopening");
            self.forget(&db);
            drop(db);
            // Best effort: on failure (disk still full, a reader still holding the old
            // handle) the next call tries again.
            let _ = self.handle();
        }
        out
    }

    /// Drop the handle if it is still `db` (another thread may have reopened already).
    fn forget(&self, db: &Arc<Database>) {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, db)) {
            *slot = None;
        }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<Database>>> {
        // The slot holds no invariant a panic could break: take it even if poisoned.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `db` refuses all work until it is reopened. Called only after a failure, so the
/// probe's cost (it waits for a concurrent writer) is never paid on the normal path.
fn latched(db: &Database) -> bool {
    matches!(
        db.begin_write(),
        Err(TransactionError::Storage(StorageError::PreviousIo))
    )
}
