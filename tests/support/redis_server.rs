//! A real `redis-server` for tests: started from PATH on a free loopback port with no
//! persistence, stopped (and its files removed) on drop. Never touches a Redis on 6379.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Extra `redis-server` arguments (e.g. `--requirepass`), kept for a restart.
    extra: Vec<String>,
    /// Serving TLS only (`--port 0 --tls-port`): up once the port accepts.
    tls: bool,
}

impl RedisServer {
    /// Start a server, or fail with the fix named when `redis-server` is not installed.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Start a server with extra arguments, e.g. `["--requirepass", "s3cret"]` or an ACL
    /// user, one token each (`["--user", "aios", "on", ">pw", "~*", "+@all"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: false,
        };
        server.spawn();
        server
    }

    /// A server that speaks only TLS, with a certificate for 127.0.0.1 from a throwaway CA
    /// made by `openssl`; returns it and the CA file. `None`, after printing why, when
    /// `openssl` is missing.
    pub fn start_tls() -> Option<(RedisServer, PathBuf)> {
        let certs = tempfile::tempdir().expect("temp dir for certificates");
        let c = |name: &str| certs.path().join(name).display().to_string();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=aios test CA",
                "-keyout",
                &c("ca.key"),
                "-out",
                &c("ca.crt"),
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &c("server.key"),
                "-out",
                &c("server.csr"),
            ],
            &[
                "x509",
                "-req",
                "-days",
                "1",
                "-in",
                &c("server.csr"),
                "-CA",
                &c("ca.crt"),
                "-CAkey",
                &c("ca.key"),
                "-CAcreateserial",
                "-extfile",
                &c("ext.cnf"),
                "-out",
                &c("server.crt"),
            ],
        ];
        std::fs::write(
            certs.path().join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\n",
        )
        .ok()?;
        for args in steps {
            match Command::new("openssl").args(args).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    eprintln!(
                        "skipped: openssl failed: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                    return None;
                }
                Err(e) => {
                    eprintln!("skipped: no openssl to make a test CA ({e})");
                    return None;
                }
            }
        }
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        let extra = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &c("server.crt"),
            "--tls-key-file",
            &c("server.key"),
            "--tls-ca-cert-file",
            &c("ca.crt"),
            "--tls-auth-clients",
            "no",
        ];
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls: true,
        };
        server.spawn();
        let ca = server.dir.path().join("ca.crt");
        std::fs::copy(certs.path().join("ca.crt"), &ca).ok()?;
        Some((server, ca))
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}). The tests need a real Redis: install it \
                     (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) \
                     so that `redis-server` is on the PATH"
                )
            });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            if self.ping() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when the server answers PING (for a TLS server: accepts a connection).
    pub fn ping(&self) -> bool {
        if self.tls {
            return TcpStream::connect(("127.0.0.1", self.port)).is_ok();
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        // A server that wants a password answers, too: it is up.
        BufReader::new(s).read_line(&mut line).is_ok()
            && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kill the server (as a crash would) and start it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
