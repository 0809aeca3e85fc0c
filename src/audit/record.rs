//! `AuditRecord`: the contract's fields, and the canonical bytes the hash chain covers.

use serde::{Deserialize, Serialize};

pub use crate::chain::{GENESIS_HASH, line_hash};

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
}

/// What a caller hands the audit log; the writer adds id, time, sequence and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub agent_id: Option<String>,
    /// The MCP tool or operation, e.g. `update_context`.
    pub action: String,
    /// The call's arguments (redacted before writing).
    pub input: serde_json::Value,
    /// The context version id the call read or wrote, if any.
    pub context_id: Option<String>,
    /// Who called: `cli`, `tui:alice`, `agent:ops-agent`, an MCP client name, …
    pub caller: String,
    pub outcome: Outcome,
    /// The error message when `outcome` is `error`.
    pub error: Option<String>,
    pub duration_ms: f64,
    /// The intent (and its chain) the call was made on behalf of.
    pub cause: super::cause::CallCause,
}

/// One line of the audit log. Field order is the canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// UUIDv7.
    pub id: String,
    /// RFC 3339, UTC, milliseconds: `2026-11-24T12:00:00.000Z`.
    pub timestamp: String,
    pub agent_id: Option<String>,
    pub action: String,
    pub input: serde_json::Value,
    pub context_id: Option<String>,
    pub caller: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
    /// The intent the call was made on behalf of, its chain, and what caused it (the
    /// parent intent or the event). Absent on records of calls no intent caused, and on
    /// records written before these fields existed (their hashes are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The record without its `hash`: what the hash covers.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    id: &'a str,
    timestamp: &'a str,
    agent_id: &'a Option<String>,
    action: &'a str,
    input: &'a serde_json::Value,
    context_id: &'a Option<String>,
    caller: &'a str,
    outcome: &'a Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: &'a Option<String>,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: &'a Option<String>,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// Canonical bytes: compact JSON of every field but `hash`, in declaration order, with
    /// object keys inside `input` sorted (serde_json's default map is ordered).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let c = Canonical {
            seq: self.seq,
            id: &self.id,
            timestamp: &self.timestamp,
            agent_id: &self.agent_id,
            action: &self.action,
            input: &self.input,
            context_id: &self.context_id,
            caller: &self.caller,
            outcome: &self.outcome,
            error: &self.error,
            duration_ms: self.duration_ms,
            intent_id: &self.intent_id,
            trace_id: &self.trace_id,
            parent_id: &self.parent_id,
            prev_hash: &self.prev_hash,
        };
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_vec(&c).unwrap_or_default()
    }

    /// SHA-256 over `prev_hash` and the canonical bytes, hex.
    pub fn compute_hash(&self) -> String {
        crate::chain::hash_of(&self.prev_hash, &self.canonical_bytes())
    }
}

impl AuditRecord {
    /// Compute `hash` and return the JSONL line, newline included.
    ///
    /// The line is the canonical bytes with the hash field spliced in before the closing
    /// brace. It is byte for byte what `serde_json` writes for the record (the struct's
    /// field order is the canonical order, `hash` last), and it lets a reader recover the
    /// exact bytes that were hashed from the line itself: see [`line_hash`].
    pub fn seal(&mut self) -> Vec<u8> {
        let (hash, line) = crate::chain::seal_line(&self.prev_hash, &self.canonical_bytes());
        self.hash = hash;
        line
    }

    /// Whether `hash` matches the record's fields as parsed. A float that a JSON parser
    /// rounds differently from the writer makes this fail on an intact record; the
    /// verifier therefore checks lines with [`line_hash`].
    pub fn hash_matches(&self) -> bool {
        self.compute_hash() == self.hash
    }

    /// The record's time, if its `timestamp` is valid RFC 3339.
    pub fn time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.timestamp)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AuditRecord {
        AuditRecord {
            seq: 7,
            id: "0193a0c4-0000-7000-8000-000000000000".into(),
            timestamp: "2026-11-24T12:00:00.123Z".into(),
            agent_id: Some("ops-agent".into()),
            action: "update_context".into(),
            input: serde_json::json!({"text": "héllo \"quoted\"\n", "n": 0.1, "z": [1, 2]}),
            context_id: None,
            caller: "cli".into(),
            outcome: Outcome::Error,
            error: Some("boom".into()),
            duration_ms: 1.25,
            intent_id: None,
            trace_id: None,
            parent_id: None,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn sealed_line_is_the_serde_serialization() {
        let mut rec = sample();
        let line = rec.seal();
        let expected = serde_json::to_string(&rec).unwrap() + "\n";
        assert_eq!(String::from_utf8(line).unwrap(), expected);
        assert_eq!(rec.hash, rec.compute_hash());
    }

    #[test]
    fn line_hash_recovers_the_canonical_bytes() {
        let mut rec = sample();
        let line = rec.seal();
        assert_eq!(line_hash(&rec.prev_hash, &line), Some(rec.hash.clone()));
        let parsed: AuditRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed, rec);
        assert!(parsed.hash_matches());
    }

    #[test]
    fn line_hash_sees_edits_a_parser_would_hide() {
        let mut rec = sample();
        let line = String::from_utf8(rec.seal()).unwrap();
        let spaced = line.replacen("\"seq\":7", "\"seq\": 7", 1);
        assert_ne!(
            line_hash(&rec.prev_hash, spaced.as_bytes()),
            Some(rec.hash.clone())
        );
        let truncated = &line[..line.len() - 5];
        assert_eq!(line_hash(&rec.prev_hash, truncated.as_bytes()), None);
    }

    #[test]
    fn error_field_is_omitted_when_absent() {
        let mut rec = sample();
        rec.error = None;
        rec.outcome = Outcome::Ok;
        let line = String::from_utf8(rec.seal()).unwrap();
        assert!(!line.contains("\"error\""));
        assert_eq!(line, serde_json::to_string(&rec).unwrap() + "\n");
    }
}
