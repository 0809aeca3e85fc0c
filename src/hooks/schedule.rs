//! `schedule:<cron>` hooks: standard five-field cron and `@hourly`-style aliases, in the
//! node's time zone or UTC. Pure: which fire times are due is a function of the pattern,
//! the last fire and the time now, so tests drive it with an injected clock.
//!
//! A node that was down does not fire what it missed in a burst: at most `catch_up` of
//! the missed times (the latest ones) fire, then the schedule goes on as usual.

use chrono::{DateTime, Local, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};

/// The zone schedules are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Zone {
    /// The node's time zone (`TZ`, `/etc/localtime`).
    #[default]
    Local,
    #[serde(alias = "UTC", alias = "Utc")]
    Utc,
}

/// A parsed cron pattern.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Why a cron text is refused; the text says what a schedule is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("an empty schedule; write five cron fields or @hourly, @daily, …")]
    Empty,
    #[error(
        "`{text}` is not an alias; use @yearly, @annually, @monthly, @weekly, @daily or @hourly"
    )]
    UnknownAlias { text: String },
    #[error(
        "`{text}` has {fields} fields; a schedule has five: minute hour day-of-month month \
         day-of-week"
    )]
    Fields { text: String, fields: usize },
    #[error("`{text}` is not a cron schedule: {reason}")]
    NotCron { text: String, reason: String },
}

/// How many occurrences are walked back at most (a `catch_up` larger than this is cut).
const MAX_CATCH_UP: u32 = 100;

impl Schedule {
    /// Five fields (minute hour day-of-month month day-of-week) or an alias (`@yearly`,
    /// `@monthly`, `@weekly`, `@daily`, `@hourly`). Seconds and years are refused: they are
    /// not standard cron, and a per-second hook would be a flood.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if text.starts_with('@')
            && ![
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@hourly",
            ]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(text))
        {
            return Err(ScheduleError::UnknownAlias {
                text: text.to_string(),
            });
        }
        if !text.starts_with('@') && text.split_whitespace().count() != 5 {
            return Err(ScheduleError::Fields {
                text: text.to_string(),
                fields: text.split_whitespace().count(),
            });
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(text).map_err(|e| ScheduleError::NotCron {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, zone: Zone, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match zone {
            Zone::Utc => self.cron.find_next_occurrence(&after, false).ok(),
            Zone::Local => self
                .cron
                .find_next_occurrence(&after.with_timezone(&Local), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The last fire time at or before `at`.
    fn latest_at(&self, zone: Zone, at: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        match zone {
            Zone::Utc => self.cron.find_previous_occurrence(&at, inclusive).ok(),
            Zone::Local => self
                .cron
                .find_previous_occurrence(&at.with_timezone(&Local), inclusive)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The fire times to fire at `now`, oldest first, given the last time fired (`since`:
    /// the last fire, or when the schedule was first seen). A time within `grace` of now is
    /// on time and always fires; older ones were missed, and only the latest `catch_up` of
    /// them fire.
    pub fn due(
        &self,
        zone: Zone,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
        catch_up: u32,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cursor = now;
        let mut inclusive = true;
        let mut missed = 0;
        while let Some(t) = self.latest_at(zone, cursor, inclusive) {
            if t <= since {
                break;
            }
            if now - t <= grace {
                out.push(t);
            } else if missed < catch_up.min(MAX_CATCH_UP) {
                missed += 1;
                out.push(t);
            } else {
                break;
            }
            cursor = t;
            inclusive = false;
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap()
    }

    #[test]
    fn standard_fields_and_aliases_parse_others_do_not() {
        for ok in [
            "*/5 * * * *",
            "0 9 * * MON-FRI",
            "@hourly",
            "@DAILY",
            "30 2 1 * *",
        ] {
            Schedule::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "@reboot",
            "@every 5m",
            "x y z a b",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad} parsed");
        }
        assert_eq!(Schedule::parse(" "), Err(ScheduleError::Empty));
        assert_eq!(
            Schedule::parse("* * *"),
            Err(ScheduleError::Fields {
                text: "* * *".into(),
                fields: 3
            })
        );
        assert_eq!(
            Schedule::parse("@often").unwrap_err().to_string(),
            "`@often` is not an alias; use @yearly, @annually, @monthly, @weekly, @daily or @hourly"
        );
    }

    #[test]
    fn next_fire_time_in_utc_and_aliases() {
        let s = Schedule::parse("@hourly").unwrap();
        assert_eq!(s.next_after(Zone::Utc, at(10, 0, 0)), Some(at(11, 0, 0)));
        let s = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(s.next_after(Zone::Utc, at(10, 7, 3)), Some(at(10, 15, 0)));
    }

    #[test]
    fn an_on_time_fire_is_due_once() {
        let s = Schedule::parse("*/5 * * * *").unwrap();
        let grace = chrono::Duration::seconds(30);
        // Tick at 10:05:01: 10:05 is due; the next tick sees it as fired.
        assert_eq!(
            s.due(Zone::Utc, at(10, 1, 0), at(10, 5, 1), grace, 1),
            vec![at(10, 5, 0)]
        );
        assert!(
            s.due(Zone::Utc, at(10, 5, 0), at(10, 5, 2), grace, 1)
                .is_empty()
        );
        // Before the time, nothing.
        assert!(
            s.due(Zone::Utc, at(10, 1, 0), at(10, 4, 59), grace, 1)
                .is_empty()
        );
    }

    #[test]
    fn missed_fires_do_not_come_in_a_burst() {
        let s = Schedule::parse("* * * * *").unwrap();
        let grace = chrono::Duration::seconds(30);
        // Down from 09:00 to 10:00:10: sixty missed minutes; 10:00 is on time.
        let since = at(9, 0, 0);
        let now = at(10, 0, 10);
        assert_eq!(
            s.due(Zone::Utc, since, now, grace, 1),
            vec![at(9, 59, 0), at(10, 0, 0)]
        );
        assert_eq!(s.due(Zone::Utc, since, now, grace, 0), vec![at(10, 0, 0)]);
        assert_eq!(s.due(Zone::Utc, since, now, grace, 3).len(), 4);
        // Down past an hourly schedule's time, up between fires: one catch-up.
        let h = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            h.due(Zone::Utc, at(6, 0, 0), at(9, 30, 0), grace, 1),
            vec![at(9, 0, 0)]
        );
        assert!(
            h.due(Zone::Utc, at(6, 0, 0), at(9, 30, 0), grace, 0)
                .is_empty()
        );
    }
}
