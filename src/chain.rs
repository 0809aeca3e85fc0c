//! The hash chain of JSON lines shared by the audit log and the flight recording.
//!
//! A line is a JSON object whose last field is `"hash"`. The hash is SHA-256 over the
//! previous line's hash and the line's canonical bytes (the object without its hash
//! field), so an edit, a deletion or a reordering anywhere breaks the chain at that line.
//! Both logs seal and check their lines here and nowhere else: one implementation, one
//! set of tests.

use sha2::{Digest, Sha256};

/// `prev_hash` of the very first line of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Spliced before a line's closing brace; what follows it is the hash and `}`.
const HASH_FIELD: &[u8] = b",\"hash\":\"";

/// Seal canonical bytes (a compact JSON object without `hash`): returns the hash and the
/// line, newline included.
///
/// The line is the canonical bytes with the hash field spliced in before the closing
/// brace: byte for byte what `serde_json` writes for a struct whose fields are the
/// canonical ones followed by `hash`, and it lets a reader recover the exact bytes that
/// were hashed from the line itself (see [`line_hash`]).
pub fn seal_line(prev_hash: &str, canonical: &[u8]) -> (String, Vec<u8>) {
    let hash = hash_of(prev_hash, canonical);
    let body = canonical.strip_suffix(b"}").unwrap_or(canonical);
    let mut line = Vec::with_capacity(body.len() + HASH_FIELD.len() + hash.len() + 3);
    line.extend_from_slice(body);
    line.extend_from_slice(HASH_FIELD);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    (hash, line)
}

/// SHA-256 over `prev_hash` and `canonical`, lowercase hex.
pub fn hash_of(prev_hash: &str, canonical: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical);
    lower_hex(&h.finalize())
}

/// The hash a written line commits to: SHA-256 over `prev_hash` and the canonical bytes,
/// which are the line up to its trailing `,"hash":"…"` field, closed with `}`.
///
/// Working on the bytes as written (not on a re-serialization of the parsed line) makes
/// any edit visible, even one a parser would normalise away (spacing, key order, float
/// digits). `None` when the line does not end in a hash field, which only an edit makes.
pub fn line_hash(prev_hash: &str, line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // `,"hash":"` + 64 hex digits + `"}`
    let tail_len = HASH_FIELD.len() + 64 + 2;
    let split = line.len().checked_sub(tail_len)?;
    let (body, tail) = line.split_at(split);
    let digits = tail.strip_prefix(HASH_FIELD)?.strip_suffix(b"\"}")?;
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(body);
    h.update(b"}");
    Some(lower_hex(&h.finalize()))
}

/// Lowercase hex, as `hex::encode` writes it, without its per-character iterator: this
/// runs once per line on the writer threads.
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why a line breaks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkBreak {
    /// The line's bytes no longer hash to its `hash`.
    Edited,
    /// Lines `expected..found` are missing here.
    Gap { expected: u64, found: u64 },
    /// The seq went backwards: a line was moved back or duplicated.
    Backwards { expected: u64, found: u64 },
    /// The seq is right but `prev_hash` is not the previous line's hash: the line before
    /// it was replaced. `previous` is `None` at the start of the chain.
    BrokenLink { previous: Option<u64> },
}

/// Walks a chain line by line: each must hash to its own `hash`, carry the next seq and
/// link to its predecessor.
#[derive(Debug, Clone)]
pub struct Linker {
    next_seq: u64,
    prev: String,
    /// Whether the next line is the first one seen (for an anchor taken from it).
    anchored: bool,
}

impl Linker {
    /// A chain that starts at seq 0 with the genesis hash.
    pub fn genesis() -> Self {
        Self {
            next_seq: 0,
            prev: GENESIS_HASH.to_string(),
            anchored: true,
        }
    }

    /// A chain whose start was removed on purpose (a retention limit): the first line
    /// seen is trusted as the anchor, every later one is checked against it.
    pub fn from_first_line() -> Self {
        Self {
            anchored: false,
            ..Self::genesis()
        }
    }

    /// Check the next line (`raw` as written) against the chain so far; on success it
    /// becomes the chain's tip. A breaking line leaves the tip where it was.
    pub fn check(
        &mut self,
        seq: u64,
        prev_hash: &str,
        hash: &str,
        raw: &[u8],
    ) -> Result<(), LinkBreak> {
        if line_hash(prev_hash, raw).as_deref() != Some(hash) {
            return Err(LinkBreak::Edited);
        }
        if !self.anchored {
            self.anchored = true;
            self.next_seq = seq;
            self.prev = prev_hash.to_string();
        }
        if seq > self.next_seq {
            return Err(LinkBreak::Gap {
                expected: self.next_seq,
                found: seq,
            });
        }
        if seq < self.next_seq {
            return Err(LinkBreak::Backwards {
                expected: self.next_seq,
                found: seq,
            });
        }
        if prev_hash != self.prev {
            return Err(LinkBreak::BrokenLink {
                previous: self.next_seq.checked_sub(1),
            });
        }
        self.next_seq = seq + 1;
        self.prev = hash.to_string();
        Ok(())
    }

    /// The seq the next line must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Seq and hash of the last line that linked, if any did.
    pub fn tip(&self) -> Option<(u64, &str)> {
        if !self.anchored {
            return None;
        }
        self.next_seq
            .checked_sub(1)
            .map(|s| (s, self.prev.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, prev: &str, text: &str) -> (String, Vec<u8>) {
        let canonical =
            serde_json::to_vec(&serde_json::json!({"seq": seq, "text": text, "prev_hash": prev}))
                .unwrap();
        seal_line(prev, &canonical)
    }

    #[test]
    fn a_sealed_line_checks_and_an_edit_does_not() {
        let (h0, l0) = line(0, GENESIS_HASH, "a");
        let (h1, l1) = line(1, &h0, "b");
        let mut linker = Linker::genesis();
        linker.check(0, GENESIS_HASH, &h0, &l0).unwrap();
        linker.check(1, &h0, &h1, &l1).unwrap();
        assert_eq!(linker.tip(), Some((1, h1.as_str())));

        let edited = String::from_utf8(l1.clone())
            .unwrap()
            .replace("\"b\"", "\"c\"");
        let mut again = Linker::genesis();
        again.check(0, GENESIS_HASH, &h0, &l0).unwrap();
        assert_eq!(
            again.check(1, &h0, &h1, edited.as_bytes()),
            Err(LinkBreak::Edited)
        );
    }

    #[test]
    fn gaps_reorders_and_replaced_links_are_named() {
        let (h0, l0) = line(0, GENESIS_HASH, "a");
        let (h1, l1) = line(1, &h0, "b");
        let (h2, l2) = line(2, &h1, "c");
        let mut gap = Linker::genesis();
        gap.check(0, GENESIS_HASH, &h0, &l0).unwrap();
        assert_eq!(
            gap.check(2, &h1, &h2, &l2),
            Err(LinkBreak::Gap {
                expected: 1,
                found: 2
            })
        );
        let mut back = Linker::genesis();
        back.check(0, GENESIS_HASH, &h0, &l0).unwrap();
        back.check(1, &h0, &h1, &l1).unwrap();
        assert_eq!(
            back.check(0, GENESIS_HASH, &h0, &l0),
            Err(LinkBreak::Backwards {
                expected: 2,
                found: 0
            })
        );
        // A replaced line 1 with its own valid hash: line 2 no longer links.
        let (h1x, l1x) = line(1, &h0, "x");
        let mut link = Linker::genesis();
        link.check(0, GENESIS_HASH, &h0, &l0).unwrap();
        link.check(1, &h0, &h1x, &l1x).unwrap();
        assert_eq!(
            link.check(2, &h1, &h2, &l2),
            Err(LinkBreak::BrokenLink { previous: Some(1) })
        );
    }

    #[test]
    fn a_chain_cut_by_retention_anchors_on_its_first_line() {
        let (h0, _) = line(0, GENESIS_HASH, "a");
        let (h1, l1) = line(1, &h0, "b");
        let (h2, l2) = line(2, &h1, "c");
        let mut linker = Linker::from_first_line();
        assert_eq!(linker.tip(), None);
        linker.check(1, &h0, &h1, &l1).unwrap();
        linker.check(2, &h1, &h2, &l2).unwrap();
        assert_eq!(linker.next_seq(), 3);
        // Genesis-anchored, the same lines are a gap.
        assert!(matches!(
            Linker::genesis().check(1, &h0, &h1, &l1),
            Err(LinkBreak::Gap { .. })
        ));
    }

    #[test]
    fn line_hash_needs_a_hash_field() {
        let (_, l0) = line(0, GENESIS_HASH, "a");
        assert_eq!(line_hash(GENESIS_HASH, &l0[..l0.len() - 5]), None);
        assert_eq!(line_hash(GENESIS_HASH, b"{}"), None);
    }
}
