//! `aios serve` (or any long-running `aios` command) as a child process of a test: killed
//! and reaped when dropped, and started only once its control socket (and, when asked, the
//! address it prints) is there.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed and reaped when dropped.
pub struct Killed(pub Child);

impl Killed {
    /// SIGTERM and wait: an orderly stop (audit log flushed), which must exit 0.
    pub fn stop(mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.0.wait().expect("serve exits");
        assert!(status.success(), "serve exit: {status:?}");
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `cmd serve` (an `aios()` command with its environment set) on `data` and wait for
/// its control socket; a serve that exits first fails the test with its stderr.
pub fn start_serve(cmd: &mut Command, data: &Path) -> Killed {
    let serve = Killed(
        cmd.arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aios serve starts"),
    );
    wait_for_socket(serve, data)
}

/// As `start_serve`, and also give back what follows `prefix` on the line serve prints
/// (e.g. `mcp http listening on `).
pub fn start_serve_announcing(cmd: &mut Command, data: &Path, prefix: &str) -> (Killed, String) {
    let mut serve = Killed(
        cmd.arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aios serve starts"),
    );
    let lines = super::stdout_lines(&mut serve.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let said = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    break rest.trim().to_string();
                }
            }
            Err(_) => panic!("aios serve printed no `{prefix}…`: {}", exited(&mut serve)),
        }
    };
    (wait_for_socket(serve, data), said)
}

fn wait_for_socket(mut serve: Killed, data: &Path) -> Killed {
    let started = Instant::now();
    while !data.join("aios.sock").exists() {
        if serve.0.try_wait().unwrap().is_some() {
            panic!("aios serve exited early: {}", exited(&mut serve));
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "aios serve did not open its control socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    serve
}

/// How the child ended and what it said on stderr.
fn exited(serve: &mut Killed) -> String {
    let _ = serve.0.kill();
    let status = serve.0.wait();
    let mut err = String::new();
    if let Some(mut e) = serve.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    format!("{status:?}: {err}")
}
