//! After an attempt: delivered, try again later, or give up. Pure, so the policy is tested
//! without a server or a clock.
//!
//! Errors and 5xx are worth another try, as are 408 (timeout) and 429 (slow down); any
//! other 4xx means the receiver refused this request and will refuse it again. A 3xx is not
//! followed (it would send the signed body somewhere the hook does not name) and counts as
//! refused.

use std::time::Duration;

/// What an attempt got: an HTTP status, or an error before any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Done, with no HTTP status to tell (an intent queued, an MCP tool answered).
    Done,
    Status(u16),
    /// No answer (connection refused, timeout, a server that is down): worth a retry.
    Failed(String),
    /// Cannot succeed by trying again (a refused intent, a missing secret).
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    Dead(String),
}

/// The pause before attempt `attempts + 1`: `base · 2^(attempts-1)`, at most `max`, then a
/// random point in its upper half (`jitter` in [0, 1)), so nodes that failed together do
/// not retry together.
pub fn backoff(attempts: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// What to do after attempt number `attempts` (counting it) of at most `max_attempts`.
/// A receiver's `Retry-After` (429, 503) lengthens the pause, never beyond `max`.
pub fn next(
    attempt: &Attempt,
    attempts: u32,
    max_attempts: u32,
    base: Duration,
    max: Duration,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Next {
    let retryable = match attempt {
        Attempt::Done => return Next::Delivered,
        Attempt::Status(s) if (200..300).contains(s) => return Next::Delivered,
        Attempt::Status(s @ 300..=399) => {
            return Next::Dead(format!("answered {s} (a redirect, not followed)"));
        }
        Attempt::Status(s @ (408 | 429)) => format!("answered {s}"),
        Attempt::Status(s @ 400..=499) => {
            return Next::Dead(format!("answered {s}; a 4xx is not retried"));
        }
        Attempt::Status(s) => format!("answered {s}"),
        Attempt::Failed(e) => e.clone(),
        Attempt::Refused(e) => return Next::Dead(e.clone()),
    };
    if attempts >= max_attempts {
        Next::Dead(format!("{retryable}; gave up after {attempts} attempts"))
    } else {
        let pause = backoff(attempts, base, max, jitter);
        Next::RetryIn(retry_after.map_or(pause, |ra| pause.max(ra.min(max))))
    }
}

/// `Retry-After`: seconds, or an HTTP date (RFC 7231), as a pause from `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

/// A number in [0, 1) that differs between calls and nodes, for jitter (not for secrets).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn success_errors_and_refusals() {
        assert_eq!(
            next(&Attempt::Status(204), 1, 8, S, MAX, 0.0, None),
            Next::Delivered
        );
        for retry in [500, 502, 503, 408, 429] {
            assert!(
                matches!(
                    next(&Attempt::Status(retry), 1, 8, S, MAX, 0.0, None),
                    Next::RetryIn(_)
                ),
                "{retry}"
            );
        }
        assert!(matches!(
            next(
                &Attempt::Failed("connection refused".into()),
                1,
                8,
                S,
                MAX,
                0.0,
                None
            ),
            Next::RetryIn(_)
        ));
        for dead in [400, 401, 403, 404, 410, 422, 301, 302] {
            assert!(
                matches!(
                    next(&Attempt::Status(dead), 1, 8, S, MAX, 0.0, None),
                    Next::Dead(_)
                ),
                "{dead}"
            );
        }
        assert!(matches!(
            next(
                &Attempt::Refused("too deep".into()),
                1,
                8,
                S,
                MAX,
                0.0,
                None
            ),
            Next::Dead(_)
        ));
    }

    #[test]
    fn the_last_attempt_dead_letters() {
        assert!(matches!(
            next(&Attempt::Status(500), 7, 8, S, MAX, 0.0, None),
            Next::RetryIn(_)
        ));
        let Next::Dead(why) = next(&Attempt::Status(500), 8, 8, S, MAX, 0.0, None) else {
            panic!("not dead")
        };
        assert!(why.contains("gave up after 8 attempts"), "{why}");
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_in_its_upper_half() {
        assert_eq!(backoff(1, S, MAX, 1.0), S);
        assert_eq!(backoff(2, S, MAX, 1.0), 2 * S);
        assert_eq!(backoff(4, S, MAX, 1.0), 8 * S);
        assert_eq!(backoff(30, S, MAX, 1.0), MAX);
        assert_eq!(backoff(4, S, MAX, 0.0), 4 * S);
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
    }

    #[test]
    fn retry_after_lengthens_the_pause_up_to_the_cap() {
        let ra = |s| Some(Duration::from_secs(s));
        assert_eq!(
            next(&Attempt::Status(429), 1, 8, S, MAX, 0.0, ra(30)),
            Next::RetryIn(Duration::from_secs(30))
        );
        // Shorter than the backoff: the backoff stands.
        assert_eq!(
            next(&Attempt::Status(503), 4, 8, S, MAX, 0.0, ra(1)),
            Next::RetryIn(4 * S)
        );
        assert_eq!(
            next(&Attempt::Status(429), 1, 8, S, MAX, 0.0, ra(86_400)),
            Next::RetryIn(MAX)
        );
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), ra(120));
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 10:01:30 GMT", now),
            ra(90)
        );
        assert_eq!(
            parse_retry_after("Mon, 30 Nov 2026 09:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
