//! A prepared request, exactly as it will be sent, and its preview for a person: the same
//! request with every secret masked.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Method;

/// What a secret is shown as.
pub const MASK: &str = "••••";

/// One header as it will be sent.
#[derive(Clone)]
pub(crate) struct PreparedHeader {
    pub(crate) name: String,
    pub(crate) value: String,
    /// For a secret: what the preview shows instead (`Bearer ••••`).
    pub(crate) masked: Option<String>,
}

impl PreparedHeader {
    pub(crate) fn plain(name: &str, value: &str) -> Self {
        Self {
            name: name.to_string(),
            value: value.to_string(),
            masked: None,
        }
    }

    /// `prefix` (the scheme word) stays readable; the secret does not.
    pub(crate) fn secret(name: &str, prefix: &str, secret: &str) -> Self {
        Self {
            name: name.to_string(),
            value: format!("{prefix}{secret}"),
            masked: Some(format!("{prefix}{MASK}")),
        }
    }
}

/// The exact request an action call will send. Holds secrets: it has no `Serialize`, and
/// its `Debug` shows the preview.
#[derive(Clone)]
pub struct PreparedRequest {
    action: String,
    method: Method,
    url: reqwest::Url,
    headers: Vec<PreparedHeader>,
    body: Option<Vec<u8>>,
    /// Every secret value (and the parts of a `key:secret`), masked wherever it appears.
    secrets: Vec<String>,
}

/// A request as a person is shown it before it runs: what will be sent, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPreview {
    pub method: String,
    pub url: String,
    /// In the order they are sent, including those the HTTP client writes (`Host`,
    /// `Content-Length`).
    pub headers: Vec<(String, String)>,
    /// The JSON body as sent; `None` when there is none.
    pub body: Option<String>,
}

/// Secrets shorter than this are not searched for outside their own header: masking every
/// `a` of a preview would hide more than it protects.
const MIN_SECRET_LEN: usize = 4;

impl PreparedRequest {
    pub(crate) fn new(
        action: String,
        method: Method,
        url: reqwest::Url,
        headers: Vec<PreparedHeader>,
        body: Option<Vec<u8>>,
        mut secrets: Vec<String>,
    ) -> Self {
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self {
            action,
            method,
            url,
            headers,
            body,
            secrets,
        }
    }

    /// The action it was prepared for.
    pub fn action(&self) -> &str {
        &self.action
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The headers to set, with their real values (secrets included), in order.
    pub(crate) fn headers(&self) -> &[PreparedHeader] {
        &self.headers
    }

    /// The request with every secret masked: auth headers show their scheme word and
    /// [`MASK`]; a secret value found anywhere else is masked too, and the rest goes
    /// through the built-in redaction patterns for anything secret-looking.
    pub fn preview(&self) -> RequestPreview {
        let redactor = crate::audit::builtin();
        let clean = |text: &str| self.mask_secrets(text);
        let mut headers = vec![("Host".to_string(), host_header(&self.url))];
        for h in &self.headers {
            let value = match &h.masked {
                Some(masked) => masked.clone(),
                None => {
                    let value = clean(&h.value);
                    // `X-Api-Key: abc` is secret-looking only with its name in front.
                    let line = format!("{}: {}", h.name, value);
                    if redactor.redact_str(&line).is_some() && value == h.value {
                        MASK.to_string()
                    } else {
                        value
                    }
                }
            };
            headers.push((h.name.clone(), value));
        }
        if let Some(body) = &self.body {
            headers.push(("Content-Length".to_string(), body.len().to_string()));
        }
        RequestPreview {
            method: self.method.as_str().to_string(),
            url: clean(self.url.as_str()),
            headers,
            body: self
                .body
                .as_ref()
                .map(|b| clean(&String::from_utf8_lossy(b))),
        }
    }

    /// `text` with every secret value of this request masked, then through the built-in
    /// redaction patterns: for anything shown that may echo the request (an error).
    pub(crate) fn mask_secrets(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
            out = out.replace(secret.as_str(), MASK);
        }
        crate::audit::builtin().redact(&out).into_owned()
    }

    /// The preview as an HTTP request, for the approval view.
    pub fn to_text(&self) -> String {
        self.preview().to_text()
    }
}

/// `Host` as the client writes it: the host, and the port when it is not the default.
fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("action", &self.action)
            .field("preview", &self.preview())
            .finish()
    }
}

impl fmt::Display for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.preview().fmt(f)
    }
}

impl RequestPreview {
    /// `METHOD URL`, one `Name: value` line per header, a blank line and the body.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RequestPreview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method, self.url)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        if let Some(body) = &self.body {
            write!(f, "\n{body}")?;
        }
        Ok(())
    }
}
