//! The CSV view: one row per asset, one column per field, for spreadsheets and CMDBs.
//! A sub-asset (a module behind its parent) follows its parent as a row of its own: `ip`
//! and `parent` are the parent's address, `path` the protocol path to it.
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
    "parent",
    "path",
];

/// The column a report with advisory matches adds after [`COLUMNS`].
pub const ADVISORIES_COLUMN: &str = "advisories";

/// A device-supplied value made safe for a CSV file, which people `cat` and open in
/// spreadsheets. Control characters go first: an escape sequence or BEL planted in a
/// product name (`\e[2J\e[1A=1+1`) would run when the file is printed to a terminal, so
/// each becomes `?` (line ends and tabs a space). Then a cell a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@` first, also after leading blanks: a device can name
/// itself `=cmd|' /C calc'!A0`) gets a leading `'`, which spreadsheets show as text
/// (OWASP "CSV injection"). The JSON report keeps the value as sent.
fn defuse(v: String) -> String {
    let v: String = if v.chars().any(char::is_control) {
        v.chars()
            .map(|c| match c {
                '\t' | '\r' | '\n' => ' ',
                c if c.is_control() => '?',
                c => c,
            })
            .collect()
    } else {
        v
    };
    if v.trim_start().starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v
    }
}

/// Renders the CSV view (RFC 4180 quoting, `\n` line ends). A fleet report (assets of
/// several sites) gets a `site` column first.
pub fn render(inv: &Inventory) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let fleet = inv.assets.iter().any(|a| a.site.is_some());
    let columns: Vec<&str> = fleet
        .then_some("site")
        .into_iter()
        .chain(COLUMNS.iter().copied())
        .collect();
    // Writing to a Vec cannot fail.
    // A report with advisory matches (`merge --csaf`) gets one more column, `advisories`:
    // the advisory ids that apply to the asset (any verdict but fixed and not affected).
    let mut header = columns.clone();
    if inv.advisories.is_some() {
        header.push(ADVISORIES_COLUMN);
    }
    let _ = w.write_record(&header);
    let rows = inv.assets.iter().flat_map(|a| {
        std::iter::once((a, None)).chain(a.sub_assets.iter().map(move |s| (s, Some(a))))
    });
    for (a, parent) in rows {
        let mut row: Vec<String> = Vec::with_capacity(columns.len());
        for &c in &columns {
            let v = match c {
                "site" => a.site.clone().unwrap_or_default(),
                // A MAC-only asset has no address: its key is the `mac` column.
                "ip" if a.mac_only() => String::new(),
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
                "parent" => parent.map(|p| p.label()).unwrap_or_default(),
                "path" => a.path.clone().unwrap_or_default(),
                // The remaining columns are named as the asset fields they show.
                field => a.value_by_name(field).unwrap_or_default().to_owned(),
            };
            row.push(defuse(v));
        }
        if let Some(m) = &inv.advisories {
            // Each row names the advisories matched to it: an address's own, or a
            // sub-asset's (a module behind an adapter) on the sub-asset's row.
            let ids = m.advisories_at(a.site.as_deref(), a.ip, a.path.as_deref());
            row.push(defuse(ids.join(" ")));
        }
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}
