//! One row of a Zeek/ICSNPP log as the per-protocol parsers see it: named fields, the
//! value readers Zeek's formats need, and where a value that does not parse is reported.
//!
//! The file reading (headers, separators, escapes, JSON lines, gzip, line caps) is
//! [`crate::passive::zeek`]'s; each protocol's logs are read by
//! `crate::protocols::<name>::zeek` through [`crate::protocols::ProtocolSpec::zeek_row`].
//!
//! A value that does not parse is never replaced by a default: the reader returns `None`
//! and records a [`BadValue`] naming the field and what was done (the field left out, or
//! the row skipped when the fact cannot stand without it); the importer reports them per
//! file, log and field.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::At;

/// One record: field name to value (`None` when unset).
pub type Record = BTreeMap<String, Option<String>>;

/// A field value that did not parse, or is missing where the fact needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub field: String,
    /// The value as written (`None`: missing).
    pub value: Option<String>,
    /// What was done about it (`row skipped`, `field left out`, ...).
    pub action: &'static str,
}

/// The row cannot be read further; why is already recorded in its [`RowIssues`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped;

/// What reading a row found wrong, drained by the importer after each row.
#[derive(Debug, Default)]
pub struct RowIssues {
    pub bad: Vec<BadValue>,
    /// Whole-row warnings (an address that is not one), already naming file and line.
    pub warnings: Vec<String>,
}

/// One row of one log.
#[derive(Debug)]
pub struct Row<'a> {
    /// The file the row is in (for warnings).
    pub file: &'a str,
    /// The log the row belongs to (`#path`, `_path`, or the file name).
    pub log: &'a str,
    /// 1-based line number in the file.
    pub line: u64,
    record: &'a Record,
    issues: &'a mut RowIssues,
}

impl<'a> Row<'a> {
    pub fn new(
        file: &'a str,
        log: &'a str,
        line: u64,
        record: &'a Record,
        issues: &'a mut RowIssues,
    ) -> Self {
        Row {
            file,
            log,
            line,
            record,
            issues,
        }
    }

    /// The value of `k`, `None` when unset or absent.
    pub fn get(&self, k: &str) -> Option<&'a str> {
        self.record.get(k).and_then(|v| v.as_deref())
    }

    /// Whether the row has a column `k` (set or not).
    pub fn has(&self, k: &str) -> bool {
        self.record.contains_key(k)
    }

    /// Records that `field`'s `value` (`None`: missing) did not do, and what was done.
    pub fn bad(&mut self, field: &str, value: Option<&str>, action: &'static str) {
        self.issues.bad.push(BadValue {
            field: field.to_string(),
            value: value.map(str::to_string),
            action,
        });
    }

    /// A warning about the whole row (prefixed with file, line and log).
    pub fn warn(&mut self, what: &str) {
        let w = format!("{} line {} ({}): {what}", self.file, self.line, self.log);
        self.issues.warnings.push(w);
    }

    /// The row's `ts`; a value that is not a time is reported and the row kept without one.
    pub fn ts(&mut self) -> Option<DateTime<Utc>> {
        let v = self.get("ts")?;
        let t = parse_time(v);
        if t.is_none() {
            self.bad("ts", Some(v), "kept without a time");
        }
        t
    }

    /// Where the row is, with its time ([`Self::ts`]).
    pub fn at(&mut self) -> At {
        At {
            frame: self.line,
            ts: self.ts(),
        }
    }

    /// A number field: `None` when unset; a value that does not parse (or does not fit
    /// `T`) is reported with `action` and also `None`.
    pub fn number<T: TryFrom<u64>>(&mut self, k: &str, action: &'static str) -> Option<T> {
        let v = self.get(k)?;
        let n = num(v).and_then(|n| T::try_from(n).ok());
        if n.is_none() {
            self.bad(k, Some(v), action);
        }
        n
    }

    /// A number the fact cannot stand without: unset counts as bad too.
    pub fn required<T: TryFrom<u64>>(&mut self, k: &str) -> Option<T> {
        if self.get(k).is_none() {
            self.bad(k, None, "row skipped");
            return None;
        }
        self.number(k, "row skipped")
    }

    /// An address field; a value that is not one is warned about (`row skipped`).
    pub fn addr(&mut self, k: &str) -> Option<IpAddr> {
        let v = self.get(k)?;
        match v.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.warn(&format!("{k} {v:?} is not an IP address: row skipped"));
                None
            }
        }
    }

    /// The client and server of the row's connection (`id.orig_h`, `id.resp_h`).
    pub fn ends(&mut self) -> Option<(IpAddr, IpAddr)> {
        let orig = self.addr("id.orig_h")?;
        let resp = self.addr("id.resp_h")?;
        Some((orig, resp))
    }

    /// The replying device of an ICSNPP row: `source_h` of a row the responder sent
    /// (`is_orig` false) in newer releases, else the connection's responder.
    pub fn replier(&mut self) -> Option<IpAddr> {
        let from_responder = self.get("is_orig").and_then(boolean) == Some(false);
        if from_responder && self.get("source_h").is_some() {
            self.addr("source_h")
        } else {
            self.addr("id.resp_h")
        }
    }

    /// `is_orig` (ICSNPP: true when the originator sent the row's message): `Ok(None)`
    /// when the column is unset or absent, `Err(Skipped)` (reported, row skipped) when it
    /// is not a boolean.
    pub fn is_orig(&mut self) -> Result<Option<bool>, Skipped> {
        match self.get("is_orig") {
            None => Ok(None),
            Some(v) => match boolean(v) {
                Some(b) => Ok(Some(b)),
                None => {
                    self.bad("is_orig", Some(v), "row skipped");
                    Err(Skipped)
                }
            },
        }
    }
}

/// A Zeek time: epoch seconds (`1700000000.123456`) or ISO 8601 (JSON logs written with
/// `LogAscii::json_timestamps=JSON::TS_ISO8601`).
pub fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if let Ok(t) = v.parse::<f64>() {
        // Finite and within chrono's range (about ±262,000 years).
        if !t.is_finite() || t.abs() > 8.0e12 {
            return None;
        }
        let secs = t.floor();
        return DateTime::from_timestamp(secs as i64, ((t - secs) * 1e9) as u32);
    }
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Zeek booleans: `T`/`F` in TSV, `true`/`false` in JSON.
pub fn boolean(v: &str) -> Option<bool> {
    match v {
        "T" | "true" => Some(true),
        "F" | "false" => Some(false),
        _ => None,
    }
}

/// A decimal or `0x` hex number.
pub fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_zeek_forms_and_nothing_else() {
        assert_eq!(
            parse_time("1700000000.25").map(|t| t.timestamp_millis()),
            Some(1_700_000_000_250)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20.250Z").map(|t| t.timestamp_millis()),
            Some(1_700_000_000_250)
        );
        for bad in ["", "-", "nan", "inf", "1e300", "yesterday"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
