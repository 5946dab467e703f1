//! The report page's header (scans, signature, summary), the flags, the advisory hook and
//! the asset table.
//!
//! Every report string is written through [`escape`]. Cells that the script sorts on
//! carry a `data-sort` key made here (addresses sort numerically, not as text); every
//! field's provenance is in its cell's `title` (hover) and in the row's `<details>`
//! (click), so nothing needs the script.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use super::{SignatureStatus, escape};
use crate::inventory::Provenance;
use crate::inventory::merge::{Asset, AssetField, Field, Source, SourceKind, protocol_name};
use crate::inventory::{Inventory, OperationKind, Role};

/// The site names of a report: the report's own, or each of a fleet's, sorted.
pub fn sites(inv: &Inventory) -> Vec<String> {
    let mut s: BTreeSet<String> = inv.assets.iter().filter_map(|a| a.site.clone()).collect();
    s.extend(inv.site.clone());
    s.extend(inv.sites.iter().map(|x| x.site.clone()));
    s.into_iter().collect()
}

/// The site an asset belongs to.
pub fn site_of<'a>(inv: &'a Inventory, a: &'a Asset) -> Option<&'a str> {
    a.site.as_deref().or(inv.site.as_deref())
}

/// A key that sorts addresses numerically as text: IPv4 before IPv6, each zero-padded.
pub fn ip_sort_key(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("4{:03}{:03}{:03}{:03}", o[0], o[1], o[2], o[3])
        }
        IpAddr::V6(v6) => format!("6{:032x}", u128::from(*v6)),
    }
}

/// A provenance in a few words.
pub fn provenance(p: &Provenance) -> String {
    match p {
        Provenance::Active {
            scan_id,
            profile,
            request,
            ..
        } => format!("active {request} (scan {scan_id}, profile {profile})"),
        Provenance::Pcap { file, frame } => format!("capture {file} frame {frame}"),
        Provenance::Zeek { file, line, .. } => format!("zeek {file} line {line}"),
        Provenance::Csv { file, row } => format!("csv {file} row {row}"),
        Provenance::MacOui { oui, registry } => {
            format!("MAC OUI {oui} (IEEE {registry} registry)")
        }
    }
}

fn source_line(s: &Source) -> String {
    let when = s
        .seen
        .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M:%S")))
        .unwrap_or_default();
    format!("{}: {}{when}", s.detail, provenance(&s.provenance))
}

/// A field's provenance and conflicts as one tooltip.
fn tooltip(f: &Field) -> String {
    let mut t: Vec<String> = f.sources.iter().map(source_line).collect();
    for c in &f.conflicts {
        t.push(format!(
            "also seen: {} ({})",
            c.value,
            c.sources
                .iter()
                .map(source_line)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    t.join("\n")
}

fn kind_name(k: SourceKind) -> &'static str {
    match k {
        SourceKind::Declared => "declared",
        SourceKind::Passive => "passive",
        SourceKind::Active => "active",
        SourceKind::MacOui => "mac oui",
    }
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The header: when and what, the signature as checked now, the summary and the scans.
pub fn header(s: &mut String, inv: &Inventory, signature: &SignatureStatus) {
    let _ = writeln!(
        s,
        "<p class=\"meta\">Generated {} by otscout {} from {} input(s). Schema version {}.</p>",
        inv.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        escape(&inv.otscout_version),
        inv.inputs.len(),
        inv.version
    );
    match signature {
        SignatureStatus::Verified {
            key_id,
            trusted_comment,
        } => {
            let _ = writeln!(
                s,
                "<p class=\"sig ok\" id=\"signature\">Signature verified when this page was made: key id <code>{}</code>; trusted comment <code>{}</code></p>",
                escape(key_id),
                escape(trusted_comment)
            );
        }
        SignatureStatus::NotChecked => {
            s.push_str(
                "<p class=\"sig unchecked\" id=\"signature\">Signature not checked when this page was made (no public key given): run <code>otscout verify REPORT --pubkey KEY</code> before you rely on it.</p>\n",
            );
        }
    }
    for v in &inv.verified {
        let _ = writeln!(
            s,
            "<p class=\"sig ok\">Input {} (site {}) verified with key id <code>{}</code>: <code>{}</code></p>",
            escape(&v.file),
            escape(v.site.as_deref().unwrap_or("–")),
            escape(&v.key_id),
            escape(&v.trusted_comment)
        );
    }
    let sm = &inv.summary;
    let _ = writeln!(
        s,
        "<ul class=\"summary\" id=\"summary\"><li><b>{}</b> assets</li><li><b>{}</b> identified themselves</li><li><b>{}</b> fields with conflicting values</li><li><b>{}</b> flags</li><li><b>{}</b> observations</li></ul>",
        sm.assets, sm.identified, sm.conflicts, sm.flags, sm.observations
    );
    if !sm.by_manufacturer.is_empty() {
        let parts: Vec<String> = sm
            .by_manufacturer
            .iter()
            .map(|(m, n)| format!("{}: {n}", escape(m)))
            .collect();
        let _ = writeln!(
            s,
            "<p class=\"meta\">By manufacturer: {}</p>",
            parts.join(", ")
        );
    }
    if inv.scans.is_empty() && inv.sites.iter().all(|x| x.scans.is_empty()) {
        s.push_str("<p class=\"meta\">No active scan went into this report.</p>\n");
        return;
    }
    s.push_str("<h2>Scans</h2>\n<div class=\"wide\"><table class=\"scans\"><thead><tr><th>site</th><th>scan</th><th>status</th><th>started</th><th>ended</th><th>profile</th><th>operator</th><th>scope</th><th>exclusions</th><th>requests sent</th></tr></thead><tbody>\n");
    let own = inv.scans.iter().map(|sc| (inv.site.as_deref(), sc));
    let fleet = inv
        .sites
        .iter()
        .flat_map(|x| x.scans.iter().map(move |sc| (Some(x.site.as_str()), sc)));
    for (site, sc) in own.chain(fleet) {
        let sent: u64 = sc
            .ledger
            .values()
            .flat_map(|k| k.values())
            .map(|e| e.count)
            .sum();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"profile sha256 {}\">{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{sent}</td></tr>",
            escape(site.unwrap_or("–")),
            escape(&sc.scan_id),
            escape(&snake(&sc.status)),
            sc.started.format("%Y-%m-%d %H:%M:%S"),
            sc.ended.map_or_else(
                || "–".to_owned(),
                |t| t.format("%Y-%m-%d %H:%M:%S").to_string()
            ),
            escape(&sc.profile_sha256),
            escape(&sc.profile),
            escape(sc.profile_sha256.get(..12).unwrap_or(&sc.profile_sha256)),
            escape(sc.operator.as_deref().unwrap_or("–")),
            escape(&sc.scope.join(", ")),
            escape(&sc.exclusions.join(", ")),
        );
    }
    s.push_str("</tbody></table></div>\n");
}

/// Every flag, by asset.
pub fn flags(s: &mut String, inv: &Inventory) {
    let flagged: Vec<&Asset> = inv.assets.iter().filter(|a| !a.flags.is_empty()).collect();
    s.push_str("<section id=\"flags\"><h2>Needs attention</h2>\n");
    if flagged.is_empty() {
        s.push_str("<p>No flags.</p></section>\n");
        return;
    }
    s.push_str("<ul class=\"flags\">\n");
    for a in flagged {
        for f in &a.flags {
            let site = site_of(inv, a)
                .map(|x| format!("{} ", escape(x)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "<li class=\"flag {}\"><b>{site}{}</b> <span class=\"kind\">{}</span>: {}</li>",
                escape(&snake(&f.kind)),
                escape(&a.label()),
                escape(&snake(&f.kind).replace('_', " ")),
                escape(&f.detail)
            );
        }
    }
    s.push_str("</ul></section>\n");
}

/// Published advisories matched to the assets (`merge --csaf`), when the report carries
/// them: one row per asset, advisory and product, strongest confidence first as merge
/// sorted them, with the verdict, the CVEs with their highest CVSS base score, the
/// versions and the remediations; then the vendor advisories to review by hand. Every
/// string comes from a third-party document and is escaped; remediation URLs are shown as
/// text, never as links (a `javascript:` URL in a document must not become one).
pub fn advisories(s: &mut String, inv: &Inventory) {
    let Some(m) = &inv.advisories else {
        return;
    };
    let _ = writeln!(
        s,
        "<section id=\"advisories\"><h2>Published advisories</h2>\n<p class=\"meta\">{} match(es) from {} CSAF document(s) read ({} refused). A match is a lead, not a verdict: read <i>check version</i> rows yourself; <i>family</i> is the weakest kind.</p>",
        m.matches.len(),
        m.documents_read,
        m.documents_refused
    );
    if m.matches.is_empty() {
        s.push_str("<p>No advisory matched an asset.</p>\n");
    } else {
        s.push_str("<div class=\"wide\"><table class=\"advisories\"><thead><tr><th>site</th><th>address</th><th>advisory</th><th>product</th><th>match</th><th>verdict</th><th>firmware</th><th>affected versions</th><th>fixed versions</th><th>CVEs</th><th>remediation</th></tr></thead><tbody>\n");
        for x in &m.matches {
            let cves: Vec<String> = x
                .cves
                .iter()
                .map(|c| match c.cvss_base_score {
                    Some(score) => format!("{} ({score:.1})", escape(&c.cve)),
                    None => escape(&c.cve),
                })
                .collect();
            // Categories once each, then the distinct URLs (as text).
            let mut categories: Vec<&str> =
                x.remediations.iter().map(|r| r.category.as_str()).collect();
            categories.sort_unstable();
            categories.dedup();
            let mut urls: Vec<&str> = x
                .remediations
                .iter()
                .filter_map(|r| r.url.as_deref())
                .collect();
            urls.sort_unstable();
            urls.dedup();
            let mut remediations: Vec<String> =
                vec![escape(&categories.join(", ").replace('_', " "))];
            remediations.extend(urls.iter().map(|u| format!("<code>{}</code>", escape(u))));
            let site = x.site.as_deref().or(inv.site.as_deref()).unwrap_or("–");
            let _ = writeln!(
                s,
                "<tr class=\"verdict-{}\"><td>{}</td><td>{}</td><td>{} <span class=\"meta\">v{}</span></td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&snake(&x.verdict)),
                escape(site),
                escape(&x.address()),
                escape(&x.advisory),
                escape(&x.advisory_version),
                escape(&x.product),
                escape(&x.reason),
                escape(x.confidence.words()),
                escape(x.verdict.words()),
                escape(x.firmware.as_deref().unwrap_or("unknown")),
                escape(x.versions.as_deref().unwrap_or("–")),
                escape(&x.fixed_versions.join(", ")),
                cves.join(", "),
                remediations.join("<br>")
            );
        }
        s.push_str("</tbody></table></div>\n");
    }
    if !m.vendor_review.is_empty() {
        s.push_str("<h3>Vendor advisories to review</h3>\n<p class=\"meta\">These name a vendor of yours but no product otscout could match to an asset: for a person to read, never counted as matches.</p>\n<ul class=\"review\">\n");
        for r in &m.vendor_review {
            let _ = writeln!(
                s,
                "<li><b>{}</b> ({} asset(s)): {} advisories</li>",
                escape(&r.vendor),
                r.assets.len(),
                r.advisories.len()
            );
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</section>\n");
}

/// The columns of the asset table: key (what a filter names), heading.
const COLUMNS: &[(&str, &str)] = &[
    ("site", "site"),
    ("ip", "address"),
    ("mac", "MAC"),
    ("vendor", "vendor"),
    ("model", "model"),
    ("firmware", "firmware"),
    ("serial", "serial"),
    ("type", "type / role"),
    ("protocols", "protocols"),
    ("sources", "sources"),
    ("flags", "flags"),
];

fn field_cell(out: &mut String, key: &str, f: Option<&Field>) {
    let Some(f) = f else {
        let _ = write!(out, "<td data-key=\"{key}\" class=\"none\">–</td>");
        return;
    };
    let oui = f.sources.iter().all(|s| s.kind == SourceKind::MacOui);
    let mut class = String::new();
    if !f.conflicts.is_empty() {
        class.push_str("conflict");
    }
    if oui {
        class.push_str(if class.is_empty() { "oui" } else { " oui" });
    }
    let _ = write!(
        out,
        "<td data-key=\"{key}\" class=\"{class}\" title=\"{}\">{}",
        escape(&tooltip(f)),
        escape(&f.value)
    );
    if oui {
        out.push_str(" <small>(MAC OUI)</small>");
    }
    if !f.conflicts.is_empty() {
        let _ = write!(
            out,
            " <small class=\"also\">also: {}</small>",
            escape(
                &f.conflicts
                    .iter()
                    .map(|c| c.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }
    out.push_str("</td>");
}

fn text_cell(out: &mut String, key: &str, text: &str) {
    let _ = write!(out, "<td data-key=\"{key}\">{}</td>", escape(text));
}

/// The kinds of source behind an asset's fields, services, peers and operations.
fn source_kinds(a: &Asset) -> Vec<&'static str> {
    let mut kinds: BTreeSet<SourceKind> = a
        .fields()
        .flat_map(|(_, f)| f.sources.iter().map(|s| s.kind))
        .collect();
    kinds.extend(
        a.services
            .iter()
            .flat_map(|x| x.sources.iter().map(|s| s.kind)),
    );
    kinds.extend(
        a.peers
            .iter()
            .flat_map(|x| x.sources.iter().map(|s| s.kind)),
    );
    kinds.extend(
        a.operations
            .iter()
            .flat_map(|x| x.sources.iter().map(|s| s.kind)),
    );
    kinds.into_iter().rev().map(kind_name).collect()
}

/// The row's details: every field with its sources and conflicts, then attributes,
/// services, peers, operations and findings.
fn details(out: &mut String, a: &Asset) {
    out.push_str("<td class=\"details\"><details><summary>details</summary><table class=\"prov\"><tr><th>field</th><th>value</th><th>sources</th><th>conflicting values</th></tr>");
    let mut fields: Vec<(String, &Field)> =
        a.fields().map(|(n, f)| (n.name().to_owned(), f)).collect();
    fields.extend(a.attributes.iter().map(|(k, f)| (k.clone(), f)));
    for (name, f) in fields {
        let srcs: Vec<String> = f.sources.iter().map(|x| escape(&source_line(x))).collect();
        let conf: Vec<String> = f
            .conflicts
            .iter()
            .map(|c| {
                let cs: Vec<String> = c.sources.iter().map(|x| escape(&source_line(x))).collect();
                format!("<b>{}</b>: {}", escape(&c.value), cs.join("<br>"))
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&f.value),
            srcs.join("<br>"),
            conf.join("<br>")
        );
    }
    out.push_str("</table>");
    if !a.services.is_empty() {
        let _ = write!(
            out,
            "<p>services: {}</p>",
            escape(&a.service_names().join(", "))
        );
    }
    if !a.peers.is_empty() {
        out.push_str("<p>traffic:</p><ul>");
        for p in &a.peers {
            let dir = match p.role {
                Role::Client => "to",
                Role::Server => "from",
            };
            let _ = write!(
                out,
                "<li>{} {dir} {} ({} exchanges)</li>",
                escape(&protocol_name(p.protocol)),
                p.peer,
                p.count
            );
        }
        out.push_str("</ul>");
    }
    if !a.operations.is_empty() {
        out.push_str("<p>operations on it:</p><ul class=\"ops\">");
        for o in &a.operations {
            let _ = write!(
                out,
                "<li class=\"op\">{} by {}: {} {} ×{}{}</li>",
                escape(&snake(&o.kind)),
                escape(&o.actor_label()),
                escape(&protocol_name(o.protocol)),
                escape(&o.function),
                o.count,
                o.last
                    .map(|t| format!(", last {}", t.format("%Y-%m-%d %H:%M:%S")))
                    .unwrap_or_default()
            );
        }
        out.push_str("</ul>");
    }
    if !a.findings.is_empty() {
        out.push_str("<p>findings:</p><ul>");
        for f in &a.findings {
            let _ = write!(
                out,
                "<li>{} {} port {}: {}</li>",
                escape(&snake(&f.kind).replace('_', " ")),
                escape(&protocol_name(f.protocol)),
                f.port,
                escape(&f.detail)
            );
        }
        out.push_str("</ul>");
    }
    if !a.sub_assets.is_empty() {
        // Sub-assets stay inside their device's row: a row of their own would be sorted
        // away from it.
        out.push_str("<p>behind it:</p><table class=\"sub-assets\"><tr><th>path</th><th>vendor</th><th>model</th><th>firmware</th><th>serial</th><th>flags</th></tr>");
        for sub in &a.sub_assets {
            let v = |f: AssetField| escape(sub.value(f).unwrap_or("–"));
            let _ = write!(
                out,
                "<tr class=\"sub-asset\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(sub.path.as_deref().unwrap_or_default()),
                v(AssetField::Manufacturer),
                v(AssetField::Model),
                v(AssetField::Firmware),
                v(AssetField::Serial),
                escape(
                    &sub.flags
                        .iter()
                        .map(|f| f.detail.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</details></td>");
}

fn row(out: &mut String, inv: &Inventory, a: &Asset, fleet: bool) {
    let flagged = !a.flags.is_empty();
    let ops = a.operations.iter().any(|o| {
        matches!(
            o.kind,
            OperationKind::Write | OperationKind::Control | OperationKind::Program
        )
    });
    let _ = write!(
        out,
        "<tr class=\"asset{}\" data-ip=\"{}\"{}>",
        if flagged { " flagged" } else { "" },
        a.ip,
        // A MAC-only asset's row (its address 0.0.0.0) is named by its MAC.
        a.mac_key()
            .map(|m| format!(" data-mac=\"{}\"", escape(m)))
            .unwrap_or_default()
    );
    if fleet {
        text_cell(out, "site", site_of(inv, a).unwrap_or("–"));
    }
    let _ = write!(
        out,
        "<td data-key=\"ip\" data-sort=\"{}\">{}</td>",
        // A MAC-only asset sorts after every address, by its MAC.
        match a.mac_key() {
            Some(m) => format!("m{}", escape(m)),
            None => ip_sort_key(&a.ip),
        },
        escape(&a.label())
    );
    field_cell(out, "mac", a.mac.as_ref());
    field_cell(out, "vendor", a.manufacturer.as_ref());
    field_cell(out, "model", a.model.as_ref().or(a.product_name.as_ref()));
    field_cell(out, "firmware", a.firmware.as_ref());
    field_cell(out, "serial", a.serial.as_ref());
    field_cell(out, "type", a.device_type.as_ref().or(a.role.as_ref()));
    let protos: Vec<String> = a.protocols.iter().map(|p| protocol_name(*p)).collect();
    text_cell(out, "protocols", &protos.join(" "));
    text_cell(out, "sources", &source_kinds(a).join(" "));
    let flag_text: Vec<String> = a
        .flags
        .iter()
        .map(|f| snake(&f.kind).replace('_', " "))
        .collect();
    let _ = write!(
        out,
        "<td data-key=\"flags\" data-sort=\"{:04}\" class=\"{}\" title=\"{}\">{}</td>",
        a.flags.len(),
        if ops { "ops" } else { "" },
        escape(
            &a.flags
                .iter()
                .map(|f| f.detail.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        ),
        escape(&flag_text.join(", "))
    );
    details(out, a);
    out.push_str("</tr>\n");
}

/// The asset table: one `<tbody>` per site (a report of one site has one), sortable and
/// filterable by the script, complete without it.
pub fn assets(s: &mut String, inv: &Inventory) {
    s.push_str("<section id=\"assets\"><h2>Assets</h2>\n");
    s.push_str("<div class=\"controls\" id=\"controls\" hidden><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"text, or column:text (vendor:siemens flags:operations)\" size=\"48\"></label> <label><input id=\"flagged\" type=\"checkbox\"> flagged only</label> <span id=\"shown\"></span></div>\n");
    s.push_str(
        "<div class=\"wide\"><table class=\"assets sortable\" id=\"asset-table\"><thead><tr>",
    );
    // A site column only in a fleet report (a report of one site names it in its title).
    let fleet = inv.assets.iter().any(|a| a.site.is_some());
    for (key, head) in COLUMNS.iter().filter(|(k, _)| fleet || *k != "site") {
        let _ = write!(
            s,
            "<th data-key=\"{key}\" tabindex=\"0\" aria-sort=\"none\">{head}</th>"
        );
    }
    s.push_str("<th>details</th></tr></thead>\n");
    let mut by_site: Vec<(Option<&str>, Vec<&Asset>)> = Vec::new();
    for a in &inv.assets {
        let site = site_of(inv, a);
        match by_site.last_mut() {
            Some((s, v)) if *s == site => v.push(a),
            _ => by_site.push((site, vec![a])),
        }
    }
    if by_site.is_empty() {
        let _ = write!(
            s,
            "<tbody><tr><td colspan=\"{}\">No assets.</td></tr></tbody>",
            COLUMNS.len() + 1
        );
    }
    for (site, list) in by_site {
        let _ = writeln!(
            s,
            "<tbody class=\"site\" data-site=\"{}\">",
            escape(site.unwrap_or(""))
        );
        if let Some(site) = site.filter(|_| fleet) {
            let _ = writeln!(
                s,
                "<tr class=\"site-head\"><th colspan=\"{}\">site {} ({} assets)</th></tr>",
                COLUMNS.len() + 1,
                escape(site),
                list.len()
            );
        }
        for a in list {
            row(s, inv, a, fleet);
        }
        s.push_str("</tbody>\n");
    }
    s.push_str("</table></div></section>\n");
}
