//! Zeek and ICSNPP logs: TSV (with `#fields` headers) and JSON lines, plain or gzip.
//!
//! This module reads the files and nothing protocol-specific: `conn.log` (hosts, services
//! that answered, who talks to whom on ICS ports: the `service` field through
//! [`crate::protocols::zeek_service`], else the responder's port) is its own; every other
//! log is read by the protocol that lists it in [`crate::protocols::ProtocolSpec::zeek_logs`]
//! (`crate::protocols::<name>::zeek`), row by row through [`crate::facts::zeek::Row`].
//! Both write into the same [`Collector`] the capture analyzers write into, so identities,
//! services, peers and operations fold by one code path, with the log and line as
//! provenance. A log no protocol reads is skipped and counted.
//!
//! The header is read as Zeek writes it: `#separator \x09` (escaped), then
//! `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#fields` separated by that
//! separator; JSON lines (`LogAscii::use_json=T`) with flat (`id.orig_h`) or nested
//! (`"id": {"orig_h": ...}`) connection ids, and times as epoch seconds or ISO 8601. The
//! log comes from `#path`, `_path`, or the file name (`conn.2026-11-01-00-00-00.log.gz`
//! is `conn`). Lines are capped at [`MAX_LINE`] bytes. Newer ICSNPP releases add
//! `is_orig`, `source_h` and `destination_h`: the replying device is then `source_h` of a
//! row with `is_orig` false.
//!
//! A value that does not parse is never replaced by a default: the field is left out
//! (or, when the fact cannot stand without it, the row is skipped), counted in
//! [`ImportStats::bad_values`] and reported in a warning naming the file, line, log and
//! field.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use super::collect::Collector;
use super::engine::protocol_for_port;
use super::{ImportReport, ImportStats, InputKind};
use crate::facts::zeek::{BadValue, Record, Row, RowIssues};
use crate::facts::{At, FactSink};
use crate::inventory::{Protocol, Transport};
use crate::protocols::{ProtocolSpec, zeek_reader, zeek_service};

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

/// Values of one (log, field) that did not parse: how many, the first line and value, and
/// what was done about them.
#[derive(Debug)]
struct Bad {
    count: u64,
    line: u64,
    value: String,
    action: &'static str,
}

/// The importer's running state besides the facts.
struct Import {
    file: String,
    warnings: Vec<String>,
    stats: ImportStats,
    skipped_logs: BTreeSet<String>,
    bad: BTreeMap<(String, String), Bad>,
}

impl Import {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.stats.warnings_suppressed += 1;
        }
    }

    /// A value of `field` that did not parse (or is missing where the fact needs it).
    fn bad(&mut self, log: &str, line: u64, b: BadValue) {
        self.stats.bad_values += 1;
        let value = match &b.value {
            Some(v) => format!("{:?}", v.chars().take(60).collect::<String>()),
            None => "missing".to_string(),
        };
        let key = (log.to_string(), b.field);
        if self.bad.len() >= 256 && !self.bad.contains_key(&key) {
            self.stats.warnings_suppressed += 1;
            return;
        }
        let e = self.bad.entry(key).or_insert(Bad {
            count: 0,
            line,
            value,
            action: b.action,
        });
        e.count += 1;
    }

    /// Takes what reading one row found wrong.
    fn drain(&mut self, log: &str, line: u64, issues: &mut RowIssues) {
        for b in issues.bad.drain(..) {
            self.bad(log, line, b);
        }
        for w in issues.warnings.drain(..) {
            self.warn(w);
        }
    }
}

/// Imports one Zeek log.
pub fn import(file: &str, mut rd: Box<dyn BufRead + '_>) -> Result<ImportReport, ZeekError> {
    let mut col = Collector::zeek(file);
    let mut sink = Import {
        file: file.to_string(),
        warnings: Vec::new(),
        stats: ImportStats::default(),
        skipped_logs: BTreeSet::new(),
        bad: BTreeMap::new(),
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
    let mut issues = RowIssues::default();
    // The reader of the last log seen (most files hold one log).
    let mut reader: Option<(String, Option<&'static dyn ProtocolSpec>)> = None;
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
        let log = record
            .get("_path")
            .and_then(|v| v.as_deref())
            .map(str::to_string)
            .or_else(|| header.path.clone())
            .unwrap_or_else(|| name_log.clone());
        let spec = match &reader {
            Some((l, spec)) if *l == log => *spec,
            _ => {
                let spec = zeek_reader(&log);
                reader = Some((log.clone(), spec));
                spec
            }
        };
        let mut row = Row::new(file, &log, line, &record, &mut issues);
        if log == "conn" {
            col.zeek_log(line, &log);
            conn(&mut row, &mut col);
        } else if let Some(spec) = spec {
            col.zeek_log(line, &log);
            spec.zeek_row(&mut row, &mut col);
        } else {
            sink.stats.skipped_lines += 1;
            if sink.skipped_logs.len() < 64 {
                sink.skipped_logs.insert(log.clone());
            }
        }
        sink.drain(&log, line, &mut issues);
    }
    sink.stats.capped += col.capped;
    let (observations, unproven) = col.finish();
    sink.stats.unproven += unproven.observations;
    let mut notes = Vec::new();
    if unproven.operations > 0 {
        notes.push(format!(
            "{file}: {} kinds of operations on servers this log never shows answering were left out (import the log of the answers, or conn.log, with it)",
            unproven.operations
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
        file: sink.file,
        kind: InputKind::Zeek,
        observations,
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

/// Zeek's `conn.log`: the originator exists; the responder exists and offers the service
/// when the connection shows it answered; who talks to whom over an ICS protocol (named
/// by the `service` field, else by the responder's port).
fn conn(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let (Some(orig), Some(resp)) = (r.addr("id.orig_h"), r.addr("id.resp_h")) else {
        return;
    };
    let transport = match r.get("proto") {
        Some("tcp") => Transport::Tcp,
        Some("udp") => Transport::Udp,
        // ICMP and the like: no port, nothing otscout uses.
        Some(_) => return,
        None => return r.bad("proto", None, "row skipped"),
    };
    let Some(port) = r.required::<u16>("id.resp_p") else {
        return;
    };
    let at: At = r.at();
    let sent_back = |r: &mut Row<'_>| {
        let pkts: Option<u64> = r.number("resp_pkts", "field ignored");
        let bytes: Option<u64> = r.number("resp_bytes", "field ignored");
        pkts.is_some_and(|n| n > 0) || bytes.is_some_and(|n| n > 0)
    };
    let answered = match transport {
        Transport::Tcp => match r.get("conn_state") {
            Some(state) => match responder_answered(state) {
                Some(answered) => answered,
                None => sent_back(r),
            },
            None => {
                r.bad("conn_state", None, "responder not counted as answering");
                false
            }
        },
        Transport::Udp => sent_back(r),
    };
    let protocol = zeek_service(r.get("service").unwrap_or(""))
        .unwrap_or_else(|| protocol_for_port(transport, port));
    sink.host(orig, at);
    if answered {
        sink.host(resp, at);
        sink.service(resp, transport, port, protocol, at);
    }
    if protocol != Protocol::Other {
        sink.peer(orig, resp, protocol, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Fact;

    #[test]
    fn unescapes_zeek_hex() {
        assert_eq!(unescape("a\\x09b"), "a\tb");
        assert_eq!(unescape("\\xzz"), "\\xzz");
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
