//! The views of advisory matches ([`crate::advisories::Matches`]): a terminal table,
//! Markdown, CSV (one row per match) and JSON. `otscout advisories` prints them; the
//! report's Markdown view embeds the Markdown section when the report carries matches.
//!
//! Advisory text is untrusted like device text: control characters never reach a
//! terminal, `|` and `<` never break a Markdown table, and CSV cells that a spreadsheet
//! would run are defused the way the report's CSV view does it.

use std::fmt::Write;

use crate::advisories::{Confidence, Match, Matches, Verdict};

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn cut(s: &str, max: usize) -> String {
    let c = clean(s);
    if c.chars().count() <= max {
        return c;
    }
    let mut out: String = c.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The highest CVSS base score of a match's CVEs.
pub fn max_score(m: &Match) -> Option<f64> {
    m.cves
        .iter()
        .filter_map(|c| c.cvss_base_score)
        .fold(None, |a, s| Some(a.map_or(s, |a: f64| a.max(s))))
}

fn cve_list(m: &Match, max: usize) -> String {
    let ids: Vec<&str> = m.cves.iter().map(|c| c.cve.as_str()).collect();
    if ids.len() <= max {
        return ids.join(" ");
    }
    format!("{} +{}", ids[..max].join(" "), ids.len() - max)
}

fn score_text(m: &Match) -> String {
    max_score(m).map_or_else(|| "–".to_owned(), |s| format!("{s:.1}"))
}

/// Matches per confidence level and per verdict, in words.
pub fn counts(m: &Matches) -> String {
    let by_conf: Vec<String> = [
        Confidence::ModelNumber,
        Confidence::Cpe,
        Confidence::ProductName,
        Confidence::Family,
    ]
    .iter()
    .map(|c| {
        let n = m.matches.iter().filter(|x| x.confidence == *c).count();
        format!("{} {n}", c.words())
    })
    .collect();
    let mut by_verdict: Vec<String> = Vec::new();
    for v in [
        Verdict::Affected,
        Verdict::VersionUnknown,
        Verdict::CheckVersion,
        Verdict::UnderInvestigation,
        Verdict::Fixed,
        Verdict::NotAffected,
    ] {
        let n = m.matches.iter().filter(|x| x.verdict == v).count();
        if n > 0 {
            by_verdict.push(format!("{} {n}", v.words()));
        }
    }
    format!(
        "{} match(es) from {} document(s) read ({} refused); by confidence: {}; by verdict: {}",
        m.matches.len(),
        m.documents_read,
        m.documents_refused,
        by_conf.join(", "),
        if by_verdict.is_empty() {
            "–".to_owned()
        } else {
            by_verdict.join(", ")
        }
    )
}

/// A plain-text table for the terminal, then the vendor advisories to review.
pub fn table(m: &Matches) -> String {
    let header = [
        "ADDRESS",
        "ADVISORY",
        "CONFIDENCE",
        "VERDICT",
        "FIRMWARE",
        "VERSIONS",
        "CVSS",
        "CVES",
        "PRODUCT",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for x in &m.matches {
        rows.push(vec![
            x.address(),
            cut(&x.advisory, 20),
            x.confidence.words().to_owned(),
            x.verdict.words().to_owned(),
            cut(x.firmware.as_deref().unwrap_or("–"), 14),
            cut(x.versions.as_deref().unwrap_or("all"), 24),
            score_text(x),
            cut(&cve_list(x, 2), 34),
            cut(&x.product, 48),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(s, "\nwhy:");
    for x in &m.matches {
        let _ = writeln!(
            s,
            "  {} {}: {} ({})",
            x.address(),
            cut(&x.advisory, 20),
            cut(&x.reason, 160),
            x.confidence.words()
        );
    }
    if !m.vendor_review.is_empty() {
        let _ = writeln!(
            s,
            "\nvendor advisories to review (the vendor is named, no product matched):"
        );
        for v in &m.vendor_review {
            let ips: Vec<String> = v.assets.iter().map(ToString::to_string).collect();
            let shown: Vec<&str> = v.advisories.iter().take(6).map(String::as_str).collect();
            let more = v.advisories.len().saturating_sub(shown.len());
            let _ = writeln!(
                s,
                "  {} ({}): {} advisories: {}{}",
                cut(&v.vendor, 40),
                ips.join(", "),
                v.advisories.len(),
                shown.join(" "),
                if more > 0 {
                    format!(" … (+{more}; all in --format json)")
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(s, "\n{}", counts(m));
    s
}

/// A Markdown table cell: `|` escaped, `<`/`>` as entities, control characters as `?`.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The Markdown section (level-2 heading).
pub fn markdown(m: &Matches) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Published advisories\n");
    let _ = writeln!(s, "{}.\n", counts(m));
    if !m.matches.is_empty() {
        let _ = writeln!(
            s,
            "| address | advisory | product | confidence | why | verdict | firmware | versions | fixed | CVEs | CVSS | remediation |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for x in &m.matches {
            let rem: Vec<String> = x
                .remediations
                .iter()
                .map(|r| match &r.url {
                    Some(u) => format!("{} {}", r.category, u),
                    None => r.category.clone(),
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} v{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&x.address()),
                cell(&x.advisory),
                cell(&x.advisory_version),
                cell(&x.product),
                x.confidence.words(),
                cell(&x.reason),
                x.verdict.words(),
                cell(x.firmware.as_deref().unwrap_or("–")),
                cell(x.versions.as_deref().unwrap_or("all")),
                cell(&x.fixed_versions.join(", ")),
                cell(&cve_list(x, 6)),
                score_text(x),
                cell(&rem.join("; "))
            );
        }
        let _ = writeln!(s);
    }
    if !m.vendor_review.is_empty() {
        let _ = writeln!(s, "### Vendor advisories to review\n");
        let _ = writeln!(
            s,
            "These name a vendor of the inventory but none of its products that otscout could match.\n"
        );
        for v in &m.vendor_review {
            let ips: Vec<String> = v.assets.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "- **{}** ({}): {}",
                cell(&v.vendor),
                ips.join(", "),
                cell(&v.advisories.join(", "))
            );
        }
        let _ = writeln!(s);
    }
    if !m.documents.is_empty() {
        let _ = writeln!(
            s,
            "{} CSAF document(s) used; their versions and SHA-256 are in the JSON report.",
            m.documents.len()
        );
    }
    s
}

/// The CSV columns, one row per match.
pub const COLUMNS: &[&str] = &[
    "ip",
    "advisory",
    "advisory_version",
    "product",
    "product_id",
    "confidence",
    "reason",
    "verdict",
    "product_status",
    "firmware",
    "versions",
    "fixed_versions",
    "cves",
    "cvss_base_score",
    "cvss_vectors",
    "remediations",
    // Last, so the columns before keep their places: the sub-asset's path, if any.
    "path",
];

fn defuse(v: String) -> String {
    // As in the report's CSV view: a formula-looking cell gets a leading `'`.
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v
    }
}

fn snake<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The CSV view (RFC 4180 quoting, `\n` line ends).
pub fn csv(m: &Matches) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(COLUMNS);
    for x in &m.matches {
        let vectors: Vec<&str> = x
            .cves
            .iter()
            .filter_map(|c| c.cvss_vector.as_deref())
            .collect();
        let rem: Vec<String> = x
            .remediations
            .iter()
            .map(|r| match &r.url {
                Some(u) => format!("{} {}", r.category, u),
                None => r.category.clone(),
            })
            .collect();
        let row = [
            x.ip.to_string(),
            x.advisory.clone(),
            x.advisory_version.clone(),
            x.product.clone(),
            x.product_id.clone(),
            snake(x.confidence),
            x.reason.clone(),
            snake(x.verdict),
            snake(x.product_status),
            x.firmware.clone().unwrap_or_default(),
            x.versions.clone().unwrap_or_default(),
            x.fixed_versions.join("; "),
            x.cves
                .iter()
                .map(|c| c.cve.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            max_score(x).map(|s| format!("{s:.1}")).unwrap_or_default(),
            vectors.join(" "),
            rem.join("; "),
            x.path.clone().unwrap_or_default(),
        ];
        let _ = w.write_record(row.into_iter().map(defuse));
    }
    w.into_inner().unwrap_or_default()
}

/// The JSON view: the [`Matches`] as the report embeds them.
pub fn json(m: &Matches) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(m).unwrap_or_default();
    out.push(b'\n');
    out
}
