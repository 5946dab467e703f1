//! Zeek and ICSNPP logs: TSV (with `#fields` headers) and JSON lines, plain or gzip.
//!
//! Read: `conn.log` (hosts, services that answered, who talks to whom on ICS ports) and
//! the CISA ICSNPP logs `cip_identity.log`, `modbus_read_device_identification.log` (one
//! row per object; the unit id column is `uint` in some releases and `unit` in others)
//! and `s7comm_known_devices.log`. Every other log is skipped and counted.
//!
//! Field lists follow the ICSNPP scripts (cisagov/icsnpp-enip, icsnpp-modbus,
//! icsnpp-s7comm `scripts/main.zeek`) and Zeek's base `conn.log`. Lines are capped at
//! [`MAX_LINE`] bytes; a row with a bad address is skipped with a warning naming the line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};

use super::engine::protocol_for_port;
use super::{ImportReport, ImportStats, InputKind};
use crate::inventory::{
    EnipIdentity, EnipIdentitySource, Fact, Identity, ModbusIdentity, Observation, Protocol,
    Provenance, Role, S7Identity, Transport,
};

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
    #[error("line {line}: a data row before any #fields header: is the file cut at the top?")]
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

struct Sink {
    file: String,
    obs: Vec<Observation>,
    warnings: Vec<String>,
    stats: ImportStats,
    services: BTreeSet<(IpAddr, Transport, u16)>,
    peers: BTreeMap<(IpAddr, IpAddr, Protocol), (u64, Origin)>,
    modbus: BTreeMap<(IpAddr, u8), (ModbusIdentity, Origin)>,
    skipped_logs: BTreeSet<String>,
}

impl Sink {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.stats.warnings_suppressed += 1;
        }
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
        });
    }
}

fn get<'r>(r: &'r Record, k: &str) -> Option<&'r str> {
    r.get(k).and_then(|v| v.as_deref())
}

fn ts(r: &Record) -> Option<DateTime<Utc>> {
    let t: f64 = get(r, "ts")?.parse().ok()?;
    if !t.is_finite() {
        return None;
    }
    let secs = t.floor();
    DateTime::from_timestamp(secs as i64, ((t - secs) * 1e9) as u32)
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
            let (key, val) = meta.split_once([' ', '\t']).unwrap_or((meta, ""));
            match key {
                "separator" => header.separator = unescape(val.trim()),
                "empty_field" => {
                    header.empty = val.trim_start_matches(&*header.separator).to_string()
                }
                "unset_field" => {
                    header.unset = val.trim_start_matches(&*header.separator).to_string()
                }
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
                Ok(m) => m
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s),
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
                        (k, v)
                    })
                    .collect(),
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
            _ => {
                sink.stats.skipped_lines += 1;
                if sink.skipped_logs.len() < 64 {
                    sink.skipped_logs.insert(log);
                }
            }
        }
    }
    // Folded facts, in key order.
    for ((client, server, protocol), (count, (log, line, seen))) in std::mem::take(&mut sink.peers)
    {
        for (me, peer, role) in [
            (client, server, Role::Client),
            (server, client, Role::Server),
        ] {
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
    if sink.stats.skipped_lines > 0 {
        let logs: Vec<String> = sink.skipped_logs.iter().cloned().collect();
        let n = sink.stats.skipped_lines;
        sink.warn(format!(
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
        stopped: None,
    })
}

/// Connection states in which the responder answered (Zeek `conn.log` `conn_state`).
fn responder_answered(state: &str) -> bool {
    matches!(
        state,
        "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" | "SH" | "OTH"
    )
}

fn conn(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let (Some(orig), Some(resp)) = (
        addr(sink, r, "id.orig_h", log, line),
        addr(sink, r, "id.resp_h", log, line),
    ) else {
        return;
    };
    let Some(port) = get(r, "id.resp_p").and_then(|p| p.parse::<u16>().ok()) else {
        return;
    };
    let transport = match get(r, "proto") {
        Some("tcp") => Transport::Tcp,
        Some("udp") => Transport::Udp,
        _ => return,
    };
    let seen = ts(r);
    let answered = match transport {
        Transport::Tcp => get(r, "conn_state").is_some_and(responder_answered),
        Transport::Udp => {
            get(r, "resp_pkts").and_then(num).is_some_and(|n| n > 0)
                || get(r, "resp_bytes").and_then(num).is_some_and(|n| n > 0)
        }
    };
    let protocol = match get(r, "service").unwrap_or("") {
        s if s.contains("modbus") => Protocol::Modbus,
        s if s.contains("s7comm_plus") => Protocol::S7Plus,
        s if s.contains("s7comm") => Protocol::S7,
        s if s.contains("cip_io") => Protocol::CipIo,
        s if s.contains("enip") || s.contains("cip") => Protocol::Enip,
        _ => protocol_for_port(transport, port),
    };
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
        let e = sink
            .peers
            .entry((orig, resp, protocol))
            .or_insert((0, (log.to_string(), line, seen)));
        e.0 += 1;
    }
}

fn cip_identity(sink: &mut Sink, r: &Record, log: &str, line: u64) {
    let Some(device) = addr(sink, r, "id.resp_h", log, line) else {
        return;
    };
    if !ip_is_unicast(&device) {
        sink.warn(format!(
            "{} line {line} ({log}): responder {device} is not a unicast address (a broadcast List Identity?): row skipped",
            sink.file
        ));
        return;
    }
    let (maj, min) = get(r, "revision")
        .and_then(|v| v.split_once('.'))
        .map(|(a, b)| (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0)))
        .unwrap_or((0, 0));
    let n16 = |k: &str| get(r, k).and_then(num).and_then(|v| u16::try_from(v).ok());
    let socket_addr = match (
        get(r, "socket_address").and_then(|a| a.parse::<IpAddr>().ok()),
        n16("socket_port"),
    ) {
        (Some(a), Some(p)) => Some(SocketAddr::new(a, p)),
        _ => None,
    };
    let id = EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        vendor_id: n16("vendor_id").unwrap_or(0),
        device_type: n16("device_type_id").unwrap_or(0),
        product_code: n16("product_code").unwrap_or(0),
        revision_major: maj,
        revision_minor: min,
        status: n16("device_status").unwrap_or(0),
        serial: get(r, "serial_number")
            .and_then(num)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        product_name: get(r, "product_name").unwrap_or("").to_string(),
        state: get(r, "device_state")
            .and_then(num)
            .and_then(|v| u8::try_from(v).ok()),
        encapsulation_version: n16("encapsulation_version"),
        socket_addr,
    };
    sink.push(
        device,
        Fact::Identity {
            identity: Identity::Enip(id),
        },
        log,
        line,
        ts(r),
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
        (Some(o), None) => o == "F" || o == "false",
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
    let unit = get(r, "uint")
        .or_else(|| get(r, "unit"))
        .and_then(num)
        .and_then(|u| u8::try_from(u).ok())
        .unwrap_or(0);
    let Some(object) = modbus_object_id(r) else {
        sink.warn(format!(
            "{} line {line} ({log}): object id not understood: row skipped",
            sink.file
        ));
        return;
    };
    let value = get(r, "object_value").unwrap_or("").to_string();
    let level = get(r, "conformity_level_code")
        .and_then(num)
        .and_then(|v| u8::try_from(v).ok());
    let seen = ts(r);
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
    let Some(device) = addr(sink, r, "id.resp_h", log, line) else {
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
    sink.push(
        device,
        Fact::Identity {
            identity: Identity::S7(Box::new(id)),
        },
        log,
        line,
        ts(r),
    );
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
    fn long_line_is_an_error_not_an_allocation() {
        let data = vec![b'a'; MAX_LINE + 10];
        let err = import("x.log", Box::new(&data[..])).unwrap_err();
        assert!(matches!(err, ZeekError::LineTooLong { line: 1 }));
    }
}
