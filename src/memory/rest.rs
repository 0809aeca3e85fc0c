//! The JSON-over-HTTP client the REST memory backends (Chroma, Weaviate) share: one
//! request, its status, and its body read as JSON, with every failure turned into a
//! one-line [`MemoryError`] naming the backend, the URL and what was being done. The only
//! file of the memory seam that imports reqwest.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::MemoryError;

/// The most of a server's error body quoted in a message.
const QUOTE_LIMIT: usize = 300;

/// A base URL and a client with the backend's timeouts.
#[derive(Clone)]
pub(crate) struct Rest {
    http: reqwest::Client,
    /// As configured, without a trailing `/`.
    base: String,
    backend: &'static str,
}

/// The HTTP methods the backends use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

/// What a request failed with, before the caller names its context.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer: refused, reset, timed out.
    Unreachable(String),
    /// An answer with a status other than 2xx; the server's message when it gave one.
    Status(u16, String),
    /// A 2xx answer whose body is not the JSON expected.
    Body(String),
}

impl Failure {
    /// A 404: what was asked for is not there.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Failure::Status(404, _))
    }
}

impl Rest {
    pub(crate) fn new(
        backend: &'static str,
        url: &str,
        connect: Duration,
        request: Duration,
    ) -> Result<Self, MemoryError> {
        let base = url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| MemoryError::Storage(format!("{backend} at {url}: not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MemoryError::Storage(format!(
                "{backend} at {url}: the URL must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            // Memory servers are local or on the operator's own network.
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .map_err(|e| MemoryError::Storage(format!("{backend} at {url}: {e}")))?;
        Ok(Self {
            http,
            base,
            backend,
        })
    }

    /// Whether the server answers a GET of `path` within `timeout`, and how fast; `doing`
    /// names the probe in the error. Creates nothing (for `doctor`).
    pub(crate) async fn probe(
        backend: &'static str,
        url: &str,
        path: &str,
        doing: &str,
        timeout: Duration,
    ) -> Result<Duration, MemoryError> {
        let rest = Rest::new(backend, url, timeout, timeout)?;
        let started = std::time::Instant::now();
        rest.call(Verb::Get, path, None, Some(timeout))
            .await
            .map_err(|f| rest.error("the server", doing, f))?;
        Ok(started.elapsed())
    }

    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// `verb` on `base + path` with an optional JSON body, bounded by `timeout` when
    /// given (else the request timeout); the body of a 2xx answer as JSON (`Null` when
    /// empty).
    pub(crate) async fn call(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, Failure> {
        let method = match verb {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        };
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let response = request.send().await.map_err(|e| transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(&e))?;
        if !status.is_success() {
            return Err(Failure::Status(status.as_u16(), server_message(&bytes)));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::Body(format!(
                "the answer is not JSON ({e}): {}",
                quote(&String::from_utf8_lossy(&bytes))
            ))
        })
    }

    /// A failure as a [`MemoryError`] naming the backend, URL, `place` (e.g. "collection
    /// `x`") and what was being done.
    pub(crate) fn error(&self, place: &str, doing: &str, failure: Failure) -> MemoryError {
        match failure {
            Failure::Unreachable(reason) => MemoryError::Unreachable {
                backend: self.backend,
                url: self.base.clone(),
                reason: crate::sanitize::one_line(&format!("{doing} ({place}): {reason}")),
            },
            Failure::Status(status, message) => {
                MemoryError::Storage(crate::sanitize::one_line(&format!(
                    "{} at {}, {place}: {doing}: HTTP {status}: {message}",
                    self.backend, self.base
                )))
            }
            Failure::Body(message) => MemoryError::Storage(crate::sanitize::one_line(&format!(
                "{} at {}, {place}: {doing}: {message}",
                self.backend, self.base
            ))),
        }
    }

    /// An answer that parsed but does not have the expected shape.
    pub(crate) fn malformed(&self, place: &str, doing: &str, what: &str) -> MemoryError {
        self.error(
            place,
            doing,
            Failure::Body(format!("malformed answer: {what}")),
        )
    }
}

fn transport(e: &reqwest::Error) -> Failure {
    // The source chain says what happened (refused, reset, timed out); the top alone
    // often only says "error sending request".
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        reason = format!("no answer in time ({reason})");
    }
    if e.is_decode() || e.is_body() {
        Failure::Body(reason)
    } else {
        Failure::Unreachable(reason)
    }
}

/// The message in an error body of any of the shapes the servers use: Chroma's
/// `{"error": kind, "message": text}`, Weaviate's `{"error": [{"message": text}]}`,
/// GraphQL's `{"errors": [{"message": text}]}`, or the text itself.
fn server_message(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let Ok(json) = serde_json::from_slice::<Value>(bytes) else {
        return quote(&text);
    };
    let first_message = |v: &Value| {
        v.as_array()
            .and_then(|a| a.first())
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let found = match (
        json.get("error"),
        json.get("message").and_then(Value::as_str),
    ) {
        (Some(Value::String(kind)), Some(message)) => Some(format!("{kind}: {message}")),
        (_, Some(message)) => Some(message.to_string()),
        (Some(Value::String(error)), None) => Some(error.clone()),
        (Some(errors), None) => first_message(errors),
        (None, None) => json.get("errors").and_then(first_message),
    };
    quote(&found.unwrap_or_else(|| text.into_owned()))
}

/// One line of at most [`QUOTE_LIMIT`] characters.
pub(crate) fn quote(text: &str) -> String {
    let line = crate::sanitize::one_line(text.trim());
    if line.chars().count() <= QUOTE_LIMIT {
        return line;
    }
    let mut cut: String = line.chars().take(QUOTE_LIMIT).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_each_server_give_their_message() {
        assert_eq!(
            server_message(
                br#"{"error":"NotFoundError","message":"Collection [x] does not exist"}"#
            ),
            "NotFoundError: Collection [x] does not exist"
        );
        assert_eq!(
            server_message(br#"{"error":[{"message":"class name \"x\" is invalid"}]}"#),
            "class name \"x\" is invalid"
        );
        assert_eq!(
            server_message(br#"{"errors":[{"message":"Cannot query field"}]}"#),
            "Cannot query field"
        );
        assert_eq!(server_message(b"plain\ntext"), "plain text");
        let long = "x".repeat(1000);
        assert!(server_message(long.as_bytes()).chars().count() <= QUOTE_LIMIT + 1);
    }
}
