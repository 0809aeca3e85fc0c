//! Private files: the data dir holds agent state, memory, the audit trail and logs, so no
//! other local user may read it. The process umask is 077 (set once in `main`, so every
//! file and socket aios creates is 0600 and every dir 0700), and a data dir left with looser
//! modes by an older version or by hand is tightened, with a warning.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode bits for "group or others may do something".
const SHARED_BITS: u32 = 0o077;

/// How deep the tightening walk goes below the data dir (audit/, memory/, logs/ are one
/// level down; nothing aios writes is deeper than a few levels).
const MAX_DEPTH: usize = 8;

/// The most entries the walk looks at: the data dir of a long-running node holds a few
/// hundred files; a mistaken `--data-dir /` must not walk a whole disk.
const MAX_ENTRIES: usize = 100_000;

/// Make files and dirs this process creates private to its user (umask 077). Process-wide
/// on purpose: every thread and every library (redb, the log appender, sockets) inherits it.
pub fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(SHARED_BITS));
}

/// What aios writes directly in a data dir; nothing else there is touched, so a data dir
/// pointed at a shared place by mistake (`--data-dir ~`) does not have its other files
/// changed.
pub const DATA_DIR_ENTRIES: &[&str] = &[
    "aios.lock",
    "aios.sock",
    "mcp.sock",
    "mcp.token",
    "mcp-http.url",
    "state.redb",
    "tui_history",
    "audit",
    "memory",
    "logs",
];

/// Create the data dir (mode 0700) if missing; tighten it and what aios keeps in it
/// ([`DATA_DIR_ENTRIES`], and everything inside those dirs) where group or others may use
/// it: dirs to 0700, files to 0600. Returns the warnings to show: one summary of what was
/// changed, and one per entry that could not be changed. Symlinks are left alone.
pub fn secure_data_dir(dir: &Path) -> Vec<String> {
    secure(dir, Some(DATA_DIR_ENTRIES))
}

/// As [`secure_data_dir`] for a dir that is aios's alone (a separate `audit.dir`):
/// everything in it is tightened.
pub fn secure_dir(dir: &Path) -> Vec<String> {
    secure(dir, None)
}

fn secure(dir: &Path, only: Option<&[&str]>) -> Vec<String> {
    let mut warnings = Vec::new();
    if !dir.exists() {
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
        {
            warnings.push(format!("cannot create {}: {e}", dir.display()));
        }
        return warnings;
    }
    let mut fixed: Vec<PathBuf> = Vec::new();
    let mut seen = 0usize;
    walk(dir, 0, &mut seen, &mut fixed, &mut warnings, only);
    if let Some(first) = fixed.first() {
        warnings.insert(
            0,
            format!(
                "{} was readable by other users: made {} {} private (dirs 0700, files 0600){}",
                dir.display(),
                fixed.len(),
                if fixed.len() == 1 { "entry" } else { "entries" },
                if fixed.len() == 1 {
                    String::new()
                } else {
                    format!(", first {}", first.display())
                }
            ),
        );
    }
    warnings
}

fn walk(
    path: &Path,
    depth: usize,
    seen: &mut usize,
    fixed: &mut Vec<PathBuf>,
    warnings: &mut Vec<String>,
    only: Option<&[&str]>,
) {
    *seen += 1;
    if *seen > MAX_ENTRIES {
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.file_type().is_symlink() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & SHARED_BITS != 0 {
        // Only the owner's bits stay; a dir keeps rwx so its owner can still use it.
        let tightened = if meta.is_dir() { 0o700 } else { mode & 0o700 };
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened)) {
            Ok(()) => fixed.push(path.to_path_buf()),
            Err(e) => warnings.push(format!(
                "{} is readable by other users and cannot be made private: {e}",
                path.display()
            )),
        }
    }
    if meta.is_dir() && depth < MAX_DEPTH {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let ours = match (depth, only) {
                (0, Some(names)) => names.iter().any(|n| entry.file_name() == *n),
                _ => true,
            };
            if ours {
                walk(&entry.path(), depth + 1, seen, fixed, warnings, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_dir_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert!(secure_data_dir(&dir).is_empty());
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn loose_modes_are_tightened_with_one_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("audit")).unwrap();
        std::fs::write(dir.join("audit/000001.jsonl"), "x").unwrap();
        std::fs::write(dir.join("state.redb"), "x").unwrap();
        std::fs::write(dir.join("notes.txt"), "someone else's").unwrap();
        let set = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        set(&dir, 0o755).unwrap();
        set(&dir.join("audit"), 0o775).unwrap();
        set(&dir.join("audit/000001.jsonl"), 0o644).unwrap();
        set(&dir.join("state.redb"), 0o600).unwrap();
        set(&dir.join("notes.txt"), 0o644).unwrap();

        let warnings = secure_data_dir(&dir);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("made 3 entries private"),
            "{warnings:?}"
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("audit")), 0o700);
        assert_eq!(mode(&dir.join("audit/000001.jsonl")), 0o600);
        assert_eq!(mode(&dir.join("state.redb")), 0o600);
        assert_eq!(
            mode(&dir.join("notes.txt")),
            0o644,
            "not aios's: left alone"
        );
        assert!(secure_data_dir(&dir).is_empty(), "nothing left to fix");
    }
}
