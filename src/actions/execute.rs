//! Sending a prepared request: the one place of this module that does network I/O.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};

use super::{ActionError, PreparedRequest};

/// What a call got back. Any HTTP status is an outcome: the model should see a 404 or a
/// 422 and its message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionOutcome {
    pub status: u16,
    /// At most `max_response_bytes` of the answer, as lossy UTF-8 (escape sequences
    /// included: display sanitising happens where it is shown).
    pub body: String,
    /// The answer was longer than `max_response_bytes` and was cut.
    pub truncated: bool,
    /// From the first attempt to the end of the last, pauses included.
    pub latency_ms: u64,
    /// Attempts made (1 unless an idempotent request was tried again).
    pub attempts: u32,
}

/// The client actions are sent with. It follows no redirect: a redirect would send the
/// request (and headers such as `X-Secret-Key`) to a URL the policy and the approving
/// person never saw, so a 3xx is handed back as the outcome. It uses no proxy, so what is
/// sent is what the preview showed.
pub fn http_client() -> Result<reqwest::Client, ActionError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| ActionError::Client(error_chain(&e)))
}

/// How one request is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) timeout: Duration,
    /// 1 + retries for an idempotent method, else 1.
    pub(crate) attempts: u32,
    pub(crate) max_response_bytes: usize,
    /// The pause before the first repeat; it doubles each time.
    pub(crate) backoff: Duration,
}

/// The pause before the first repeat.
pub(crate) const BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Answers worth another attempt of an idempotent request: the server said "later" or
/// failed on its side.
fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

enum Failure {
    Timeout,
    Transport(String),
}

pub(crate) async fn send(
    client: &reqwest::Client,
    req: &PreparedRequest,
    plan: Plan,
) -> Result<ActionOutcome, ActionError> {
    let started = Instant::now();
    let mut pause = plan.backoff;
    let mut attempt = 1;
    loop {
        let result = tokio::time::timeout(plan.timeout, once(client, req, plan.max_response_bytes))
            .await
            .unwrap_or(Err(Failure::Timeout));
        let last = attempt >= plan.attempts;
        match result {
            Ok((status, body, truncated)) if last || !is_retryable(status) => {
                return Ok(ActionOutcome {
                    status,
                    body,
                    truncated,
                    latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    attempts: attempt,
                });
            }
            Err(failure) if last => return Err(error(req, failure, attempt, plan.timeout)),
            Ok(_) | Err(_) => {}
        }
        tracing::debug!(
            action = req.action(),
            attempt,
            "action attempt failed; trying again"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

fn error(req: &PreparedRequest, failure: Failure, attempts: u32, timeout: Duration) -> ActionError {
    // The URL holds arguments only (secrets go in headers), and the preview's URL has been
    // through the redaction patterns anyway.
    let url = req.preview().url;
    match failure {
        Failure::Timeout => ActionError::Timeout {
            action: req.action().to_string(),
            method: req.method(),
            url,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            attempts,
        },
        Failure::Transport(reason) => ActionError::Transport {
            action: req.action().to_string(),
            method: req.method(),
            url,
            attempts,
            // The client's message repeats the URL as sent.
            reason: req.mask_secrets(&reason),
        },
    }
}

/// One attempt: the status, at most `cap` bytes of the body, and whether it was cut.
async fn once(
    client: &reqwest::Client,
    req: &PreparedRequest,
    cap: usize,
) -> Result<(u16, String, bool), Failure> {
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|e| Failure::Transport(e.to_string()))?;
    let mut builder = client.request(method, req.url().clone());
    for header in req.headers() {
        // Both were checked by `prepare`; a failure here is a bug, reported, not a panic.
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| Failure::Transport(format!("bad header name {}", header.name)))?;
        let mut value = HeaderValue::from_bytes(header.value.as_bytes())
            .map_err(|_| Failure::Transport(format!("bad value for header {}", header.name)))?;
        // Kept out of the HTTP stack's own debug output.
        value.set_sensitive(header.masked.is_some());
        builder = builder.header(name, value);
    }
    if let Some(body) = req.body() {
        builder = builder.body(body.to_vec());
    }
    let mut response = builder
        .send()
        .await
        .map_err(|e| Failure::Transport(error_chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    // Chunk by chunk, never holding more than the cap and one chunk: an endless or huge
    // answer costs no memory beyond that, and dropping the response closes it.
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Transport(error_chain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > cap {
            truncated = true;
            body.truncate(cap);
            trim_partial_char(&mut body);
            break;
        }
    }
    Ok((
        status,
        String::from_utf8_lossy(&body).into_owned(),
        truncated,
    ))
}

/// Drops a UTF-8 character cut in half by the cap, so the text does not end in `�`.
fn trim_partial_char(bytes: &mut Vec<u8>) {
    let tail = bytes.len().saturating_sub(3);
    if let Some(start) = (tail..bytes.len()).rev().find(|&i| bytes[i] & 0xC0 != 0x80) {
        let lead = bytes[start];
        let len = match lead {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        if start + len > bytes.len() {
            bytes.truncate(start);
        }
    }
}

/// An error with its causes, on one line (`error sending request: … : connection refused`).
/// reqwest's messages name the URL, which holds no secret; the text is redacted anyway.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    crate::audit::builtin()
        .redact(&crate::sanitize::one_line(&text))
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_character_is_dropped() {
        for (input, cut, expected) in [
            ("aé", 2, "a"),
            ("a€", 3, "a"),
            ("a€", 4, "a€"),
            ("a😀", 4, "a"),
            ("abc", 2, "ab"),
        ] {
            let mut bytes = input.as_bytes()[..cut].to_vec();
            trim_partial_char(&mut bytes);
            assert_eq!(String::from_utf8(bytes).unwrap(), expected, "{input} {cut}");
        }
    }

    #[test]
    fn only_later_or_server_failures_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable(status), "{status}");
        }
        for status in [200, 201, 301, 400, 401, 403, 404, 409, 422, 501] {
            assert!(!is_retryable(status), "{status}");
        }
    }
}
