//! Reading merge inputs from files: scan results, observation files and earlier reports
//! (recognised by their `format` field, never by the file name), and everything the
//! passive importer reads (captures, Zeek logs, CSV inventories), detected by content.

use std::path::{Path, PathBuf};

use minisign::PublicKey;

use crate::input_file::{self, ReadError};
use crate::inventory::Inventory;
use thiserror::Error;

use super::json;
use super::sign::{self, SignError};
use crate::inventory::observation::{OBSERVATIONS_FORMAT, ObservationFile};
use crate::inventory::scan::{SCAN_FORMAT, SCAN_VERSION, SCAN_VERSION_MIN, ScanResult};
use crate::inventory::{Input, merge::REPORT_FORMAT};

/// Why an input could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid {kind} file: {source}; give the file as otscout wrote it")]
    Json {
        path: PathBuf,
        kind: &'static str,
        source: serde_json::Error,
    },
    #[error(
        "{path}: {kind} version {version} is not supported (this otscout reads version 1); read it with the otscout that wrote it"
    )]
    Version {
        path: PathBuf,
        kind: &'static str,
        version: u32,
    },
    #[error(
        "{path}: unknown JSON format {format:?} (expected otscout-scan, otscout-observations or otscout-report)"
    )]
    UnknownFormat { path: PathBuf, format: String },
    #[error("{path}: earlier report refused: {source}")]
    Verify { path: PathBuf, source: SignError },
    #[error("{path}: {source}")]
    Report {
        path: PathBuf,
        source: json::ReportError,
    },
    /// The passive importer's error names the file.
    #[error(transparent)]
    Passive { source: crate::passive::ImportError },
    #[error(
        "{path}: not something otscout merges: it looks like {looks_like}; give scan results, observation files or reports (JSON), pcap/pcapng captures, Zeek/ICSNPP logs or CSV inventories"
    )]
    NotAnInput { path: PathBuf, looks_like: String },
    #[error(transparent)]
    File(#[from] ReadError),
    #[error(transparent)]
    Signature(#[from] SignError),
    #[error(
        "{path} is cut short at line {line}, column {column} (a copy or a write that did not finish); use a complete copy, or write it again"
    )]
    Truncated {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    #[error(
        "{path} is larger than {}, the most otscout reads for a JSON scan result, observation file or report; check that this is the right file",
        crate::input_file::Size(*max)
    )]
    TooLarge { path: PathBuf, max: u64 },
}

/// One input read, with the importer's warnings (a damaged capture gives what was valid
/// before the damage and says where it stopped): the caller must show them. Notes say
/// what was whole but not used (the lines of Zeek logs otscout does not read).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub input: Input,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// Reads one input. An earlier report is verified against `pubkey` (its `.minisig`
/// beside it) when one is given, and refused if that fails.
pub fn load(path: &Path, pubkey: Option<&PublicKey>) -> Result<Input, InputError> {
    load_with_warnings(path, pubkey).map(|l| l.input)
}

#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    format: String,
    #[serde(default)]
    version: u32,
}

/// Reads a report for `otscout report` and `otscout diff`: checked against `pubkey` (its
/// signature, digest and canonical form) when one is given, else only parsed. Errors say
/// what the file is when it is not a report (empty, cut short, a capture, binary).
pub fn read_report(path: &Path, pubkey: Option<&PublicKey>) -> Result<Inventory, InputError> {
    if let Some(pk) = pubkey {
        return Ok(sign::verify_file(path, pk)?.inventory);
    }
    let bytes = input_file::read_bytes(path, input_file::REPORT)?;
    json::parse_lenient(&bytes).map_err(|source| InputError::Report {
        path: path.to_owned(),
        source,
    })
}

/// Whether the start of a file looks like one of otscout's own JSON files: an object
/// whose first lines name an `otscout-` format. Zeek JSON logs and CSVs never do.
fn looks_like_ours(bytes: &[u8]) -> bool {
    let start = &bytes[..bytes.len().min(1024)];
    start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && start.windows(9).any(|w| w == b"\"otscout-")
}

/// [`load`], keeping the importer's warnings.
pub fn load_with_warnings(path: &Path, pubkey: Option<&PublicKey>) -> Result<Loaded, InputError> {
    // Only JSON is read whole here: a capture or a CSV goes to the streaming importer
    // without first costing its size in memory.
    let sniff = input_file::Kind {
        max: 4096,
        ..input_file::JSON_INPUT
    };
    let (start, _) = input_file::read_bytes_limited(path, sniff)?;
    let signed = pubkey.is_some() && sign::signature_path(path).exists();
    if start.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') && !signed {
        return import_other(path);
    }
    let (bytes, complete) = input_file::read_bytes_limited(path, input_file::JSON_INPUT)?;
    if !complete {
        // A large capture or log is streamed by the passive importer; a JSON file of
        // ours this large is refused rather than parsed.
        if looks_like_ours(&bytes) {
            return Err(InputError::TooLarge {
                path: path.to_owned(),
                max: input_file::JSON_INPUT.max,
            });
        }
        return import_other(path);
    }
    // A signed file is checked before anything else is read from it: a tampered report may
    // no longer even parse as JSON, and must be refused as tampered, not sniffed as
    // something else.
    if let Some(pk) = pubkey {
        if sign::signature_path(path).exists() {
            let checked = sign::verify_file(path, pk).map_err(|source| InputError::Verify {
                path: path.to_owned(),
                source,
            })?;
            return Ok(Loaded {
                input: Input::from_report(&path.display().to_string(), checked.inventory),
                warnings: Vec::new(),
                notes: Vec::new(),
            });
        }
    }
    // JSON files with a `format` are otscout's own (or refused by name); anything else (a
    // capture, a Zeek log, TSV or JSON lines, a CSV) goes to the passive importer.
    let head: Option<Head> = match serde_json::from_slice(&bytes) {
        Ok(h) => Some(h),
        // One of ours, damaged: say so, rather than let the importer guess at it.
        Err(e) if looks_like_ours(&bytes) => {
            return Err(if e.is_eof() {
                InputError::Truncated {
                    path: path.to_owned(),
                    line: e.line(),
                    column: e.column(),
                }
            } else {
                InputError::Json {
                    path: path.to_owned(),
                    kind: "otscout JSON",
                    source: e,
                }
            });
        }
        Err(_) => None,
    };
    match head {
        Some(h) if !h.format.is_empty() => {
            let mut warnings = Vec::new();
            if h.format == REPORT_FORMAT && pubkey.is_none() {
                warnings.push(
                    "earlier report merged without checking its signature (give --pubkey to check it)"
                        .to_owned(),
                );
            }
            let input = load_json(path, &bytes, h, pubkey)?;
            Ok(Loaded {
                input,
                warnings,
                notes: Vec::new(),
            })
        }
        _ => import_other(path),
    }
}

/// A capture, Zeek log or CSV inventory, through the passive importer. Its warnings (a
/// capture that stopped early says where) travel with the observations.
fn import_other(path: &Path) -> Result<Loaded, InputError> {
    let report = crate::passive::import_path(path, &crate::passive::ImportOptions::default())
        .map_err(|source| match source {
            crate::passive::ImportError::Unsupported { path, looks_like } => {
                InputError::NotAnInput { path, looks_like }
            }
            source => InputError::Passive { source },
        })?;
    // Warnings and notes quote the file (a Zeek log's name, a CSV header): its control
    // characters become `?`, since the caller prints them to a terminal.
    let printable = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .map(|w| {
                w.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect()
            })
            .collect()
    };
    Ok(Loaded {
        input: Input::from_raw(&path.display().to_string(), report.observations),
        warnings: printable(&report.warnings),
        notes: printable(&report.notes),
    })
}

fn load_json(
    path: &Path,
    bytes: &[u8],
    head: Head,
    pubkey: Option<&PublicKey>,
) -> Result<Input, InputError> {
    let name = path.display().to_string();
    let json_err = |kind, source| InputError::Json {
        path: path.to_owned(),
        kind,
        source,
    };
    let version_err = |kind| InputError::Version {
        path: path.to_owned(),
        kind,
        version: head.version,
    };
    match head.format.as_str() {
        SCAN_FORMAT => {
            if !(SCAN_VERSION_MIN..=SCAN_VERSION).contains(&head.version) {
                return Err(version_err("scan result"));
            }
            let r: ScanResult =
                serde_json::from_slice(bytes).map_err(|e| json_err("scan result", e))?;
            Ok(Input::from_scan(&name, r))
        }
        OBSERVATIONS_FORMAT => {
            if head.version != 1 {
                return Err(version_err("observation"));
            }
            let f: ObservationFile =
                serde_json::from_slice(bytes).map_err(|e| json_err("observation", e))?;
            Ok(Input::from_observations(&name, f))
        }
        REPORT_FORMAT => {
            let inv = match pubkey {
                Some(pk) => {
                    sign::verify_file(path, pk)
                        .map_err(|source| InputError::Verify {
                            path: path.to_owned(),
                            source,
                        })?
                        .inventory
                }
                None => json::parse_lenient(bytes).map_err(|source| InputError::Report {
                    path: path.to_owned(),
                    source,
                })?,
            };
            Ok(Input::from_report(&name, inv))
        }
        other => Err(InputError::UnknownFormat {
            path: path.to_owned(),
            format: other.to_owned(),
        }),
    }
}
