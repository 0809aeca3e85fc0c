//! A full disk under the audit log of a running `aios serve`: calls are refused instead of
//! acting unaudited, `aios health` says so and exits non-zero, and everything works again
//! once space returns, with an unbroken chain. Needs root to mount a small tmpfs; skipped
//! (with the reason printed) otherwise.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::aios;
use support::serve::start_serve;

/// A tmpfs of `size` mounted on a fresh dir; unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root, cannot mount a tmpfs".into());
        }
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: at.to_path_buf(),
        })
    }

    /// Write zeros until the filesystem is full; returns the filler file.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        // Bounded: the tmpfs is a few hundred KiB.
        for _ in 0..100_000 {
            if file
                .write_all(&chunk)
                .and_then(|()| file.sync_all())
                .is_err()
            {
                return filler;
            }
        }
        panic!("the tmpfs never filled up");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process that still has a file open there must not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run `cmd` until `done` says yes about its output; bounded.
fn until(mut cmd: impl FnMut() -> Output, done: impl Fn(&Output) -> bool, what: &str) -> Output {
    for _ in 0..300 {
        let out = cmd();
        if done(&out) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} never happened");
}

#[test]
fn a_full_audit_disk_refuses_calls_fails_health_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tmpfs = match Tmpfs::mount(&tmp.path().join("audit"), "256k") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let audit_dir = tmpfs.path.join("log");
    let with_audit = |mut cmd: Command| {
        cmd.env("AIOS_AUDIT_DIR", &audit_dir);
        cmd
    };
    let serve = start_serve(&mut with_audit(aios(tmp.path(), &data)), &data);
    let run = |args: &[&str]| {
        with_audit(aios(tmp.path(), &data))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["agents"]).status.success());
    assert!(run(&["health"]).status.success());

    let filler = tmpfs.fill();
    // This call is accepted by a healthy writer, which then finds the disk full.
    let _ = run(&["agents"]);
    let sick = until(
        || run(&["health"]),
        |o| !o.status.success(),
        "health failing",
    );
    let said = text(&sick);
    assert!(
        said.contains("audit writer cannot write") && said.contains("No space left"),
        "{said}"
    );
    let refused = run(&["agents"]);
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(said.contains("audit log cannot be written"), "{said}");

    std::fs::remove_file(&filler).unwrap();
    until(
        || run(&["health"]),
        |o| o.status.success(),
        "health recovering",
    );
    assert!(run(&["agents"]).status.success());
    serve.stop();

    let verify = run(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(
        text(&verify).contains("audit chain OK"),
        "{}",
        text(&verify)
    );
}

/// Chat turn text big enough that a few fill the small tmpfs.
fn big_turn(n: usize) -> aios::context::ChatTurn {
    aios::context::ChatTurn {
        seq: 0,
        ts: "2026-11-30T00:00:00Z".into(),
        role: "user".into(),
        text: format!("{n}:{}", "x".repeat(32 * 1024)),
        intent_id: None,
    }
}

fn memory_item(n: usize) -> aios::memory::MemoryItem {
    aios::memory::MemoryItem {
        id: format!("m{n}"),
        agent_id: "ops-agent".into(),
        kind: "fact".into(),
        text: "y".repeat(32 * 1024),
        ts: "2026-11-30T00:00:00Z".into(),
        tags: vec![],
    }
}

/// redb latches the first failed write: without a reopen, `state.redb` and `memory.redb`
/// refuse every later write ("Previous I/O error … re-open the database") until the process
/// restarts, even with space free again. Both stores must come back on their own, and keep
/// what they had committed.
#[tokio::test(flavor = "multi_thread")]
async fn state_and_memory_stores_work_again_once_a_full_disk_has_space() {
    use aios::context::{EmbeddedStore, Store};
    use aios::memory::{LocalMemory, MemoryFilter, VectorMemory};

    let tmp = tempfile::tempdir().unwrap();
    let tmpfs = match Tmpfs::mount(&tmp.path().join("data"), "2m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let store = EmbeddedStore::open(&tmpfs.path.join("state.redb")).unwrap();
    let memory = LocalMemory::open(
        &tmpfs.path.join("memory"),
        &aios::memory::VectorSpace::new("hash", 4),
    )
    .unwrap();
    store
        .append_chat("ops-agent", big_turn(0), 1000)
        .await
        .unwrap();
    memory
        .upsert(vec![(memory_item(0), vec![1.0, 0.0, 0.0, 0.0])])
        .await
        .unwrap();

    let filler = tmpfs.fill();
    // Writes now fail (at the latest once redb needs to grow its file).
    let mut state_failed = false;
    let mut memory_failed = false;
    for n in 1..200 {
        if !state_failed {
            state_failed = store
                .append_chat("ops-agent", big_turn(n), 1000)
                .await
                .is_err();
        }
        if !memory_failed {
            memory_failed = memory
                .upsert(vec![(memory_item(n), vec![0.0, 1.0, 0.0, 0.0])])
                .await
                .is_err();
        }
        if state_failed && memory_failed {
            break;
        }
    }
    assert!(
        state_failed && memory_failed,
        "the full disk never refused a write"
    );

    std::fs::remove_file(&filler).unwrap();
    store
        .append_chat("ops-agent", big_turn(1000), 1000)
        .await
        .expect("the state store writes again once space is free");
    memory
        .upsert(vec![(memory_item(1000), vec![0.0, 0.0, 1.0, 0.0])])
        .await
        .expect("the vector memory writes again once space is free");

    let chat = store.chat("ops-agent", 1000).await.unwrap();
    assert!(
        chat.first().unwrap().text.starts_with("0:"),
        "first turn kept"
    );
    assert!(chat.last().unwrap().text.starts_with("1000:"));
    let all = MemoryFilter::default();
    let n = memory.count(&all).await.unwrap();
    assert!(n >= 2, "memories kept and added: {n}");
}
