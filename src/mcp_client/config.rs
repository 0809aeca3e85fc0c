//! `[mcp_servers.<name>]`: one outside MCP server, as written in TOML.
//!
//! Either a local process spoken to on stdio (`command`, `args`, `env`) or a remote server
//! over Streamable HTTP (`url`, `token`). Secrets are never written here: `token` and any
//! `env` value may be `env:VAR`, read from aios's own environment when the server starts.
//! [`McpServerConfig::problem`] holds every check beyond the types; config load runs it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::actions::SecretRef;
use crate::config::url::ShownUrl;
use crate::secrets::is_env_name;

/// The default `timeout_ms` of one tool call: 30 s.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// The shortest and longest `timeout_ms` accepted.
pub const TIMEOUT_RANGE_MS: (u32, u32) = (100, 3_600_000);
/// The longest server name: the name is the prefix of every tool name the model sees,
/// and those may be 64 characters at most.
pub const MAX_SERVER_NAME: usize = 32;

/// One `[mcp_servers.<name>]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// stdio: the program to start (a path, or a name looked up on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// stdio: its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// stdio: its environment on top of a minimal base (`PATH`, `HOME`, locale): aios's
    /// own environment, which may hold other secrets, is not passed on. A value
    /// `env:VAR` is read from aios's environment, `vault:…` from Vault.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    /// Streamable HTTP: the server's endpoint, `http(s)://host[:port]/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Streamable HTTP: sent as `Authorization: Bearer <token>`; `env:VAR` or `vault:<mount>/<path>#<key>` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// Longest time one tool call may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// `false` keeps the server configured but never started.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The protocol revision spoken: `2025-11-25` (rmcp's client default: initialize
    /// handshake, sessions) or `2026-07-28` (stateless, `server/discover`).
    #[serde(default)]
    pub protocol: Protocol,
}

fn default_timeout_ms() -> u32 {
    DEFAULT_TIMEOUT_MS
}

fn default_enabled() -> bool {
    true
}

/// The MCP protocol revision a server is spoken to in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "2025-11-25")]
    V2025_11_25,
    #[serde(rename = "2026-07-28")]
    V2026_07_28,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V2025_11_25 => "2025-11-25",
            Protocol::V2026_07_28 => "2026-07-28",
        }
    }
}

/// How a server is reached, read from a checked config.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport<'a> {
    Stdio {
        command: &'a str,
        args: &'a [String],
        env: &'a BTreeMap<String, EnvValue>,
    },
    Http {
        url: &'a str,
        token: Option<&'a SecretRef>,
    },
}

impl McpServerConfig {
    /// The transport; `None` only for a config [`McpServerConfig::problem`] refuses.
    pub fn transport(&self) -> Option<Transport<'_>> {
        match (&self.command, &self.url) {
            (Some(command), None) => Some(Transport::Stdio {
                command,
                args: &self.args,
                env: &self.env,
            }),
            (None, Some(url)) => Some(Transport::Http {
                url,
                token: self.token.as_ref(),
            }),
            _ => None,
        }
    }

    /// The first problem of the server `name`, as (key under the server's table, message).
    pub fn problem(&self, name: &str) -> Option<(&'static str, String)> {
        if let Err(e) = check_server_name(name) {
            return Some(("", e.to_string()));
        }
        let (min, max) = TIMEOUT_RANGE_MS;
        if !(min..=max).contains(&self.timeout_ms) {
            return Some((
                "timeout_ms",
                format!("must be between {min} and {max}, got {}", self.timeout_ms),
            ));
        }
        match (&self.command, &self.url) {
            (None, None) => Some((
                "",
                "needs either `command` (a local server on stdio) or `url` (a remote server \
                 over Streamable HTTP)"
                    .into(),
            )),
            (Some(_), Some(_)) => Some((
                "",
                "has both `command` and `url`: a server is either a local process (command, \
                 args, env) or a remote endpoint (url, token)"
                    .into(),
            )),
            (Some(command), None) => {
                if command.trim().is_empty() {
                    return Some(("command", "must not be empty".into()));
                }
                if self.token.is_some() {
                    return Some((
                        "token",
                        "is for `url` servers; pass a stdio server its secret through \
                         env = { VAR = \"env:VAR\" }"
                            .into(),
                    ));
                }
                for key in self.env.keys() {
                    if !is_env_name(key) {
                        return Some((
                            "env",
                            format!(
                                "`{key}` is not an environment variable name (letters, digits \
                                 and `_`, not starting with a digit)"
                            ),
                        ));
                    }
                }
                None
            }
            (None, Some(url)) => {
                if !self.args.is_empty() || !self.env.is_empty() {
                    let key = if self.args.is_empty() { "env" } else { "args" };
                    return Some((
                        key,
                        "is for `command` servers (a local process); a `url` server takes \
                         `token` only"
                            .into(),
                    ));
                }
                check_url(url).err().map(|m| ("url", m))
            }
        }
    }
}

/// Why a name cannot name a server: it becomes the prefix of the server's tool names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerNameError {
    /// Empty, or a character outside `[A-Za-z0-9_-]`.
    #[error(
        "`{name}` is not a server name: letters, digits, `_` and `-` only (it prefixes \
         the server's tool names, e.g. `helpdesk__create_ticket`)"
    )]
    BadCharacters { name: String },
    #[error(
        "`{name}` holds `__`, which separates the server from the tool in a tool's name \
         (`<server>__<tool>`): use a single `_` or `-`"
    )]
    DoubleUnderscore { name: String },
    #[error(
        "`{name}` is longer than {max} characters: tool names are \
         `<server>__<tool>` and at most 64 characters",
        max = MAX_SERVER_NAME
    )]
    TooLong { name: String },
}

/// `[A-Za-z0-9_-]+`, no `__` (it separates server and tool in a tool's name), at most
/// [`MAX_SERVER_NAME`] characters.
pub fn check_server_name(name: &str) -> Result<(), ServerNameError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if name.is_empty() || !valid_chars {
        return Err(ServerNameError::BadCharacters { name: name.into() });
    }
    if name.contains("__") {
        return Err(ServerNameError::DoubleUnderscore { name: name.into() });
    }
    if name.len() > MAX_SERVER_NAME {
        return Err(ServerNameError::TooLong { name: name.into() });
    }
    Ok(())
}

/// An http(s) URL as the HTTP client reads it, with a host, no credentials, and not a
/// closed hosted model API (the open-models policy covers every URL aios connects to).
fn check_url(url: &str) -> Result<(), String> {
    let shown = ShownUrl(url);
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("`{shown}` is not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "`{shown}` is not an http(s) URL: expected http://HOST[:PORT]/PATH or \
             https://HOST[:PORT]/PATH"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "`{shown}` holds credentials (user:password@): put the token in the environment \
             and reference it with token = \"env:VAR\""
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host"));
    }
    if let Some(provider) = crate::config::closed_api_provider(url) {
        return Err(format!(
            "`{shown}` is a closed hosted model API ({provider}); aios runs open models only"
        ));
    }
    Ok(())
}

/// One `env` value of a stdio server: text as written, or `env:VAR` read from aios's
/// environment when the server starts (a secret never written into the config).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EnvValue {
    Text(String),
    From(SecretRef),
}

impl EnvValue {
    /// The value to pass on; `Err` names the missing variable.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, UnsetSecret> {
        match self {
            EnvValue::Text(text) => Ok(text.clone()),
            EnvValue::From(secret) => lookup(&secret.name()).ok_or_else(|| UnsetSecret {
                secret: secret.clone(),
            }),
        }
    }
}

/// An `env` value whose reference has no value; the text says where it was looked for
/// (`environment variable HELPDESK_TOKEN`), never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{secret}")]
pub struct UnsetSecret {
    pub secret: SecretRef,
}

/// A referenced value is never shown, only where it comes from.
impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Text(text) => write!(f, "{text:?}"),
            EnvValue::From(secret) => write!(f, "{secret}"),
        }
    }
}

impl TryFrom<String> for EnvValue {
    type Error = crate::secrets::SecretRefError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.starts_with("env:") || crate::secrets::is_vault_ref(&text) {
            SecretRef::try_from(text).map(EnvValue::From)
        } else {
            Ok(EnvValue::Text(text))
        }
    }
}

impl From<EnvValue> for String {
    fn from(value: EnvValue) -> String {
        match value {
            EnvValue::Text(text) => text,
            EnvValue::From(secret) => secret.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<McpServerConfig, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    fn problem(text: &str) -> Option<(&'static str, String)> {
        parse(text).unwrap().problem("helpdesk")
    }

    #[test]
    fn stdio_and_http_servers_parse_with_defaults() {
        let s = parse(
            "command = \"helpdesk-mcp\"\nargs = [\"--stdio\"]\n\
             env = { TOKEN = \"env:HELPDESK_TOKEN\", LEVEL = \"warn\" }\n",
        )
        .unwrap();
        assert_eq!(s.timeout_ms, 30_000);
        assert!(s.enabled);
        assert_eq!(s.protocol, Protocol::V2025_11_25);
        assert_eq!(
            s.env["TOKEN"],
            EnvValue::From(SecretRef::Env("HELPDESK_TOKEN".into()))
        );
        assert_eq!(s.env["LEVEL"], EnvValue::Text("warn".into()));
        assert_eq!(s.problem("helpdesk"), None);
        assert!(matches!(s.transport(), Some(Transport::Stdio { .. })));

        let h = parse(
            "url = \"https://mcp.example.com/mcp\"\ntoken = \"env:CRM_TOKEN\"\n\
             protocol = \"2026-07-28\"\ntimeout_ms = 5000\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(h.problem("crm"), None);
        assert_eq!(h.protocol, Protocol::V2026_07_28);
        assert!(!h.enabled);
        assert!(matches!(
            h.transport(),
            Some(Transport::Http { token: Some(_), .. })
        ));
    }

    #[test]
    fn bad_servers_are_refused_with_the_key() {
        for (text, key, expected) in [
            ("args = [\"x\"]\n", "", "needs either `command`"),
            (
                "command = \"x\"\nurl = \"http://h/mcp\"\n",
                "",
                "both `command` and `url`",
            ),
            ("command = \" \"\n", "command", "must not be empty"),
            (
                "command = \"x\"\ntoken = \"env:T\"\n",
                "token",
                "is for `url` servers",
            ),
            (
                "command = \"x\"\nenv = { \"1A\" = \"v\" }\n",
                "env",
                "not an environment variable name",
            ),
            (
                "url = \"http://h/mcp\"\nargs = [\"x\"]\n",
                "args",
                "is for `command` servers",
            ),
            ("url = \"ftp://h/mcp\"\n", "url", "not an http(s) URL"),
            ("url = \"not a url\"\n", "url", "not a valid URL"),
            ("url = \"http://u:p@h/mcp\"\n", "url", "holds credentials"),
            (
                "url = \"https://api.openai.com/v1/mcp\"\n",
                "url",
                "closed hosted model API",
            ),
            (
                "command = \"x\"\ntimeout_ms = 0\n",
                "timeout_ms",
                "between 100 and",
            ),
        ] {
            let (k, message) = problem(text).unwrap_or_else(|| panic!("{text} passes"));
            assert_eq!(k, key, "{text}");
            assert!(message.contains(expected), "{text}: {message}");
        }
        // A credential in the URL is never repeated in the message.
        let (_, message) = problem("url = \"http://u:hunter2@h/mcp\"\n").unwrap();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn secrets_are_referenced_never_written() {
        let err = parse("url = \"http://h/mcp\"\ntoken = \"sk-live-123\"\n").unwrap_err();
        assert!(err.contains("env:VAR_NAME"), "{err}");
        assert!(!err.contains("sk-live"), "{err}");
        let err = parse("command = \"x\"\nenv = { A = \"env:1X\" }\n").unwrap_err();
        assert!(
            err.contains("does not name an environment variable"),
            "{err}"
        );
        let e = EnvValue::From(SecretRef::Env("HELPDESK_TOKEN".into()));
        assert_eq!(e.resolve(|_| Some("s3cret".into())), Ok("s3cret".into()));
        let unset = e.resolve(|_| None).unwrap_err();
        assert_eq!(unset.secret, SecretRef::Env("HELPDESK_TOKEN".into()));
        assert_eq!(unset.to_string(), "environment variable HELPDESK_TOKEN");
        assert!(!format!("{e:?}").contains("s3cret"));
        assert!(parse("command = \"x\"\nbogus = 1\n").is_err());
        assert!(parse("command = \"x\"\nprotocol = \"2024-11-05\"\n").is_err());
    }

    #[test]
    fn server_names() {
        for ok in ["helpdesk", "crm-2", "erp_next", "A"] {
            assert_eq!(check_server_name(ok), Ok(()), "{ok}");
        }
        for (bad, expected) in [
            ("", "not a server name"),
            ("help desk", "not a server name"),
            ("help.desk", "not a server name"),
            ("help__desk", "holds `__`"),
            (&"x".repeat(33), "longer than 32"),
        ] {
            let e = check_server_name(bad).unwrap_err().to_string();
            assert!(e.contains(expected), "{bad}: {e}");
        }
        assert!(matches!(
            check_server_name("help desk"),
            Err(ServerNameError::BadCharacters { name }) if name == "help desk"
        ));
        assert_eq!(
            check_server_name("help__desk"),
            Err(ServerNameError::DoubleUnderscore {
                name: "help__desk".into()
            })
        );
        let long = "x".repeat(33);
        assert_eq!(
            check_server_name(&long).unwrap_err().to_string(),
            format!(
                "`{long}` is longer than 32 characters: tool names are `<server>__<tool>` \
                 and at most 64 characters"
            )
        );
        assert_eq!(
            check_server_name("a.b").unwrap_err().to_string(),
            "`a.b` is not a server name: letters, digits, `_` and `-` only (it prefixes the \
             server's tool names, e.g. `helpdesk__create_ticket`)"
        );
    }
}
