//! Differential conformance against Wireshark's dissectors: an external oracle for the
//! passive decoders.
//!
//! For one capture, [`check_capture`] runs otscout's passive import (this library, in
//! process) and `tshark` over the same file, turns what each found into flat identity
//! records (the specs each protocol folder gives through
//! [`crate::protocols::ProtocolSpec::conformance_specs`], see
//! [`crate::protocols::conformance`]), and compares them keyed by
//! (device address, kind of identity, key within the device). Each key ends up in one of
//! four states: agree, only otscout, only tshark, differ (with the fields that differ).
//! Every difference must be listed, with a reason, in an explanations file
//! ([`Explanations`], `tests/conformance/explanations.toml`); [`Outcome::unexplained`]
//! names the ones that are not, and [`Explanations::stale`] the entries that no longer
//! match anything.
//!
//! The harness is used by `tests/it/conformance.rs` (CI, over `OTSCOUT_CAPTURES`) and by
//! `cargo run --example conformance -- DIR...` (any folder a person has). It is test
//! tooling: the CLI does not use it, and nothing here prints.
//!
//! # Granularity
//! otscout folds the replies of one device into one identity per key (the objects of
//! several reads of one unit, the lists of one CPU), and keeps the first frame. The
//! tshark side is folded the same way (first value of a field wins, every frame is
//! listed), so a row shows otscout's first frame and all of tshark's frames.
//!
//! # What it never does
//! It sends nothing: tshark reads the file with name resolution off (`-n`).

pub mod tshark;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::inventory::{Fact, Provenance, Transport};
use crate::passive::{self, ImportOptions};
use crate::protocols::conformance::{Part, Spec, specs};

/// Ports outside the defaults one port preference may carry (a capture with more is a
/// port scan, not a plant protocol on odd ports).
const MAX_EXTRA_PORTS: usize = 32;

/// Why a capture could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConformanceError {
    #[error(
        "cannot run {tshark}: {source} (install Wireshark's tshark, e.g. apt-get install tshark)"
    )]
    TsharkMissing {
        tshark: String,
        source: std::io::Error,
    },
    #[error("tshark exited with {status}: {stderr}")]
    TsharkFailed { status: String, stderr: String },
    #[error("tshark printed output that is not its -T json form: {reason}")]
    TsharkOutput { reason: String },
    #[error("otscout could not import it: {0}")]
    Import(#[from] passive::ImportError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("explanations file {path}: {reason}")]
    Explanations { path: PathBuf, reason: String },
}

/// How a key compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Agree,
    OnlyOtscout,
    OnlyTshark,
    Differ,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Agree => "agree",
            Status::OnlyOtscout => "only otscout",
            Status::OnlyTshark => "only tshark",
            Status::Differ => "differ",
        }
    }
}

/// One identity found by one side: a device, a kind of identity, a key, fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub device: IpAddr,
    pub spec: &'static str,
    pub key: String,
    /// otscout: the first frame; tshark: every frame that contributed.
    pub frames: Vec<u64>,
    pub fields: BTreeMap<String, String>,
}

/// A field that differs; `None` is a field one side does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: String,
    pub otscout: Option<String>,
    pub tshark: Option<String>,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub status: Status,
    pub device: IpAddr,
    pub spec: &'static str,
    /// The key (`otscout-key | tshark-key` when two leftovers of one device were paired).
    pub key: String,
    pub otscout_frames: Vec<u64>,
    pub tshark_frames: Vec<u64>,
    /// Fields compared (agree) or the fields of the side that has it (only one side).
    pub fields: usize,
    pub diffs: Vec<FieldDiff>,
    /// The reasons from the explanations file that cover this row, if it differs.
    pub explained: Vec<String>,
    /// Differing fields (or `*` for a row that is only on one side) no explanation covers.
    pub unexplained: Vec<String>,
}

/// What one capture gave.
#[derive(Debug, Clone)]
pub struct CaptureResult {
    /// The file name (what the explanations file names).
    pub name: String,
    pub path: PathBuf,
    pub rows: Vec<Row>,
    /// otscout's import warnings (shown, not compared).
    pub otscout_warnings: Vec<String>,
    /// tshark's complaints about a file it still read (a capture cut short).
    pub tshark_warnings: Vec<String>,
    /// The tshark arguments (decode-as included), for a person to rerun.
    pub tshark_args: Vec<String>,
}

impl CaptureResult {
    /// The rows that differ with no explanation.
    pub fn unexplained(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| !r.unexplained.is_empty())
    }
}

/// The captures in `path`: the file itself, or the files of a folder whose content is a
/// pcap or pcapng (gzip-compressed or not; detected by magic bytes, never the extension),
/// sorted by name. Subfolders are not entered.
pub fn captures_in(path: &Path) -> Result<Vec<PathBuf>, ConformanceError> {
    let io = |source| ConformanceError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        // A named file is checked whatever it holds: the import says what is wrong.
        std::fs::metadata(path).map_err(io)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(path).map_err(io)? {
        let p = e.map_err(io)?.path();
        if p.is_file() && is_capture(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn is_capture(p: &Path) -> bool {
    let Ok(f) = std::fs::File::open(p) else {
        return false;
    };
    let mut head = Vec::with_capacity(4);
    if f.take(4).read_to_end(&mut head).is_err() {
        return false;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let Ok(f) = std::fs::File::open(p) else {
            return false;
        };
        head.clear();
        let gz = flate2::read::MultiGzDecoder::new(f);
        if gz.take(4).read_to_end(&mut head).is_err() {
            return false;
        }
    }
    passive::capture::sniff(&head).is_some()
}

/// What otscout's passive import of one capture gives the comparison.
#[derive(Debug, Clone, Default)]
pub struct OtscoutSide {
    /// Its identities, as records.
    pub records: Vec<Record>,
    /// The tshark port preferences that cover the ports otscout found a compared
    /// protocol on.
    pub ports: Vec<tshark::PortPrefValue>,
    /// Its import warnings.
    pub warnings: Vec<String>,
    /// The protocols it saw a service or an identity of.
    pub seen: BTreeSet<crate::inventory::Protocol>,
}

/// Runs otscout's passive import over `path`.
pub fn otscout_records(path: &Path) -> Result<OtscoutSide, ConformanceError> {
    let report = passive::import_path(path, &ImportOptions::default())?;
    let mut records = Vec::new();
    let mut extra: BTreeMap<&'static str, (&'static [u16], BTreeSet<u16>)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for o in &report.observations {
        match &o.fact {
            Fact::Identity { identity } => {
                seen.insert(identity.protocol());
                let frame = match &o.provenance {
                    Provenance::Pcap { frame, .. } => vec![*frame],
                    _ => Vec::new(),
                };
                for spec in specs() {
                    if let Some(part) = (spec.otscout)(identity) {
                        records.push(record(o.ip, spec, part, frame.clone()));
                    }
                }
            }
            Fact::Service {
                transport,
                port,
                protocol,
            } => {
                seen.insert(*protocol);
                for spec in specs()
                    .into_iter()
                    .filter(|s| s.protocols.contains(protocol))
                {
                    let pref = match transport {
                        Transport::Tcp => spec.tcp,
                        Transport::Udp => spec.udp,
                    };
                    if let Some(pref) = pref.filter(|p| !p.default.contains(port)) {
                        let (_, ports) = extra
                            .entry(pref.name)
                            .or_insert((pref.default, BTreeSet::new()));
                        if ports.len() < MAX_EXTRA_PORTS {
                            ports.insert(*port);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let prefs = extra
        .into_iter()
        .map(|(name, (default, ports))| tshark::PortPrefValue {
            name,
            ports: default.iter().copied().chain(ports).collect(),
        })
        .collect();
    Ok(OtscoutSide {
        records: fold(records),
        ports: prefs,
        warnings: report.warnings,
        seen,
    })
}

fn record(device: IpAddr, spec: &Spec, part: Part, frames: Vec<u64>) -> Record {
    Record {
        device,
        spec: spec.name,
        key: part.key,
        frames,
        fields: part.fields,
    }
}

/// Folds records with the same (device, spec, key) the way otscout folds replies: the
/// first value of a field wins; frames are all kept.
pub fn fold(records: Vec<Record>) -> Vec<Record> {
    let mut by: BTreeMap<(IpAddr, &'static str, String), Record> = BTreeMap::new();
    for r in records {
        match by.get_mut(&(r.device, r.spec, r.key.clone())) {
            Some(into) => {
                for (k, v) in r.fields {
                    into.fields.entry(k).or_insert(v);
                }
                into.frames.extend(r.frames);
            }
            None => {
                by.insert((r.device, r.spec, r.key.clone()), r);
            }
        }
    }
    by.into_values().collect()
}

/// tshark's identities from its frames.
pub fn tshark_records(frames: &[tshark::Frame]) -> Vec<Record> {
    let mut records = Vec::new();
    for f in frames {
        let Some(src) = f.src else { continue };
        for spec in specs().into_iter().filter(|s| s.tree.is_empty() != f.tree) {
            for part in (spec.tshark)(f) {
                records.push(record(src, spec, part, vec![f.number]));
            }
        }
    }
    fold(records)
}

/// Compares the two sides: exact keys first, then what is left of one device and kind on
/// each side is paired in key order (a misread serial then shows as one `differ` row, not
/// as one row on each side).
pub fn compare(otscout: &[Record], tshark: &[Record]) -> Vec<Row> {
    type Key = (IpAddr, &'static str, String);
    let mut keys: BTreeMap<Key, (Option<&Record>, Option<&Record>)> = BTreeMap::new();
    for r in otscout {
        keys.entry((r.device, r.spec, r.key.clone())).or_default().0 = Some(r);
    }
    for r in tshark {
        keys.entry((r.device, r.spec, r.key.clone())).or_default().1 = Some(r);
    }
    let mut rows = Vec::new();
    // What is left of one device and kind: (otscout's, tshark's).
    type Leftovers<'a> = (Vec<&'a Record>, Vec<&'a Record>);
    let mut left: BTreeMap<(IpAddr, &'static str), Leftovers> = BTreeMap::new();
    for ((device, spec, _), pair) in keys {
        match pair {
            (Some(o), Some(t)) => rows.push(pair_row(o, t)),
            (Some(o), None) => left.entry((device, spec)).or_default().0.push(o),
            (None, Some(t)) => left.entry((device, spec)).or_default().1.push(t),
            (None, None) => {}
        }
    }
    for (_, (os, ts)) in left {
        let n = os.len().min(ts.len());
        for (o, t) in os.iter().zip(&ts) {
            rows.push(pair_row(o, t));
        }
        for o in &os[n..] {
            rows.push(single_row(Status::OnlyOtscout, o));
        }
        for t in &ts[n..] {
            rows.push(single_row(Status::OnlyTshark, t));
        }
    }
    rows.sort_by(|a, b| (a.device, a.spec, &a.key).cmp(&(b.device, b.spec, &b.key)));
    rows
}

fn pair_row(o: &Record, t: &Record) -> Row {
    let names: BTreeSet<&String> = o.fields.keys().chain(t.fields.keys()).collect();
    let mut diffs: Vec<FieldDiff> = names
        .iter()
        .filter(|n| o.fields.get(**n) != t.fields.get(**n))
        .map(|n| FieldDiff {
            field: (*n).clone(),
            otscout: o.fields.get(*n).cloned(),
            tshark: t.fields.get(*n).cloned(),
        })
        .collect();
    let key = if o.key == t.key {
        o.key.clone()
    } else {
        diffs.insert(
            0,
            FieldDiff {
                field: "key".into(),
                otscout: Some(o.key.clone()),
                tshark: Some(t.key.clone()),
            },
        );
        format!("{} | {}", o.key, t.key)
    };
    Row {
        status: if diffs.is_empty() {
            Status::Agree
        } else {
            Status::Differ
        },
        device: o.device,
        spec: o.spec,
        key,
        otscout_frames: o.frames.clone(),
        tshark_frames: t.frames.clone(),
        fields: names.len(),
        unexplained: diffs.iter().map(|d| d.field.clone()).collect(),
        diffs,
        explained: Vec::new(),
    }
}

fn single_row(status: Status, r: &Record) -> Row {
    let (otscout_frames, tshark_frames) = if status == Status::OnlyOtscout {
        (r.frames.clone(), Vec::new())
    } else {
        (Vec::new(), r.frames.clone())
    };
    Row {
        status,
        device: r.device,
        spec: r.spec,
        key: r.key.clone(),
        otscout_frames,
        tshark_frames,
        fields: r.fields.len(),
        diffs: Vec::new(),
        explained: Vec::new(),
        unexplained: vec!["*".into()],
    }
}

/// Checks one capture: both sides, compared, with the explanations applied.
pub fn check_capture(
    path: &Path,
    tshark_bin: &Path,
    explanations: &Explanations,
) -> Result<CaptureResult, ConformanceError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let ours = otscout_records(path)?;
    let tshark_args = tshark::args(path, &specs(), &ours.ports);
    let mut run = tshark::run(tshark_bin, &tshark_args)?;
    // The whole-tree run only where otscout saw such a protocol: it costs a second tshark
    // start-up (see `Spec::tree`).
    let tree_specs: Vec<&Spec> = specs()
        .into_iter()
        .filter(|s| !s.tree.is_empty() && s.protocols.iter().any(|p| ours.seen.contains(p)))
        .collect();
    let mut tshark_args = tshark_args;
    if let Some(args) = tshark::tree_args(path, &tree_specs) {
        let tree = tshark::run_tree(tshark_bin, &args)?;
        run.frames.extend(tree.frames);
        tshark_args.push("+".into());
        tshark_args.extend(args);
    }
    let theirs = tshark_records(&run.frames);
    let mut rows = compare(&ours.records, &theirs);
    explanations.apply(&name, &mut rows);
    Ok(CaptureResult {
        name,
        path: path.to_path_buf(),
        rows,
        otscout_warnings: ours.warnings,
        tshark_warnings: run.warnings,
        tshark_args,
    })
}

/// [`check_capture`] over several captures, `jobs` at a time (each tshark run is a
/// process of its own), results in the order of `files`.
pub fn check_captures(
    files: &[PathBuf],
    tshark_bin: &Path,
    explanations: &Explanations,
    jobs: usize,
) -> Vec<Result<CaptureResult, ConformanceError>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Vec<std::sync::Mutex<Option<Result<CaptureResult, ConformanceError>>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 16).min(files.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(f) = files.get(i) else { break };
                    let r = check_capture(f, tshark_bin, explanations);
                    if let Ok(mut slot) = out[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    out.into_iter()
        .zip(files)
        .map(|(m, f)| {
            m.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(ConformanceError::Io {
                    path: f.clone(),
                    source: std::io::Error::other("the check of this capture panicked"),
                })
            })
        })
        .collect()
}

/// One entry of the explanations file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The capture's file name.
    pub capture: String,
    /// The spec name (a [`Spec::name`]).
    pub protocol: String,
    /// `only_otscout`, `only_tshark` or `differ`.
    pub status: Status,
    /// The device address; any when absent.
    #[serde(default)]
    pub device: Option<IpAddr>,
    /// The row's key; any when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// `differ` only: the field; every field when absent.
    #[serde(default)]
    pub field: Option<String>,
    /// Why they disagree (a tshark limitation, an otscout defect and its issue, ...).
    pub reason: String,
    /// Set when the difference is an otscout defect being fixed elsewhere (`issue 14:
    /// ENIP split reply`): the entry is removed when the fix lands.
    #[serde(default)]
    pub pending: Option<String>,
}

impl Explanation {
    fn covers(&self, capture: &str, row: &Row, field: &str) -> bool {
        self.capture == capture
            && self.protocol == row.spec
            && self.status == row.status
            && self.device.is_none_or(|d| d == row.device)
            && self.key.as_deref().is_none_or(|k| k == row.key)
            && (row.status != Status::Differ || self.field.as_deref().is_none_or(|f| f == field))
    }

    /// One line naming the entry.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "capture {}, protocol {}, status {}",
            self.capture,
            self.protocol,
            self.status.as_str()
        );
        if let Some(d) = self.device {
            let _ = write!(s, ", device {d}");
        }
        if let Some(k) = &self.key {
            let _ = write!(s, ", key {k}");
        }
        if let Some(f) = &self.field {
            let _ = write!(s, ", field {f}");
        }
        if let Some(p) = &self.pending {
            let _ = write!(s, " (pending: {p})");
        }
        s
    }
}

/// The explanations file: why otscout and tshark may disagree, difference by difference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanations {
    #[serde(default, rename = "explanation")]
    pub entries: Vec<Explanation>,
}

impl Explanations {
    /// Reads and checks the file: every entry has a reason, names a known protocol, and a
    /// `field` only on a `differ` entry; `agree` is never explained.
    pub fn load(path: &Path) -> Result<Self, ConformanceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| ConformanceError::Explanations {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// [`Explanations::load`] from text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ex: Explanations = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, e) in ex.entries.iter().enumerate() {
            let n = i + 1;
            if e.reason.trim().len() < 10 {
                return Err(format!(
                    "explanation {n} ({}) needs a reason of at least a few words",
                    e.capture
                ));
            }
            let known: Vec<&str> = specs().iter().map(|s| s.name).collect();
            if !known.contains(&e.protocol.as_str()) {
                return Err(format!(
                    "explanation {n}: protocol {:?} is not one of {}",
                    e.protocol,
                    known.join(", ")
                ));
            }
            if e.status == Status::Agree {
                return Err(format!(
                    "explanation {n}: status agree needs no explanation"
                ));
            }
            if e.field.is_some() && e.status != Status::Differ {
                return Err(format!("explanation {n}: field is only for status differ"));
            }
        }
        Ok(ex)
    }

    /// Marks what the entries cover on the rows of `capture`.
    pub fn apply(&self, capture: &str, rows: &mut [Row]) {
        for row in rows.iter_mut() {
            if row.status == Status::Agree {
                continue;
            }
            let open = std::mem::take(&mut row.unexplained);
            for field in open {
                let by: Vec<&Explanation> = self
                    .entries
                    .iter()
                    .filter(|e| e.covers(capture, row, &field))
                    .collect();
                if by.is_empty() {
                    row.unexplained.push(field);
                } else {
                    for e in by {
                        if !row.explained.contains(&e.reason) {
                            row.explained.push(e.reason.clone());
                        }
                    }
                }
            }
        }
    }

    /// Entries for a capture that was checked that cover no row: the difference is gone
    /// (a pending fix landed) and the entry must go too.
    pub fn stale<'a>(&'a self, results: &[CaptureResult]) -> Vec<&'a Explanation> {
        self.entries
            .iter()
            .filter(|e| {
                let Some(r) = results.iter().find(|r| r.name == e.capture) else {
                    return false;
                };
                !r.rows.iter().any(|row| {
                    row.status != Status::Agree
                        && match &e.field {
                            Some(f) => {
                                row.diffs.iter().any(|d| &d.field == f) && e.covers(&r.name, row, f)
                            }
                            None => e.covers(&r.name, row, "*"),
                        }
                })
            })
            .collect()
    }
}

/// Totals over several captures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub captures: usize,
    pub agree: usize,
    pub only_otscout: usize,
    pub only_tshark: usize,
    pub differ: usize,
    pub explained: usize,
    pub unexplained: usize,
}

/// Counts the rows of `results`.
pub fn totals(results: &[CaptureResult]) -> Totals {
    let mut t = Totals {
        captures: results.len(),
        ..Totals::default()
    };
    for row in results.iter().flat_map(|r| &r.rows) {
        match row.status {
            Status::Agree => t.agree += 1,
            Status::OnlyOtscout => t.only_otscout += 1,
            Status::OnlyTshark => t.only_tshark += 1,
            Status::Differ => t.differ += 1,
        }
        if row.status != Status::Agree {
            if row.unexplained.is_empty() {
                t.explained += 1;
            } else {
                t.unexplained += 1;
            }
        }
    }
    t
}

fn frames(f: &[u64]) -> String {
    if f.is_empty() {
        return "-".into();
    }
    let mut v: Vec<u64> = f.to_vec();
    v.sort_unstable();
    v.dedup();
    let shown: Vec<String> = v.iter().take(8).map(u64::to_string).collect();
    let more = if v.len() > 8 { ",..." } else { "" };
    format!("{}{more}", shown.join(","))
}

fn quoted(v: &Option<String>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "(absent)".into(),
    }
}

/// The table of one capture, as text.
pub fn render(r: &CaptureResult) -> String {
    let mut s = String::new();
    let count = |st: Status| r.rows.iter().filter(|x| x.status == st).count();
    let _ = writeln!(
        s,
        "== {}: {} agree, {} only otscout, {} only tshark, {} differ",
        r.name,
        count(Status::Agree),
        count(Status::OnlyOtscout),
        count(Status::OnlyTshark),
        count(Status::Differ)
    );
    if r.rows.is_empty() {
        let _ = writeln!(s, "   (no identity on either side)");
    }
    for row in &r.rows {
        let mark = if row.status == Status::Agree {
            " "
        } else if row.unexplained.is_empty() {
            "~"
        } else {
            "!"
        };
        let _ = writeln!(
            s,
            " {mark} {:<12} {:<15} {:<18} {:<24} frames otscout {} tshark {}; {} fields",
            row.status.as_str(),
            row.device.to_string(),
            row.spec,
            if row.key.is_empty() { "-" } else { &row.key },
            frames(&row.otscout_frames),
            frames(&row.tshark_frames),
            row.fields
        );
        for d in &row.diffs {
            let _ = writeln!(
                s,
                "      {}: otscout {} | tshark {}",
                d.field,
                quoted(&d.otscout),
                quoted(&d.tshark)
            );
        }
        for e in &row.explained {
            let _ = writeln!(s, "      explained: {e}");
        }
        if !row.unexplained.is_empty() {
            let _ = writeln!(
                s,
                "      NOT EXPLAINED ({}): add an entry to the explanations file or fix the decoder",
                row.unexplained.join(", ")
            );
        }
    }
    for w in r.otscout_warnings.iter().take(5) {
        let _ = writeln!(s, "   otscout warning: {w}");
    }
    for w in r.tshark_warnings.iter().take(5) {
        let _ = writeln!(s, "   tshark warning: {w}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(device: &str, spec: &'static str, key: &str, fields: &[(&str, &str)]) -> Record {
        Record {
            device: device.parse().unwrap(),
            spec,
            key: key.into(),
            frames: vec![1],
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn rows_say_agree_only_and_differ_and_pair_leftovers_of_one_device() {
        let o = vec![
            rec("10.0.0.1", "modbus", "1", &[("object 0x00", "Acme")]),
            rec(
                "10.0.0.2",
                "cip.identity",
                "0x00000001",
                &[("vendor_id", "1")],
            ),
            rec("10.0.0.3", "s7", "", &[("serial", "S C-1")]),
            rec("10.0.0.4", "s7", "", &[("serial", "S C-4")]),
        ];
        let t = vec![
            rec("10.0.0.1", "modbus", "1", &[("object 0x00", "Acme")]),
            rec(
                "10.0.0.2",
                "cip.identity",
                "0x00000002",
                &[("vendor_id", "1")],
            ),
            rec("10.0.0.3", "s7", "", &[("serial", "S C-2")]),
            rec("10.0.0.5", "modbus", "1", &[]),
        ];
        let rows = compare(&o, &t);
        let st: Vec<(String, Status)> = rows
            .iter()
            .map(|r| (r.device.to_string(), r.status))
            .collect();
        assert_eq!(
            st,
            [
                ("10.0.0.1".into(), Status::Agree),
                ("10.0.0.2".into(), Status::Differ),
                ("10.0.0.3".into(), Status::Differ),
                ("10.0.0.4".into(), Status::OnlyOtscout),
                ("10.0.0.5".into(), Status::OnlyTshark),
            ]
        );
        assert_eq!(rows[1].diffs[0].field, "key");
        assert_eq!(rows[1].key, "0x00000001 | 0x00000002");
        assert_eq!(rows[2].unexplained, ["serial"]);
    }

    #[test]
    fn explanations_cover_named_fields_only_and_stale_ones_are_found() {
        let ex = Explanations::parse(
            r#"
            [[explanation]]
            capture = "a.pcap"
            protocol = "s7"
            status = "differ"
            field = "serial"
            reason = "tshark cuts the string at a NUL here"

            [[explanation]]
            capture = "a.pcap"
            protocol = "modbus"
            status = "only_tshark"
            reason = "otscout drops this reply: issue 14"
            pending = "issue 14: modbus zero objects"
            "#,
        )
        .unwrap();
        let o = vec![rec(
            "10.0.0.3",
            "s7",
            "",
            &[("serial", "1"), ("as_name", "x")],
        )];
        let t = vec![rec(
            "10.0.0.3",
            "s7",
            "",
            &[("serial", "2"), ("as_name", "y")],
        )];
        let mut rows = compare(&o, &t);
        ex.apply("a.pcap", &mut rows);
        assert_eq!(rows[0].unexplained, ["as_name"]);
        assert_eq!(rows[0].explained, ["tshark cuts the string at a NUL here"]);
        let result = CaptureResult {
            name: "a.pcap".into(),
            path: "a.pcap".into(),
            rows,
            otscout_warnings: Vec::new(),
            tshark_warnings: Vec::new(),
            tshark_args: Vec::new(),
        };
        let stale = ex.stale(std::slice::from_ref(&result));
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].protocol, "modbus");
        // Another capture's entries are not stale when that capture was not checked.
        assert!(ex.stale(&[]).is_empty());
    }

    #[test]
    fn an_explanation_without_a_reason_or_for_an_unknown_protocol_is_refused() {
        let e = Explanations::parse(
            "[[explanation]]\ncapture = \"a\"\nprotocol = \"s7\"\nstatus = \"differ\"\nreason = \"\"\n",
        )
        .unwrap_err();
        assert!(e.contains("reason"), "{e}");
        let e = Explanations::parse(
            "[[explanation]]\ncapture = \"a\"\nprotocol = \"nonesuch\"\nstatus = \"differ\"\nreason = \"a reason here\"\n",
        )
        .unwrap_err();
        assert!(e.contains("nonesuch"), "{e}");
    }
}
