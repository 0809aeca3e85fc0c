//! The data dir is its user's alone: after a real `aios serve` with work done, the data dir
//! and every dir in it are 0700 and no file or socket can be used by group or others; a data
//! dir left with looser modes is tightened with a warning; another uid cannot read a file.

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::aios;
use support::serve::start_serve;

/// Every entry below `dir` (and `dir` itself), with its mode and whether it is a dir.
fn entries(dir: &Path) -> Vec<(PathBuf, u32, &'static str)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let kind = if meta.is_dir() {
            "dir"
        } else if meta.file_type().is_socket() {
            "socket"
        } else {
            "file"
        };
        out.push((path.clone(), meta.permissions().mode() & 0o7777, kind));
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out
}

fn assert_private(data: &Path) -> Vec<(PathBuf, u32, &'static str)> {
    let all = entries(data);
    let loose: Vec<String> = all
        .iter()
        .filter(|(_, mode, kind)| mode & 0o077 != 0 || (*kind == "dir" && *mode != 0o700))
        .map(|(p, mode, kind)| format!("{kind} {} {mode:o}", p.display()))
        .collect();
    assert!(loose.is_empty(), "not private:\n{}", loose.join("\n"));
    all
}

/// Data dir 0755 and audit, `state.redb`, memory and logs 0644 before: other local users
/// could read every secret the agents handled.
#[test]
fn everything_a_real_run_creates_is_private() {
    let tmp = tempfile::tempdir().unwrap();
    // The test dir itself is open, so only aios's own modes protect the data dir.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = tmp.path().join("data");
    let serve = start_serve(&mut aios(tmp.path(), &data), &data);
    let out = aios(tmp.path(), &data)
        .args([
            "dispatch",
            "support-agent",
            "remember that the door code is 1234",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = assert_private(&data);
    for name in [
        "aios.lock",
        "aios.sock",
        "state.redb",
        "audit",
        "logs",
        "memory",
    ] {
        assert!(
            all.iter().any(|(p, _, _)| p == &data.join(name)),
            "{name} missing from {all:?}"
        );
    }
    assert!(
        all.iter()
            .any(|(p, _, k)| *k == "file" && p.starts_with(data.join("audit"))),
        "no audit file: {all:?}"
    );
    assert!(
        all.iter()
            .any(|(p, _, k)| *k == "file" && p.starts_with(data.join("logs"))),
        "no log file: {all:?}"
    );
    another_uid_cannot_read(&data.join("state.redb"));
    serve.stop();
    assert_private(&data);
}

/// A data dir an older version (or a person) left open is made private, and the CLI says so.
#[test]
fn loose_modes_are_tightened_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("logs")).unwrap();
    std::fs::write(data.join("logs/aios.2020-01-01.log"), "old\n").unwrap();
    std::fs::write(data.join("tui_history"), "deploy the thing\n").unwrap();
    std::fs::write(data.join("notes.txt"), "not aios's\n").unwrap();
    for (path, mode) in [
        (data.clone(), 0o755),
        (data.join("logs"), 0o755),
        (data.join("logs/aios.2020-01-01.log"), 0o644),
        (data.join("tui_history"), 0o644),
        (data.join("notes.txt"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    another_uid_can_read_today(&data.join("tui_history"));

    let out = aios(tmp.path(), &data)
        .args(["agents", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aios: warning: ") && err.contains("was readable by other users"),
        "{err}"
    );
    assert!(err.contains("made 4 entries private"), "{err}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("logs")), 0o700);
    assert_eq!(mode(&data.join("logs/aios.2020-01-01.log")), 0o600);
    assert_eq!(mode(&data.join("tui_history")), 0o600);
    assert_eq!(
        mode(&data.join("notes.txt")),
        0o644,
        "not aios's: untouched"
    );
    another_uid_cannot_read(&data.join("tui_history"));

    // The warning is in the log too, and a second run has nothing to say.
    let logs = std::fs::read_dir(data.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(logs.contains("was readable by other users"), "{logs}");
    let out = aios(tmp.path(), &data)
        .args(["agents", "--json"])
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nobody` through `setpriv`, when this test runs as root and the tool is there.
fn read_as_nobody(path: &Path) -> Option<std::process::Output> {
    let root = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        println!("skipped the other-uid read: not running as root");
        return None;
    }
    match Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "cat",
        ])
        .arg(path)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) => {
            println!("skipped the other-uid read: no setpriv ({e})");
            None
        }
    }
}

fn another_uid_cannot_read(path: &Path) {
    if let Some(out) = read_as_nobody(path) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nobody read {}", path.display());
        assert!(err.contains("Permission denied"), "{err}");
    }
}

/// The setup is real: before aios runs, `nobody` can read the loose file.
fn another_uid_can_read_today(path: &Path) {
    if let Some(out) = read_as_nobody(path) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
