//! `AuditRecord`: the contract's fields, and the canonical bytes the hash chain covers.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the very first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
            prev_hash: &self.prev_hash,
        };
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_vec(&c).unwrap_or_default()
    }

    /// SHA-256 over `prev_hash` and the canonical bytes, hex.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(self.canonical_bytes());
        hex::encode(h.finalize())
    }
}
