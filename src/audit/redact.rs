//! Redaction: secrets are masked before they are written anywhere — an audit record
//! (before it is hashed), the stores, the log file. Built-in patterns for common secrets
//! always apply; `audit.redact` (or `AIOS_AUDIT_REDACT`) only adds patterns, so an empty
//! setting can never turn redaction off.

use std::sync::LazyLock;

use regex::{Captures, Regex, RegexSet};
use serde_json::Value;

use super::AuditError;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets recognised whatever the configuration says. A pattern with a group named
/// `secret` masks only that group, so the key or the host around it stays readable.
pub const BUILTIN_PATTERNS: &[&str] = &[
    // `Authorization: Bearer …`
    r"(?i)bearer\s+\S+",
    // `api_key=…`, `password: …`, `passwd:…`, `AWS_SECRET_ACCESS_KEY=…`, `access_token=…`
    r"(?i)\b\w*(?:api[_-]?key|access[_-]?key|private[_-]?key|token|secret|passw(?:or)?d|pwd)\b\s*[:=]\s*\S+",
    // A JSON field inside text: `"password": "…"`, `"SecretAccessKey":"…"`.
    r#"(?i)"\w*(?:api[_-]?key|access[_-]?key|private[_-]?key|token|secret|passw(?:or)?d|pwd)"\s*:\s*"(?P<secret>(?:[^"\\]|\\.)*)""#,
    // Credentials in a URL: `postgres://admin:pw@db`, `redis://:pw@cache`.
    r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:(?P<secret>[^\s/?#@]+)@",
    // AWS access key ids, and a secret key written right after one (a credentials CSV).
    r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b(?:[\s,;:|]+[A-Za-z0-9/+]{40}(?:\b|$))?",
    // GitHub tokens: classic, OAuth, user-to-server, server-to-server, refresh; fine-grained.
    r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
    // GitLab, Slack and Google API tokens.
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    // OpenAI-style keys.
    r"\bsk-[A-Za-z0-9_-]{16,}",
    // A PEM private key block, header to footer (or to the end of a cut text).
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
];

/// The built-in patterns alone, compiled once: for places that have no configuration at
/// hand. They are constants checked by a test, so compiling them cannot fail.
pub fn builtin() -> &'static Redactor {
    static BUILTIN: LazyLock<Redactor> =
        LazyLock::new(|| Redactor::new::<&str>(&[]).unwrap_or_default());
    &BUILTIN
}

/// The built-in patterns plus the configured ones (`audit.redact`).
///
/// Every string inside a record's `input` (recursively) and its `error` is scanned; each
/// match is replaced by [`REDACTED`]. A string value stored under an object key is also
/// checked as `key=value`, so `{"api_key": "abc"}` is caught by the same pattern that
/// catches `api_key=abc` in free text: a match that runs from the key into the value masks
/// the whole value.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
    /// One pass over a string answers "does anything match at all?", so the common case
    /// (no secret) costs one scan instead of one per pattern.
    any: Option<RegexSet>,
    /// Values read from Vault, masked wherever they appear as they are now (a refreshed
    /// value from the moment it is read), without ever being a pattern anyone could print.
    secrets: crate::secrets::Secrets,
}

impl Redactor {
    /// This redactor, masking the values `secrets` holds as well.
    pub fn with_secrets(mut self, secrets: crate::secrets::Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Compile the built-in patterns and `extra`; the first invalid one is an error naming it.
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, AuditError> {
        let patterns: Vec<&str> = BUILTIN_PATTERNS
            .iter()
            .copied()
            .chain(extra.iter().map(AsRef::as_ref))
            .collect();
        let mut compiled = Vec::with_capacity(patterns.len());
        for p in &patterns {
            let re = Regex::new(p).map_err(|e| AuditError::BadPattern {
                pattern: p.to_string(),
                message: e.to_string(),
            })?;
            compiled.push(re);
        }
        let set = RegexSet::new(&patterns).map_err(|e| AuditError::BadPattern {
            pattern: patterns.join(" | "),
            message: e.to_string(),
        })?;
        Ok(Self {
            patterns: compiled,
            any: Some(set),
            secrets: crate::secrets::Secrets::default(),
        })
    }

    /// Whether there is nothing to redact with (only a `Default` redactor).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && !self.secrets.has_values()
    }

    /// `text` with every match masked, or `None` when nothing matched.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let pattern = self.any.as_ref().is_some_and(|any| any.is_match(text));
        let literal = self.secrets.appears_in(text);
        if !pattern && !literal {
            return None;
        }
        let mut out = text.to_string();
        // The values first: a pattern's mask could cut one and leave the rest unmatched.
        if literal {
            out = self.secrets.mask_in(&out, REDACTED);
        }
        // Patterns apply one after another so that an earlier mask cannot leave part of a
        // secret for a later, overlapping pattern to miss (`token=Bearer abc`).
        if pattern {
            for re in &self.patterns {
                if let std::borrow::Cow::Owned(s) = re.replace_all(&out, |c: &Captures<'_>| mask(c))
                {
                    out = s;
                }
            }
        }
        (out != text).then_some(out)
    }

    /// Whether a serialized JSON value could hold anything to mask, so a caller may skip
    /// walking it with [`Redactor::redact_value`] when it cannot. The patterns are tried on
    /// the text as written (which catches `"api_key":"…"` fields) and with its escape
    /// sequences (`\n`, `\"`, `\u001b`) read as spaces, as the strings' own characters
    /// would read; `true` means "walk it".
    pub fn may_match_json(&self, json: &str) -> bool {
        if self.secrets.appears_in_json(json) {
            return true;
        }
        let Some(any) = &self.any else {
            return false;
        };
        if any.is_match(json) {
            return true;
        }
        if !json.contains('\\') {
            return false;
        }
        let mut plain = String::with_capacity(json.len());
        let mut chars = json.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                plain.push(c);
                continue;
            }
            if chars.next() == Some('u') {
                for _ in 0..4 {
                    chars.next();
                }
            }
            plain.push(' ');
        }
        any.is_match(&plain)
    }

    /// `text` with every match masked (borrowed when nothing matched).
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match self.redact_str(text) {
            Some(masked) => std::borrow::Cow::Owned(masked),
            None => std::borrow::Cow::Borrowed(text),
        }
    }

    /// Mask secrets in every string inside `value`, recursively.
    pub fn redact_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(r) = self.redact_str(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if let Value::String(s) = v
                        && self.value_is_keyed_secret(key, s)
                    {
                        *s = REDACTED.to_string();
                        continue;
                    }
                    self.redact_value(v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Whether a pattern matching `key=value` reaches from the key into the value.
    fn value_is_keyed_secret(&self, key: &str, value: &str) -> bool {
        if value == REDACTED {
            return false;
        }
        let joined = format!("{key}={value}");
        let Some(any) = &self.any else {
            return false;
        };
        if !any.is_match(&joined) {
            return false;
        }
        let value_start = key.len() + 1;
        self.patterns.iter().any(|re| {
            re.find_iter(&joined)
                .any(|m| m.start() < key.len() && m.end() > value_start)
        })
    }
}

/// A match as it is written back: the `secret` group masked when the pattern has one,
/// else the whole match.
fn mask(c: &Captures<'_>) -> String {
    let whole = c.get(0).map_or("", |m| m.as_str());
    match (c.get(0), c.name("secret")) {
        (Some(m), Some(secret)) if !secret.as_str().is_empty() => {
            let start = secret.start() - m.start();
            let end = secret.end() - m.start();
            format!("{}{REDACTED}{}", &whole[..start], &whole[end..])
        }
        _ => REDACTED.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `may_match_json` never says "nothing" of a value that redaction would change.
    #[test]
    fn json_text_check_is_conservative() {
        let r = Redactor::new::<&str>(&[]).unwrap();
        let samples = [
            serde_json::json!({"text": "deploy build 42 to staging"}),
            serde_json::json!({"header": "Authorization: Bearer\tabc.def.ghi"}),
            serde_json::json!({"line": "first\npassword: hunter2"}),
            serde_json::json!({"api_key": "k-123"}),
            serde_json::json!({"nested": {"db_password": "pw"}}),
            serde_json::json!({"quoted": "say \"token=abc\" twice"}),
            serde_json::json!({"url": "postgres://admin:pw@db/x"}),
            serde_json::json!({"esc": "\u{1b}[31mred"}),
            serde_json::json!(["ghp_0123456789abcdefghij0123456789abcdef"]),
        ];
        for v in samples {
            let mut masked = v.clone();
            r.redact_value(&mut masked);
            let text = serde_json::to_string(&v).unwrap();
            if masked != v {
                assert!(r.may_match_json(&text), "missed a secret in {text}");
            }
        }
        assert!(!r.may_match_json(r#"{"text":"deploy build 42\nto staging"}"#));
        assert!(Redactor::default().may_match_json("{}").eq(&false));
    }
    use serde_json::json;

    fn defaults() -> Redactor {
        Redactor::new(&crate::config::default_redactions()).unwrap()
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = Redactor::new(&["ok", "(unclosed"]).unwrap_err();
        match err {
            AuditError::BadPattern { pattern, .. } => assert_eq!(pattern, "(unclosed"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn masks_strings_at_any_depth() {
        let r = defaults();
        let mut v = json!({
            "headers": {"Authorization": "Bearer abc.def.ghi"},
            "args": ["run with api_key=s3cr3t now", 42, null],
            "note": "nothing to see",
        });
        r.redact_value(&mut v);
        assert_eq!(v["headers"]["Authorization"], json!("[REDACTED]"));
        assert_eq!(v["args"][0], json!("run with [REDACTED] now"));
        assert_eq!(v["args"][1], json!(42));
        assert_eq!(v["note"], json!("nothing to see"));
    }

    #[test]
    fn masks_a_value_stored_under_a_secret_key() {
        let r = defaults();
        let mut v = json!({"api_key": "abc123", "password": "hunter2", "token_count": "5"});
        r.redact_value(&mut v);
        assert_eq!(v["api_key"], json!("[REDACTED]"));
        assert_eq!(v["password"], json!("[REDACTED]"));
        assert_eq!(v["token_count"], json!("5"));
    }

    #[test]
    fn overlapping_patterns_leave_no_fragment() {
        let r = defaults();
        let out = r.redact_str("token=Bearer abc123").unwrap();
        assert!(!out.contains("abc123"), "{out}");
    }

    #[test]
    fn builtin_patterns_compile() {
        for p in BUILTIN_PATTERNS {
            assert!(Regex::new(p).is_ok(), "{p}");
        }
        assert!(!builtin().is_empty());
    }

    /// Each common secret, in the form it turns up in text, with what must stay readable.
    #[test]
    fn builtin_patterns_mask_common_secrets() {
        let r = Redactor::new::<&str>(&[]).unwrap();
        for (text, secret, kept) in [
            (
                "key AKIAIOSFODNN7EXAMPLE in use",
                "AKIAIOSFODNN7EXAMPLE",
                "in use",
            ),
            (
                "AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
                "",
            ),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
                "",
            ),
            (
                "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
                "",
            ),
            (
                r#"{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG"}"#,
                "wJalrXUtnFEMI",
                "SecretAccessKey",
            ),
            (
                r#"body {"password": "hunter2", "user": "bob"}"#,
                "hunter2",
                r#""user": "bob""#,
            ),
            (r#"{"password":"hun\"ter2"}"#, "ter2", "password"),
            ("passwd: hunter2", "hunter2", ""),
            ("db_password=hunter2", "hunter2", ""),
            ("access_token=abc123def", "abc123def", ""),
            (
                "use ghp_0123456789abcdefghijABCDEFGHIJ012345 here",
                "ghp_0123456789",
                "here",
            ),
            (
                "gho_0123456789abcdefghijABCDEFGHIJ012345",
                "gho_0123456789",
                "",
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
                "github_pat_11ABC",
                "",
            ),
            ("glpat-0123456789abcdefghij", "glpat-0123", ""),
            ("xoxb-123456789012-abcdefghij", "xoxb-1234", ""),
            (
                "postgres://admin:pw-42@db.internal:5432/app",
                "pw-42",
                "postgres://admin:[REDACTED]@db.internal:5432/app",
            ),
            (
                "redis://:s3cret@cache:6379/0",
                "s3cret",
                "redis://:[REDACTED]@cache:6379/0",
            ),
            (
                "Authorization: Bearer eyJhbGciOi.x.y",
                "eyJhbGciOi",
                "Authorization",
            ),
            ("key sk-live0123456789abcdef", "sk-live0123", "key"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "MIIEow",
                "",
            ),
        ] {
            let out = r
                .redact_str(text)
                .unwrap_or_else(|| panic!("not masked: {text}"));
            assert!(!out.contains(secret), "{text} -> {out}");
            assert!(out.contains(REDACTED), "{text} -> {out}");
            assert!(out.contains(kept), "{text} -> {out}: lost {kept}");
        }
        for harmless in [
            "token_count: 5",
            "max_tokens=100",
            "https://example.org/path@v2",
            "user@example.org",
            "plain text about passwords in general",
        ] {
            assert_eq!(r.redact_str(harmless), None, "{harmless}");
        }
    }

    #[test]
    fn configured_patterns_only_add() {
        let none: [&str; 0] = [];
        let with_extra = Redactor::new(&["internal-[0-9]+"]).unwrap();
        assert!(with_extra.redact_str("id internal-42").is_some());
        for r in [Redactor::new(&none).unwrap(), with_extra] {
            assert!(r.redact_str("AKIAIOSFODNN7EXAMPLE").is_some());
        }
    }

    #[test]
    fn no_patterns_is_a_no_op() {
        let r = Redactor::default();
        let mut v = json!({"api_key": "abc"});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"api_key": "abc"}));
        assert_eq!(r.redact_str("Bearer x"), None);
    }
}
