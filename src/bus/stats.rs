//! Per-channel counters and a bounded buffer of rejected messages, shared by the backends.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::envelope::Rejection;
use crate::metrics::ChannelMeters;

/// Rejected messages kept for display.
pub const REJECTED_KEPT: usize = 256;
/// Characters of a rejected message kept for display.
const PREVIEW_CHARS: usize = 160;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStats {
    pub received: u64,
    pub rejected: u64,
    pub published: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedMessage {
    pub channel: String,
    pub ts: String,
    pub reason: Rejection,
    /// The start of the message, sanitized for display.
    pub preview: String,
}

/// `rejected: not JSON at byte 12: expected value` — how a rejection is shown everywhere.
impl std::fmt::Display for RejectedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rejected: {}", self.reason)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusStats {
    pub channels: BTreeMap<String, ChannelStats>,
    /// Newest last, at most `REJECTED_KEPT`.
    pub rejected: Vec<RejectedMessage>,
    pub reconnects: u64,
}

/// A channel's counts for display and its Prometheus counters, which are registered with
/// the channel so that a message costs an atomic add, not a registry lookup.
#[derive(Debug)]
struct Channel {
    stats: ChannelStats,
    meters: ChannelMeters,
}

/// The counters of a channel, allocating its name only the first time (this runs per
/// message).
fn bump<'a>(map: &'a mut BTreeMap<String, Channel>, channel: &str) -> &'a mut Channel {
    if !map.contains_key(channel) {
        let entry = Channel {
            stats: ChannelStats::default(),
            meters: ChannelMeters::new(channel),
        };
        map.insert(channel.to_string(), entry);
    }
    map.get_mut(channel).expect("inserted above")
}

/// The mutable book behind `BusStats`.
#[derive(Debug, Default)]
pub struct StatsBook {
    inner: Mutex<(BTreeMap<String, Channel>, VecDeque<RejectedMessage>, u64)>,
}

impl StatsBook {
    pub fn received(&self, channel: &str) {
        if let Ok(mut g) = self.inner.lock() {
            let c = bump(&mut g.0, channel);
            c.stats.received += 1;
            c.meters.received.increment(1);
        }
    }

    pub fn published(&self, channel: &str) {
        if let Ok(mut g) = self.inner.lock() {
            let c = bump(&mut g.0, channel);
            c.stats.published += 1;
            c.meters.published.increment(1);
        }
    }

    pub fn reconnected(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.2 += 1;
        }
        crate::metrics::bus_reconnected();
    }

    /// Count and keep a rejected message; returns what was kept.
    pub fn rejected(&self, channel: &str, reason: Rejection, raw: &[u8]) -> RejectedMessage {
        let text = String::from_utf8_lossy(&raw[..raw.len().min(PREVIEW_CHARS * 4)]);
        let preview: String = crate::sanitize::one_line(&text)
            .chars()
            .take(PREVIEW_CHARS)
            .collect();
        let kept = RejectedMessage {
            channel: channel.to_string(),
            ts: crate::context::now_rfc3339(),
            reason,
            preview,
        };
        if let Ok(mut g) = self.inner.lock() {
            let c = bump(&mut g.0, channel);
            c.stats.rejected += 1;
            c.meters.rejected.increment(1);
            if g.1.len() >= REJECTED_KEPT {
                g.1.pop_front();
            }
            g.1.push_back(kept.clone());
        }
        kept
    }

    pub fn snapshot(&self) -> BusStats {
        match self.inner.lock() {
            Ok(g) => BusStats {
                channels: g
                    .0
                    .iter()
                    .map(|(k, c)| (k.clone(), c.stats.clone()))
                    .collect(),
                rejected: g.1.iter().cloned().collect(),
                reconnects: g.2,
            },
            Err(_) => BusStats::default(),
        }
    }
}

/// Counts a burst of like events so that it is logged once, not once per event: the first
/// is said at once, the count when the burst is over.
#[derive(Debug, Default)]
pub struct BurstLog {
    count: u64,
    first: Option<std::time::Instant>,
    last: Option<std::time::Instant>,
    what: String,
}

impl BurstLog {
    /// Count one; true when it starts a burst (log it now).
    pub fn add(&mut self, what: &str) -> bool {
        let now = std::time::Instant::now();
        self.last = Some(now);
        self.count += 1;
        if self.count == 1 {
            self.first = Some(now);
            self.what = what.to_string();
            return true;
        }
        false
    }

    /// When the burst is over (nothing for `quiet`): how many, over how long, and the
    /// first one's words; the log starts afresh.
    pub fn ended(
        &mut self,
        quiet: std::time::Duration,
    ) -> Option<(u64, std::time::Duration, String)> {
        let (first, last) = (self.first?, self.last?);
        if last.elapsed() < quiet {
            return None;
        }
        let out = (self.count, last - first, std::mem::take(&mut self.what));
        *self = BurstLog::default();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_said_once_and_summed_up_when_over() {
        let mut log = BurstLog::default();
        assert!(log.add("full"));
        assert!(!log.add("full"));
        assert!(!log.add("full"));
        assert!(log.ended(std::time::Duration::from_secs(60)).is_none());
        let (n, _, what) = log.ended(std::time::Duration::ZERO).unwrap();
        assert_eq!((n, what.as_str()), (3, "full"));
        assert!(log.ended(std::time::Duration::ZERO).is_none());
        assert!(log.add("again"), "a new burst");
    }

    #[test]
    fn rejected_buffer_is_bounded_and_counts_everything() {
        let book = StatsBook::default();
        for _ in 0..REJECTED_KEPT + 10 {
            book.rejected("c", Rejection::NotUtf8, b"\x1b[2Jjunk");
        }
        let s = book.snapshot();
        assert_eq!(s.rejected.len(), REJECTED_KEPT);
        assert_eq!(s.channels["c"].rejected, (REJECTED_KEPT + 10) as u64);
        assert_eq!(s.rejected[0].preview, "junk");
    }
}
