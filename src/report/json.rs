//! The canonical JSON report: the one rendering that is signed.
//!
//! Canonical means: struct fields in declaration order, maps ordered (BTreeMap), lists
//! sorted by merge, one trailing newline; a version-4 report is unindented, with its
//! sources, facts and raw replies once each in `tables` (in the order a reader first meets
//! them, [`crate::inventory::tables`]), after the summary; versions 1-3 have two-space
//! indentation and everything inline. The same [`Inventory`] always gives the same bytes; [`parse`] accepts only what [`render`]
//! would write back byte for byte, so a report edited by hand (even reformatted) is
//! refused as not canonical even before its signature is checked.

use thiserror::Error;

use crate::inventory::Inventory;
use crate::inventory::merge::{REPORT_FORMAT, REPORT_VERSION, REPORT_VERSION_MIN};
use crate::inventory::tables::{self, ResolveError, TableError, Tables};

/// The first report schema version with `tables`.
pub const TABLES_VERSION: u32 = 4;

/// Why a report could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("not an otscout report: {0}; give the report as otscout merge wrote it")]
    Json(#[from] serde_json::Error),
    #[error("not an otscout report: format is {0:?}, expected \"otscout-report\"")]
    Format(String),
    #[error(
        "report schema version {0} is not supported (this otscout reads versions 1 to 4); read it with the otscout that wrote it"
    )]
    Version(u32),
    #[error(
        "report schema version 1 has no `advisories` member, but this report carries one: it was edited or written by another tool"
    )]
    AdvisoriesInVersion1,
    #[error(
        "report schema version {0} has no `unanswered` member in a scan, but scan {1} carries one: it was edited or written by another tool"
    )]
    UnansweredBeforeVersion3(u32, String),
    #[error(
        "report schema version {0} has no `tables` member, but this report carries one: it was edited or written by another tool"
    )]
    TablesBeforeVersion4(u32),
    #[error(
        "report schema version {0} keeps its sources in a `tables` member, and this report has none: it was cut or written by another tool"
    )]
    NoTables(u32),
    #[error(
        "the report's tables contradict themselves: {0}; it was edited or written by another tool"
    )]
    Table(#[from] TableError),
    #[error(
        "the report refers to a table entry that is not there: {place}: {what}; it was edited or written by another tool"
    )]
    Reference { place: String, what: String },
    #[error(
        "the file is empty (a run that stopped before writing it?); give the report otscout wrote, or write it again"
    )]
    Empty,
    #[error("not an otscout report: {0}; give the JSON report otscout wrote")]
    NotJson(&'static str),
    #[error(
        "the report is cut short at line {line}, column {column} (a copy or a write that did not finish); use a complete copy, or write it again"
    )]
    Truncated { line: usize, column: usize },
    #[error(
        "report is not in canonical form (first difference at byte {0}): it was edited or written by another tool"
    )]
    NotCanonical(usize),
    #[error(
        "the report contradicts itself: {0}; otscout merge never writes that, so it was changed after merging (a signature only says who signed it): do not use it, merge again from the inputs"
    )]
    Contradiction(String),
}

/// The canonical bytes of a report.
pub fn render(inv: &Inventory) -> Vec<u8> {
    // Serializing plain data structs with String keys cannot fail.
    if inv.version < TABLES_VERSION {
        let mut out = serde_json::to_vec_pretty(inv).unwrap_or_default();
        out.push(b'\n');
        return out;
    }
    let (body, tables) = tables::intern(|| serde_json::to_vec(inv).unwrap_or_default());
    // `tables` goes right after the summary. The first `"summary":` is the member: the
    // members before it (strings, the inputs, the verified inputs) have no such key, and
    // a string cannot hold an unescaped quote.
    let summary = serde_json::to_vec(&inv.summary).unwrap_or_default();
    let key = b"\"summary\":";
    let at = memchr::memmem::find(&body, key).map_or(body.len().saturating_sub(1), |p| {
        p + key.len() + summary.len()
    });
    let mut out = Vec::with_capacity(body.len() + tables.len() + 16);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(b",\"tables\":");
    out.extend_from_slice(&tables);
    out.extend_from_slice(&body[at..]);
    out.push(b'\n');
    out
}

/// Reads a report and checks its format, version, canonical form and that it agrees
/// with itself ([`check_consistent`]). A version-1 report (no sites, no MAC OUI
/// provenance) reads as a version-2 report without them; it stays canonical because its
/// `version` member is kept as written.
pub fn parse(bytes: &[u8]) -> Result<Inventory, ReportError> {
    let inv = parse_lenient(bytes)?;
    check_consistent(&inv)?;
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

/// Checks what merge guarantees about every report it writes: one asset per address,
/// sorted by address; every asset backed by evidence about its address; links naming
/// listed assets; and the summary's counts (assets, identified, conflicts, flags,
/// observations, assets per manufacturer) equal to what the assets say. A report that
/// breaks one was made or changed by something other than merge, whoever signed it.
pub fn check_consistent(inv: &Inventory) -> Result<(), ReportError> {
    use std::collections::BTreeSet;
    let bad = |s: String| Err(ReportError::Contradiction(s));
    // In a fleet report an address is unique within its site (two plants may both use
    // 10.0.0.1); assets are sorted by site, then address.
    // Assets known only by MAC (address 0.0.0.0) follow a site's addresses, by MAC.
    let order = |a: &crate::inventory::merge::Asset| {
        (
            a.site.clone(),
            a.mac_only(),
            a.ip,
            a.mac_key().map(str::to_owned),
        )
    };
    let key = |a: &crate::inventory::merge::Asset| (a.site.clone(), a.ip);
    let at = |site: &Option<String>, ip: &std::net::IpAddr| match site {
        Some(s) => format!("{ip} at site {}", crate::text::printable(s)),
        None => ip.to_string(),
    };
    let named = |a: &crate::inventory::merge::Asset| match &a.site {
        Some(s) => format!("{} at site {}", a.label(), crate::text::printable(s)),
        None => a.label(),
    };
    for w in inv.assets.windows(2) {
        let (k0, k1) = (order(&w[0]), order(&w[1]));
        if k0 == k1 {
            let n = inv.assets.iter().filter(|a| order(a) == k0).count();
            return bad(format!(
                "asset address {} is listed {n} times",
                crate::text::printable(&named(&w[0]))
            ));
        }
        if k0 > k1 {
            return bad(format!(
                "assets are not sorted by site and address ({} before {})",
                crate::text::printable(&named(&w[0])),
                crate::text::printable(&named(&w[1]))
            ));
        }
    }
    let fleet = !inv.sites.is_empty();
    let mut evidence: BTreeSet<(Option<String>, std::net::IpAddr)> = inv
        .observations
        .iter()
        .map(|o| (if fleet { None } else { inv.site.clone() }, o.ip))
        .collect();
    let mut observations = inv.observations.len();
    for s in &inv.sites {
        observations += s.observations.len();
        evidence.extend(s.observations.iter().map(|o| (Some(s.site.clone()), o.ip)));
    }
    // Outside a fleet report the assets carry no site; their evidence is the report's own.
    let evidence_key = |a: &crate::inventory::merge::Asset| {
        if fleet {
            (a.site.clone(), a.ip)
        } else {
            (inv.site.clone(), a.ip)
        }
    };
    if let Some(a) = inv
        .assets
        .iter()
        .find(|a| !evidence.contains(&evidence_key(a)))
    {
        return bad(format!(
            "asset {} has no observation about its address in the evidence",
            at(&a.site, &a.ip)
        ));
    }
    // A sub-asset sits at its parent's address, has a path, and its siblings are sorted
    // and distinct by path; a top-level asset has no path.
    for a in &inv.assets {
        if a.path.is_some() {
            return bad(format!(
                "asset {} has a path but is not a sub-asset",
                at(&a.site, &a.ip)
            ));
        }
        for sub in &a.sub_assets {
            if sub.ip != a.ip || sub.site != a.site || sub.path.is_none() {
                return bad(format!(
                    "a sub-asset of {} names another address or site, or no path",
                    at(&a.site, &a.ip)
                ));
            }
            if !sub.sub_assets.is_empty() {
                return bad(format!(
                    "sub-asset {} of {} has sub-assets of its own",
                    crate::text::printable(sub.path.as_deref().unwrap_or_default()),
                    at(&a.site, &a.ip)
                ));
            }
        }
        let paths: Vec<&str> = a
            .sub_assets
            .iter()
            .filter_map(|s| s.path.as_deref())
            .collect();
        let unique: BTreeSet<&str> = paths.iter().copied().collect();
        if unique.len() != paths.len() {
            return bad(format!(
                "a sub-asset path of {} is listed twice",
                at(&a.site, &a.ip)
            ));
        }
    }
    let listed: BTreeSet<_> = inv.assets.iter().map(key).collect();
    for l in &inv.links {
        if l.ips.len() < 2 {
            return bad(format!(
                "a link for {:?} names fewer than two addresses",
                l.value
            ));
        }
        if let Some(ip) = l
            .ips
            .iter()
            .find(|ip| !listed.contains(&(l.site.clone(), **ip)))
        {
            return bad(format!(
                "a link names {}, which is not a listed asset",
                at(&l.site, ip)
            ));
        }
    }
    // A scan's unanswered addresses answered nothing: no host record and no observation
    // of that scan may name them, and each group's count is what its ranges hold.
    let own: &[crate::inventory::Observation] = &inv.observations;
    if let Err(e) = crate::inventory::unanswered::check(&inv.scans, &[own]) {
        return bad(e);
    }
    for site in &inv.sites {
        if let Err(e) = crate::inventory::unanswered::check(&site.scans, &[&site.observations]) {
            return bad(format!("site {}: {e}", crate::text::printable(&site.site)));
        }
    }
    let s = &inv.summary;
    let real = crate::inventory::merge::summarize(&inv.assets, observations);
    let counts = [
        ("assets", s.assets, real.assets, "assets are listed"),
        (
            "identified",
            s.identified,
            real.identified,
            "listed assets identified themselves",
        ),
        (
            "conflicts",
            s.conflicts,
            real.conflicts,
            "fields of listed assets conflict",
        ),
        ("flags", s.flags, real.flags, "flags are on listed assets"),
        (
            "observations",
            s.observations,
            real.observations,
            "observations are in the evidence",
        ),
    ];
    for (key, said, is, what) in counts {
        if said != is {
            return bad(format!("summary.{key} says {said} but {is} {what}"));
        }
    }
    if s.by_manufacturer != real.by_manufacturer {
        let key = s
            .by_manufacturer
            .keys()
            .chain(real.by_manufacturer.keys())
            .find(|k| s.by_manufacturer.get(*k) != real.by_manufacturer.get(*k))
            .cloned()
            .unwrap_or_default();
        return bad(format!(
            "summary.by_manufacturer says {} for {:?} but {} listed assets have that manufacturer",
            s.by_manufacturer.get(&key).copied().unwrap_or(0),
            crate::text::printable(&key),
            real.by_manufacturer.get(&key).copied().unwrap_or(0)
        ));
    }
    if s.by_site != real.by_site {
        return bad(format!(
            "summary.by_site says {:?} but the listed assets are {:?}",
            s.by_site, real.by_site
        ));
    }
    Ok(())
}

/// Reads a report and checks its format and version, not its byte form.
pub fn parse_lenient(bytes: &[u8]) -> Result<Inventory, ReportError> {
    let head: Head = serde_json::from_slice(bytes).map_err(|e| classify(bytes, e))?;
    if head.format != REPORT_FORMAT {
        return Err(ReportError::Format(head.format));
    }
    if !(REPORT_VERSION_MIN..=REPORT_VERSION).contains(&head.version) {
        return Err(ReportError::Version(head.version));
    }
    let inv: Inventory = if head.version >= TABLES_VERSION {
        let Some(t) = head.tables else {
            return Err(ReportError::NoTables(head.version));
        };
        match tables::resolve(t, || serde_json::from_slice::<Inventory>(bytes)) {
            Ok(inv) => inv,
            Err(ResolveError::Table(e)) => return Err(ReportError::Table(e)),
            Err(ResolveError::Read(_, Some(what))) => return Err(reference(bytes, what)),
            Err(ResolveError::Read(e, None)) => return Err(classify(bytes, e)),
        }
    } else {
        if head.tables.is_some() {
            return Err(ReportError::TablesBeforeVersion4(head.version));
        }
        serde_json::from_slice(bytes).map_err(|e| classify(bytes, e))?
    };
    if inv.version == 1 && inv.advisories.is_some() {
        return Err(ReportError::AdvisoriesInVersion1);
    }
    if inv.version < 3 {
        let scans = inv
            .scans
            .iter()
            .chain(inv.sites.iter().flat_map(|s| &s.scans));
        if let Some(s) = scans
            .into_iter()
            .find(|s| s.extra.contains_key(crate::inventory::unanswered::MEMBER))
        {
            return Err(ReportError::UnansweredBeforeVersion3(
                inv.version,
                crate::text::printable(&s.scan_id).to_string(),
            ));
        }
    }
    Ok(inv)
}

/// Says what a file that failed to parse as JSON is, when that is clearer than the
/// parser's message: empty, a capture, binary, or JSON cut short.
pub fn classify(bytes: &[u8], e: serde_json::Error) -> ReportError {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return ReportError::Empty;
    }
    if let Some(what) = not_json(bytes) {
        return ReportError::NotJson(what);
    }
    if e.is_eof() {
        return ReportError::Truncated {
            line: e.line(),
            column: e.column(),
        };
    }
    ReportError::Json(e)
}

/// What a file is when its first bytes show it is not JSON text.
pub fn not_json(bytes: &[u8]) -> Option<&'static str> {
    const CAPTURES: [&[u8]; 5] = [
        b"\xd4\xc3\xb2\xa1", // pcap, little-endian (libpcap file format)
        b"\xa1\xb2\xc3\xd4", // pcap, big-endian
        b"\x4d\x3c\xb2\xa1", // pcap, nanosecond, little-endian
        b"\xa1\xb2\x3c\x4d", // pcap, nanosecond, big-endian
        b"\x0a\x0d\x0d\x0a", // pcapng Section Header Block
    ];
    if CAPTURES.iter().any(|m| bytes.starts_with(m)) {
        return Some("it is a packet capture (import it with otscout merge or otscout passive)");
    }
    if bytes.starts_with(b"\x1f\x8b") {
        return Some("it is gzip-compressed");
    }
    let start = &bytes[..bytes.len().min(4096)];
    let text = match std::str::from_utf8(start) {
        Ok(t) => t,
        // A multi-byte character cut by the 4 KiB window is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&start[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Some("it is binary, not UTF-8 JSON text"),
    };
    if text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        None
    } else {
        Some("it does not start with `{` as a report does")
    }
}

#[derive(serde::Deserialize)]
struct Head {
    format: String,
    version: u32,
    #[serde(default)]
    tables: Option<Tables>,
}

/// Says where a reference out of range is: the asset (by address) and field, or the
/// observation. Reads the report again, which only a broken report costs.
fn reference(bytes: &[u8], what: String) -> ReportError {
    #[derive(serde::Deserialize)]
    struct Ip {
        ip: std::net::IpAddr,
    }
    #[derive(serde::Deserialize)]
    struct Ips {
        assets: Vec<Ip>,
    }
    let tables = serde_json::from_slice::<Head>(bytes)
        .ok()
        .and_then(|h| h.tables)
        .unwrap_or_default();
    let path = match tables::resolve(tables, || {
        serde_path_to_error::deserialize::<_, Inventory>(&mut serde_json::Deserializer::from_slice(
            bytes,
        ))
    }) {
        Err(ResolveError::Read(e, _)) => e.path().to_string(),
        _ => String::new(),
    };
    // `assets[12].manufacturer.sources[0]`: asset 12's field `manufacturer`.
    let asset = path
        .strip_prefix("assets[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest.trim_start_matches('.'))));
    let place = match asset {
        Some((n, rest)) => {
            let ip = serde_json::from_slice::<Ips>(bytes)
                .ok()
                .and_then(|a| a.assets.get(n).map(|a| a.ip.to_string()))
                .unwrap_or_else(|| "?".into());
            let field = rest
                .rsplit_once(".sources")
                .map_or(rest, |(f, _)| f)
                .split(".conflicts")
                .next()
                .unwrap_or(rest);
            format!("asset {ip}, field {field} (at {path})")
        }
        None if path.is_empty() => "in the report".to_owned(),
        None => format!("at {path}"),
    };
    ReportError::Reference { place, what }
}
