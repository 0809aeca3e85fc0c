//! The data-dir lock: an OS file lock, so it is released when the owner dies, even by kill -9.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot use data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process owns the data dir: the one message every would-be owner gives.
    #[error(
        "data dir {} is already owned by {holder}; stop that process or pass another --data-dir",
        data_dir.display()
    )]
    Owned { data_dir: PathBuf, holder: String },
}

/// What [`DataDirLock::try_acquire`] found: the lock, or who holds it. Not an error: a
/// watcher or `doctor` asks only to learn whether an owner runs.
#[derive(Debug)]
pub enum Acquired {
    Owner(DataDirLock),
    /// The running owner, as it wrote itself into the lock file (`pid 42 on host`).
    HeldBy(String),
}

impl Acquired {
    /// Who holds the lock, if another process does (the lock, if taken, is released).
    pub fn holder(self) -> Option<String> {
        match self {
            Acquired::Owner(_) => None,
            Acquired::HeldBy(holder) => Some(holder),
        }
    }
}

/// Held while this process owns the data dir.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Become the owner, or learn who is.
    pub fn try_acquire(data_dir: &Path) -> Result<Acquired, LockError> {
        let io = |source| LockError::Io {
            path: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join("aios.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                let me = format!(
                    "pid {} on {}\n",
                    std::process::id(),
                    gethostname::gethostname().to_string_lossy()
                );
                file.set_len(0).map_err(io)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                file.write_all(me.as_bytes()).map_err(io)?;
                Ok(Acquired::Owner(DataDirLock { _file: file, path }))
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                Ok(Acquired::HeldBy(if holder.is_empty() {
                    "another aios process".to_string()
                } else {
                    holder.to_string()
                }))
            }
            Err(TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Become the owner, or fail with the message that names the running owner.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        match Self::try_acquire(data_dir)? {
            Acquired::Owner(lock) => Ok(lock),
            Acquired::HeldBy(holder) => Err(LockError::Owned {
                data_dir: data_dir.to_path_buf(),
                holder,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data dir this lock owns.
    pub fn data_dir(&self) -> &Path {
        self.path.parent().unwrap_or(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let Acquired::Owner(first) = DataDirLock::try_acquire(dir.path()).unwrap() else {
            panic!("the first takes the lock");
        };
        let second = DataDirLock::try_acquire(dir.path()).unwrap();
        let holder = second.holder().expect("the second is told who holds it");
        assert!(holder.contains(&std::process::id().to_string()), "{holder}");
        let refused = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("is already owned by pid"), "{refused}");
        drop(first);
        let again = DataDirLock::acquire(dir.path()).unwrap();
        assert_eq!(again.data_dir(), dir.path());
    }
}
