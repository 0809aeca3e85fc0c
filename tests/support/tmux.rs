//! Driving the real binary in a real terminal: a private tmux server per test, keys sent
//! as a person types them, the screen read back as text.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// A `w`×`h` terminal running `script` (a shell command line) on its own tmux server.
    pub fn start(name: &str, w: u16, h: u16, script: &str) -> Tmux {
        let t = Tmux {
            socket: format!("aios-{name}-{}-{w}", std::process::id()),
            session: "aios".into(),
        };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-s", &t.session])
            .args(["-x", &w.to_string(), "-y", &h.to_string(), script])
            .status()
            .unwrap();
        assert!(ok.success());
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket);
        c
    }

    pub fn send(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen once it shows every one of `what` (30 s at most).
    pub fn wait_for(&self, what: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if what.iter().all(|w| s.contains(w)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The exit status the script wrote to `file` (30 s at most).
pub fn wait_exit(file: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(file)
            && !s.trim().is_empty()
        {
            return s.trim().to_string();
        }
        assert!(Instant::now() < deadline, "the TUI did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}
