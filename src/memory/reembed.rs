//! `aios memory reembed`: rebuild a vector store from the text it holds, with the embedder
//! running now, so a store built by another embedder (or before embedders were recorded)
//! becomes usable again. Vectors of different embedders never mix, so a store is rebuilt
//! whole: read every item in the old space, keep them in a dump file, destroy the store,
//! reopen it in the new space, embed and write everything back, remove the dump.
//!
//! **Nothing is lost.** The dump is written to a temporary name, fsynced and renamed before
//! the store is touched; a rebuild cut off at any point (a crash, a full disk, an embedder
//! error) leaves the dump, and the next run starts from it instead of from the store, which
//! by then may be empty or half refilled. Writes are upserts by id, so refilling twice is
//! harmless.

use std::future::Future;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Embedder, MemoryError, MemoryFilter, MemoryItem, VectorMemory, VectorSpace};

/// Items read per scan page and embedded per call.
const PAGE: usize = 512;

/// What one store's rebuild did.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The store's description, e.g. `the local memory`.
    pub store: String,
    /// The space it was in; `None` when it was already in the new one (nothing done).
    pub from: Option<VectorSpace>,
    pub to: VectorSpace,
    pub items: usize,
    /// True when the items came from a dump left by an earlier, interrupted run.
    pub resumed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReembedError {
    #[error("{0}")]
    Memory(#[from] MemoryError),
    #[error("the dump {path}: {message}")]
    Dump { path: PathBuf, message: String },
    /// The store is gone or half refilled; the dump holds every item.
    #[error(
        "rebuilding {store} stopped after {done} of {total} items: {cause}. Every item is kept \
         in {dump}: run `aios memory reembed` again to finish"
    )]
    Interrupted {
        store: String,
        done: usize,
        total: usize,
        dump: PathBuf,
        cause: Box<MemoryError>,
    },
}

/// Rebuild the store `open` opens (in whatever space it is asked for) with `embedder`,
/// keeping items in `dump` while it works. `progress(done, total)` is told as items are
/// written back.
pub async fn rebuild<O, F>(
    store: &str,
    open: O,
    embedder: &dyn Embedder,
    dump: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<Rebuilt, ReembedError>
where
    O: Fn(VectorSpace) -> F,
    F: Future<Output = Result<Arc<dyn VectorMemory>, MemoryError>>,
{
    let want = VectorSpace::of(embedder);
    let (items, from, resumed) = if dump.exists() {
        let items = read_dump(dump)?;
        // The store may be in either space by now, or empty.
        let from = match open(want.clone()).await {
            Ok(memory) => {
                drop(memory);
                None
            }
            Err(MemoryError::SpaceMismatch { found, .. }) => {
                open(found.clone()).await?.destroy().await?;
                Some(found)
            }
            Err(e) => return Err(e.into()),
        };
        (items, from, true)
    } else {
        let found = match open(want.clone()).await {
            Ok(_) => {
                return Ok(Rebuilt {
                    store: store.to_string(),
                    from: None,
                    to: want,
                    items: 0,
                    resumed: false,
                });
            }
            Err(MemoryError::SpaceMismatch { found, .. }) => found,
            Err(e) => return Err(e.into()),
        };
        let old = open(found.clone()).await?;
        let items = read_all(&*old).await?;
        write_dump(dump, &items)?;
        old.destroy().await?;
        drop(old);
        (items, Some(found), false)
    };

    let total = items.len();
    let interrupted = |done: usize, cause: MemoryError| ReembedError::Interrupted {
        store: store.to_string(),
        done,
        total,
        dump: dump.to_path_buf(),
        cause: Box::new(cause),
    };
    let memory = open(want.clone()).await.map_err(|e| interrupted(0, e))?;
    let mut done = 0;
    for page in items.chunks(PAGE) {
        let texts: Vec<String> = page.iter().map(|i| i.text.clone()).collect();
        let vectors = embedder
            .embed(&texts)
            .await
            .map_err(|e| interrupted(done, e))?;
        if vectors.len() != page.len() {
            return Err(interrupted(
                done,
                MemoryError::Embedder(format!(
                    "{} vectors for {} texts",
                    vectors.len(),
                    page.len()
                )),
            ));
        }
        let batch = page.iter().cloned().zip(vectors).collect();
        memory
            .upsert(batch)
            .await
            .map_err(|e| interrupted(done, e))?;
        done += page.len();
        progress(done, total);
    }
    std::fs::remove_file(dump).map_err(|e| ReembedError::Dump {
        path: dump.to_path_buf(),
        message: format!("rebuilt, but the dump could not be removed: {e}"),
    })?;
    Ok(Rebuilt {
        store: store.to_string(),
        from,
        to: want,
        items: total,
        resumed,
    })
}

/// Every item, a page at a time in id order.
async fn read_all(memory: &dyn VectorMemory) -> Result<Vec<MemoryItem>, MemoryError> {
    let all = MemoryFilter::default();
    let mut items: Vec<MemoryItem> = Vec::new();
    loop {
        let after = items.last().map(|i| i.id.clone());
        let page = memory.scan(&all, after.as_deref(), PAGE).await?;
        let last = page.len() < PAGE;
        items.extend(page);
        if last {
            return Ok(items);
        }
    }
}

/// Write `items` as JSON lines to a temporary file, fsync it, then rename it into place:
/// the dump either holds every item or does not exist.
fn write_dump(path: &Path, items: &[MemoryItem]) -> Result<(), ReembedError> {
    let err = |message: String| ReembedError::Dump {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let tmp = path.with_extension("partial");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| err(e.to_string()))?;
    let mut out = std::io::BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(|e| err(e.to_string()))?;
        out.write_all(b"\n").map_err(|e| err(e.to_string()))?;
    }
    let file = out.into_inner().map_err(|e| err(e.to_string()))?;
    file.sync_all().map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))?;
    Ok(())
}

fn read_dump(path: &Path) -> Result<Vec<MemoryItem>, ReembedError> {
    let err = |message: String| ReembedError::Dump {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut items = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| err(e.to_string()))?;
        if line.is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
        items.push(item);
    }
    Ok(items)
}
