//! The scan result file: what `otscout scan` writes and `otscout merge` reads.
//!
//! A [`ScanResult`] is the scan's metadata ([`ScanMeta`]: scope, exclusions, profile and
//! its hash, timings, operator, tool version, and the [`Ledger`] of every request that
//! was sent) plus the observations the scan made. It is plain data with a stable serde
//! form; merge copies the metadata into the report unchanged, so an auditor can see what
//! was sent to which host.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::observation::Observation;

/// The `format` value of a scan result file.
pub const SCAN_FORMAT: &str = "otscout-scan";
/// The scan result format version this build writes. Version 2 summarises addresses
/// that answered nothing as ranges (`scan.unanswered`, [`super::unanswered`]) instead of
/// one host record and `no_answer` observations each.
pub const SCAN_VERSION: u32 = 2;
/// The oldest scan result format version this build reads (version 1 is version 2
/// without `unanswered`; merge summarises it as it reads it).
pub const SCAN_VERSION_MIN: u32 = 1;

/// One scan's result: metadata plus observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    /// Always [`SCAN_FORMAT`].
    pub format: String,
    /// Always [`SCAN_VERSION`].
    pub version: u32,
    pub scan: ScanMeta,
    pub observations: Vec<Observation>,
}

impl ScanResult {
    /// A result with the right `format` and `version`.
    pub fn new(scan: ScanMeta, observations: Vec<Observation>) -> Self {
        ScanResult {
            format: SCAN_FORMAT.to_owned(),
            version: SCAN_VERSION,
            scan,
            observations,
        }
    }
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    /// Every planned probe ran (some may have failed: that is in the observations).
    Complete,
    /// Stopped by the operator (Ctrl-C) before the plan was done.
    Interrupted,
    /// The maintenance window closed before the plan was done.
    WindowEnded,
}

/// A scan's metadata: what was asked, of whom, by whom, when, and what was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanMeta {
    /// Unique id of the scan (also in every active observation's provenance).
    pub scan_id: String,
    pub status: ScanStatus,
    pub started: DateTime<Utc>,
    /// `None` only if the scan was cut off before it could record an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
    /// The profile's name (`conservative`, a file name, …).
    pub profile: String,
    /// SHA-256 of the profile's TOML text, lowercase hex.
    pub profile_sha256: String,
    /// Target specs as given on the command line or in the targets file.
    #[serde(default)]
    pub scope: Vec<String>,
    /// Exclusion specs as given.
    #[serde(default)]
    pub exclusions: Vec<String>,
    /// Who ran it (`--operator`, else the user name), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The host the scan ran on, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The site the scan ran at (`otscout scan --site`), if named: the site of the
    /// report merged from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The otscout version that ran the scan.
    pub otscout_version: String,
    /// Every request sent, per host.
    #[serde(default)]
    pub ledger: Ledger,
    /// Members this struct does not name (per-host probe outcomes, skipped hosts, …, as
    /// the scan writer adds them): kept as they are, so merge and the report lose nothing.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// What was sent: host → request kind (`modbus.read_device_id`, `enip.list_identity`,
/// `s7.szl_read`, `tcp.connect`, …) → count and first/last time.
pub type Ledger = BTreeMap<IpAddr, BTreeMap<String, LedgerEntry>>;

/// How often one request kind went to one host, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

impl LedgerEntry {
    /// Folds another entry for the same host and kind into this one.
    pub fn absorb(&mut self, other: &LedgerEntry) {
        self.count = self.count.saturating_add(other.count);
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// Records one sent request of `kind` to `host` at `at` in `ledger`.
pub fn record(ledger: &mut Ledger, host: IpAddr, kind: &str, at: DateTime<Utc>) {
    let entry = ledger
        .entry(host)
        .or_default()
        .entry(kind.to_owned())
        .or_insert(LedgerEntry {
            count: 0,
            first: at,
            last: at,
        });
    entry.absorb(&LedgerEntry {
        count: 1,
        first: at,
        last: at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_records_count_first_last() {
        let mut l = Ledger::new();
        let h: IpAddr = "10.0.0.5".parse().unwrap();
        let t1 = DateTime::parse_from_rfc3339("2026-01-01T00:00:02Z")
            .unwrap()
            .to_utc();
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
            .unwrap()
            .to_utc();
        record(&mut l, h, "modbus.read_device_id", t1);
        record(&mut l, h, "modbus.read_device_id", t0);
        let e = l[&h]["modbus.read_device_id"];
        assert_eq!((e.count, e.first, e.last), (2, t0, t1));
    }

    #[test]
    fn scan_result_round_trips() {
        let meta = ScanMeta {
            scan_id: "s1".into(),
            status: ScanStatus::WindowEnded,
            started: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            ended: None,
            profile: "conservative".into(),
            profile_sha256: "00".repeat(32),
            scope: vec!["10.0.0.0/24".into()],
            exclusions: vec![],
            operator: None,
            host: None,
            site: None,
            otscout_version: "0.1.0".into(),
            ledger: Ledger::new(),
            extra: BTreeMap::new(),
        };
        let r = ScanResult::new(meta, vec![]);
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"status\":\"window_ended\""), "{s}");
        let back: ScanResult = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn unknown_scan_members_and_the_ledger_survive_a_round_trip() {
        let text = r#"{"scan_id":"s","status":"complete","started":"2026-01-01T00:00:00Z",
            "profile":"p","profile_sha256":"00","otscout_version":"0.1.0",
            "ledger":{"10.0.0.5":{"tcp.connect":{"count":1,"first":"2026-01-01T00:00:01Z","last":"2026-01-01T00:00:01Z"}}},
            "hosts":{"10.0.0.5":{"state":"done"}},"skipped":[{"ip":"10.0.0.1","reason":"excluded"}]}"#;
        let m: ScanMeta = serde_json::from_str(text).unwrap();
        let h: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(m.ledger[&h]["tcp.connect"].count, 1);
        assert_eq!(m.extra["skipped"][0]["reason"], "excluded");
        let again: ScanMeta = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }
}
