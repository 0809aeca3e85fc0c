//! `[actions.<name>]`: the configured shape of one HTTP action, as written in TOML.
//!
//! Only the shape lives here; what the values must satisfy beyond their types is checked
//! when an [`super::Action`] is compiled from it (the same check runs at config load).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// One `[actions.<name>]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// What the action does, shown to the model as the tool's description.
    pub description: String,
    #[serde(default = "default_method")]
    pub method: Method,
    /// `http(s)://host[:port]/path?query`, with `{arg}` templates in the path and query
    /// only (never in the scheme or host, so the policy can judge the host at load).
    pub url: String,
    /// Extra request headers; values may hold `{arg}` templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How the JSON body is built: absent = every argument as one JSON object (POST, PUT,
    /// PATCH) or no body (GET, DELETE); a table, array or string = a template whose
    /// `"{arg}"` leaves are replaced by the argument's JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// The arguments' JSON Schema: `type = "object"`, `properties`, `required`.
    #[serde(default = "default_args")]
    pub args: serde_json::Value,
    /// How the request is authenticated: one entry or a list of them.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub auth: Vec<AuthConfig>,
    /// Longest time one attempt may take, connecting to the last byte of the answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Further attempts after a failure; only for idempotent methods (GET, PUT, DELETE).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Most bytes of the answer handed back to the model; the rest is cut and flagged.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u32,
}

/// The default `timeout_ms`: 15 s.
pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
/// The default `retries`.
pub const DEFAULT_RETRIES: u32 = 2;
/// The default `max_response_bytes`: 64 KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 64 * 1024;

fn default_method() -> Method {
    Method::Post
}

fn default_args() -> serde_json::Value {
    serde_json::json!({ "type": "object", "properties": {} })
}

fn default_timeout_ms() -> u32 {
    DEFAULT_TIMEOUT_MS
}

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

fn default_max_response_bytes() -> u32 {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// The HTTP methods an action may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Sending it twice does what sending it once does (RFC 9110 §9.2.2), so a failed
    /// attempt may be repeated. POST and PATCH are not: a repeat may create a second invoice.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Put | Method::Delete)
    }

    /// Whether the method carries the arguments as a JSON body when no `body` is written.
    pub fn has_default_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One auth entry: `{ scheme = "bearer", secret = "env:VAR" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub scheme: AuthScheme,
    pub secret: SecretRef,
}

/// How a secret goes into the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AuthScheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: token <key>:<secret>` (Frappe/ERPNext); the secret holds `key:secret`.
    Token,
    /// The secret as the whole value of this header, e.g. SuiteDash's `X-Secret-Key`.
    Header(String),
}

impl AuthScheme {
    /// The header the secret goes into.
    pub fn header_name(&self) -> &str {
        match self {
            AuthScheme::Bearer | AuthScheme::Token => "Authorization",
            AuthScheme::Header(name) => name,
        }
    }

    /// The words before the secret in the header's value (`Bearer `, `token `), kept
    /// visible when the value is masked.
    pub fn value_prefix(&self) -> &'static str {
        match self {
            AuthScheme::Bearer => "Bearer ",
            AuthScheme::Token => "token ",
            AuthScheme::Header(_) => "",
        }
    }
}

impl TryFrom<String> for AuthScheme {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "bearer" => Ok(AuthScheme::Bearer),
            "token" => Ok(AuthScheme::Token),
            _ => match text.strip_prefix("header:") {
                Some(name) if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
                    Ok(AuthScheme::Header(name.to_string()))
                }
                Some(name) => Err(format!(
                    "`{name}` is not a header name (letters, digits and `-`, no spaces)"
                )),
                None => Err(format!(
                    "unknown auth scheme `{text}`, expected `bearer`, `token` or \
                     `header:<Name>` (e.g. `header:X-Secret-Key`)"
                )),
            },
        }
    }
}

impl From<AuthScheme> for String {
    fn from(scheme: AuthScheme) -> String {
        match scheme {
            AuthScheme::Bearer => "bearer".into(),
            AuthScheme::Token => "token".into(),
            AuthScheme::Header(name) => format!("header:{name}"),
        }
    }
}

pub use crate::secrets::SecretRef;

/// `auth = { … }` or `auth = [{ … }, { … }]`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<AuthConfig>, D::Error> {
    struct Visitor;

    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<AuthConfig>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an auth table { scheme = …, secret = \"env:VAR\" } or a list of them")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<AuthConfig>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            AuthConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                .map(|one| vec![one])
        }
    }

    deserializer.deserialize_any(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ActionConfig, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    #[test]
    fn defaults_apply() {
        let a = parse("description = \"d\"\nurl = \"http://h/x\"\n").unwrap();
        assert_eq!(a.method, Method::Post);
        assert_eq!(a.timeout_ms, 15_000);
        assert_eq!(a.retries, 2);
        assert_eq!(a.max_response_bytes, 64 * 1024);
        assert!(a.auth.is_empty());
        assert_eq!(a.body, None);
        assert_eq!(a.args, default_args());
    }

    #[test]
    fn auth_is_one_table_or_a_list() {
        let one = parse(
            "description = \"d\"\nurl = \"http://h\"\n\
             auth = { scheme = \"token\", secret = \"env:ERP_TOKEN\" }\n",
        )
        .unwrap();
        assert_eq!(
            one.auth,
            vec![AuthConfig {
                scheme: AuthScheme::Token,
                secret: SecretRef::Env("ERP_TOKEN".into())
            }]
        );
        let two = parse(
            "description = \"d\"\nurl = \"http://h\"\nauth = [\n\
             { scheme = \"header:X-Public-ID\", secret = \"env:SD_ID\" },\n\
             { scheme = \"header:X-Secret-Key\", secret = \"env:SD_KEY\" },\n]\n",
        )
        .unwrap();
        assert_eq!(two.auth.len(), 2);
        assert_eq!(two.auth[1].scheme.header_name(), "X-Secret-Key");
    }

    #[test]
    fn bad_auth_is_refused_clearly_and_never_echoes_a_pasted_secret() {
        for (auth, expected) in [
            (
                "{ scheme = \"basic\", secret = \"env:X\" }",
                "unknown auth scheme `basic`",
            ),
            (
                "{ scheme = \"header:X Bad\", secret = \"env:X\" }",
                "is not a header name",
            ),
            (
                "{ scheme = \"bearer\", secret = \"env:1X\" }",
                "does not name an environment variable",
            ),
            (
                "{ scheme = \"bearer\", secret = \"sk-live-123456\" }",
                "referenced as `env:VAR_NAME`",
            ),
            ("\"bearer\"", "an auth table"),
        ] {
            let err = parse(&format!(
                "description = \"d\"\nurl = \"http://h\"\nauth = {auth}\n"
            ))
            .unwrap_err();
            assert!(err.contains(expected), "{auth}: {err}");
            assert!(!err.contains("sk-live"), "{err}");
        }
    }

    #[test]
    fn methods_are_upper_case_and_idempotence_is_rfc_9110() {
        let a = parse("description = \"d\"\nurl = \"http://h\"\nmethod = \"PATCH\"\n").unwrap();
        assert_eq!(a.method, Method::Patch);
        assert!(parse("description = \"d\"\nurl = \"http://h\"\nmethod = \"get\"\n").is_err());
        let idempotent: Vec<Method> = [
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ]
        .into_iter()
        .filter(|m| m.is_idempotent())
        .collect();
        assert_eq!(idempotent, vec![Method::Get, Method::Put, Method::Delete]);
    }
}
