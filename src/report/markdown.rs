//! The human views: a Markdown summary a plant manager reads, and a plain-text table for
//! the terminal.

use std::fmt::Write;

use crate::inventory::Inventory;
use crate::inventory::merge::{Asset, AssetField, protocol_name};

/// A device-supplied string made safe for a Markdown table cell: text, never markup.
/// `[` and `]` are escaped (a device naming itself `[x](http://...)` or
/// `![i](http://...)` would otherwise put a link or a remote image in the report), as are
/// `` ` `` (code spans), `*` and `_` (emphasis), `\` (so a device cannot undo an escape)
/// and `|` (table cells); `<`, `>` and `&` become entities (no raw HTML or entity reaches a
/// renderer); control characters (an escape sequence planted in a product name shows when
/// the file is `cat` to a terminal) become `?`, line breaks spaces. CommonMark 0.31,
/// 2.4: any ASCII punctuation may be backslash-escaped.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '[' | ']' | '`' | '*' | '_' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("–")
}

/// The Markdown summary.
pub fn render(inv: &Inventory) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# OT asset inventory\n");
    let _ = writeln!(
        s,
        "Generated {} by otscout {} from {} source(s).\n",
        inv.generated_at.format("%Y-%m-%d %H:%M UTC"),
        inv.otscout_version,
        inv.inputs.len()
    );
    if let Some(site) = &inv.site {
        let _ = writeln!(s, "Site: {}\n", cell(site));
    }
    if !inv.summary.by_site.is_empty() {
        let parts: Vec<String> = inv
            .summary
            .by_site
            .iter()
            .map(|(site, n)| format!("{}: {n} assets", cell(site)))
            .collect();
        let _ = writeln!(s, "Fleet of {} sites: {}\n", parts.len(), parts.join(", "));
    }
    for v in &inv.verified {
        let _ = writeln!(
            s,
            "- verified {} (site {}) with key id {}\n",
            cell(&v.file),
            cell(v.site.as_deref().unwrap_or("–")),
            cell(&v.key_id)
        );
    }
    let sm = &inv.summary;
    let _ = writeln!(s, "## Summary\n");
    let _ = writeln!(
        s,
        "- **{}** assets, {} identified themselves",
        sm.assets, sm.identified
    );
    if sm.sub_assets > 0 {
        let _ = writeln!(
            s,
            "- **{}** sub-assets behind them (modules, units behind gateways)",
            sm.sub_assets
        );
    }
    let _ = writeln!(s, "- **{}** fields with conflicting values", sm.conflicts);
    let _ = writeln!(s, "- **{}** items need attention (below)", sm.flags);
    if !sm.by_manufacturer.is_empty() {
        let parts: Vec<String> = sm
            .by_manufacturer
            .iter()
            .map(|(m, n)| format!("{}: {n}", cell(m)))
            .collect();
        let _ = writeln!(s, "- by manufacturer: {}", parts.join(", "));
    }
    let _ = writeln!(s);

    if !inv.scans.is_empty() {
        let _ = writeln!(s, "## Scans\n");
        let _ = writeln!(
            s,
            "| scan | status | started | ended | profile | operator | requests sent | hosts |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for sc in &inv.scans {
            let sent: u64 = sc
                .ledger
                .values()
                .flat_map(|k| k.values())
                .map(|e| e.count)
                .sum();
            let status = serde_json::to_value(sc.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&sc.scan_id),
                status,
                sc.started.format("%Y-%m-%d %H:%M:%S"),
                sc.ended.map_or_else(
                    || "–".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string()
                ),
                cell(&sc.profile),
                cell(or_dash(sc.operator.as_deref())),
                sent,
                sc.ledger.len()
            );
        }
        let _ = writeln!(s);
    }

    let attention: Vec<(&Asset, &crate::inventory::merge::Flag)> = inv
        .assets
        .iter()
        .flat_map(|a| std::iter::once(a).chain(&a.sub_assets))
        .flat_map(|a| a.flags.iter().map(move |f| (a, f)))
        .collect();
    if !attention.is_empty() {
        let _ = writeln!(s, "## Needs attention\n");
        for (a, f) in attention {
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let site = a.site.as_deref().map(|x| format!("{} ", cell(x)));
            let at = a
                .path
                .as_deref()
                .map(|p| format!(" {}", cell(p)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "- **{}{}{at}** ({}): {}",
                site.unwrap_or_default(),
                cell(&a.label()),
                kind.replace('_', " "),
                cell(&f.detail)
            );
        }
        let _ = writeln!(s);
    }

    // A fleet report: one asset table per site.
    let fleet = inv.assets.iter().any(|a| a.site.is_some());
    let mut groups: Vec<(Option<&str>, Vec<&Asset>)> = Vec::new();
    for a in &inv.assets {
        match groups.last_mut() {
            Some((site, list)) if *site == a.site.as_deref() => list.push(a),
            _ => groups.push((a.site.as_deref(), vec![a])),
        }
    }
    if groups.is_empty() {
        groups.push((None, Vec::new()));
    }
    for (site, assets) in groups {
        if fleet {
            let _ = writeln!(
                s,
                "## Site {} ({} assets)\n",
                cell(site.unwrap_or("(none)")),
                assets.len()
            );
        } else {
            let _ = writeln!(s, "## Assets\n");
        }
        asset_table(&mut s, &assets);
    }
    let _ = writeln!(
        s,
        "\nEvery value above names its sources in the signed JSON report; conflicting values are kept there too."
    );
    if let Some(m) = &inv.advisories {
        let _ = writeln!(s);
        s.push_str(&super::advisories::markdown(m));
    }
    s
}

fn asset_table(s: &mut String, assets: &[&Asset]) {
    let _ = writeln!(
        s,
        "| address | manufacturer | model | firmware | serial | criticality | location | protocols |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    // A sub-asset follows its parent, indented under it, named by its path.
    let rows = assets
        .iter()
        .flat_map(|a| std::iter::once(*a).chain(&a.sub_assets));
    for a in rows {
        let protos: Vec<String> = a.protocols.iter().map(|p| protocol_name(*p)).collect();
        let address = match &a.path {
            None => cell(&a.label()),
            Some(p) => format!("&nbsp;&nbsp;↳ {}", cell(p)),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            address,
            cell(or_dash(a.value(AssetField::Manufacturer))),
            cell(or_dash(a.value(AssetField::Model))),
            cell(or_dash(a.value(AssetField::Firmware))),
            cell(or_dash(a.value(AssetField::Serial))),
            cell(or_dash(a.value(AssetField::Criticality))),
            cell(or_dash(a.value(AssetField::Location))),
            protos.join(", ")
        );
    }
    let _ = writeln!(s);
}

/// The widest a table cell gets; longer values are cut with `…` (the JSON keeps them whole).
const MAX_CELL: usize = 32;

/// A device-supplied string made safe for a terminal: control characters (an escape
/// sequence planted in a product name, say) become `?`, and long values are cut.
fn terminal_cell(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() <= MAX_CELL {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX_CELL - 1).collect();
    cut.push('…');
    cut
}

/// A plain-text table for the terminal.
pub fn table(inv: &Inventory) -> String {
    let fleet = inv.assets.iter().any(|a| a.site.is_some());
    let header = [
        "SITE",
        "ADDRESS",
        "MANUFACTURER",
        "MODEL",
        "FIRMWARE",
        "SERIAL",
        "PROTOCOLS",
        "FLAGS",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for a in inv
        .assets
        .iter()
        .flat_map(|a| std::iter::once(a).chain(&a.sub_assets))
    {
        let protos: Vec<String> = a.protocols.iter().map(|p| protocol_name(*p)).collect();
        rows.push(vec![
            a.site.clone().unwrap_or_else(|| "-".to_owned()),
            // A sub-asset is indented under its parent and named by its path.
            a.path
                .as_deref()
                .map_or_else(|| a.label(), |p| format!("  └ {p}")),
            or_dash(a.value(AssetField::Manufacturer)).to_owned(),
            or_dash(a.value(AssetField::Model)).to_owned(),
            or_dash(a.value(AssetField::Firmware)).to_owned(),
            or_dash(a.value(AssetField::Serial)).to_owned(),
            protos.join(","),
            a.flags.len().to_string(),
        ]);
    }
    for r in rows.iter_mut().skip(1) {
        for c in r.iter_mut() {
            *c = terminal_cell(c);
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    // A site column only in a fleet report.
    let skip = usize::from(!fleet);
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .skip(skip)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::terminal_cell;

    #[test]
    fn terminal_cells_lose_control_characters_and_length() {
        assert_eq!(terminal_cell("PLC\u{1b}[2J"), "PLC?[2J");
        let long = "PeerLab Long Vendor Name ".repeat(5);
        let cell = terminal_cell(&long);
        assert_eq!(cell.chars().count(), 32);
        assert!(cell.ends_with('…'));
        assert_eq!(terminal_cell("Siemens"), "Siemens");
    }
}
