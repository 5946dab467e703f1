//! Maintenance windows: when a scan may send requests.
//!
//! `--window 22:00-05:30` is a daily window in local time (it may cross midnight);
//! `--until 2026-11-26T05:30:00+01:00` is a fixed end. Both resolve, at the start of a
//! scan, into one absolute deadline; a scan refuses to start outside its window and stops
//! issuing requests when the deadline passes.
//!
//! Pure code: the current time is a parameter, never read here.
//!
//! # OT safety
//! Plants agree to scans inside maintenance windows. Starting outside one, or carrying on
//! past its end, is exactly what an operator asked us not to do, so both are refused here
//! rather than left to the caller.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Why a window or deadline could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// The `--window` text is not `HH:MM-HH:MM`.
    #[error("window {text:?} is not HH:MM-HH:MM (24-hour local time, e.g. 22:00-05:30)")]
    Syntax { text: String },
    /// Start and end are the same time: the window would be empty (or always open).
    #[error("window {text:?} starts and ends at the same time; give two different times")]
    Empty { text: String },
    /// The `--until` text is not a timestamp.
    #[error(
        "until {text:?} is not a timestamp: use RFC 3339 (2026-11-26T05:30:00+01:00) or local `YYYY-MM-DD HH:MM`"
    )]
    Timestamp { text: String },
    /// Now is outside the window.
    #[error("now ({now}) is outside the maintenance window {window}; start the scan inside it")]
    Outside { now: String, window: Window },
    /// The `--until` time has already passed.
    #[error("--until {until} has already passed (now {now}); give a later time")]
    Passed { until: String, now: String },
}

/// A daily maintenance window in local time, `start` inclusive to `end` exclusive. When
/// `end` is earlier than `start` the window crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || WindowError::Syntax { text: text.into() };
        let (a, b) = text.trim().split_once('-').ok_or_else(syntax)?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| syntax())?;
        let end = NaiveTime::parse_from_str(b.trim(), "%H:%M").map_err(|_| syntax())?;
        if start == end {
            return Err(WindowError::Empty { text: text.into() });
        }
        Ok(Window { start, end })
    }
}

impl Window {
    /// If local wall-clock time `now` is inside the window, the local date-time at which
    /// this opening of the window ends; `None` when outside.
    pub fn end_of_current(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        let t = now.time();
        let today = now.date();
        if self.start < self.end {
            (t >= self.start && t < self.end).then(|| today.and_time(self.end))
        } else if t >= self.start {
            // Opened this evening, ends tomorrow morning.
            Some(next_day(today).and_time(self.end))
        } else if t < self.end {
            // Opened yesterday evening, ends this morning.
            Some(today.and_time(self.end))
        } else {
            None
        }
    }
}

fn next_day(d: NaiveDate) -> NaiveDate {
    d.succ_opt().unwrap_or(d)
}

/// Parses `--until`: RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` in
/// the zone `tz` (the operator's local time).
pub fn parse_until<Tz: TimeZone>(text: &str, tz: &Tz) -> Result<DateTime<Utc>, WindowError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return local_to_utc(tz, naive)
                .ok_or_else(|| WindowError::Timestamp { text: text.into() });
        }
    }
    Err(WindowError::Timestamp { text: text.into() })
}

/// A local wall-clock time as UTC. In a DST gap there is no such time, so the earliest
/// valid reading after it is used; in a fold the earlier of the two (the window closes
/// early rather than late).
fn local_to_utc<Tz: TimeZone>(tz: &Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => {
            // Spring-forward gap: step forward a minute at a time (gaps are at most hours).
            let mut n = naive;
            for _ in 0..(3 * 60) {
                n += Duration::minutes(1);
                if let LocalResult::Single(t) = tz.from_local_datetime(&n) {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}

/// Resolves the window and `--until` at scan start into the deadline after which no
/// request is issued: the earlier of the two, or `None` for no deadline.
///
/// Refuses to start outside the window or after `until`.
pub fn resolve_deadline<Tz: TimeZone>(
    now: &DateTime<Tz>,
    window: Option<&Window>,
    until: Option<DateTime<Utc>>,
) -> Result<Option<DateTime<Utc>>, WindowError> {
    let now_utc = now.with_timezone(&Utc);
    let mut deadline = None;
    if let Some(w) = window {
        let local = now.naive_local();
        let end = w
            .end_of_current(local)
            .ok_or_else(|| WindowError::Outside {
                now: local.format("%Y-%m-%d %H:%M").to_string(),
                window: *w,
            })?;
        let end = local_to_utc(&now.timezone(), end).ok_or_else(|| WindowError::Outside {
            now: local.format("%Y-%m-%d %H:%M").to_string(),
            window: *w,
        })?;
        deadline = Some(end);
    }
    if let Some(u) = until {
        if u <= now_utc {
            return Err(WindowError::Passed {
                until: u.to_rfc3339(),
                now: now_utc.to_rfc3339(),
            });
        }
        deadline = Some(deadline.map_or(u, |d: DateTime<Utc>| d.min(u)));
    }
    Ok(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(tz: &FixedOffset, s: &str) -> DateTime<FixedOffset> {
        tz.from_local_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
            .unwrap()
    }

    #[test]
    fn parses_and_rejects_windows() {
        let w: Window = "22:00-05:30".parse().unwrap();
        assert_eq!(w.to_string(), "22:00-05:30");
        for bad in [
            "",
            "22:00",
            "25:00-01:00",
            "22-05",
            "22:00-22:00",
            "aa:bb-cc:dd",
        ] {
            assert!(bad.parse::<Window>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn window_crossing_midnight() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let w: Window = "22:00-05:30".parse().unwrap();
        // Evening: ends tomorrow 05:30 local = 04:30 UTC.
        let d = resolve_deadline(&at(&tz, "2026-11-25 23:10"), Some(&w), None).unwrap();
        assert_eq!(d.unwrap().to_rfc3339(), "2026-11-26T04:30:00+00:00");
        // Early morning: ends today 05:30.
        let d = resolve_deadline(&at(&tz, "2026-11-26 01:00"), Some(&w), None).unwrap();
        assert_eq!(d.unwrap().to_rfc3339(), "2026-11-26T04:30:00+00:00");
        // Exactly at the end is outside; daytime is outside.
        for now in ["2026-11-26 05:30", "2026-11-26 12:00", "2026-11-26 21:59"] {
            let e = resolve_deadline(&at(&tz, now), Some(&w), None).unwrap_err();
            assert!(matches!(e, WindowError::Outside { .. }), "{now}: {e}");
            assert!(e.to_string().contains("22:00-05:30"));
        }
    }

    #[test]
    fn same_day_window_and_until() {
        let tz = FixedOffset::east_opt(0).unwrap();
        let w: Window = "09:00-17:00".parse().unwrap();
        let now = at(&tz, "2026-11-25 10:00");
        let until = parse_until("2026-11-25T12:00:00Z", &tz).unwrap();
        let d = resolve_deadline(&now, Some(&w), Some(until))
            .unwrap()
            .unwrap();
        assert_eq!(
            d.to_rfc3339(),
            "2026-11-25T12:00:00+00:00",
            "earlier of the two"
        );
        let late = parse_until("2026-11-25 18:00", &tz).unwrap();
        let d = resolve_deadline(&now, Some(&w), Some(late))
            .unwrap()
            .unwrap();
        assert_eq!(d.to_rfc3339(), "2026-11-25T17:00:00+00:00");
        assert_eq!(resolve_deadline(&now, None, None).unwrap(), None);
    }

    #[test]
    fn until_in_the_past_or_garbage_is_refused() {
        let tz = FixedOffset::east_opt(0).unwrap();
        let now = at(&tz, "2026-11-25 10:00");
        let past = parse_until("2026-11-25 09:59", &tz).unwrap();
        assert!(matches!(
            resolve_deadline(&now, None, Some(past)),
            Err(WindowError::Passed { .. })
        ));
        assert!(parse_until("tomorrow", &tz).is_err());
        let local = parse_until("2026-11-25T10:30", &FixedOffset::east_opt(7200).unwrap());
        assert_eq!(local.unwrap().to_rfc3339(), "2026-11-25T08:30:00+00:00");
    }
}
