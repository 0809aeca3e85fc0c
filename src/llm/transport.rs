//! HTTP to a model server, shared by the Ollama and OpenAI-compatible runners: connect and
//! first-token timeouts, retries on connection failures only, error bodies read into one
//! line, and the pipeline from response bytes to `TokenEvent`s with the idle timeout.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::{LlmError, TokenEvent, TokenStream};
use crate::config::LlmConfig;

/// A frame (an SSE event, an NDJSON line) grew past what a model server sends: the stream
/// is not what it claims to be, and is ended rather than buffered without bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} longer than {limit} bytes")]
pub struct FrameTooLong {
    pub what: &'static str,
    pub limit: usize,
}

/// How long to wait, and how often to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connect, per attempt.
    pub connect: Duration,
    /// From sending the request to the first token (covers loading the model).
    pub first_token: Duration,
    /// Longest gap between two tokens once the answer flows.
    pub idle: Duration,
    /// Extra attempts after a connection failure (never after the answer began).
    pub retries: u32,
}

impl Timeouts {
    pub fn from_config(c: &LlmConfig) -> Self {
        Self {
            connect: Duration::from_millis(u64::from(c.connect_timeout_ms)),
            first_token: Duration::from_millis(u64::from(c.first_token_timeout_ms)),
            idle: Duration::from_millis(u64::from(c.idle_timeout_ms)),
            retries: c.retries,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from_config(&LlmConfig::default())
    }
}

/// Wait before retry `attempt` (0-based): 100 ms, 200 ms, 400 ms, … capped at 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.min(4)).min(Duration::from_secs(2))
}

/// One model server: its base URL, a pooled client and the timeouts.
#[derive(Debug, Clone)]
pub struct Endpoint {
    runner: &'static str,
    base: String,
    client: reqwest::Client,
    pub timeouts: Timeouts,
}

impl Endpoint {
    pub fn new(runner: &'static str, base: &str, timeouts: Timeouts) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            // Model servers are local or on the operator's own network; an HTTP(S)_PROXY
            // meant for the internet would only get in the way.
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .map_err(|e| {
                LlmError::Runner(format!("cannot build an HTTP client: {}", one_line(&e)))
            })?;
        Ok(Self {
            runner,
            base: base.trim_end_matches('/').to_string(),
            client,
            timeouts,
        })
    }

    pub fn runner(&self) -> &'static str {
        self.runner
    }

    /// The base URL, as configured (without a trailing `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn unreachable(&self, message: impl Into<String>) -> LlmError {
        LlmError::Unreachable {
            runner: self.runner.into(),
            url: self.base.clone(),
            message: message.into(),
        }
    }

    pub fn timeout(&self, message: impl Into<String>) -> LlmError {
        LlmError::Timeout {
            runner: self.runner.into(),
            url: self.base.clone(),
            message: message.into(),
        }
    }

    /// Send a request built by `build`, retrying connection failures with backoff, within
    /// `within` in all. A success status is returned as is; an error status becomes
    /// [`LlmError::Http`] with the server's message (callers map special cases first via
    /// [`Endpoint::send_raw`]).
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        within: Duration,
    ) -> Result<reqwest::Response, LlmError> {
        let resp = self.send_raw(build, within).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.http_error(resp).await)
        }
    }

    /// Like [`Endpoint::send`], but any status is returned.
    pub async fn send_raw(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        within: Duration,
    ) -> Result<reqwest::Response, LlmError> {
        let deadline = Instant::now() + within;
        let mut attempt = 0;
        loop {
            match tokio::time::timeout_at(deadline, build(&self.client).send()).await {
                Err(_) => {
                    return Err(self.timeout(format!("no answer within {} ms", within.as_millis())));
                }
                Ok(Ok(resp)) => return Ok(resp),
                Ok(Err(e)) if attempt < self.timeouts.retries && is_connection_failure(&e) => {
                    tracing::debug!(runner = self.runner, url = %self.base, attempt, error = %one_line(&e), "retrying");
                    let wait = backoff(attempt);
                    if Instant::now() + wait >= deadline {
                        return Err(self.unreachable(one_line(&e)));
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Ok(Err(e)) if e.is_timeout() => {
                    return Err(self.timeout(one_line(&e)));
                }
                Ok(Err(e)) => {
                    let tries = if attempt > 0 {
                        format!(" (after {} attempts)", attempt + 1)
                    } else {
                        String::new()
                    };
                    return Err(self.unreachable(format!("{}{tries}", one_line(&e))));
                }
            }
        }
    }

    /// An error status with its body read as the server's message.
    pub async fn http_error(&self, resp: reqwest::Response) -> LlmError {
        let status = resp.status().as_u16();
        let body = tokio::time::timeout(self.timeouts.idle, resp.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        LlmError::Http {
            runner: self.runner.into(),
            url: self.base.clone(),
            status,
            message: error_message(&body),
        }
    }

    /// GET `path` and parse the JSON answer, within the first-token timeout.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, LlmError> {
        let url = self.url(path);
        let resp = self
            .send(|c| c.get(&url), self.timeouts.first_token)
            .await?;
        self.read_json(resp).await
    }

    /// POST `body` as JSON to `path` and parse the JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, LlmError> {
        let url = self.url(path);
        let resp = self
            .send(|c| c.post(&url).json(body), self.timeouts.first_token)
            .await?;
        self.read_json(resp).await
    }

    pub async fn read_json<T: DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<T, LlmError> {
        let body = tokio::time::timeout(self.timeouts.first_token, resp.bytes())
            .await
            .map_err(|_| self.timeout("the answer did not finish in time"))?
            .map_err(|e| LlmError::Interrupted(one_line(&e)))?;
        serde_json::from_slice(&body).map_err(|e| {
            LlmError::Runner(format!(
                "{} at {} sent an answer that is not what its API returns: {e}",
                self.runner, self.base
            ))
        })
    }
}

/// Connection refused or reset before any byte of the answer: safe to send again, the
/// server has not started on it.
fn is_connection_failure(e: &reqwest::Error) -> bool {
    if e.is_connect() {
        return true;
    }
    if !e.is_request() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | BrokenPipe
                    | UnexpectedEof
            ) {
                return true;
            }
        }
        // hyper: the server closed the connection before sending a status line.
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The reason of an error in one line: its innermost cause (e.g. `Connection refused (os
/// error 111)`), since the wrappers around it (`error sending request for url (…)`) only
/// repeat the URL the message names already.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    flatten(&reason)
}

/// One line, no control characters.
pub fn flatten(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The message of an error body: Ollama's `{"error":"…"}`, OpenAI's
/// `{"error":{"message":"…"}}`, or the text itself (cut short).
pub fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = json_error(&v)
    {
        return m;
    }
    let text = flatten(&String::from_utf8_lossy(body));
    if text.is_empty() {
        "(no message)".into()
    } else {
        text.chars().take(300).collect()
    }
}

/// `{"error":"…"}` or `{"error":{"message":"…"}}` or `{"message":"…"}`, if `v` is one.
pub fn json_error(v: &serde_json::Value) -> Option<String> {
    let e = v.get("error")?;
    let m = match e {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => e.to_string(),
        },
        serde_json::Value::Null => return None,
        other => other.to_string(),
    };
    Some(flatten(&m))
}

/// Turns the bytes of one streamed answer into token events.
pub trait Decoder: Send + 'static {
    /// More bytes arrived; push the events they complete.
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<Result<TokenEvent, LlmError>>);
    /// The body ended; push what remains (the final event, or an error if it never came).
    fn finish(&mut self, out: &mut VecDeque<Result<TokenEvent, LlmError>>);
}

/// The token stream of a streamed answer: decoded events, the first-token and idle
/// timeouts, and the client-side timings filled into `Usage` where the server gave none.
/// It ends after `Done` or the first error; dropping it closes the connection.
pub fn token_stream(
    endpoint: &Endpoint,
    resp: reqwest::Response,
    decoder: impl Decoder,
    started: Instant,
) -> TokenStream {
    struct State<D> {
        resp: reqwest::Response,
        decoder: D,
        queue: VecDeque<Result<TokenEvent, LlmError>>,
        started: Instant,
        first_token: Option<Instant>,
        last_event: Instant,
        /// A final event or an error went out: nothing more follows.
        ended: bool,
        body_done: bool,
        endpoint: Endpoint,
    }
    let state = State {
        resp,
        decoder,
        queue: VecDeque::new(),
        started,
        first_token: None,
        last_event: started,
        ended: false,
        body_done: false,
        endpoint: endpoint.clone(),
    };
    let s = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.ended {
                return None;
            }
            if let Some(item) = st.queue.pop_front() {
                let now = Instant::now();
                st.last_event = now;
                let item = match item {
                    Ok(TokenEvent::Done { mut usage }) => {
                        st.ended = true;
                        let first = st.first_token.unwrap_or(now);
                        if usage.first_token_ms == 0.0 {
                            usage.first_token_ms = ms(first - st.started);
                        }
                        if usage.total_ms == 0.0 {
                            usage.total_ms = ms(now - st.started);
                        }
                        Ok(TokenEvent::Done { usage })
                    }
                    Ok(ev) => {
                        st.first_token.get_or_insert(now);
                        Ok(ev)
                    }
                    Err(e) => {
                        st.ended = true;
                        Err(e)
                    }
                };
                return Some((item, st));
            }
            if st.body_done {
                // The decoder ends every answer with `Done` or an error; this is a guard.
                st.ended = true;
                return Some((Err(LlmError::Interrupted("the stream ended".into())), st));
            }
            let (deadline, what) = match st.first_token {
                None => (
                    st.started + st.endpoint.timeouts.first_token,
                    format!(
                        "no first token within {} ms",
                        st.endpoint.timeouts.first_token.as_millis()
                    ),
                ),
                Some(_) => (
                    st.last_event + st.endpoint.timeouts.idle,
                    format!(
                        "no token for {} ms mid-answer",
                        st.endpoint.timeouts.idle.as_millis()
                    ),
                ),
            };
            match tokio::time::timeout_at(deadline, st.resp.chunk()).await {
                Err(_) => {
                    st.ended = true;
                    return Some((Err(st.endpoint.timeout(what)), st));
                }
                Ok(Ok(Some(bytes))) => st.decoder.feed(&bytes, &mut st.queue),
                Ok(Ok(None)) => {
                    st.body_done = true;
                    st.decoder.finish(&mut st.queue);
                }
                Ok(Err(e)) => {
                    st.ended = true;
                    let err = LlmError::Interrupted(format!(
                        "connection to {} at {} lost: {}",
                        st.endpoint.runner,
                        st.endpoint.base,
                        one_line(&e)
                    ));
                    return Some((Err(err), st));
                }
            }
        }
    });
    Box::pin(s)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_apis_become_one_line() {
        assert_eq!(
            error_message(br#"{"error":"model \"x\" not found"}"#),
            "model \"x\" not found"
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"bad\nrequest","type":"invalid"}}"#),
            "bad request"
        );
        assert_eq!(error_message(b"<html>oops</html>\n"), "<html>oops</html>");
        assert_eq!(error_message(b""), "(no message)");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_millis(1600));
    }
}
