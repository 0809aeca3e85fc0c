//! Signed checkpoints: what makes the audit chain evidence against someone who can rewrite
//! the files. The hash chain alone proves only that the files agree with themselves — a
//! forger who edits a record and recomputes every later hash (and `HEAD`) gets a chain that
//! verifies. With `audit.signing_key` set, the writer seals an `audit_checkpoint` record
//! every `audit.sign_every` records and at close: the seq, hash and time of the record
//! before it, signed with Ed25519. Whoever holds the public key (`aios audit verify --key`)
//! can then tell that every record up to the last checkpoint is as the key's holder wrote
//! it.
//!
//! **Proven**: no record at or before a valid checkpoint was changed, removed or inserted
//! since it was signed (its hash, named in a signed message, would no longer match), and
//! no checkpoint was forged without the private key. **Not proven**: the records after the
//! last checkpoint (at most `sign_every - 1` while running, none after an orderly close) —
//! they are reported as unsigned; a log cut back to a checkpoint boundary together with its
//! `HEAD` (only a copy of an earlier checkpoint, or the mirror, shows that); and anything
//! once the private key is stolen.
//!
//! Key files: the private key is its 32-byte seed as 64 hex digits (mode 0600), the public
//! key 64 hex digits, in `<path>.pub`. Signed message:
//! `aios-audit-checkpoint/1\n<seq>\n<hash>\n<time>`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::record::{AuditEntry, AuditRecord, Outcome};

/// The action of a checkpoint record.
pub const CHECKPOINT_ACTION: &str = "audit_checkpoint";
/// Who signs: the writer itself.
const CHECKPOINT_CALLER: &str = "aios:audit";

/// A checkpoint's `input`: what was signed and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub time: String,
    /// The signing key's public half, hex: which key to check it with.
    pub key: String,
    /// Ed25519 signature of [`message`], hex.
    pub signature: String,
}

/// The bytes a checkpoint signs.
pub fn message(seq: u64, hash: &str, time: &str) -> Vec<u8> {
    format!("aios-audit-checkpoint/1\n{seq}\n{hash}\n{time}").into_bytes()
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The writer's signing key.
pub struct AuditSigner {
    key: SigningKey,
    public_hex: String,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half.
        f.debug_struct("AuditSigner")
            .field("public", &self.public_hex)
            .finish()
    }
}

impl AuditSigner {
    /// Read the private key file (64 hex digits). A file others can read is refused: the
    /// key is what makes the checkpoints worth anything.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let file = |message: String| KeyError::File {
            path: path.to_path_buf(),
            message,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| file(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(file(format!(
                    "mode {:o}: the signing key must be readable by its owner only (chmod 600)",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
        let seed = decode_32(text.trim()).map_err(|m| file(format!("not a signing key: {m}")))?;
        Ok(Self::from_seed(&seed))
    }

    /// A key given as text (64 hex digits), e.g. read from Vault. The error never repeats
    /// the text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        // Not even one character of it in the error: it is a secret.
        let seed = decode_32(text.trim())
            .map_err(|_| KeyError::Invalid("not a signing key: expected 64 hex digits".into()))?;
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public_hex = hex::encode(key.verifying_key().to_bytes());
        Self { key, public_hex }
    }

    pub fn public_hex(&self) -> &str {
        &self.public_hex
    }

    /// The checkpoint entry for the record `(seq, hash, time)`.
    pub fn checkpoint(&self, seq: u64, hash: &str, time: &str) -> AuditEntry {
        let signature = self.key.sign(&message(seq, hash, time));
        let input = Checkpoint {
            seq,
            hash: hash.to_string(),
            time: time.to_string(),
            key: self.public_hex.clone(),
            signature: hex::encode(signature.to_bytes()),
        };
        AuditEntry {
            agent_id: None,
            action: CHECKPOINT_ACTION.into(),
            input: serde_json::to_value(input).unwrap_or_default(),
            context_id: None,
            caller: CHECKPOINT_CALLER.into(),
            outcome: Outcome::Ok,
            error: None,
            duration_ms: 0.0,
            cause: Default::default(),
        }
    }
}

/// Make a key pair: the private key at `path` (0600, never overwritten), the public one at
/// `<path>.pub`. Returns the public key, hex.
pub fn keygen(path: &Path) -> Result<String, KeyError> {
    let file = |p: &Path, message: String| KeyError::File {
        path: p.to_path_buf(),
        message,
    };
    let mut seed = [0u8; 32];
    crate::mcp::token::random_bytes(&mut seed).map_err(|e| file(path, e.to_string()))?;
    let signer = AuditSigner::from_seed(&seed);
    let public = public_path(path);
    for p in [path, public.as_path()] {
        if p.exists() {
            return Err(file(p, "already exists; not overwritten".into()));
        }
    }
    crate::mcp::token::write_private(path, &hex::encode(seed))
        .map_err(|e| file(path, e.to_string()))?;
    std::fs::write(&public, format!("{}\n", signer.public_hex))
        .map_err(|e| file(&public, e.to_string()))?;
    Ok(signer.public_hex)
}

/// `<path>.pub`.
pub fn public_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// A public key from its hex, or from a file holding it.
pub fn read_public(spec: &str) -> Result<VerifyingKey, KeyError> {
    let text = if Path::new(spec).is_file() {
        std::fs::read_to_string(spec).map_err(|e| KeyError::File {
            path: PathBuf::from(spec),
            message: e.to_string(),
        })?
    } else {
        spec.to_string()
    };
    let bytes = decode_32(text.trim()).map_err(|m| {
        KeyError::Invalid(format!(
            "--key {spec}: neither a public key file nor 64 hex digits ({m})"
        ))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| KeyError::Invalid(format!("--key {spec}: not an Ed25519 public key: {e}")))
}

fn decode_32(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|e| e.to_string())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, not 32", b.len()))
}

/// What `verify --key` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureReport {
    /// Valid checkpoints.
    pub checkpoints: u64,
    /// The seq the last valid checkpoint covers.
    pub covered_to: Option<u64>,
    /// Records after it (checkpoints not counted): not covered by any signature.
    pub unsigned_tail: u64,
    /// The first problem, if any: a checkpoint that does not verify, or names a record
    /// whose hash is not the one it signed.
    pub failure: Option<String>,
}

/// Check every checkpoint of `records` (in chain order) with `key`.
pub fn check_checkpoints<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    key: &VerifyingKey,
) -> SignatureReport {
    let key_hex = hex::encode(key.to_bytes());
    let mut hashes: HashMap<u64, String> = HashMap::new();
    let mut report = SignatureReport::default();
    for record in records {
        if record.action != CHECKPOINT_ACTION {
            hashes.insert(record.seq, record.hash.clone());
            report.unsigned_tail += 1;
            continue;
        }
        let fail = |why: String| Some(format!("checkpoint at seq {}: {why}", record.seq));
        let cp: Checkpoint = match serde_json::from_value(record.input.clone()) {
            Ok(cp) => cp,
            Err(e) => {
                report.failure = fail(format!("unreadable ({e})"));
                return report;
            }
        };
        if cp.key != key_hex {
            report.failure = fail(format!(
                "signed by another key ({}…), not the one given",
                cp.key.get(..16).unwrap_or(&cp.key)
            ));
            return report;
        }
        let signature = hex::decode(&cp.signature)
            .ok()
            .and_then(|b| Signature::from_slice(&b).ok());
        let valid =
            signature.is_some_and(|s| key.verify(&message(cp.seq, &cp.hash, &cp.time), &s).is_ok());
        if !valid {
            report.failure =
                fail("the signature does not verify: the checkpoint was altered".into());
            return report;
        }
        match hashes.get(&cp.seq) {
            Some(h) if *h == cp.hash => {}
            Some(h) => {
                report.failure = fail(format!(
                    "record {} was signed with hash {}…, but the log's record {} has {}…: \
                     the log was rewritten up to there",
                    cp.seq,
                    cp.hash.get(..16).unwrap_or(&cp.hash),
                    cp.seq,
                    h.get(..16).unwrap_or(h)
                ));
                return report;
            }
            None => {
                report.failure = fail(format!("the record {} it signs is not in the log", cp.seq));
                return report;
            }
        }
        report.checkpoints += 1;
        report.covered_to = Some(cp.seq);
        report.unsigned_tail = 0;
    }
    if report.checkpoints == 0 && !hashes.is_empty() {
        report.failure = Some(
            "no signed checkpoint: the log was not signed with this key, or its checkpoints \
             were removed"
                .into(),
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_with_its_key_and_not_another() {
        let signer = AuditSigner::from_seed(&[7u8; 32]);
        let entry = signer.checkpoint(9, "abc", "2026-12-06T00:00:00.000Z");
        let cp: Checkpoint = serde_json::from_value(entry.input).expect("checkpoint");
        let key = read_public(signer.public_hex()).expect("public");
        let sig = Signature::from_slice(&hex::decode(&cp.signature).expect("hex")).expect("sig");
        assert!(key.verify(&message(9, "abc", &cp.time), &sig).is_ok());
        assert!(key.verify(&message(9, "abd", &cp.time), &sig).is_err());
        let other = AuditSigner::from_seed(&[8u8; 32]);
        let other = read_public(other.public_hex()).expect("public");
        assert!(other.verify(&message(9, "abc", &cp.time), &sig).is_err());
        assert!(format!("{signer:?}").contains(signer.public_hex()));
    }

    #[test]
    fn bad_public_keys_are_named() {
        assert!(read_public("zz").is_err());
        let err = read_public(&"ab".repeat(16)).expect_err("16 bytes");
        assert!(err.to_string().contains("16 bytes, not 32"), "{err}");
    }
}
