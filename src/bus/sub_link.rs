//! The Redis subscription link: one RESP3 connection of our own whose pushed messages are
//! handed to an async sink, one at a time, straight off the socket.
//!
//! Neither redis-rs connection type can wait for its reader: the `ConnectionManager` puts an
//! unbounded queue between the socket and the sink, and a multiplexed connection calls its
//! push sender synchronously, so a sink that cannot take a message must queue it without
//! bound or drop it. Here the reader awaits the sink before it reads the next frame: a sink
//! that is full (intents waiting to be claimed onto the stream) slows the socket, TCP slows
//! Redis, and Redis's output-buffer limit for pub/sub clients is the only backlog. If Redis
//! cuts the subscriber there, the reader sees the connection close, says so and the bus's
//! supervisor reconnects and subscribes again to everything it had.
//!
//! Commands on the link (SUBSCRIBE, PSUBSCRIBE, PING) are written by the caller; their
//! ordinary replies come back in order between the pushes and are matched to waiting callers
//! first in, first out. A PING answered late because the reader is waiting on the sink is a
//! busy link, not a dead one.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, PushKind, RedisError, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

/// What the link hears.
pub(crate) enum Heard {
    /// A message on a channel subscribed by name.
    Message { channel: Vec<u8>, payload: Vec<u8> },
    /// A message on a channel matched by a pattern.
    PMessage {
        pattern: Vec<u8>,
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
    /// The connection closed or broke; nothing more comes from it.
    Disconnected { error: String },
}

pub(crate) type SinkFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// Called for each message, in order; the next frame is read only once it has finished.
pub(crate) type Sink = Arc<dyn Fn(Heard) -> SinkFuture + Send + Sync>;

type Reply = oneshot::Sender<Result<Value, RedisError>>;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

fn not_connected() -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "the subscription connection is being re-established",
    )
    .into()
}

fn io_error(kind: std::io::ErrorKind, what: &str) -> RedisError {
    std::io::Error::new(kind, what.to_string()).into()
}

pub(crate) struct SubLink {
    info: ConnectionInfo,
    sink: Sink,
    timeout: Duration,
    current: Mutex<Option<Arc<Link>>>,
}

/// One connection: its write half, the callers waiting for replies, and its reader task.
struct Link {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    replies: Mutex<VecDeque<Reply>>,
    closed: AtomicBool,
    /// Frames read so far, and whether the reader is waiting for the sink right now.
    frames: AtomicU64,
    in_sink: AtomicBool,
    reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Ok(mut r) = self.reader.lock()
            && let Some(task) = r.take()
        {
            task.abort();
        }
    }
}

impl Link {
    fn fail_waiting(&self, why: &str) {
        let waiting: Vec<Reply> = self
            .replies
            .lock()
            .map(|mut r| r.drain(..).collect())
            .unwrap_or_default();
        for w in waiting {
            let _ = w.send(Err(io_error(std::io::ErrorKind::ConnectionAborted, why)));
        }
    }

    /// Write a command; with `reply`, the caller waits for its ordinary reply.
    async fn send(&self, bytes: &[u8], reply: Option<Reply>) -> Result<(), RedisError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(not_connected());
        }
        let mut w = self.writer.lock().await;
        if let Some(reply) = reply
            && let Ok(mut r) = self.replies.lock()
        {
            r.push_back(reply);
        }
        if let Err(e) = w.write_all(bytes).await {
            self.closed.store(true, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(())
    }

    /// A command and its ordinary reply, within `timeout`. `Ok(None)`: no reply in time,
    /// but the reader was busy handing messages to the sink meanwhile, so the link lives.
    async fn call(&self, bytes: &[u8], timeout: Duration) -> Result<Option<Value>, RedisError> {
        let (tx, rx) = oneshot::channel();
        let frames_before = self.frames.load(Ordering::SeqCst);
        self.send(bytes, Some(tx)).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(Value::ServerError(e)))) => Err(e.into()),
            Ok(Ok(Ok(v))) => Ok(Some(v)),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(not_connected()),
            Err(_) => {
                let busy = self.in_sink.load(Ordering::SeqCst)
                    || self.frames.load(Ordering::SeqCst) != frames_before;
                if busy && !self.closed.load(Ordering::SeqCst) {
                    Ok(None)
                } else {
                    Err(io_error(
                        std::io::ErrorKind::TimedOut,
                        "the subscription connection did not answer",
                    ))
                }
            }
        }
    }
}

impl SubLink {
    pub(crate) fn new(info: ConnectionInfo, sink: Sink, timeout: Duration) -> SubLink {
        SubLink {
            info,
            sink,
            timeout,
            current: Mutex::new(None),
        }
    }

    /// A new connection in place of the old one (whose reader stops). Nothing is
    /// subscribed on it yet.
    pub(crate) async fn reconnect(&self) -> Result<(), RedisError> {
        if let Ok(mut c) = self.current.lock() {
            c.take();
        }
        let (mut read, mut write) = match tokio::time::timeout(self.timeout, open(&self.info)).await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(io_error(
                    std::io::ErrorKind::TimedOut,
                    "no connection within the timeout",
                ));
            }
        };
        let mut frames = Frames::default();
        let hello = tokio::time::timeout(
            self.timeout,
            hello(&self.info, &mut read, &mut write, &mut frames),
        )
        .await;
        match hello {
            Ok(r) => r?,
            Err(_) => {
                return Err(io_error(std::io::ErrorKind::TimedOut, "no answer to HELLO"));
            }
        }
        let link = Arc::new(Link {
            writer: tokio::sync::Mutex::new(write),
            replies: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
            frames: AtomicU64::new(0),
            in_sink: AtomicBool::new(false),
            reader: Mutex::new(None),
        });
        let task = tokio::spawn(read_loop(
            Arc::downgrade(&link),
            read,
            frames,
            self.sink.clone(),
        ));
        if let Ok(mut r) = link.reader.lock() {
            *r = Some(task);
        }
        if let Ok(mut c) = self.current.lock() {
            *c = Some(link);
        }
        Ok(())
    }

    fn get(&self) -> Result<Arc<Link>, RedisError> {
        self.current
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .filter(|l| !l.closed.load(Ordering::SeqCst))
            .ok_or_else(not_connected)
    }

    /// Subscribe (`SUBSCRIBE` or `PSUBSCRIBE`) and make sure Redis took it: a PING after
    /// it is answered only once the subscription is in place (or its error comes back).
    async fn subscribe_with(&self, command: &str, names: &[String]) -> Result<(), RedisError> {
        if names.is_empty() {
            return Ok(());
        }
        let link = self.get()?;
        let mut cmd = redis::cmd(command);
        for n in names {
            cmd.arg(n);
        }
        link.send(&cmd.get_packed_command(), None).await?;
        // Busy (`None`) is fine: the subscription was written before the PING.
        link.call(&redis::cmd("PING").get_packed_command(), self.timeout)
            .await
            .map(|_| ())
    }

    pub(crate) async fn subscribe(&self, channels: &[String]) -> Result<(), RedisError> {
        self.subscribe_with("SUBSCRIBE", channels).await
    }

    pub(crate) async fn psubscribe(&self, patterns: &[String]) -> Result<(), RedisError> {
        self.subscribe_with("PSUBSCRIBE", patterns).await
    }

    /// A round trip on the link: fails when the connection is gone. A link whose reader is
    /// busy handing messages on counts as alive even if the PONG has not come back yet.
    pub(crate) async fn ping(&self) -> Result<(), RedisError> {
        let link = self.get()?;
        link.call(&redis::cmd("PING").get_packed_command(), self.timeout)
            .await
            .map(|_| ())
    }
}

type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

async fn open(info: &ConnectionInfo) -> Result<(ReadHalf, WriteHalf), RedisError> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            let stream = tls_connect(host, *insecure, stream).await?;
            let (r, w) = tokio::io::split(stream);
            Ok((Box::new(r), Box::new(w)))
        }
        #[cfg(unix)]
        ConnectionAddr::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path).await?;
            let (r, w) = stream.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        other => Err(io_error(
            std::io::ErrorKind::Unsupported,
            &format!("the subscription link cannot connect to {other}"),
        )),
    }
}

/// TLS over `stream` as redis-rs does it for `rediss://`: the platform's roots (and
/// `SSL_CERT_FILE`), the host name checked. `#insecure` URLs are refused here: the link
/// carries every agent's traffic, and a certificate not checked is no TLS worth having.
async fn tls_connect(
    host: &str,
    insecure: bool,
    stream: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, RedisError> {
    let refuse = |what: String| io_error(std::io::ErrorKind::InvalidInput, &what);
    if insecure {
        return Err(refuse(
            "rediss://…#insecure is not supported: give the server's CA in SSL_CERT_FILE".into(),
        ));
    }
    crate::tls::ensure_provider();
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        // A certificate the store will not take is one root less, not a failure.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(refuse(format!(
            "no trusted root certificates for {host} ({}): set SSL_CERT_FILE to the CA",
            loaded
                .errors
                .first()
                .map_or("none found".to_string(), |e| e.to_string())
        )));
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| refuse(format!("`{host}` is not a TLS server name: {e}")))?;
    Ok(
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, stream)
            .await?,
    )
}

/// Switch to RESP3 and authenticate as the URL says.
async fn hello(
    info: &ConnectionInfo,
    read: &mut ReadHalf,
    write: &mut WriteHalf,
    frames: &mut Frames,
) -> Result<(), RedisError> {
    let settings = info.redis_settings();
    let mut cmd = redis::cmd("HELLO");
    cmd.arg(3);
    if let Some(password) = settings.password() {
        cmd.arg("AUTH")
            .arg(settings.username().unwrap_or("default"))
            .arg(password);
    }
    cmd.arg("SETNAME").arg("aios-subscriber");
    write.write_all(&cmd.get_packed_command()).await?;
    loop {
        if let Some(f) = frames.next()? {
            return match f {
                Frame::Value(Value::ServerError(e)) => Err(e.into()),
                _ => Ok(()),
            };
        }
        if !frames.fill(read).await? {
            return Err(io_error(
                std::io::ErrorKind::UnexpectedEof,
                "the connection closed during HELLO",
            ));
        }
    }
}

/// Read frames until the connection ends; each push goes to the sink, awaited, before the
/// next frame is read.
async fn read_loop(link: Weak<Link>, mut read: ReadHalf, mut frames: Frames, sink: Sink) {
    let error = loop {
        let frame = match frames.next() {
            Ok(Some(f)) => f,
            Ok(None) => match frames.fill(&mut read).await {
                Ok(true) => continue,
                Ok(false) => break "Redis closed the connection".to_string(),
                Err(e) => break e.to_string(),
            },
            Err(e) => break e.to_string(),
        };
        let Some(l) = link.upgrade() else { return };
        l.frames.fetch_add(1, Ordering::SeqCst);
        let heard = match frame {
            Frame::Heard(h) => Some(h),
            Frame::Value(Value::Push { kind, data }) => heard_of(kind, data),
            Frame::Value(reply) => {
                let waiter = l.replies.lock().ok().and_then(|mut r| r.pop_front());
                if let Some(w) = waiter {
                    let _ = w.send(Ok(reply));
                }
                None
            }
        };
        // Subscription confirmations, replies, anything else pushed: nothing to hand on.
        let Some(heard) = heard else { continue };
        l.in_sink.store(true, Ordering::SeqCst);
        // The link is not kept alive by the reader while it waits.
        drop(l);
        sink(heard).await;
        if let Some(l) = link.upgrade() {
            l.in_sink.store(false, Ordering::SeqCst);
        }
    };
    if let Some(l) = link.upgrade() {
        l.closed.store(true, Ordering::SeqCst);
        l.fail_waiting(&error);
    }
    sink(Heard::Disconnected { error }).await;
}

/// A message pushed as a parsed value (the slow path).
fn heard_of(kind: PushKind, data: Vec<Value>) -> Option<Heard> {
    let bytes = |v: Value| match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    };
    let mut it = data.into_iter();
    match kind {
        PushKind::Message => Some(Heard::Message {
            channel: bytes(it.next()?)?,
            payload: bytes(it.next()?)?,
        }),
        PushKind::PMessage => Some(Heard::PMessage {
            pattern: bytes(it.next()?)?,
            channel: bytes(it.next()?)?,
            payload: bytes(it.next()?)?,
        }),
        _ => None,
    }
}

/// A whole frame: a message read straight off the bytes (the common case), or any other
/// value, parsed.
enum Frame {
    Heard(Heard),
    Value(Value),
}

/// `$<n>\r\n<n bytes>\r\n` at the start of `b`: the bytes and what follows.
fn bulk(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let b = b.strip_prefix(b"$")?;
    let eol = b.iter().position(|&c| c == b'\r')?;
    let n: usize = std::str::from_utf8(&b[..eol]).ok()?.parse().ok()?;
    let rest = b.get(eol + 2..)?;
    let (data, rest) = (rest.get(..n)?, rest.get(n..)?);
    Some((data, rest.strip_prefix(b"\r\n")?))
}

/// A pushed `message` or `pmessage` of bulk strings, read without building a value tree.
fn fast_push(frame: &[u8]) -> Option<Heard> {
    if let Some(rest) = frame.strip_prefix(b">3\r\n$7\r\nmessage\r\n") {
        let (channel, rest) = bulk(rest)?;
        let (payload, rest) = bulk(rest)?;
        return rest.is_empty().then(|| Heard::Message {
            channel: channel.to_vec(),
            payload: payload.to_vec(),
        });
    }
    let rest = frame.strip_prefix(b">4\r\n$8\r\npmessage\r\n")?;
    let (pattern, rest) = bulk(rest)?;
    let (channel, rest) = bulk(rest)?;
    let (payload, rest) = bulk(rest)?;
    rest.is_empty().then(|| Heard::PMessage {
        pattern: pattern.to_vec(),
        channel: channel.to_vec(),
        payload: payload.to_vec(),
    })
}

/// Bytes read and not yet parsed, cut into whole RESP frames.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
    start: usize,
}

impl Frames {
    /// Read more bytes; false at the end of the stream.
    async fn fill(&mut self, read: &mut ReadHalf) -> Result<bool, RedisError> {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let n = read.read(&mut self.buf[len..]).await;
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(e.into());
            }
        };
        self.buf.truncate(len + n);
        Ok(n > 0)
    }

    /// The next whole frame, parsed; `None` until enough bytes are in.
    fn next(&mut self) -> Result<Option<Frame>, RedisError> {
        let rest = &self.buf[self.start..];
        let Some(n) = frame_len(rest).map_err(|e| io_error(std::io::ErrorKind::InvalidData, &e))?
        else {
            return Ok(None);
        };
        let frame = &rest[..n];
        let value = match fast_push(frame) {
            Some(heard) => Frame::Heard(heard),
            None => Frame::Value(redis::parse_redis_value(frame)?),
        };
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(value))
    }
}

/// The length of the whole RESP2/RESP3 value at the start of `buf`, or `None` when more
/// bytes are needed.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut pos = 0;
    // Values still to read at this point of the frame.
    let mut need: u64 = 1;
    while need > 0 {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(eol) = buf[pos..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = &buf[pos + 1..pos + eol];
        pos += eol + 2;
        need -= 1;
        let count = || -> Result<i64, String> {
            std::str::from_utf8(line)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| format!("bad length in a RESP frame: {line:?}"))
        };
        match kind {
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let n = count()?;
                if n >= 0 {
                    pos += n as usize + 2;
                    if pos > buf.len() {
                        return Ok(None);
                    }
                }
            }
            b'*' | b'~' | b'>' => {
                let n = count()?;
                if n > 0 {
                    need += n as u64;
                }
            }
            b'%' => {
                let n = count()?;
                if n > 0 {
                    need += 2 * n as u64;
                }
            }
            // Attributes come before the value they describe.
            b'|' => {
                let n = count()?;
                need += 2 * n.max(0) as u64 + 1;
            }
            other => return Err(format!("unknown RESP type byte {other:#04x}")),
        }
    }
    Ok(Some(pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_are_found_and_partial_ones_wait() {
        let push = b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
        assert_eq!(frame_len(push), Ok(Some(push.len())));
        for cut in 0..push.len() {
            assert_eq!(frame_len(&push[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = push.to_vec();
        two.extend_from_slice(b"+PONG\r\n");
        assert_eq!(frame_len(&two), Ok(Some(push.len())));
        assert_eq!(frame_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*0\r\n"), Ok(Some(4)));
        assert_eq!(frame_len(b"_\r\n"), Ok(Some(3)));
        // A payload may hold CRLF and RESP-looking bytes.
        let tricky = b"$6\r\n*1\r\n\r\n\r\n";
        assert_eq!(frame_len(tricky), Ok(Some(tricky.len())));
        assert!(frame_len(b"?x\r\n").is_err());
    }

    #[test]
    fn frames_parse_one_at_a_time() {
        let mut f = Frames::default();
        f.buf.extend_from_slice(
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+PONG\r\n\
              >4\r\n$8\r\npmessage\r\n$3\r\nop*\r\n$5\r\nop.io\r\n$0\r\n\r\n\
              >3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n$3\r\nab",
        );
        assert!(matches!(
            f.next(),
            Ok(Some(Frame::Heard(Heard::Message { channel, payload })))
                if channel == b"ch" && payload == b"hi"
        ));
        assert!(matches!(
            f.next(),
            Ok(Some(Frame::Value(Value::Okay | Value::SimpleString(_))))
        ));
        assert!(matches!(
            f.next(),
            Ok(Some(Frame::Heard(Heard::PMessage { pattern, channel, payload })))
                if pattern == b"op*" && channel == b"op.io" && payload.is_empty()
        ));
        assert!(matches!(
            f.next(),
            Ok(Some(Frame::Value(Value::Push {
                kind: PushKind::Subscribe,
                ..
            })))
        ));
        assert!(matches!(f.next(), Ok(None)));
        f.buf.extend_from_slice(b"c\r\n");
        assert!(matches!(f.next(), Ok(Some(Frame::Value(Value::BulkString(b)))) if b == b"abc"));
    }

    #[test]
    fn the_fast_path_reads_what_the_parser_reads() {
        for frame in [
            &b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$6\r\n\r\n\r\nab\r\n"[..],
            b">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$3\r\n{}x\r\n",
        ] {
            let Some(fast) = fast_push(frame) else {
                panic!("no fast path for {frame:?}")
            };
            let Ok(Value::Push { kind, data }) = redis::parse_redis_value(frame) else {
                panic!("the parser reads no push")
            };
            let slow = heard_of(kind, data).unwrap();
            let parts = |h: Heard| match h {
                Heard::Message { channel, payload } => vec![channel, payload],
                Heard::PMessage {
                    pattern,
                    channel,
                    payload,
                } => vec![pattern, channel, payload],
                Heard::Disconnected { .. } => vec![],
            };
            assert_eq!(parts(fast), parts(slow));
        }
        // Anything unexpected goes to the parser.
        assert!(fast_push(b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n:1\r\n").is_none());
        assert!(fast_push(b">3\r\n$7\r\nmessage\r\n$9\r\nc\r\n$1\r\nx\r\n").is_none());
    }
}
