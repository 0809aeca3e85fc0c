//! A real Chroma for tests: `chroma run` from PATH (`pip install chromadb`) on a free
//! loopback port, persisting into a temp dir, killed (and the dir removed) on drop.
//! [`ChromaServer::start`] gives `None`, after printing why, when `chroma` is not
//! installed, so the tests using it skip instead of failing on machines without it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a cold `chroma run` may take to answer its heartbeat.
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct ChromaServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl ChromaServer {
    /// Start a server, or `None` (with the reason printed) when `chroma` is not on PATH.
    /// A `chroma` that is there but does not come up is a test failure, with its log.
    pub fn start() -> Option<ChromaServer> {
        let Some(program) = on_path("chroma") else {
            eprintln!(
                "skipped: `chroma` is not on PATH; install it with `pip install chromadb` to \
                 run the Chroma memory tests against a real server"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir for chroma");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("chroma.log")).expect("chroma log");
        let child = Command::new(&program)
            .arg("run")
            .arg("--path")
            .arg(dir.path().join("data"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("ANONYMIZED_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut server = ChromaServer { child, port, dir };
        server.wait_ready();
        Some(server)
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if self.heartbeat() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "chroma exited ({status}) before answering; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "chroma on port {} did not answer /api/v2/heartbeat within {:?}; its log:\n{}",
                self.port,
                READY_WITHIN,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// True when `GET /api/v2/heartbeat` answers 200.
    pub fn heartbeat(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if s.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") && answer.contains("heartbeat")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chroma.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for ChromaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first executable `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
