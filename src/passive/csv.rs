//! CSV inventories: what the plant believes is installed.
//!
//! Header-driven: each column is matched by name to an attribute through aliases
//! (`ip`/`address`, `mac`, `hostname`/`name`, `vendor`/`manufacturer`, `model`, `serial`,
//! `firmware`, `role`/`type`, `criticality`, `location`/`site`, `owner`, `zone`); columns
//! with other names are kept as custom attributes under their own header. The delimiter
//! is a comma or a semicolon (whichever the header line uses more); a UTF-8 byte-order mark
//! is ignored. A row whose address does not parse is skipped with a warning naming the row
//! (rows are numbered by the line they start on: the header is row 1).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::net::IpAddr;
use std::rc::Rc;

use super::{ImportReport, ImportStats, InputKind};
use crate::inventory::{Fact, MacBasis, Observation, Provenance};

const MAX_WARNINGS: usize = 20;
/// The widest row accepted, in fields.
const MAX_COLUMNS: usize = 1024;
/// The longest record accepted, in bytes: an unclosed quote would otherwise pull the rest
/// of the file, however large, into one cell.
pub const MAX_RECORD: u64 = 1024 * 1024;

/// Why a CSV inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    #[error("row {row}: {source}")]
    Parse { row: u64, source: ::csv::Error },
    #[error(
        "the header has no address column (looked for ip, ip address, address, ipv4); headers are: {headers}"
    )]
    NoAddressColumn { headers: String },
    #[error("the header has {count} columns, more than the limit of {MAX_COLUMNS}")]
    TooManyColumns { count: usize },
    #[error("the file has no header row")]
    Empty,
    #[error(
        "line {line}: a quoted field runs on past the end of the line (an unclosed \" quote?) and would swallow the rows after it: close the quote on line {line}"
    )]
    UnclosedQuote {
        /// The line the quote opened on.
        line: u64,
    },
}

/// The attribute a header names, or `None` for a custom column.
pub fn canonical(header: &str) -> Option<&'static str> {
    let h: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .collect();
    Some(match h.as_str() {
        "ip" | "ipaddress" | "address" | "ipv4" | "ipaddr" | "ipv4address" | "ipv6" | "hostip" => {
            "ip"
        }
        "mac" | "macaddress" | "macaddr" | "hwaddress" => "mac",
        "hostname" | "name" | "host" | "devicename" | "assetname" => "hostname",
        "vendor" | "manufacturer" | "make" => "vendor",
        "model" | "product" | "productname" => "model",
        "serial" | "serialnumber" | "sn" | "serialno" => "serial",
        "firmware" | "firmwareversion" | "fw" | "fwversion" => "firmware",
        "role" | "type" | "devicetype" | "assettype" => "role",
        "criticality" | "critical" => "criticality",
        "location" | "site" => "location",
        "owner" | "responsible" => "owner",
        "zone" | "securityzone" => "zone",
        _ => return None,
    })
}

/// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`, `aabb.ccdd.eeff` and `aabbccddeeff`,
/// any case; returns it lowercase with colons.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.' | ' '))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_lowercase();
    Some(
        (0..6)
            .map(|i| &hex[i * 2..i * 2 + 2])
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Line numbers for byte offsets: the csv crate skips blank lines without counting them,
/// so the newlines are counted here as the bytes stream past. Only the newlines not yet
/// behind the last record asked about are held (the reader's look-ahead).
#[derive(Debug, Default)]
struct Lines {
    pending: VecDeque<u64>,
    before: u64,
    /// Where the last record asked about starts.
    start: u64,
}

impl Lines {
    /// The 1-based line holding byte `at` (records are asked about in order).
    fn line_at(&mut self, at: u64) -> u64 {
        self.start = at;
        while self.pending.front().is_some_and(|&nl| nl < at) {
            self.pending.pop_front();
            self.before += 1;
        }
        // A record after blank lines is reported at the first blank line: the newlines
        // that follow back to back (LF or CRLF) are blank lines, not the record's.
        let mut cursor = at;
        while let Some(&nl) = self.pending.front() {
            if nl == cursor || nl == cursor + 1 {
                self.pending.pop_front();
                self.before += 1;
                cursor = nl + 1;
            } else {
                break;
            }
        }
        self.before + 1
    }
}

struct LineCounter<R> {
    inner: R,
    offset: u64,
    lines: Rc<RefCell<Lines>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut lines = self.lines.borrow_mut();
        // The reader's look-ahead is a few KiB: this far past the last record's start,
        // one record is longer than any inventory row.
        if self.offset.saturating_sub(lines.start) > MAX_RECORD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a record longer than {MAX_RECORD} bytes (an unclosed \" quote?): fix the row or remove it"
                ),
            ));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                lines.pending.push_back(self.offset + i as u64);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Imports one CSV inventory.
pub fn import(file: &str, mut rd: Box<dyn BufRead + '_>) -> Result<ImportReport, CsvError> {
    let head = rd.fill_buf().map_err(|e| CsvError::Parse {
        row: 1,
        source: e.into(),
    })?;
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let commas = first_line.iter().filter(|&&b| b == b',').count();
    let semis = first_line.iter().filter(|&&b| b == b';').count();
    let delimiter = if semis > commas { b';' } else { b',' };
    let lines = Rc::new(RefCell::new(Lines::default()));
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(LineCounter {
            inner: rd,
            offset: 0,
            lines: Rc::clone(&lines),
        });
    let mut rows = rdr.byte_records();
    let header = match rows.next() {
        Some(Ok(h)) => h,
        Some(Err(source)) => return Err(CsvError::Parse { row: 1, source }),
        None => return Err(CsvError::Empty),
    };
    if header
        .iter()
        .any(|f| f.contains(&b'\n') || f.contains(&b'\r'))
    {
        return Err(CsvError::UnclosedQuote { line: 1 });
    }
    if header.len() > MAX_COLUMNS {
        return Err(CsvError::TooManyColumns {
            count: header.len(),
        });
    }
    let headers: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    let kinds: Vec<Option<&'static str>> = headers.iter().map(|h| canonical(h)).collect();
    let Some(ip_col) = kinds.iter().position(|k| *k == Some("ip")) else {
        return Err(CsvError::NoAddressColumn {
            headers: headers.join(", "),
        });
    };
    let mut obs = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut stats = ImportStats::default();
    let mut warn = |w: String, stats: &mut ImportStats| {
        if warnings.len() < MAX_WARNINGS {
            warnings.push(w);
        } else {
            stats.warnings_suppressed += 1;
        }
    };
    let mut row = 1u64;
    for rec in rows {
        // The line the record starts on, as an editor or spreadsheet numbers it (blank
        // lines count; the header is 1).
        let byte = match &rec {
            Ok(r) => r.position().map(|p| p.byte()),
            Err(e) => e.position().map(|p| p.byte()),
        };
        row = match byte {
            Some(b) => lines.borrow_mut().line_at(b),
            None => row + 1,
        };
        let rec = rec.map_err(|source| CsvError::Parse { row, source })?;
        // Only a quoted field holds a line end; an inventory row never needs one, and a
        // quote left open takes every row after it into one cell.
        if let Some(i) = rec
            .iter()
            .position(|f| f.contains(&b'\n') || f.contains(&b'\r'))
        {
            let before: u64 = rec
                .iter()
                .take(i)
                .map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64)
                .sum();
            return Err(CsvError::UnclosedQuote { line: row + before });
        }
        if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        stats.rows += 1;
        let cell = |i: usize| -> String {
            rec.get(i)
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default()
        };
        let addr = cell(ip_col);
        // Spreadsheets write `10.0.0.5/24`: the host part is the address.
        let addr_only = addr.split('/').next().unwrap_or("").trim();
        let ip: IpAddr = match addr_only.parse() {
            Ok(ip) => ip,
            Err(_) => {
                warn(
                    format!(
                        "{file} row {row}: {} {addr:?} is not an IP address: row skipped (fix the cell or remove the row)",
                        headers[ip_col]
                    ),
                    &mut stats,
                );
                continue;
            }
        };
        let prov = Provenance::Csv {
            file: file.to_string(),
            row,
        };
        for (i, kind) in kinds.iter().enumerate() {
            if i == ip_col {
                continue;
            }
            let value = cell(i);
            if value.is_empty() {
                continue;
            }
            let fact = match kind {
                Some("mac") => match normalize_mac(&value) {
                    Some(mac) => Fact::Mac {
                        mac,
                        basis: MacBasis::Declared,
                    },
                    None => {
                        warn(
                            format!(
                                "{file} row {row}: {} {value:?} is not a MAC address: cell ignored",
                                headers[i]
                            ),
                            &mut stats,
                        );
                        continue;
                    }
                },
                Some("ip") => continue,
                Some(attr) => Fact::Declared {
                    attribute: (*attr).to_string(),
                    value,
                },
                None => Fact::Declared {
                    attribute: headers[i].clone(),
                    value,
                },
            };
            obs.push(Observation {
                ip,
                fact,
                provenance: prov.clone(),
                seen: None,
                raw_hex: None,
                path: None,
            });
        }
    }
    Ok(ImportReport {
        file: file.to_string(),
        kind: InputKind::Csv,
        observations: obs,
        stats,
        warnings,
        notes: Vec::new(),
        stopped: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        assert_eq!(canonical("IP Address"), Some("ip"));
        assert_eq!(canonical("\u{feff}Manufacturer"), Some("vendor"));
        assert_eq!(canonical("Serial_Number"), Some("serial"));
        assert_eq!(canonical("rack"), None);
    }

    #[test]
    fn macs() {
        assert_eq!(
            normalize_mac("00-1B-1B-23-EB-3B").as_deref(),
            Some("00:1b:1b:23:eb:3b")
        );
        assert_eq!(
            normalize_mac("001b.1b23.eb3b").as_deref(),
            Some("00:1b:1b:23:eb:3b")
        );
        assert_eq!(normalize_mac("nope"), None);
    }
}
