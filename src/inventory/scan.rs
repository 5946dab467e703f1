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

use super::observation::{Observation, Protocol, Transport};

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
    /// `scan.hosts`: each probed host's record, keyed by its address as written
    /// (docs/scan-result.md). Absent in a result that was not written by `otscout scan`.
    /// Since version 2 an address that answered nothing is in `unanswered` instead.
    /// Keyed by the text, not the address: the text's order is the order on disk, and a
    /// key that is not an address (a hand-edited file) still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<BTreeMap<String, HostOutcome>>,
    /// `scan.skipped`: targets never touched, and why; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedTarget>,
    /// Members this struct does not name (`unanswered`, [`super::unanswered`], and what a
    /// newer otscout adds): kept as they are, so merge and the report lose nothing.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ScanMeta {
    /// The host records whose key is an address, in the order on disk.
    pub fn host_records(&self) -> impl Iterator<Item = (IpAddr, &HostOutcome)> {
        self.hosts
            .iter()
            .flatten()
            .filter_map(|(k, r)| k.parse().ok().map(|ip| (ip, r)))
    }
}

/// A value of a closed vocabulary as a record read from a file holds it: one this build
/// knows, or the text a newer otscout wrote (a host state or probe outcome added since),
/// kept as it was so that the record still reads and writes back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Open<T> {
    Known(T),
    Unknown(String),
}

impl<T> Open<T> {
    /// The known value, `None` for one this build does not know.
    pub fn known(&self) -> Option<&T> {
        match self {
            Open::Known(t) => Some(t),
            Open::Unknown(_) => None,
        }
    }
}

impl<T> From<T> for Open<T> {
    fn from(t: T) -> Self {
        Open::Known(t)
    }
}

impl<T: PartialEq> PartialEq<T> for Open<T> {
    fn eq(&self, other: &T) -> bool {
        self.known() == Some(other)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Open<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Open::Known(t) => t.fmt(f),
            Open::Unknown(text) => f.write_str(text),
        }
    }
}

impl<T: Serialize> Serialize for Open<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Open::Known(t) => t.serialize(s),
            Open::Unknown(text) => s.serialize_str(text),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Open<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match T::deserialize(serde_json::Value::String(text.clone())) {
            Ok(t) => Ok(Open::Known(t)),
            Err(_) => Ok(Open::Unknown(text)),
        }
    }
}

/// Whether a host was probed to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    Done,
    Interrupted,
}

/// How one protocol probe of one host ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// The device said who it is.
    Identified,
    /// The device spoke the protocol and said no (exception, unsupported command,
    /// refused TSAP).
    Negative,
    /// The device answered the identity request, but named nothing (a Modbus Read Device
    /// Identification reply with zero objects).
    AnsweredNoIdentity,
    /// Something answered, but not in this protocol.
    NotThisProtocol,
    /// Connection refused (nothing listening).
    Refused,
    /// Connect timed out (nothing there, or filtered).
    ConnectTimeout,
    /// Connected, but the device did not answer in time.
    Timeout,
    /// The device reset or closed the connection mid-exchange.
    Reset,
    /// A reply that did not decode as the protocol should (kept raw).
    Suspicious,
    /// A vendor rule said not to send this protocol to this device.
    SkippedByRule,
    /// The per-host breaker had opened: not tried.
    CircuitOpen,
    /// The guard refused a frame the session built: nothing was sent. A bug in otscout.
    GuardRefused,
    /// A local error (socket creation and the like).
    LocalError,
    /// The scan stopped before this probe finished.
    Interrupted,
    /// Not sent again after `--resume`: earlier runs of this scan already sent this probe
    /// the requests its plan allows a host (the profile's budget).
    BudgetSpent,
    /// Not tried: the host was left alone for the rest of the scan (the host's
    /// `HostReport::left_alone` says why).
    LeftAlone,
}

/// Why otscout left a host alone for the rest of the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LeftAlone {
    /// The device kept its side of a connection open after our FIN for longer than the
    /// close hold. otscout kept the connection, reading and discarding what the device
    /// still sent, until the device closed it or the scan ended, and never connected to
    /// the host again: a device that has not closed still holds one of its connections.
    HeldOpen {
        protocol: Protocol,
        port: u16,
        /// When our FIN went out.
        fin_at: DateTime<Utc>,
        /// The close hold that passed without the device's FIN.
        hold_ms: u64,
    },
}

impl ProbeOutcome {
    /// An outcome that means "we could not ask properly" (counts toward exit code 1): a
    /// device that connected but did not answer or reset, or a fault on our side. A
    /// refused or timed-out connect is an empty address, not an error; an open breaker is
    /// not one on its own (the failures that opened it are).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            ProbeOutcome::Timeout
                | ProbeOutcome::Reset
                | ProbeOutcome::GuardRefused
                | ProbeOutcome::LocalError
        )
    }
}

impl std::fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// `scan.hosts.<ip>`: one probed host, whether it was finished, and each protocol
/// probe's outcome (docs/scan-result.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOutcome {
    /// `done`, or `interrupted` (the scan stopped while probing it).
    pub state: Open<HostState>,
    /// When its first probe started and its last ended: always written, but a record
    /// without them (hand-written, or cut down) still reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
    /// Always written (empty for a host no probe was tried on); a record without it
    /// reads as one without probes.
    #[serde(default)]
    pub probes: Vec<ProbeRecord>,
    /// Why otscout left the host alone for the rest of the scan, if it did:
    /// `{"reason": "held_open", "protocol", "port", "fin_at", "hold_ms"}` (the device kept
    /// its side of a connection open after our FIN for longer than the close hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<LeftAlone>,
    /// What the operator should know about how the host was probed (a cap that left
    /// Modbus unit ids out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Members this build does not name (a newer otscout's): kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One protocol probe of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub protocol: Protocol,
    pub transport: Transport,
    pub port: u16,
    /// `identified`, `negative`, `answered_no_identity`, `not_this_protocol`, `refused`,
    /// `connect_timeout`, `timeout`, `reset`, `suspicious`, `skipped_by_rule`,
    /// `circuit_open`, `guard_refused`, `local_error`, `interrupted`, `left_alone` or
    /// `budget_spent` (after `--resume`: earlier runs already sent the requests the
    /// probe's plan allows); any other text as a newer otscout wrote it.
    pub outcome: Open<ProbeOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    /// Connections opened.
    pub connections: u32,
    /// Members this build does not name (a newer otscout's): kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `scan.skipped[]`: a target never touched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTarget {
    pub ip: IpAddr,
    pub reason: String,
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
            hosts: None,
            skipped: vec![],
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
        assert_eq!(m.skipped[0].reason, "excluded");
        let again: ScanMeta = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    /// A host record as a newer otscout might write it: a state, a probe outcome and
    /// members this build does not know. It reads, the known parts are typed, and it
    /// writes back exactly as it was.
    #[test]
    fn a_host_record_from_a_newer_otscout_reads_and_writes_back_unchanged() {
        let text = r#"{"scan_id":"s","status":"complete","started":"2026-01-01T00:00:00Z",
            "profile":"p","profile_sha256":"00","scope":[],"exclusions":[],
            "otscout_version":"9.0.0","ledger":{},
            "hosts":{"10.0.0.5":{"state":"paused","started":"2026-01-01T00:00:01Z",
                "ended":"2026-01-01T00:00:02Z","vlan":12,
                "probes":[{"protocol":"modbus","transport":"tcp","port":502,
                    "outcome":"rate_limited","started":"2026-01-01T00:00:01Z",
                    "ended":"2026-01-01T00:00:02Z","connections":0,"retry_at":"later"},
                  {"protocol":"enip","transport":"tcp","port":44818,"outcome":"refused",
                    "started":"2026-01-01T00:00:01Z","ended":"2026-01-01T00:00:02Z",
                    "connections":1}]}},
            "skipped":[{"ip":"10.0.0.1","reason":"excluded"}],
            "unanswered":[]}"#;
        let m: ScanMeta = serde_json::from_str(text).unwrap();
        let (ip, h) = m.host_records().next().unwrap();
        assert_eq!(ip, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(h.state, Open::Unknown("paused".into()));
        assert_eq!(h.extra["vlan"], 12);
        assert_eq!(h.probes[0].outcome, Open::Unknown("rate_limited".into()));
        assert_eq!(h.probes[0].outcome.to_string(), "rate_limited");
        assert_eq!(h.probes[0].extra["retry_at"], "later");
        assert_eq!(h.probes[1].outcome, ProbeOutcome::Refused);
        assert!(m.extra.contains_key("unanswered"));
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), original);
    }

    /// The typed records write what the untyped members held: the host records keyed
    /// and ordered by their text (10.0.0.10 before 10.0.0.9), then `skipped`, then the
    /// members kept as they are.
    #[test]
    fn typed_host_records_keep_the_json_on_disk() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let record = |state: HostState| HostOutcome {
            state: state.into(),
            started: Some(t),
            ended: Some(t),
            probes: vec![ProbeRecord {
                protocol: Protocol::Other,
                transport: Transport::Tcp,
                port: 1,
                outcome: ProbeOutcome::ConnectTimeout.into(),
                detail: None,
                started: t,
                ended: t,
                connections: 1,
                extra: BTreeMap::new(),
            }],
            left_alone: None,
            notes: vec![],
            extra: BTreeMap::new(),
        };
        let mut hosts = BTreeMap::new();
        hosts.insert("10.0.0.9".to_owned(), record(HostState::Done));
        hosts.insert("10.0.0.10".to_owned(), record(HostState::Interrupted));
        let meta = ScanMeta {
            scan_id: "s".into(),
            status: ScanStatus::Complete,
            started: t,
            ended: None,
            profile: "p".into(),
            profile_sha256: "00".into(),
            scope: vec![],
            exclusions: vec![],
            operator: None,
            host: None,
            site: None,
            otscout_version: "0.1.0".into(),
            ledger: Ledger::new(),
            hosts: Some(hosts),
            skipped: vec![SkippedTarget {
                ip: "10.0.0.1".parse().unwrap(),
                reason: "excluded".into(),
            }],
            extra: BTreeMap::from([("unanswered".to_owned(), serde_json::json!([]))]),
        };
        let probe = r#"{"protocol":"other","transport":"tcp","port":1,"outcome":"connect_timeout","started":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:00:00Z","connections":1}"#;
        let host = |state: &str| {
            format!(
                r#"{{"state":"{state}","started":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:00:00Z","probes":[{probe}]}}"#
            )
        };
        let want = format!(
            r#"{{"scan_id":"s","status":"complete","started":"2026-01-01T00:00:00Z","profile":"p","profile_sha256":"00","scope":[],"exclusions":[],"otscout_version":"0.1.0","ledger":{{}},"hosts":{{"10.0.0.10":{},"10.0.0.9":{}}},"skipped":[{{"ip":"10.0.0.1","reason":"excluded"}}],"unanswered":[]}}"#,
            host("interrupted"),
            host("done")
        );
        assert_eq!(serde_json::to_string(&meta).unwrap(), want);
    }
}
