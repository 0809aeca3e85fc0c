//! Sealing entries into the chain: redaction, seq, id, timestamp, `prev_hash` and `hash`, in one order.

use super::record::{AuditEntry, AuditRecord, GENESIS_HASH};
use super::redact::Redactor;

/// The head of the chain in memory: what the next record links to.
pub(super) struct Chain {
    next_seq: u64,
    last_hash: String,
    ids: IdSource,
    clock: TimestampCache,
}

impl Chain {
    /// Continue after the record `tip` (seq, hash), or start at genesis.
    pub(super) fn resume(tip: Option<(u64, String)>) -> Self {
        let (next_seq, last_hash) = match tip {
            Some((seq, hash)) => (seq + 1, hash),
            None => (0, GENESIS_HASH.to_string()),
        };
        Self {
            next_seq,
            last_hash,
            ids: IdSource::new(),
            clock: TimestampCache::default(),
        }
    }

    /// Turn an already redacted entry into the next record; returns it with its line.
    pub(super) fn seal(&mut self, entry: AuditEntry) -> (AuditRecord, Vec<u8>) {
        let now = chrono::Utc::now();
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let mut record = AuditRecord {
            seq: self.next_seq,
            id: self.ids.next(now_ms).to_string(),
            timestamp: self.clock.timestamp(now),
            agent_id: entry.agent_id,
            action: entry.action,
            input: entry.input,
            context_id: entry.context_id,
            caller: entry.caller,
            outcome: entry.outcome,
            error: entry.error,
            duration_ms: settle_duration(entry.duration_ms),
            intent_id: entry.cause.intent_id,
            trace_id: entry.cause.trace_id,
            parent_id: entry.cause.parent_id,
            prev_hash: std::mem::take(&mut self.last_hash),
            hash: String::new(),
        };
        let line = record.seal();
        self.next_seq += 1;
        self.last_hash.clone_from(&record.hash);
        (record, line)
    }
}

/// Mask secrets in the parts of an entry that carry caller data.
pub(super) fn redact_entry(redactor: &Redactor, entry: &mut AuditEntry) {
    redactor.redact_value(&mut entry.input);
    if let Some(error) = &mut entry.error
        && let Some(masked) = redactor.redact_str(error)
    {
        *error = masked;
    }
}

/// Durations are kept to the microsecond: a float with few digits reads back exactly,
/// so a parsed record hashes like the written one. Non-finite values would serialize as
/// `null` and make the line unreadable.
fn settle_duration(ms: f64) -> f64 {
    if !ms.is_finite() || ms <= 0.0 {
        return 0.0;
    }
    (ms.min(1e12) * 1000.0).round() / 1000.0
}

/// UUIDv7 ids without a system call each.
///
/// `Uuid::now_v7` asks the OS for fresh random bits for every id, which at audit rates
/// costs more than hashing the record. Here the OS seeds a splitmix64 generator once; the
/// 12 bits after the version hold a counter that starts at a random point each
/// millisecond (RFC 9562, method 1), so ids stay strictly increasing, and the 62 bits
/// after the variant are random. Ids only need to be unique; the chain order is `seq`.
struct IdSource {
    state: u64,
    last_ms: u64,
    counter: u16,
}

impl IdSource {
    fn new() -> Self {
        let seed = uuid::Uuid::now_v7().as_u128();
        Self {
            state: (seed as u64) ^ ((seed >> 64) as u64),
            last_ms: 0,
            counter: 0,
        }
    }

    fn random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next(&mut self, now_ms: u64) -> uuid::Uuid {
        let random = self.random();
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            // Start low enough that a busy millisecond does not run out of counter.
            self.counter = (random >> 53) as u16 & 0x7FF;
        } else if self.counter >= 0xFFF {
            // Counter exhausted, or the clock stepped back: borrow the next millisecond
            // rather than repeat or reorder ids.
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&self.counter.to_be_bytes());
        bytes[2..].copy_from_slice(&self.random().to_be_bytes());
        uuid::Builder::from_unix_timestamp_millis(self.last_ms, &bytes).into_uuid()
    }
}

/// Formats the record timestamp once per millisecond; a burst of records shares it.
#[derive(Default)]
struct TimestampCache {
    ms: i64,
    text: String,
}

impl TimestampCache {
    fn timestamp(&mut self, now: chrono::DateTime<chrono::Utc>) -> String {
        let ms = now.timestamp_millis();
        if ms != self.ms || self.text.is_empty() {
            self.ms = ms;
            self.text = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        }
        self.text.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn entry() -> AuditEntry {
        AuditEntry {
            agent_id: None,
            action: "recall".into(),
            input: serde_json::json!({"q": "Bearer abc"}),
            context_id: None,
            caller: "cli".into(),
            outcome: Outcome::Error,
            error: Some("password=hunter2".into()),
            duration_ms: f64::NAN,
            cause: Default::default(),
        }
    }

    #[test]
    fn records_link_in_seal_order() {
        let mut chain = Chain::resume(Some((41, "ab".repeat(32))));
        let (a, line_a) = chain.seal(entry());
        let (b, _) = chain.seal(entry());
        assert_eq!((a.seq, b.seq), (42, 43));
        assert_eq!(a.prev_hash, "ab".repeat(32));
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(a.duration_ms, 0.0);
        assert_eq!(
            line_a,
            (serde_json::to_string(&a).unwrap() + "\n").into_bytes()
        );
        assert!(a.id < b.id);
    }

    #[test]
    fn redaction_covers_input_and_error() {
        let redactor = Redactor::new(&crate::config::default_redactions()).unwrap();
        let mut e = entry();
        redact_entry(&redactor, &mut e);
        assert_eq!(e.input, serde_json::json!({"q": "[REDACTED]"}));
        assert_eq!(e.error.as_deref(), Some("[REDACTED]"));
    }

    #[test]
    fn ids_are_v7_and_strictly_increasing() {
        let mut ids = IdSource::new();
        let mut previous = uuid::Uuid::nil();
        // Many ids in one millisecond (the counter overflows into the next), then a
        // clock that steps back.
        let times = std::iter::repeat_n(1_700_000_000_000u64, 5000)
            .chain(std::iter::repeat_n(1_699_999_999_000, 10))
            .chain([1_700_000_000_500]);
        for ms in times {
            let id = ids.next(ms);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(id > previous, "{id} after {previous}");
            previous = id;
        }
        let (secs, _) = previous.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }

    #[test]
    fn timestamps_have_the_contract_format() {
        let mut clock = TimestampCache::default();
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-24T12:00:00.1234Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(clock.timestamp(t), "2026-11-24T12:00:00.123Z");
        let later = t + chrono::TimeDelta::milliseconds(1);
        assert_eq!(clock.timestamp(later), "2026-11-24T12:00:00.124Z");
    }

    #[test]
    fn durations_read_back_exactly() {
        for ms in [0.1234567, 1.0 / 3.0, 12_345.678_901, 7e-7, f64::NAN, -1.0] {
            let settled = settle_duration(ms);
            let text = serde_json::to_string(&settled).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back, settled, "{ms}");
        }
    }
}
