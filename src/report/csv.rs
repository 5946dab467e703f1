//! The CSV view: one row per asset, one column per field, for spreadsheets and CMDBs.
//!
//! Values only; provenance stays in the JSON report. A field with conflicting values says
//! so in the `conflicts` column (`field: value | other value`).

use crate::inventory::Inventory;
use crate::inventory::merge::protocol_name;

/// The columns, in order.
pub const COLUMNS: &[&str] = &[
    "ip",
    "mac",
    "hostname",
    "manufacturer",
    "model",
    "product_name",
    "family",
    "device_type",
    "firmware",
    "os",
    "serial",
    "role",
    "criticality",
    "location",
    "owner",
    "zone",
    "protocols",
    "services",
    "cpe_hardware",
    "cpe_firmware",
    "conflicts",
    "flags",
    "first_seen",
    "last_seen",
];

/// The column a report with advisory matches adds after [`COLUMNS`].
pub const ADVISORIES_COLUMN: &str = "advisories";

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first: a
/// device can name itself `=cmd|' /C calc'!A0`) gets a leading `'`, which spreadsheets
/// show as text (OWASP "CSV injection"). The JSON report keeps the value as sent.
fn defuse(v: String) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v
    }
}

/// Renders the CSV view (RFC 4180 quoting, `\n` line ends).
pub fn render(inv: &Inventory) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    // A report with advisory matches (`merge --csaf`) gets one more column, `advisories`:
    // the advisory ids that apply to the asset (any verdict but fixed and not affected).
    let mut header: Vec<&str> = COLUMNS.to_vec();
    if inv.advisories.is_some() {
        header.push(ADVISORIES_COLUMN);
    }
    let _ = w.write_record(&header);
    for a in &inv.assets {
        let mut row: Vec<String> = Vec::with_capacity(COLUMNS.len());
        for &c in COLUMNS {
            let v = match c {
                "ip" => a.ip.to_string(),
                "protocols" => a
                    .protocols
                    .iter()
                    .map(|p| protocol_name(*p))
                    .collect::<Vec<_>>()
                    .join(" "),
                "services" => a.service_names().join("; "),
                "conflicts" => a
                    .fields()
                    .filter(|(_, f)| !f.conflicts.is_empty())
                    .map(|(n, f)| {
                        let mut vals = vec![f.value.as_str()];
                        vals.extend(f.conflicts.iter().map(|c| c.value.as_str()));
                        format!("{n}: {}", vals.join(" | "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                "flags" => a
                    .flags
                    .iter()
                    .map(|f| f.detail.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                "first_seen" => a.first_seen.map(|t| t.to_rfc3339()).unwrap_or_default(),
                "last_seen" => a.last_seen.map(|t| t.to_rfc3339()).unwrap_or_default(),
                field => a.value(field).unwrap_or_default().to_owned(),
            };
            row.push(defuse(v));
        }
        if let Some(m) = &inv.advisories {
            row.push(defuse(m.advisories_of(a.ip).join(" ")));
        }
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}
