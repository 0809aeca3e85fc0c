//! An action's URL: a fixed origin (scheme, host, port) judged at load by the
//! open-models policy, and a path and query whose `{arg}` values are percent-encoded so
//! that no value can change where the request goes.

use reqwest::Url;
use serde_json::{Map, Value};

use super::template::{Piece, Template, TemplateError, encode_component};
use super::{ActionError, scalar_text};
use crate::config::url::ShownUrl;

/// The longest URL an action sends; a longer one is refused before any request.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Why an action's `url` is refused at load. `url` is the URL as shown (credentials
/// masked), never as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    #[error(
        "`{url}` is not an http(s) URL: expected http://HOST[:PORT]/PATH or \
         https://HOST[:PORT]/PATH"
    )]
    NoScheme { url: String },
    #[error(
        "`{url}` has a template in its scheme or host: `{{arg}}` templates go in the path and \
         query only, so the host is known (and checked) when the config is loaded"
    )]
    TemplatedOrigin { url: String },
    #[error("`{url}` has a fragment (`#…`), which is never sent to the server: remove it")]
    Fragment { url: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("`{url}` is not a valid URL: {reason}")]
    Invalid { url: String, reason: String },
    #[error("`{url}` is not an http(s) URL: the scheme must be http or https")]
    Scheme { url: String },
    #[error(
        "`{url}` holds credentials (user:password@): put them in the environment and \
         reference them with auth = {{ scheme = …, secret = \"env:VAR\" }}"
    )]
    Credentials { url: String },
    #[error("`{url}` has no host")]
    NoHost { url: String },
    #[error(
        "`{url}` is a closed hosted model API ({provider}). aios runs open models only (the \
         spec's execution policy: \"no usage of closed APIs\"), and an action cannot be a \
         way around it"
    )]
    ClosedApi { url: String, provider: String },
    /// With plain values in every `{arg}`, the URL does not parse or leaves its origin.
    #[error("`{url}` {problem}")]
    Sample { url: String, problem: OffOrigin },
}

/// A rendered URL the HTTP client would not send to the configured origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OffOrigin {
    #[error("is not a valid URL: {0}")]
    Invalid(String),
    #[error("does not stay on the configured scheme, host and port")]
    Elsewhere,
}

#[derive(Debug, Clone)]
pub(crate) struct UrlTemplate {
    /// `scheme://host[:port]`, as written: no template may reach it.
    origin: String,
    /// The path and query after the origin.
    rest: Template,
    /// The origin as the HTTP client reads it, to check each rendered URL against.
    parsed_origin: reqwest::Url,
}

impl UrlTemplate {
    /// Checks `url` (the config's text); `Err` is the config error's message.
    pub(crate) fn compile(url: &str) -> Result<UrlTemplate, UrlError> {
        let shown = || ShownUrl(url).to_string();
        let Some((scheme, after)) = url.split_once("://") else {
            return Err(UrlError::NoScheme { url: shown() });
        };
        let end = after.find(['/', '?', '#', '\\']).unwrap_or(after.len());
        let origin = &url[..scheme.len() + 3 + end];
        if origin.contains(['{', '}']) {
            return Err(UrlError::TemplatedOrigin { url: shown() });
        }
        if url.contains('#') {
            return Err(UrlError::Fragment { url: shown() });
        }
        let rest = Template::parse(&url[origin.len()..])?;
        let parsed_origin = Url::parse(origin).map_err(|e| UrlError::Invalid {
            url: shown(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed_origin.scheme(), "http" | "https") {
            return Err(UrlError::Scheme { url: shown() });
        }
        if !parsed_origin.username().is_empty() || parsed_origin.password().is_some() {
            return Err(UrlError::Credentials { url: shown() });
        }
        if parsed_origin.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost { url: shown() });
        }
        if let Some(provider) = crate::config::closed_api_provider(url) {
            return Err(UrlError::ClosedApi {
                url: shown(),
                provider: provider.to_string(),
            });
        }
        let template = UrlTemplate {
            origin: origin.to_string(),
            rest,
            parsed_origin,
        };
        // With every argument set to a plain value, the URL must parse and stay on its host.
        let sample = template
            .rest
            .render::<()>(|_| Ok("x".into()))
            .unwrap_or_default();
        template
            .parse_on_origin(&format!("{origin}{sample}"))
            .map_err(|problem| UrlError::Sample {
                url: shown(),
                problem,
            })?;
        Ok(template)
    }

    pub(crate) fn args(&self) -> impl Iterator<Item = &str> {
        self.rest.args()
    }

    /// The URL for these arguments: each value percent-encoded, none empty in the path,
    /// none making a `.`/`..` segment, the whole no longer than [`MAX_URL_BYTES`].
    pub(crate) fn render(
        &self,
        action: &str,
        args: &Map<String, Value>,
    ) -> Result<Url, ActionError> {
        let bad = |reason: String| ActionError::InvalidArguments {
            action: action.to_string(),
            reason,
        };
        let mut out = self.origin.clone();
        let mut in_query = false;
        // Which bytes of `out` came from an argument, to tell which path segments it made.
        let mut from_args = Vec::new();
        for piece in self.rest.pieces() {
            match piece {
                Piece::Text(text) => {
                    in_query |= text.contains('?');
                    out.push_str(text);
                }
                Piece::Arg(name) => {
                    let value = scalar_text(action, name, args, "the URL")?;
                    if !in_query && value.is_empty() {
                        return Err(bad(format!(
                            "argument `{name}` is empty, and it fills a URL path segment"
                        )));
                    }
                    // Encoding never shortens: a huge value is refused before it is copied.
                    let too_long = |len: usize| len > MAX_URL_BYTES;
                    if too_long(out.len() + value.len()) {
                        return Err(bad(format!(
                            "argument `{name}` makes the URL longer than {MAX_URL_BYTES} bytes"
                        )));
                    }
                    let start = out.len();
                    out.push_str(&encode_component(&value));
                    from_args.push(start..out.len());
                    if too_long(out.len()) {
                        return Err(bad(format!(
                            "argument `{name}` makes the URL longer than {MAX_URL_BYTES} bytes"
                        )));
                    }
                }
            }
        }
        let path_end = out[self.origin.len()..]
            .find('?')
            .map_or(out.len(), |i| i + self.origin.len());
        let mut start = self.origin.len();
        for segment in out[self.origin.len()..path_end].split('/') {
            let end = start + segment.len();
            let decoded = segment.replace("%2E", ".").replace("%2e", ".");
            if matches!(decoded.as_str(), "." | "..")
                && from_args.iter().any(|r| r.start < end && start < r.end)
            {
                return Err(bad(format!(
                    "an argument makes the URL path segment `{segment}`, which would climb \
                     out of the configured path"
                )));
            }
            start = end + 1;
        }
        self.parse_on_origin(&out).map_err(|problem| {
            bad(format!(
                "the URL {} {problem}",
                crate::sanitize::one_line(&out)
            ))
        })
    }

    /// `url` parsed as the HTTP client reads it, refused when it left the origin.
    fn parse_on_origin(&self, url: &str) -> Result<Url, OffOrigin> {
        let parsed = Url::parse(url).map_err(|e| OffOrigin::Invalid(e.to_string()))?;
        let same = parsed.scheme() == self.parsed_origin.scheme()
            && parsed.host() == self.parsed_origin.host()
            && parsed.port_or_known_default() == self.parsed_origin.port_or_known_default()
            && parsed.username().is_empty()
            && parsed.password().is_none()
            && parsed.fragment().is_none();
        if same {
            Ok(parsed)
        } else {
            Err(OffOrigin::Elsewhere)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(url: &str, args: Value) -> Result<String, String> {
        let template = UrlTemplate::compile(url).map_err(|e| e.to_string())?;
        let Value::Object(map) = args else {
            unreachable!()
        };
        template
            .render("act", &map)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_are_encoded_into_their_segment() {
        for (url, args, expected) in [
            (
                "http://erp.local:8000/api/resource/{doctype}",
                json!({"doctype": "Sales Invoice"}),
                "http://erp.local:8000/api/resource/Sales%20Invoice",
            ),
            (
                "https://h/webhook/{path}?q={q}&n={n}",
                json!({"path": "a/b?c#d", "q": "x&y=z", "n": 3}),
                "https://h/webhook/a%2Fb%3Fc%23d?q=x%26y%3Dz&n=3",
            ),
            (
                "http://h/x/{a}",
                json!({"a": "../../admin"}),
                "http://h/x/..%2F..%2Fadmin",
            ),
            ("http://h/x/v{a}", json!({"a": "."}), "http://h/x/v."),
            ("http://h/x?q={a}", json!({"a": ""}), "http://h/x?q="),
            ("http://h/x?q={a}", json!({"a": true}), "http://h/x?q=true"),
            (
                "http://h/x/{a}",
                json!({"a": "line\r\nX-Injected: 1"}),
                "http://h/x/line%0D%0AX-Injected%3A%201",
            ),
            (
                "http://h/{{x}}/{a}",
                json!({"a": "b"}),
                "http://h/%7Bx%7D/b",
            ),
        ] {
            assert_eq!(render(url, args.clone()).unwrap(), expected, "{url} {args}");
        }
    }

    #[test]
    fn hostile_values_are_refused() {
        for (url, args, expected) in [
            ("http://h/x/{a}/y", json!({"a": ".."}), "climb out"),
            ("http://h/x/{a}", json!({"a": "."}), "climb out"),
            (
                "http://h/x/{a}{b}",
                json!({"a": ".", "b": "."}),
                "climb out",
            ),
            ("http://h/x/{a}/y", json!({"a": ""}), "is empty"),
            ("http://h/x/{a}", json!({"a": {"k": 1}}), "`a` is an object"),
            ("http://h/x/{a}", json!({"a": [1]}), "`a` is an array"),
            ("http://h/x/{a}", json!({"a": null}), "`a` is null"),
            ("http://h/x/{a}", json!({}), "missing argument `a`"),
            (
                "http://h/x/{a}",
                json!({"a": "x".repeat(MAX_URL_BYTES)}),
                "longer than 8192 bytes",
            ),
        ] {
            let err = render(url, args.clone()).unwrap_err();
            assert!(err.contains(expected), "{url} {args}: {err}");
        }
    }

    #[test]
    fn bad_urls_are_refused_at_load() {
        for (url, expected) in [
            ("h/x", "not an http(s) URL"),
            ("ftp://h/x", "scheme must be http or https"),
            ("http://{host}/x", "template in its scheme or host"),
            ("http://h:{port}/x", "template in its scheme or host"),
            ("http://user:pw@h/x", "holds credentials"),
            ("http://tok@h/x", "holds credentials"),
            ("http://h/x#frag", "fragment"),
            ("http://h/x/{a", "without its `}`"),
            ("http://h:99999/x", "not a valid URL"),
            (
                "https://api.openai.com/v1/chat/{x}",
                "closed hosted model API (OpenAI)",
            ),
            (
                "https://API.Anthropic.com./v1",
                "closed hosted model API (Anthropic)",
            ),
            ("http:///x", "not a valid URL"),
        ] {
            let err = UrlTemplate::compile(url).unwrap_err().to_string();
            assert!(err.contains(expected), "{url}: {err}");
            assert!(!err.contains(":pw@"), "{err}");
        }
        assert_eq!(
            UrlTemplate::compile("http://user:pw@h/x").unwrap_err(),
            UrlError::Credentials {
                url: "http://user:***@h/x".into()
            }
        );
        assert!(matches!(
            UrlTemplate::compile("http://h/x/{a"),
            Err(UrlError::Template(TemplateError::Unclosed { .. }))
        ));
        assert!(matches!(
            UrlTemplate::compile("https://api.openai.com/v1/chat/{x}"),
            Err(UrlError::ClosedApi { provider, .. }) if provider == "OpenAI"
        ));
    }
}
