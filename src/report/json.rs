//! The canonical JSON report: the one rendering that is signed.
//!
//! Canonical means: struct fields in declaration order, maps ordered (BTreeMap), lists
//! sorted by merge, two-space indentation, one trailing newline. The same
//! [`Inventory`] always gives the same bytes; [`parse`] accepts only what [`render`]
//! would write back byte for byte, so a report edited by hand (even reformatted) is
//! refused as not canonical even before its signature is checked.

use thiserror::Error;

use crate::inventory::Inventory;
use crate::inventory::merge::{REPORT_FORMAT, REPORT_VERSION};

/// Why a report could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("not an otscout report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not an otscout report: format is {0:?}, expected \"otscout-report\"")]
    Format(String),
    #[error("report schema version {0} is not supported (this otscout reads version 1)")]
    Version(u32),
    #[error(
        "report is not in canonical form (first difference at byte {0}): it was edited or written by another tool"
    )]
    NotCanonical(usize),
}

/// The canonical bytes of a report.
pub fn render(inv: &Inventory) -> Vec<u8> {
    // Serializing plain data structs with String keys cannot fail.
    let mut out = serde_json::to_vec_pretty(inv).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Reads a report and checks its format, version and canonical form.
pub fn parse(bytes: &[u8]) -> Result<Inventory, ReportError> {
    let inv = parse_lenient(bytes)?;
    let again = render(&inv);
    if again != bytes {
        let at = again
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(ReportError::NotCanonical(at));
    }
    Ok(inv)
}

/// Reads a report and checks its format and version, not its byte form.
pub fn parse_lenient(bytes: &[u8]) -> Result<Inventory, ReportError> {
    let head: Head = serde_json::from_slice(bytes)?;
    if head.format != REPORT_FORMAT {
        return Err(ReportError::Format(head.format));
    }
    if head.version != REPORT_VERSION {
        return Err(ReportError::Version(head.version));
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[derive(serde::Deserialize)]
struct Head {
    format: String,
    version: u32,
}
