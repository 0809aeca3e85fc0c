//! Redaction: secrets matching the `audit.redact` patterns are masked before a record is hashed and written.

use regex::{Regex, RegexSet};
use serde_json::Value;

use super::AuditError;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The compiled `audit.redact` patterns.
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
}

impl Redactor {
    /// Compile the patterns; the first invalid one is an error naming it.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, AuditError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for p in patterns {
            let p = p.as_ref();
            let re = Regex::new(p).map_err(|e| AuditError::BadPattern {
                pattern: p.to_string(),
                message: e.to_string(),
            })?;
            compiled.push(re);
        }
        let any = if compiled.is_empty() {
            None
        } else {
            let set = RegexSet::new(compiled.iter().map(Regex::as_str)).map_err(|e| {
                AuditError::BadPattern {
                    pattern: patterns
                        .iter()
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join(" | "),
                    message: e.to_string(),
                }
            })?;
            Some(set)
        };
        Ok(Self {
            patterns: compiled,
            any,
        })
    }

    /// Whether there is nothing to redact with.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every match masked, or `None` when nothing matched.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let any = self.any.as_ref()?;
        if !any.is_match(text) {
            return None;
        }
        // Patterns apply one after another so that an earlier mask cannot leave part of a
        // secret for a later, overlapping pattern to miss (`token=Bearer abc`).
        let mut out = text.to_string();
        for re in &self.patterns {
            if let std::borrow::Cow::Owned(s) = re.replace_all(&out, REDACTED) {
                out = s;
            }
        }
        Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn no_patterns_is_a_no_op() {
        let r = Redactor::default();
        let mut v = json!({"api_key": "abc"});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"api_key": "abc"}));
        assert_eq!(r.redact_str("Bearer x"), None);
    }
}
