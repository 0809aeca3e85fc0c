//! HTTP actions (`[actions.<name>]`): a configured request an agent may call as a tool.
//!
//! An action is compiled once from its config ([`Action::from_config`], also run at config
//! load so a bad action is refused there). A call is then two steps, kept apart so the
//! approval gate can show what will happen before it happens:
//!
//! 1. [`Action::prepare`] (pure): check the arguments against the action's schema, render
//!    the URL, headers and JSON body, and read the secrets through a lookup passed in. The
//!    [`PreparedRequest`] it returns is the exact request; its [`PreparedRequest::preview`]
//!    is that request with every secret masked.
//! 2. [`Action::execute`] (I/O): send it, retrying idempotent methods only, and hand back
//!    the status and at most `max_response_bytes` of the answer.
//!
//! Invariants: a template never reaches the scheme, host or port (the open-models policy
//! judges the host at load); every argument in a URL is percent-encoded into its one
//! segment; no secret value appears in a preview, an error or a `Debug` output.

mod args;
mod body;
mod config;
pub(crate) mod execute;
mod request;
mod template;
mod url;

pub use body::MAX_BODY_BYTES;
pub use config::{
    ActionConfig, AuthConfig, AuthScheme, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS, Method, SecretRef,
};
pub use execute::{ActionOutcome, http_client};
pub use request::{MASK, PreparedRequest, RequestPreview};
pub use url::MAX_URL_BYTES;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use args::{ArgSchema, kind_of};
use body::{BodyPlan, BodyTemplate};
use request::PreparedHeader;
use template::Template;
use url::UrlTemplate;

/// Why a call of an action could not be made. No variant ever holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The arguments do not fit the schema, or cannot go where the action puts them.
    #[error("action {action}: {reason}")]
    InvalidArguments { action: String, reason: String },
    /// A secret the action's auth needs is not set.
    #[error("action {action}: the secret {secret} is not set")]
    MissingSecret { action: String, secret: String },
    /// A secret is set but cannot be used as it is (its value is never shown).
    #[error("action {action}: the secret {secret} {problem}")]
    BadSecret {
        action: String,
        secret: String,
        problem: String,
    },
    /// No answer within `timeout_ms`, on every attempt made.
    #[error(
        "action {action}: {method} {url} did not answer within {timeout_ms} ms \
         ({attempts} attempt{})", if *attempts == 1 { "" } else { "s" }
    )]
    Timeout {
        action: String,
        method: Method,
        url: String,
        timeout_ms: u64,
        attempts: u32,
    },
    /// The request could not be sent or its answer not read (refused, reset, DNS, TLS).
    #[error(
        "action {action}: {method} {url} failed after {attempts} attempt{}: {reason}",
        if *attempts == 1 { "" } else { "s" }
    )]
    Transport {
        action: String,
        method: Method,
        url: String,
        attempts: u32,
        reason: String,
    },
    /// The HTTP client could not be built (no TLS roots, …).
    #[error("cannot build the HTTP client for actions: {0}")]
    Client(String),
    /// A request prepared for one action was handed to another.
    #[error("the request was prepared for action {prepared}, not {action}")]
    WrongAction { action: String, prepared: String },
}

/// One compiled action.
#[derive(Debug, Clone)]
pub struct Action {
    name: String,
    description: String,
    method: Method,
    url: UrlTemplate,
    /// Configured headers, in the order they are sent.
    headers: Vec<(String, Template)>,
    body: BodyPlan,
    args: ArgSchema,
    auth: Vec<AuthConfig>,
    timeout: Duration,
    retries: u32,
    max_response_bytes: usize,
}

/// A problem of one `[actions.<name>]` table: the key under it (`""` for the table
/// itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionConfigError {
    pub key: String,
    pub message: String,
}

/// The first bad `[actions.<name>]` of a config, shown with its full key
/// (`actions.erpnext-invoice.url: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("actions.{name}{}: {error}", if error.key.is_empty() { String::new() } else { format!(".{}", error.key) })]
pub struct ActionsError {
    pub name: String,
    pub error: ActionConfigError,
}

/// Headers the HTTP client writes itself; one set by hand would contradict it.
const CLIENT_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];

/// Whether `name` can name an action: also a valid tool name for the model (OpenAI-style
/// function names: letters, digits, `_` and `-`, at most 64).
pub fn is_valid_action_name(name: &str) -> bool {
    template::is_arg_name(name)
}

impl Action {
    /// Compiles `[actions.<name>]`; the error names the key at fault.
    pub fn from_config(name: &str, config: &ActionConfig) -> Result<Action, ActionConfigError> {
        let err = |key: &str, message: String| ActionConfigError {
            key: key.to_string(),
            message,
        };
        if !is_valid_action_name(name) {
            return Err(err(
                "",
                format!(
                    "`{name}` is not an action name: letters, digits, `_` and `-`, at most 64 \
                     (it becomes the tool's name)"
                ),
            ));
        }
        if config.description.trim().is_empty() {
            return Err(err(
                "description",
                "must say what the action does: the model reads it to decide when to call it"
                    .into(),
            ));
        }
        let args = ArgSchema::compile(&config.args).map_err(|m| err("args", m.to_string()))?;
        let url = UrlTemplate::compile(&config.url).map_err(|m| err("url", m.to_string()))?;
        for arg in url.args() {
            if !args.is_required(arg) {
                return Err(err(
                    "url",
                    format!(
                        "uses `{{{arg}}}`, which must be a required argument (listed in \
                         args.properties and args.required): the URL cannot be built without it"
                    ),
                ));
            }
        }

        let auth_names: Vec<String> = config
            .auth
            .iter()
            .map(|a| a.scheme.header_name().to_ascii_lowercase())
            .collect();
        for (i, name) in auth_names.iter().enumerate() {
            if auth_names[..i].contains(name) {
                return Err(err(
                    "auth",
                    format!("two entries set the header {name}: one header, one secret"),
                ));
            }
            if CLIENT_HEADERS.contains(&name.as_str()) {
                return Err(err(
                    "auth",
                    format!("{name} is written by the HTTP client and cannot carry a secret"),
                ));
            }
        }

        let mut headers = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (header, value) in &config.headers {
            let key = format!("headers.{header}");
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(err(
                    &key,
                    format!("`{header}` is not a header name (letters, digits and `-`)"),
                ));
            }
            let lower = header.to_ascii_lowercase();
            if CLIENT_HEADERS.contains(&lower.as_str()) {
                return Err(err(
                    &key,
                    format!("{header} is written by the HTTP client; remove it"),
                ));
            }
            if auth_names.contains(&lower) {
                return Err(err(
                    &key,
                    format!("{header} is set by auth; remove it here (secrets go in auth only)"),
                ));
            }
            if seen.contains(&lower) {
                return Err(err(
                    &key,
                    format!("{header} is set twice (header names ignore case)"),
                ));
            }
            seen.push(lower);
            let template = Template::parse(value).map_err(|m| err(&key, m.to_string()))?;
            for arg in template.args() {
                if !args.is_required(arg) {
                    return Err(err(
                        &key,
                        format!(
                            "uses `{{{arg}}}`, which must be a required argument (listed in \
                             args.properties and args.required)"
                        ),
                    ));
                }
            }
            if let Some(literal) = template.as_literal()
                && let Some(problem) = header_value_problem(&literal)
            {
                return Err(err(&key, format!("the value {problem}")));
            }
            headers.push((header.clone(), template));
        }

        let body = match (&config.body, config.method) {
            (Some(_), Method::Get) => {
                return Err(err(
                    "body",
                    "a GET request carries no body: put the arguments in the URL query \
                     (`?name={name}`), or use POST"
                        .into(),
                ));
            }
            (Some(value), _) => {
                let template = BodyTemplate::compile(value, &mut Vec::new())
                    .map_err(|m| err("body", m.to_string()))?;
                let mut used = Vec::new();
                template.args(&mut used);
                if let Some((unknown, _)) = used.iter().find(|(a, _)| !args.has(a)) {
                    return Err(err(
                        "body",
                        format!("uses `{{{unknown}}}`, which is not in args.properties"),
                    ));
                }
                if let Some((optional, _)) = used
                    .iter()
                    .find(|(a, in_text)| *in_text && !args.is_required(a))
                {
                    return Err(err(
                        "body",
                        format!(
                            "splices `{{{optional}}}` into text, so it must be a required \
                             argument (listed in args.required); a whole-value \"{{{optional}}}\" \
                             may be optional (left out of the body when not given)"
                        ),
                    ));
                }
                BodyPlan::Template(template)
            }
            (None, method) if method.has_default_body() => BodyPlan::AllArgs,
            (None, _) => BodyPlan::None,
        };

        if !(100..=600_000).contains(&config.timeout_ms) {
            return Err(err(
                "timeout_ms",
                format!("must be between 100 and 600000, got {}", config.timeout_ms),
            ));
        }
        if config.retries > 10 {
            return Err(err(
                "retries",
                format!("must be at most 10, got {}", config.retries),
            ));
        }
        if !(256..=16 * 1024 * 1024).contains(&config.max_response_bytes) {
            return Err(err(
                "max_response_bytes",
                format!(
                    "must be between 256 and 16777216, got {}",
                    config.max_response_bytes
                ),
            ));
        }

        Ok(Action {
            name: name.to_string(),
            description: config.description.trim().to_string(),
            method: config.method,
            url,
            headers,
            body,
            args,
            auth: config.auth.clone(),
            timeout: Duration::from_millis(u64::from(config.timeout_ms)),
            retries: config.retries,
            max_response_bytes: config.max_response_bytes as usize,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the action does, for the model.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The arguments' JSON Schema, as the tool's parameters.
    pub fn parameters(&self) -> Value {
        self.args.schema().clone()
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// Whether a failed attempt may be repeated (GET, PUT, DELETE).
    pub fn is_idempotent(&self) -> bool {
        self.method.is_idempotent()
    }

    /// The request for these arguments, with the secrets read through `secrets` (given a
    /// variable name; production passes the process environment). Pure: no I/O besides
    /// the lookup, so the approval gate can preview a call before deciding on it.
    pub fn prepare(
        &self,
        args: &Value,
        secrets: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PreparedRequest, ActionError> {
        let action = self.name.as_str();
        let args = self.args.check(action, args)?;
        let url = self.url.render(action, args)?;
        let body = self.body.render(action, args)?;

        let mut headers = Vec::new();
        let configured = |name: &str| {
            self.headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case(name))
        };
        if !configured("accept") {
            headers.push(PreparedHeader::plain("Accept", "application/json"));
        }
        if body.is_some() && !configured("content-type") {
            headers.push(PreparedHeader::plain("Content-Type", "application/json"));
        }
        for (name, template) in &self.headers {
            let value = template.render(|arg| {
                let text = scalar_text(action, arg, args, "a header")?;
                match header_value_problem(&text) {
                    Some(problem) => Err(ActionError::InvalidArguments {
                        action: action.to_string(),
                        reason: format!("argument `{arg}` {problem}, and it fills header {name}"),
                    }),
                    None => Ok(text),
                }
            })?;
            if value.len() > MAX_URL_BYTES {
                return Err(ActionError::InvalidArguments {
                    action: action.to_string(),
                    reason: format!("header {name} would be longer than {MAX_URL_BYTES} bytes"),
                });
            }
            headers.push(PreparedHeader::plain(name, &value));
        }

        let mut secret_values = Vec::new();
        for auth in &self.auth {
            let secret = auth.secret.to_string();
            let value = secrets(&auth.secret.name()).ok_or_else(|| ActionError::MissingSecret {
                action: action.to_string(),
                secret: secret.clone(),
            })?;
            let bad = |problem: &str| ActionError::BadSecret {
                action: action.to_string(),
                secret: secret.clone(),
                problem: problem.to_string(),
            };
            if value.is_empty() {
                return Err(bad("is empty"));
            }
            if header_value_problem(&value).is_some() {
                return Err(bad(
                    "holds a line break or another control character, which a header cannot carry",
                ));
            }
            if auth.scheme == AuthScheme::Token {
                match value.split_once(':') {
                    Some((key, secret)) if !key.is_empty() && !secret.is_empty() => {
                        secret_values.push(key.to_string());
                        secret_values.push(secret.to_string());
                    }
                    _ => {
                        return Err(bad(
                            "must hold the API key and secret as key:secret (Frappe/ERPNext \
                             token auth)",
                        ));
                    }
                }
            }
            headers.push(PreparedHeader::secret(
                auth.scheme.header_name(),
                auth.scheme.value_prefix(),
                &value,
            ));
            secret_values.push(value);
        }

        Ok(PreparedRequest::new(
            self.name.clone(),
            self.method,
            url,
            headers,
            body,
            secret_values,
        ))
    }

    /// Sends `req` (from [`Action::prepare`] of this action) with `client` (use
    /// [`http_client`]): at most `timeout_ms` per attempt; idempotent methods are tried
    /// again after a timeout, a failed connection or a 408/429/5xx answer, up to
    /// `retries` times with a growing pause. Any status is an outcome the model sees.
    pub async fn execute(
        &self,
        client: &reqwest::Client,
        req: PreparedRequest,
    ) -> Result<ActionOutcome, ActionError> {
        if req.action() != self.name {
            return Err(ActionError::WrongAction {
                action: self.name.clone(),
                prepared: req.action().to_string(),
            });
        }
        let attempts = if self.is_idempotent() {
            1 + self.retries
        } else {
            1
        };
        execute::send(
            client,
            &req,
            execute::Plan {
                timeout: self.timeout,
                attempts,
                max_response_bytes: self.max_response_bytes,
                backoff: execute::BACKOFF,
            },
        )
        .await
    }
}

/// Every configured action, by name.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    actions: BTreeMap<String, Action>,
    /// Where `env:` and `vault:` secrets are read at each call (a refreshed Vault value is
    /// used from the next call on).
    secrets: crate::secrets::Secrets,
}

impl Actions {
    /// Compiles every `[actions.<name>]`; the error names the first bad key, e.g.
    /// `actions.erpnext-invoice.url: …`.
    pub fn from_config(config: &BTreeMap<String, ActionConfig>) -> Result<Actions, ActionsError> {
        let mut actions = BTreeMap::new();
        for (name, action) in config {
            let compiled = Action::from_config(name, action).map_err(|error| ActionsError {
                name: name.clone(),
                error,
            })?;
            actions.insert(name.clone(), compiled);
        }
        Ok(Actions {
            actions,
            secrets: crate::secrets::Secrets::default(),
        })
    }

    /// These actions, reading their secrets through `secrets`.
    pub fn with_secrets(mut self, secrets: crate::secrets::Secrets) -> Actions {
        self.secrets = secrets;
        self
    }

    /// The secrets lookup the actions' requests are prepared with.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.secrets.lookup(name)
    }

    pub fn get(&self, name: &str) -> Option<&Action> {
        self.actions.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Action> {
        self.actions.values()
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// An argument as text, for a URL, a header or a string in the body: strings, numbers
/// and booleans only; `place` says where it was going, for the error.
pub(crate) fn scalar_text(
    action: &str,
    name: &str,
    args: &Map<String, Value>,
    place: &str,
) -> Result<String, ActionError> {
    let bad = |reason: String| ActionError::InvalidArguments {
        action: action.to_string(),
        reason,
    };
    match args.get(name) {
        None => Err(bad(format!("missing argument `{name}`, used in {place}"))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(other) => Err(bad(format!(
            "argument `{name}` is {}; only a string, number or boolean can go into {place}",
            kind_of(other)
        ))),
    }
}

/// Why `value` cannot be a header value: a line break would end the header and start
/// another (header injection); other control characters are refused by HTTP.
fn header_value_problem(value: &str) -> Option<&'static str> {
    value
        .chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
        .then_some("holds a line break or another control character, which a header cannot carry")
}

#[cfg(test)]
mod tests;
