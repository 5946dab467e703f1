//! Reading merge inputs from files: scan results, observation files and earlier reports
//! (recognised by their `format` field, never by the file name), and what the passive
//! importers read (captures, Zeek logs, CSV inventories).

use std::fs;
use std::path::{Path, PathBuf};

use minisign::PublicKey;
use thiserror::Error;

use super::json;
use super::sign::{self, SignError};
use crate::inventory::observation::{OBSERVATIONS_FORMAT, ObservationFile};
use crate::inventory::scan::{SCAN_FORMAT, SCAN_VERSION, ScanResult};
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
    #[error("{path}: not a valid {kind} file: {source}")]
    Json {
        path: PathBuf,
        kind: &'static str,
        source: serde_json::Error,
    },
    #[error("{path}: {kind} version {version} is not supported (this otscout reads version 1)")]
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
    #[error(
        "{path}: not an otscout JSON file, and this build cannot import captures, Zeek logs or CSV inventories yet; convert it with `otscout passive` first"
    )]
    Unsupported { path: PathBuf },
}

/// Reads one input. An earlier report is verified against `pubkey` (its `.minisig`
/// beside it) when one is given, and refused if that fails.
pub fn load(path: &Path, pubkey: Option<&PublicKey>) -> Result<Input, InputError> {
    let bytes = fs::read(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    let trimmed = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if trimmed.map(|i| bytes[i]) != Some(b'{') {
        return Err(InputError::Unsupported {
            path: path.to_owned(),
        });
    }
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        format: String,
        #[serde(default)]
        version: u32,
    }
    let json_err = |kind, source| InputError::Json {
        path: path.to_owned(),
        kind,
        source,
    };
    let head: Head = serde_json::from_slice(&bytes).map_err(|e| json_err("JSON", e))?;
    let version_err = |kind| InputError::Version {
        path: path.to_owned(),
        kind,
        version: head.version,
    };
    match head.format.as_str() {
        SCAN_FORMAT => {
            if head.version != SCAN_VERSION {
                return Err(version_err("scan result"));
            }
            let r: ScanResult =
                serde_json::from_slice(&bytes).map_err(|e| json_err("scan result", e))?;
            Ok(Input::from_scan(&name, r))
        }
        OBSERVATIONS_FORMAT => {
            if head.version != 1 {
                return Err(version_err("observation"));
            }
            let f: ObservationFile =
                serde_json::from_slice(&bytes).map_err(|e| json_err("observation", e))?;
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
                None => json::parse_lenient(&bytes).map_err(|source| InputError::Report {
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
