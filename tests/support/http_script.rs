//! A scriptable HTTP/1.1 server on a free port for the model-server harnesses: each route
//! answers with a scripted list of body chunks, each after its own delay, written as
//! separate HTTP chunks so a test can split a line mid-way, put two events in one chunk,
//! stall past a timeout or hang up mid-answer. It records every request it received and
//! notices when a client hangs up before the answer is complete.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    Reply(Reply),
    /// Read the request, then close the connection without a byte of answer.
    Hangup,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    /// `(delay before, bytes)`; each is written as its own HTTP chunk and flushed.
    pub chunks: Vec<(Duration, Vec<u8>)>,
    /// Close the connection after the chunks instead of ending the body properly.
    pub cut: bool,
    /// More response headers (`Retry-After`, …).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            chunks: Vec::new(),
            cut: false,
            headers: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, "application/json").chunk(body.to_string())
    }

    pub fn chunk(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.chunks.push((Duration::ZERO, bytes.into()));
        self
    }

    pub fn chunk_after(mut self, delay: Duration, bytes: impl Into<Vec<u8>>) -> Self {
        self.chunks.push((delay, bytes.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn cut(mut self) -> Self {
        self.cut = true;
        self
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request line and headers exactly as received, up to the blank line.
    pub head: String,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    /// Per `METHOD path`: scripted actions, used in order; the last one repeats.
    routes: Mutex<HashMap<String, VecDeque<Action>>>,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    hung_up: AtomicUsize,
    hangup: Notify,
}

#[derive(Clone)]
pub struct ScriptServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl ScriptServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, s).await;
                });
            }
        });
        Self {
            addr,
            shared,
            task: Arc::new(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer `method path` with these actions in turn (the last repeats).
    pub fn route(&self, method: &str, path: &str, actions: Vec<Action>) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(format!("{method} {path}"), actions.into());
    }

    pub fn reply(&self, method: &str, path: &str, reply: Reply) {
        self.route(method, path, vec![Action::Reply(reply)]);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Wait until a client hung up before its answer was complete; false after `within`.
    pub async fn client_hung_up(&self, within: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.shared.hangup.notified();
                if self.shared.hung_up.load(Ordering::SeqCst) > 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}

async fn serve(mut sock: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let Some(req) = read_request(&mut sock).await? else {
        return Ok(());
    };
    let key = format!("{} {}", req.method, req.path);
    shared.requests.lock().unwrap().push(req.clone());
    let action = {
        let mut routes = shared.routes.lock().unwrap();
        match routes.get_mut(&key) {
            Some(q) if q.len() > 1 => q.pop_front(),
            Some(q) => q.front().cloned(),
            None => None,
        }
    };
    let reply = match action {
        Some(Action::Hangup) => return Ok(()),
        Some(Action::Reply(r)) => r,
        None => Reply::json(
            404,
            &serde_json::json!({"error": format!("no route {key}")}),
        ),
    };
    let extra: String = reply
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} S\r\nContent-Type: {}\r\n{extra}{}Connection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        if req.method == "HEAD" {
            "Content-Length: 0\r\n"
        } else {
            "Transfer-Encoding: chunked\r\n"
        }
    );
    sock.write_all(head.as_bytes()).await?;
    sock.flush().await?;
    if req.method == "HEAD" {
        return Ok(());
    }
    let hung_up = || {
        shared.hung_up.fetch_add(1, Ordering::SeqCst);
        shared.hangup.notify_waiters();
    };
    for (delay, bytes) in &reply.chunks {
        if !delay.is_zero() {
            let mut probe = [0u8; 64];
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                r = sock.read(&mut probe) => {
                    if matches!(r, Ok(0) | Err(_)) {
                        hung_up();
                        return Ok(());
                    }
                }
            }
        }
        let framed = [format!("{:x}\r\n", bytes.len()).as_bytes(), bytes, b"\r\n"].concat();
        if sock.write_all(&framed).await.is_err() || sock.flush().await.is_err() {
            hung_up();
            return Ok(());
        }
    }
    if reply.cut {
        return Ok(());
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.flush().await
}

async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = buf[head_end..].to_vec();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(decoded) = dechunk(&body) {
                body = decoded;
                break;
            }
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
    }
    Ok(Some(Recorded {
        method,
        path,
        headers,
        body,
        head,
    }))
}

/// The body of a complete chunked encoding, or `None` while incomplete.
fn dechunk(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).ok()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
