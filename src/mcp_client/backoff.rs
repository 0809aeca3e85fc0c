//! How long a server that died or could not start waits before the next attempt:
//! 1 s, doubling to 60 s, each spread by ±20 % so servers that failed together do not
//! all come back in the same instant.

use std::time::Duration;

pub const FIRST: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(60);

/// The wait after `failures` failures in a row (1 = the first); `jitter` in `0.0..=1.0`.
pub fn delay(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = FIRST.saturating_mul(1 << doublings).min(MAX);
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    base.mul_f64(spread).min(MAX)
}

/// A number in `0.0..1.0` that differs between calls (std's per-instance random hash keys).
pub fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_a_minute() {
        let mid = |n| delay(n, 0.5);
        assert_eq!(mid(1), Duration::from_secs(1));
        assert_eq!(mid(2), Duration::from_secs(2));
        assert_eq!(mid(3), Duration::from_secs(4));
        assert_eq!(mid(7), Duration::from_secs(60));
        assert_eq!(mid(u32::MAX), Duration::from_secs(60));
        assert_eq!(delay(1, 0.0), Duration::from_millis(800));
        assert_eq!(delay(1, 1.0), Duration::from_millis(1200));
        assert_eq!(delay(10, 1.0), MAX);
        assert_eq!(delay(0, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
