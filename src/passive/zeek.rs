//! Zeek and ICSNPP logs: TSV (with `#fields` headers) and JSON lines, plain or gzip.
//!
//! Read: `conn.log` (hosts, services that answered, who talks to whom on ICS ports) and
//! the CISA ICSNPP logs `cip_identity.log`, `modbus_read_device_identification.log` (one
//! row per object; the unit id column is `uint` in some releases and `unit` in others),
//! `s7comm_known_devices.log` (identities), `modbus_detailed.log`, `s7comm.log` and
//! `cip.log` (who polls whom, Modbus unit ids, and writes, control and program transfers
//! as operations, named as the capture importer names them), and `enip.log`, `cotp.log`
//! and `s7comm_plus.log` (who talks EtherNet/IP, ISO-on-TCP or S7comm-plus to whom, and
//! which end answered: roles, never identities, which those logs do not carry). Every
//! other log is skipped and counted.
//!
//! Field lists follow the ICSNPP scripts (cisagov/icsnpp-enip, icsnpp-modbus,
//! icsnpp-s7comm `scripts/main.zeek`) and Zeek's base `conn.log`. Newer ICSNPP releases
//! add `is_orig`, `source_h` and `destination_h`: the replying device is then `source_h`
//! of a row with `is_orig` false. Lines are capped at [`MAX_LINE`] bytes.
//!
//! The header is read as Zeek writes it: `#separator \x09` (escaped), then
//! `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#fields` separated by that
//! separator; JSON lines (`LogAscii::use_json=T`) with flat (`id.orig_h`) or nested
//! (`"id": {"orig_h": ...}`) connection ids, and times as epoch seconds or ISO 8601. The
//! log comes from `#path`, `_path`, or the file name (`conn.2026-11-01-00-00-00.log.gz`
//! is `conn`).
//!
//! A value that does not parse is never replaced by a default: the field is left out
//! (or, when the fact cannot stand without it, the row is skipped), counted in
//! [`ImportStats::bad_values`] and reported in a warning naming the file, line, log and
//! field.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};

use super::engine::protocol_for_port;
use super::{ImportReport, ImportStats, InputKind};
use crate::inventory::{
    EnipIdentity, EnipIdentitySource, Fact, Identity, ModbusIdentity, Observation, OperationKind,
    Protocol, Provenance, Role, S7Identity, Transport,
};
use crate::protocols::modbus::passive::ATTR_MODBUS_UNIT;
use crate::wire::{enip, modbus, s7};

/// The longest line accepted.
pub const MAX_LINE: usize = 1024 * 1024;
const MAX_WARNINGS: usize = 20;

/// Why a Zeek log could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZeekError {
    #[error("line {line}: read failed: {source}")]
    Io { line: u64, source: std::io::Error },
    #[error("line {line}: longer than {MAX_LINE} bytes: not a Zeek log line")]
    LineTooLong { line: u64 },
    #[error(
        "line {line}: a data row before any #fields header, so its columns are unknown: the file's header is missing (cut at the top, or written with LogAscii::include_meta=F); export it again with its header, or as JSON (LogAscii::use_json=T)"
    )]
    NoFields { line: u64 },
}

/// Reads one line of at most [`MAX_LINE`] bytes into `buf` (without the newline); false at
/// the end of input.
fn read_line(rd: &mut dyn BufRead, buf: &mut Vec<u8>, line: u64) -> Result<bool, ZeekError> {
    buf.clear();
    loop {
        let avail = rd
            .fill_buf()
            .map_err(|source| ZeekError::Io { line, source })?;
        if avail.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_LINE + 1 {
            return Err(ZeekError::LineTooLong { line });
        }
        buf.extend_from_slice(&avail[..take]);
        rd.consume(take);
        if done {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

/// Zeek escapes bytes outside printable ASCII as `\xNN`.
fn unescape(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One record: field name to value (`None` when unset).
type Record = BTreeMap<String, Option<String>>;

/// A JSON log record as flat `a.b` fields: nested objects (`"id": {"orig_h": ...}`, as
/// some exporters write the connection id) are joined with dots; arrays become Zeek's
/// comma-separated sets; `null` is unset.
fn flatten_json(
    rec: &mut Record,
    prefix: &str,
    m: serde_json::Map<String, serde_json::Value>,
    depth: usize,
) {
    for (k, v) in m {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        let v = match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(inner) if depth < 4 => {
                flatten_json(rec, &key, inner, depth + 1);
                continue;
            }
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            other => Some(other.to_string()),
        };
        rec.insert(key, v);
    }
}

#[derive(Debug, Default)]
struct Header {
    separator: String,
    empty: String,
    unset: String,
    path: Option<String>,
    fields: Vec<String>,
}

/// The log a file holds, from `#path`, `_path`, or the file name (`conn.log`,
/// `conn.09:00:00-10:00:00.log.gz`).
fn log_from_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.split('.').next().unwrap_or(base).to_string()
}

/// Where a folded fact was first seen: log, line, time.
type Origin = (String, u64, Option<DateTime<Utc>>);

/// Values of one (log, field) that did not parse: how many, the first line and value, and
/// what was done about them.
#[derive(Debug)]
struct Bad {
    count: u64,
    line: u64,
    value: String,
    action: &'static str,
}

struct Sink {
    file: String,
    obs: Vec<Observation>,
    warnings: Vec<String>,
    stats: ImportStats,
    services: BTreeSet<(IpAddr, Transport, u16)>,
    /// Peers folded from conn.log; the flag says whether the responder ever answered.
    peers: BTreeMap<(IpAddr, IpAddr, Protocol), (u64, Origin, bool)>,
    modbus: BTreeMap<(IpAddr, u8), (ModbusIdentity, Origin)>,
    skipped_logs: BTreeSet<String>,
    bad: BTreeMap<(String, String), Bad>,
    /// Operations from ICSNPP request rows, keyed (target, actor, protocol, function).
    ops: BTreeMap<(IpAddr, IpAddr, Protocol, String), OpFold>,
    /// Modbus unit ids in use per server.
    units: BTreeMap<(IpAddr, u8), Origin>,
    /// Servers some row shows answering (operations and unit ids are kept only for them).
    proven: BTreeSet<IpAddr>,
}

/// Folded facts of one kind kept at most (a flood of distinct rows must not exhaust
/// memory); past it rows are counted in `capped`.
const MAX_FOLDED: usize = 1 << 20;

impl Sink {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.stats.warnings_suppressed += 1;
        }
    }

    /// A value of `field` that did not parse (or is missing where the fact needs it).
    fn bad(
        &mut self,
        log: &str,
        line: u64,
        field: &str,
        value: Option<&str>,
        action: &'static str,
    ) {
        self.stats.bad_values += 1;
        let value = match value {
            Some(v) => format!("{:?}", v.chars().take(60).collect::<String>()),
            None => "missing".to_string(),
        };
        if self.bad.len() >= 256 && !self.bad.contains_key(&(log.to_string(), field.to_string())) {
            self.stats.warnings_suppressed += 1;
            return;
        }
        let e = self
            .bad
            .entry((log.to_string(), field.to_string()))
            .or_insert(Bad {
                count: 0,
                line,
                value,
                action,
            });
        e.count += 1;
    }

    fn prov(&self, log: &str, line: u64) -> Provenance {
        Provenance::Zeek {
            file: self.file.clone(),
            log: log.to_string(),
            line,
        }
    }

    fn push(&mut self, ip: IpAddr, fact: Fact, log: &str, line: u64, seen: Option<DateTime<Utc>>) {
        let provenance = self.prov(log, line);
        self.obs.push(Observation {
            ip,
            fact,
            provenance,
            seen,
            raw_hex: None,
            path: None,
        });
    }
}

fn get<'r>(r: &'r Record, k: &str) -> Option<&'r str> {
    r.get(k).and_then(|v| v.as_deref())
}

/// A Zeek time: epoch seconds (`1700000000.123456`) or ISO 8601 (JSON logs written with
/// `LogAscii::json_timestamps=JSON::TS_ISO8601`).
fn parse_time(v: &str) -> Option<DateTime<Utc>> {
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

/// The row's `ts`; a value that is not a time is reported and the row kept without one.
fn ts(sink: &mut Sink, r: &Record, log: &str, line: u64) -> Option<DateTime<Utc>> {
    let v = get(r, "ts")?;
    let t = parse_time(v);
    if t.is_none() {
        sink.bad(log, line, "ts", Some(v), "kept without a time");
    }
    t
}

/// A number field: `None` when unset; a value that does not parse (or does not fit `T`)
/// is reported with `action` and also `None`.
fn number<T: TryFrom<u64>>(
    sink: &mut Sink,
    r: &Record,
    k: &str,
    log: &str,
    line: u64,
    action: &'static str,
) -> Option<T> {
    let v = get(r, k)?;
    let n = num(v).and_then(|n| T::try_from(n).ok());
    if n.is_none() {
        sink.bad(log, line, k, Some(v), action);
    }
    n
}

/// A number the fact cannot stand without: unset counts as bad too.
fn required<T: TryFrom<u64>>(
    sink: &mut Sink,
    r: &Record,
    k: &str,
    log: &str,
    line: u64,
) -> Option<T> {
    if get(r, k).is_none() {
        sink.bad(log, line, k, None, "row skipped");
        return None;
    }
    number(sink, r, k, log, line, "row skipped")
}

/// Zeek booleans: `T`/`F` in TSV, `true`/`false` in JSON.
fn boolean(v: &str) -> Option<bool> {
    match v {
        "T" | "true" => Some(true),
        "F" | "false" => Some(false),
        _ => None,
    }
}

/// A decimal or `0x` hex number.
fn num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn addr(sink: &mut Sink, r: &Record, k: &str, log: &str, line: u64) -> Option<IpAddr> {
    let v = get(r, k)?;
    match v.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            sink.warn(format!(
                "{} line {line} ({log}): {k} {v:?} is not an IP address: row skipped",
                sink.file
            ));
            None
        }
    }
}

/// Imports one Zeek log.
pub fn import(file: &str, mut rd: Box<dyn BufRead + '_>) -> Result<ImportReport, ZeekError> {
    let mut sink = Sink {
        file: file.to_string(),
        obs: Vec::new(),
        warnings: Vec::new(),
        stats: ImportStats::default(),
        services: BTreeSet::new(),
        peers: BTreeMap::new(),
        modbus: BTreeMap::new(),
        skipped_logs: BTreeSet::new(),
        bad: BTreeMap::new(),
        ops: BTreeMap::new(),
        units: BTreeMap::new(),
        proven: BTreeSet::new(),
    };
    let mut header = Header {
        separator: "\t".into(),
        empty: "(empty)".into(),
        unset: "-".into(),
        ..Header::default()
    };
    let name_log = log_from_name(file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        line += 1;
        if !read_line(&mut *rd, &mut buf, line)? {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            continue;
        }
        if let Some(meta) = text.strip_prefix('#') {
            // `#separator` is always followed by a space and an escaped value (`\x09`);
            // the other meta lines use the separator it names.
            if let Some(v) = meta.strip_prefix("separator") {
                let raw = v.trim_start_matches([' ', '\t']);
                // Zeek writes `\x09`; hand-made headers sometimes say `\t`.
                let sep = if raw == "\\t" {
                    "\t".to_string()
                } else {
                    unescape(raw)
                };
                if sep.is_empty() {
                    sink.warn(format!(
                        "{file} line {line}: #separator names no separator: tab assumed"
                    ));
                    header.separator = "\t".into();
                } else {
                    header.separator = sep;
                }
                continue;
            }
            let (key, val) = meta
                .split_once(&*header.separator)
                .or_else(|| meta.split_once([' ', '\t']))
                .unwrap_or((meta, ""));
            match key {
                "empty_field" => header.empty = unescape(val),
                "unset_field" => header.unset = unescape(val),
                "path" => header.path = Some(val.trim().to_string()),
                "fields" => {
                    header.fields = val
                        .split(&*header.separator)
                        .map(|s| s.to_string())
                        .collect();
                }
                _ => {}
            }
            continue;
        }
        sink.stats.lines += 1;
        let record: Record = if text.starts_with('{') {
            match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
                Ok(m) => {
                    let mut rec = Record::new();
                    flatten_json(&mut rec, "", m, 0);
                    rec
                }
                Err(e) => {
                    sink.warn(format!(
                        "{file} line {line}: not a JSON object ({e}): skipped"
                    ));
                    continue;
                }
            }
        } else {
            if header.fields.is_empty() {
                return Err(ZeekError::NoFields { line });
            }
            header
                .fields
                .iter()
                .zip(text.split(&*header.separator))
                .map(|(k, v)| {
                    let v = if v == header.unset {
                        None
                    } else if v == header.empty {
                        Some(String::new())
                    } else {
                        Some(unescape(v))
                    };
                    (k.clone(), v)
                })
                .collect()
        };
        let log = get(&record, "_path")
            .map(str::to_string)
            .or_else(|| header.path.clone())
            .unwrap_or_else(|| name_log.clone());
        match log.as_str() {
            "conn" => conn(&mut sink, &record, &log, line),
            "cip_identity" => cip_identity(&mut sink, &record, &log, line),
            "modbus_read_device_identification" => modbus_devid(&mut sink, &record, &log, line),
            "s7comm_known_devices" => s7_known(&mut sink, &record, &log, line),
            "modbus_detailed" => modbus_detailed(&mut sink, &record, &log, line),
            "s7comm" => s7comm(&mut sink, &record, &log, line),
            "cip" => cip(&mut sink, &record, &log, line),
            "enip" => session(&mut sink, &record, &log, line, Protocol::Enip),
            "cotp" => session(&mut sink, &record, &log, line, Protocol::S7),
            "s7comm_plus" => session(&mut sink, &record, &log, line, Protocol::S7Plus),
            _ => {
                sink.stats.skipped_lines += 1;
                if sink.skipped_logs.len() < 64 {
                    sink.skipped_logs.insert(log);
                }
            }
        }
    }
    // Folded facts, in key order.
    for ((client, server, protocol), (count, (log, line, seen), answered)) in
        std::mem::take(&mut sink.peers)
    {
        for (me, peer, role) in [
            (client, server, Role::Client),
            (server, client, Role::Server),
        ] {
            // A responder that never answered (a broadcast, a host that is gone) is not
            // shown to exist: it gets no observation of its own.
            if role == Role::Server && !answered {
                sink.stats.unproven += 1;
                continue;
            }
            sink.push(
                me,
                Fact::Peer {
                    peer,
                    protocol,
                    role,
                    count,
                },
                &log,
                line,
                seen,
            );
        }
    }
    for ((ip, _), (identity, (log, line, seen))) in std::mem::take(&mut sink.modbus) {
        sink.push(
            ip,
            Fact::Identity {
                identity: Identity::Modbus(identity),
            },
            &log,
            line,
            seen,
        );
    }
    for ((server, unit), (log, line, seen)) in std::mem::take(&mut sink.units) {
        if !sink.proven.contains(&server) {
            sink.stats.unproven += 1;
            continue;
        }
        sink.push(
            server,
            Fact::Declared {
                attribute: ATTR_MODBUS_UNIT.to_string(),
                value: unit.to_string(),
            },
            &log,
            line,
            seen,
        );
    }
    let mut unproven_ops = 0u64;
    for ((target, actor, protocol, function), (kind, count, first, last, (log, line, seen))) in
        std::mem::take(&mut sink.ops)
    {
        if !sink.proven.contains(&target) {
            unproven_ops += 1;
            continue;
        }
        sink.push(
            target,
            Fact::Operation {
                actor,
                protocol,
                kind,
                function: crate::inventory::operation_name(protocol, &function),
                count,
                first,
                last,
            },
            &log,
            line,
            seen,
        );
    }
    sink.stats.unproven += unproven_ops;
    let mut notes = Vec::new();
    if unproven_ops > 0 {
        notes.push(format!(
            "{file}: {unproven_ops} kinds of operations on servers this log never shows answering were left out (import the log of the answers, or conn.log, with it)"
        ));
    }
    for ((log, field), b) in std::mem::take(&mut sink.bad) {
        let more = if b.count > 1 {
            format!(" ({} such values in all)", b.count)
        } else {
            String::new()
        };
        let what = if b.value == "missing" {
            "is missing".to_string()
        } else {
            format!("{} did not parse", b.value)
        };
        sink.warn(format!(
            "{file} line {} ({log}): {field} {what}: {}{more}",
            b.line, b.action
        ));
    }
    if sink.stats.skipped_lines > 0 {
        let logs: Vec<String> = sink.skipped_logs.iter().cloned().collect();
        let n = sink.stats.skipped_lines;
        // Not damage: a log of another protocol is whole, otscout just has nothing to
        // take from it (a note, not a warning: the exit code stays 0).
        notes.push(format!(
            "{file}: skipped {n} lines of logs otscout does not read ({})",
            logs.join(", ")
        ));
    }
    Ok(ImportReport {
        file: file.to_string(),
        kind: InputKind::Zeek,
        observations: sink.obs,
        stats: sink.stats,
        warnings: sink.warnings,
        notes,
        stopped: None,
    })
}

/// Connection states in which the responder answered (Zeek `conn.log` `conn_state`, as
/// Zeek's `base/protocols/conn/main.zeek` documents them): established (`S1`, `SF`, `S2`,
/// `S3`, `RSTO`, `RSTR`), or the responder's SYN-ACK seen without the originator's SYN
/// (`RSTRH`, `SHR`). Not `SH` (a SYN and a FIN, never a SYN-ACK), `S0`, `REJ`, `RSTOS0`.
/// `OTH` (midstream traffic, no SYN seen) says nothing about who sent: `None`, and the
/// packet counts decide.
fn responder_answered(state: &str) -> Option<bool> {
    match state {
        "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" | "RSTRH" | "SHR" => Some(true),
        "OTH" => None,
        _ => Some(false),
    }
}

fn conn(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let (Some(orig), Some(resp)) = (
        addr(sink, r, "id.orig_h", log, line),
        addr(sink, r, "id.resp_h", log, line),
    ) else {
        return;
    };
    let transport = match get(r, "proto") {
        Some("tcp") => Transport::Tcp,
        Some("udp") => Transport::Udp,
        // ICMP and the like: no port, nothing otscout uses.
        Some(_) => return,
        None => return sink.bad(log, line, "proto", None, "row skipped"),
    };
    let Some(port) = required::<u16>(sink, r, "id.resp_p", log, line) else {
        return;
    };
    let seen = ts(sink, r, log, line);
    let sent_back = |sink: &mut Sink| {
        let pkts: Option<u64> = number(sink, r, "resp_pkts", log, line, "field ignored");
        let bytes: Option<u64> = number(sink, r, "resp_bytes", log, line, "field ignored");
        pkts.is_some_and(|n| n > 0) || bytes.is_some_and(|n| n > 0)
    };
    let answered = match transport {
        Transport::Tcp => match get(r, "conn_state") {
            Some(state) => match responder_answered(state) {
                Some(answered) => answered,
                None => sent_back(sink),
            },
            None => {
                sink.bad(
                    log,
                    line,
                    "conn_state",
                    None,
                    "responder not counted as answering",
                );
                false
            }
        },
        Transport::Udp => sent_back(sink),
    };
    let protocol = match get(r, "service").unwrap_or("") {
        s if s.contains("modbus") => Protocol::Modbus,
        s if s.contains("s7comm_plus") => Protocol::S7Plus,
        s if s.contains("s7comm") => Protocol::S7,
        s if s.contains("cip_io") => Protocol::CipIo,
        s if s.contains("enip") || s.contains("cip") => Protocol::Enip,
        _ => protocol_for_port(transport, port),
    };
    if answered {
        sink.proven.insert(resp);
    }
    if answered && sink.services.insert((resp, transport, port)) {
        sink.push(
            resp,
            Fact::Service {
                transport,
                port,
                protocol,
            },
            log,
            line,
            seen,
        );
    }
    if protocol != Protocol::Other {
        let e = sink.peers.entry((orig, resp, protocol)).or_insert((
            0,
            (log.to_string(), line, seen),
            false,
        ));
        e.0 += 1;
        e.2 |= answered;
    }
}

/// The replying device of an ICSNPP row: `source_h` of a row the responder sent
/// (`is_orig` false) in newer releases, else the connection's responder.
fn replier(sink: &mut Sink, r: &Record, log: &str, line: u64) -> Option<IpAddr> {
    let from_responder = get(r, "is_orig").and_then(boolean) == Some(false);
    if from_responder && get(r, "source_h").is_some() {
        addr(sink, r, "source_h", log, line)
    } else {
        addr(sink, r, "id.resp_h", log, line)
    }
}

/// `major.minor`, as ICSNPP writes a CIP revision.
fn revision(v: &str) -> Option<(u8, u8)> {
    let (a, b) = v.split_once('.')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn cip_identity(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some(device) = replier(sink, r, log, line) else {
        return;
    };
    if !ip_is_unicast(&device) {
        sink.warn(format!(
            "{} line {line} ({log}): responder {device} is not a unicast address (a broadcast List Identity?): row skipped",
            sink.file
        ));
        return;
    }
    let seen = ts(sink, r, log, line);
    // ICSNPP writes revision as "major.minor", status, serial and state as 0x-hex.
    let rev = match get(r, "revision") {
        None => return sink.bad(log, line, "revision", None, "row skipped"),
        Some(v) => match revision(v) {
            Some(rev) => rev,
            None => return sink.bad(log, line, "revision", Some(v), "row skipped"),
        },
    };
    let (Some(vendor_id), Some(device_type), Some(product_code), Some(status), Some(serial)) = (
        required::<u16>(sink, r, "vendor_id", log, line),
        required::<u16>(sink, r, "device_type_id", log, line),
        required::<u16>(sink, r, "product_code", log, line),
        required::<u16>(sink, r, "device_status", log, line),
        required::<u32>(sink, r, "serial_number", log, line),
    ) else {
        return;
    };
    let Some(product_name) = get(r, "product_name").map(str::to_string) else {
        return sink.bad(log, line, "product_name", None, "row skipped");
    };
    let socket_ip = match get(r, "socket_address") {
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                sink.bad(log, line, "socket_address", Some(a), "field left out");
                None
            }
        },
        None => None,
    };
    let socket_port: Option<u16> = number(sink, r, "socket_port", log, line, "field left out");
    let socket_addr = match (socket_ip, socket_port) {
        (Some(a), Some(p)) => Some(SocketAddr::new(a, p)),
        _ => None,
    };
    let state = number(sink, r, "device_state", log, line, "field left out");
    let encapsulation_version = number(
        sink,
        r,
        "encapsulation_version",
        log,
        line,
        "field left out",
    );
    let id = EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        vendor_id,
        device_type,
        product_code,
        revision_major: rev.0,
        revision_minor: rev.1,
        status,
        serial,
        product_name,
        state,
        encapsulation_version,
        socket_addr,
    };
    sink.push(
        device,
        Fact::Identity {
            identity: Identity::Enip(id),
        },
        log,
        line,
        seen,
    );
}

fn ip_is_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_broadcast() || v.is_multicast() || v.is_unspecified()),
        IpAddr::V6(v) => !(v.is_multicast() || v.is_unspecified()),
    }
}

/// ICSNPP names the basic and regular objects; private ones come as codes.
fn modbus_object_id(r: &Record) -> Option<u8> {
    if let Some(code) = get(r, "object_id_code").and_then(num) {
        return u8::try_from(code).ok();
    }
    let v = get(r, "object_id")?;
    if let Some(n) = num(v) {
        return u8::try_from(n).ok();
    }
    Some(match v {
        "VendorName" => 0,
        "ProductCode" => 1,
        "MajorMinorVersion" | "MajorMinorRevision" => 2,
        "VendorURL" | "VendorUrl" => 3,
        "ProductName" => 4,
        "ModelName" => 5,
        "UserApplicationName" => 6,
        _ => return None,
    })
}

fn modbus_devid(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let is_response = match (get(r, "is_orig"), get(r, "request_response")) {
        (_, Some(rr)) => rr.eq_ignore_ascii_case("RESPONSE"),
        (Some(o), None) => match boolean(o) {
            Some(orig) => !orig,
            None => return sink.bad(log, line, "is_orig", Some(o), "row skipped"),
        },
        (None, None) => true,
    };
    if !is_response {
        return;
    }
    // The responder: the row's source when logged, else the connection's responder.
    let device = if get(r, "source_h").is_some() {
        addr(sink, r, "source_h", log, line)
    } else {
        addr(sink, r, "id.resp_h", log, line)
    };
    let Some(device) = device else {
        return;
    };
    // The unit id column is `uint` in some ICSNPP releases and `unit` in others; without
    // it the objects cannot be put on the right unit.
    let unit_field = if r.contains_key("uint") {
        "uint"
    } else {
        "unit"
    };
    let Some(unit) = required::<u8>(sink, r, unit_field, log, line) else {
        return;
    };
    let Some(object) = modbus_object_id(r) else {
        let v = get(r, "object_id_code").or_else(|| get(r, "object_id"));
        return sink.bad(log, line, "object_id", v, "row skipped");
    };
    let value = get(r, "object_value").unwrap_or("").to_string();
    let level: Option<u8> = number(
        sink,
        r,
        "conformity_level_code",
        log,
        line,
        "field left out",
    );
    let seen = ts(sink, r, log, line);
    let e = sink.modbus.entry((device, unit)).or_insert_with(|| {
        (
            ModbusIdentity {
                unit_id: unit,
                conformity_level: None,
                objects: BTreeMap::new(),
            },
            (log.to_string(), line, seen),
        )
    });
    if e.0.conformity_level.is_none() {
        e.0.conformity_level = level;
    }
    e.0.objects.entry(object).or_insert(value);
}

fn s7_known(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some(device) = replier(sink, r, log, line) else {
        return;
    };
    let s = |k: &str| get(r, k).map(str::to_string);
    let id = S7Identity {
        as_name: s("automation_system_name"),
        module_name: s("module_name"),
        plant_tag: s("plant_name"),
        serial: s("module_serial"),
        ..S7Identity::default()
    };
    let seen = ts(sink, r, log, line);
    sink.push(
        device,
        Fact::Identity {
            identity: Identity::S7(Box::new(id)),
        },
        log,
        line,
        seen,
    );
}

/// An operation folded from ICSNPP rows: kind, count, first and last time, first row.
type OpFold = (
    OperationKind,
    u64,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Origin,
);

/// The client and server of an ICSNPP row's connection, and whether the row shows the
/// server answering (then it is a host).
fn ends(sink: &mut Sink, r: &Record, log: &str, line: u64) -> Option<(IpAddr, IpAddr)> {
    let orig = addr(sink, r, "id.orig_h", log, line)?;
    let resp = addr(sink, r, "id.resp_h", log, line)?;
    Some((orig, resp))
}

/// One operation seen in a row.
struct Op<'a> {
    target: IpAddr,
    actor: IpAddr,
    protocol: Protocol,
    kind: OperationKind,
    function: &'a str,
}

/// Records that `op.actor` performed `op.function` on `op.target`, seen at `origin`.
fn operation(sink: &mut Sink, op: Op<'_>, origin: (&str, u64, Option<DateTime<Utc>>)) {
    let (log, line, seen) = origin;
    let key = (op.target, op.actor, op.protocol, op.function.to_string());
    if sink.ops.len() >= MAX_FOLDED && !sink.ops.contains_key(&key) {
        sink.stats.capped += 1;
        return;
    }
    let e = sink
        .ops
        .entry(key)
        .or_insert((op.kind, 0, seen, seen, (log.to_string(), line, seen)));
    e.1 += 1;
    if seen.is_some() {
        e.3 = seen;
    }
}

/// ICSNPP `modbus_detailed.log`: one row per request (matched with its response). Gives
/// who polls whom, the unit ids in use, and writes and diagnostics as operations.
fn modbus_detailed(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some((client, server)) = ends(sink, r, log, line) else {
        return;
    };
    let seen = ts(sink, r, log, line);
    let Some(func) = get(r, "func") else {
        return sink.bad(log, line, "func", None, "row skipped");
    };
    let base = func.strip_suffix("_EXCEPTION");
    // The server answered when the row says so (`matched`, newer releases), carries an
    // exception or response values.
    let answered = get(r, "matched").and_then(boolean) == Some(true)
        || base.is_some()
        || get(r, "exception_code").is_some()
        || get(r, "response_values").is_some();
    let name = base.unwrap_or(func).to_ascii_lowercase();
    let code = (1u8..=127).find(|c| modbus::FunctionCode::from_u8(*c).name() == name);
    let entry = sink
        .peers
        .entry((client, server, Protocol::Modbus))
        .or_insert((0, (log.to_string(), line, seen), false));
    entry.0 += 1;
    entry.2 |= answered;
    if answered {
        sink.proven.insert(server);
    }
    if let Some(unit) = number::<u8>(sink, r, "unit", log, line, "field left out") {
        if sink.units.len() < MAX_FOLDED {
            sink.units
                .entry((server, unit))
                .or_insert((log.to_string(), line, seen));
        }
    }
    let Some(code) = code else {
        return;
    };
    let Some(kind) =
        crate::protocols::modbus::ops::operation_kind(modbus::FunctionCode::from_u8(code).access())
    else {
        return;
    };
    let op = Op {
        target: server,
        actor: client,
        protocol: Protocol::Modbus,
        kind,
        function: &name,
    };
    operation(sink, op, (log, line, seen));
}

/// ICSNPP `s7comm.log`: one row per S7 header. Job requests from the client give who
/// talks to the CPU and writes, control and program transfers as operations; any row
/// the CPU sent shows it answered.
fn s7comm(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some((client, server)) = ends(sink, r, log, line) else {
        return;
    };
    let seen = ts(sink, r, log, line);
    let from_client = match get(r, "is_orig") {
        Some(v) => match boolean(v) {
            Some(b) => b,
            None => return sink.bad(log, line, "is_orig", Some(v), "row skipped"),
        },
        None => return sink.bad(log, line, "is_orig", None, "row skipped"),
    };
    let entry = sink.peers.entry((client, server, Protocol::S7)).or_insert((
        0,
        (log.to_string(), line, seen),
        false,
    ));
    if !from_client {
        entry.2 = true;
        sink.proven.insert(server);
        return;
    }
    entry.0 += 1;
    // Jobs only (ROSCTR 1); user data (7) carries reads of SZL, block info and the like.
    let Some(rosctr) = number::<u8>(sink, r, "rosctr_code", log, line, "row skipped") else {
        return;
    };
    if rosctr != 1 {
        return;
    }
    let Some(code) = number::<u8>(sink, r, "function_code", log, line, "row skipped") else {
        return;
    };
    let (name, access) = s7::function_name(s7::Function::from_u8(code));
    if let Some(kind) = crate::protocols::s7::ops::operation_kind(access) {
        let op = Op {
            target: server,
            actor: client,
            protocol: Protocol::S7,
            kind,
            function: name,
        };
        operation(sink, op, (log, line, seen));
    }
}

/// ICSNPP `cip.log`: one row per CIP header. Requests give who talks CIP to whom and
/// writes and control (Set_Attribute*, reset/start/stop, Logix tag writes) as operations,
/// classified as the capture importer classifies them; a response shows the server
/// answered.
fn cip(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some((client, server)) = ends(sink, r, log, line) else {
        return;
    };
    let seen = ts(sink, r, log, line);
    let request = match get(r, "direction") {
        Some(d) if d.eq_ignore_ascii_case("request") => true,
        Some(d) if d.eq_ignore_ascii_case("response") => false,
        other => return sink.bad(log, line, "direction", other, "row skipped"),
    };
    let entry = sink
        .peers
        .entry((client, server, Protocol::Cip))
        .or_insert((0, (log.to_string(), line, seen), false));
    if !request {
        entry.2 = true;
        sink.proven.insert(server);
        return;
    }
    entry.0 += 1;
    let Some(code) = number::<u8>(sink, r, "cip_service_code", log, line, "row skipped") else {
        return;
    };
    // Path fields are 0x-hex; absent on a symbolic (tag name) path.
    let target = enip::PathTarget {
        class: number(sink, r, "class_id", log, line, "field left out"),
        instance: number(sink, r, "instance_id", log, line, "field left out"),
        attribute: number(sink, r, "attribute_id", log, line, "field left out"),
        symbol: None,
        unparsed: false,
    };
    let (function, access) = enip::service_operation(code, &target);
    let Some(kind) = crate::protocols::enip::ops::operation_kind(access) else {
        return;
    };
    let op = Op {
        target: server,
        actor: client,
        protocol: Protocol::Cip,
        kind,
        function: &function,
    };
    operation(sink, op, (log, line, seen));
}

/// ICSNPP `enip.log` (one row per encapsulation header, icsnpp-enip), `cotp.log` (one per
/// COTP PDU) and `s7comm_plus.log` (one per S7comm-plus PDU, icsnpp-s7comm): who talks
/// the protocol to whom, and whether the server answered. The responder's rows show it:
/// `is_orig` false (newer releases), or, without `is_orig`, a PDU only a server sends (a
/// COTP connection confirm, `pdu_code` 0xd0, ISO 8073; an S7comm-plus response, `opcode`
/// 0x32). `enip.log` rows of older releases do not say their direction: they count as
/// traffic, and conn.log tells whether the server answered. No operations are taken from
/// `s7comm_plus.log`: its SetMultiVariables is also the session handshake of every
/// connection, so a write cannot be told from it.
fn session(sink: &mut Sink, r: &Record, log: &str, line: u64, protocol: Protocol) {
    let Some((client, server)) = ends(sink, r, log, line) else {
        return;
    };
    let seen = ts(sink, r, log, line);
    let from_client = match get(r, "is_orig") {
        Some(v) => match boolean(v) {
            Some(b) => Some(b),
            None => return sink.bad(log, line, "is_orig", Some(v), "row skipped"),
        },
        None => None,
    };
    let server_only = |field: &str, code: u64| get(r, field).and_then(num) == Some(code);
    let answered = from_client == Some(false)
        || (from_client.is_none()
            && match protocol {
                Protocol::S7 => server_only("pdu_code", 0xd0),
                Protocol::S7Plus => server_only("opcode", 0x32),
                _ => false,
            });
    let entry = sink.peers.entry((client, server, protocol)).or_insert((
        0,
        (log.to_string(), line, seen),
        false,
    ));
    if answered {
        entry.2 = true;
        sink.proven.insert(server);
        return;
    }
    entry.0 += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_zeek_hex() {
        assert_eq!(unescape("a\\x09b"), "a\tb");
        assert_eq!(unescape("\\xzz"), "\\xzz");
    }

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

    #[test]
    fn a_hand_written_tab_separator_is_understood() {
        let text = "#separator \\t\n#path\tconn\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\n1.0\t10.0.0.1\t10.0.0.2\t502\ttcp\tSF\n";
        let r = import("x.log", Box::new(text.as_bytes())).unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(
            r.observations
                .iter()
                .any(|o| matches!(o.fact, Fact::Service { port: 502, .. }))
        );
    }

    #[test]
    fn only_connection_states_with_the_responders_packets_show_a_service() {
        // SH: the originator's SYN and FIN, never a SYN-ACK: nothing shows 10.0.0.2
        // exists (a sweep of unused addresses logs this), so no service, no host.
        let rows = [
            ("10.0.0.2", "SH", "0"),
            ("10.0.0.3", "S0", "0"),
            ("10.0.0.4", "OTH", "0"),
            ("10.0.0.5", "SHR", "1"),
            ("10.0.0.6", "OTH", "3"),
            ("10.0.0.7", "SF", "5"),
        ];
        let mut text = "#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto\tconn_state\tresp_pkts\n".to_string();
        for (resp, state, pkts) in rows {
            text.push_str(&format!(
                "1.0\t10.0.0.1\t{resp}\t502\ttcp\t{state}\t{pkts}\n"
            ));
        }
        let r = import("conn.log", Box::new(text.as_bytes())).unwrap();
        let services: BTreeSet<String> = r
            .observations
            .iter()
            .filter(|o| matches!(o.fact, Fact::Service { port: 502, .. }))
            .map(|o| o.ip.to_string())
            .collect();
        assert_eq!(
            services,
            BTreeSet::from(["10.0.0.5", "10.0.0.6", "10.0.0.7"].map(String::from))
        );
    }

    #[test]
    fn long_line_is_an_error_not_an_allocation() {
        let data = vec![b'a'; MAX_LINE + 10];
        let err = import("x.log", Box::new(&data[..])).unwrap_err();
        assert!(matches!(err, ZeekError::LineTooLong { line: 1 }));
    }
}
