//! Which advisory products apply to which assets, and why.
//!
//! For each asset, the strongest of these, per advisory product:
//! 1. [`Confidence::ModelNumber`]: the asset's model, product code or order number
//!    (`hardware_order_number`), compared after dropping white space and case (or one of
//!    its words, or without a Rockwell series letter `/A`), equals a model number the product
//!    lists, with CSAF's wildcards (`*` any run, `?` one character; CSAF 2.0 §3.1.3.3.3,
//!    model_numbers). An article or part number CISA wrote in the product's name or version
//!    counts the same way, and a variant suffix after `/` in it (WAGO's `750-82xx/xxx-xxx`)
//!    may be absent on the device;
//! 2. [`Confidence::Cpe`]: the product's CPE names the vendor and product of the asset's
//!    hardware or firmware CPE;
//! 3. [`Confidence::ProductName`]: a product without model numbers whose name equals the
//!    asset's model or product name, or holds one of the model's words (a word with a digit,
//!    five characters or more: `1756-ENBT`);
//! 4. [`Confidence::Family`]: a product without model numbers whose name names the asset's
//!    family ([`super::family`]) and no other model: every word with a digit in the name
//!    (outside parentheses, before `: `) belongs to the family's name.
//!
//! Names (3, 4) are compared only within one vendor, after the inventory's vendor
//! canonicalisation (`normalize::vendor_name`). An advisory that names an asset's vendor
//! but matched no asset of that vendor goes to [`VendorReview`].
//!
//! Then the version: the product's `product_version`/`product_version_range` (or CISA's
//! range after `: ` in its name; none means every version) against the asset's firmware,
//! giving a [`Verdict`]. A product whose range holds every version is affected whatever the
//! firmware; otherwise an unknown firmware is [`Verdict::VersionUnknown`], never affected.
//! Firmware outside the range: no match.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::version::{self, Range};
use super::{
    Advisory, Confidence, CveRef, DocumentRef, Library, Match, Matches, ModelPattern, Product,
    ProductStatus, VendorReview, Verdict, VersionSpec, family, model_key,
};
use crate::inventory::Inventory;
use crate::inventory::merge::{Asset, AssetField};
use crate::inventory::normalize;

/// An (advisory, product) pair, as indexes into the library.
type Ref = (usize, usize);

/// Looks products up by what an asset can offer.
struct Index<'a> {
    lib: &'a Library,
    models: HashMap<String, Vec<(Ref, &'a ModelPattern)>>,
    wild_models: Vec<(Ref, &'a ModelPattern)>,
    cpes: HashMap<String, Vec<Ref>>,
    /// (vendor, lowercase word) → products without model numbers.
    words: HashMap<(&'a str, String), Vec<Ref>>,
    /// (vendor, whole name key) → products without model numbers.
    names: HashMap<(&'a str, String), Vec<Ref>>,
    /// (vendor, the name's words with digits, sorted) → products without model numbers.
    digit_words: HashMap<(&'a str, String), Vec<Ref>>,
    by_vendor: BTreeMap<&'a str, BTreeSet<usize>>,
}

/// The part of a product name that names it: before CISA's `: <version>`, parentheses
/// dropped.
fn name_core(name: &str) -> String {
    let head = name.split(": ").next().unwrap_or(name);
    let mut out = String::new();
    let mut depth = 0usize;
    for c in head.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn has_digit(w: &str) -> bool {
    w.bytes().any(|b| b.is_ascii_digit())
}

fn digit_key(ws: &[String]) -> String {
    let mut d: Vec<&str> = ws
        .iter()
        .filter(|w| has_digit(w))
        .map(String::as_str)
        .collect();
    d.sort_unstable();
    d.dedup();
    d.join(" ")
}

fn name_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The vendor and product of a CPE 2.3 name (`cpe:2.3:h:siemens:6es7...:...`), the
/// product without a `_firmware` suffix.
fn cpe_key(cpe: &str) -> Option<String> {
    let parts: Vec<&str> = cpe.split(':').collect();
    let (v, p) = match parts.as_slice() {
        ["cpe", "2.3", _, v, p, ..] => (*v, *p),
        // CPE 2.2 URI: cpe:/h:vendor:product
        ["cpe", part, v, p, ..] if part.starts_with('/') => (*v, *p),
        _ => return None,
    };
    let p = p.strip_suffix("_firmware").unwrap_or(p);
    (!v.is_empty() && !p.is_empty() && v != "*" && p != "*")
        .then(|| format!("{}:{}", v.to_lowercase(), p.to_lowercase()))
}

/// `*` any run, `?` one character; both sides uppercase without spaces. Iterative with one
/// backtrack point: linear in practice, and lengths are capped by the caller.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether a model pattern matches a candidate; a `/variant` in the pattern may be absent.
fn model_matches(pattern: &str, candidate: &str) -> bool {
    if pattern.len() > 128 || candidate.len() > 128 {
        return false;
    }
    if glob(pattern.as_bytes(), candidate.as_bytes()) {
        return true;
    }
    match pattern.split_once('/') {
        Some((base, _)) if !candidate.contains('/') && !base.is_empty() => {
            glob(base.as_bytes(), candidate.as_bytes())
        }
        _ => false,
    }
}

impl<'a> Index<'a> {
    fn new(lib: &'a Library) -> Self {
        let mut ix = Index {
            lib,
            models: HashMap::new(),
            wild_models: Vec::new(),
            cpes: HashMap::new(),
            words: HashMap::new(),
            names: HashMap::new(),
            digit_words: HashMap::new(),
            by_vendor: BTreeMap::new(),
        };
        for (ai, adv) in lib.advisories.iter().enumerate() {
            for v in &adv.vendors {
                ix.by_vendor.entry(v.as_str()).or_default().insert(ai);
            }
            for (pi, p) in adv.products.iter().enumerate() {
                let r = (ai, pi);
                for m in &p.models {
                    if m.pattern.contains(['*', '?']) || m.pattern.contains('/') {
                        ix.wild_models.push((r, m));
                    } else {
                        ix.models.entry(m.pattern.clone()).or_default().push((r, m));
                    }
                }
                if let Some(k) = p.cpe.as_deref().and_then(cpe_key) {
                    ix.cpes.entry(k).or_default().push(r);
                }
                let (Some(vendor), true) = (p.vendor.as_deref(), p.models.is_empty()) else {
                    continue;
                };
                let mut seen = BTreeSet::new();
                for n in names_of(p) {
                    let core = name_core(n);
                    ix.names
                        .entry((vendor, name_key(&core)))
                        .or_default()
                        .push(r);
                    let ws = words(&core);
                    for w in ws.iter().filter(|w| w.len() >= 5 && has_digit(w)) {
                        if seen.insert(w.clone()) {
                            ix.words.entry((vendor, w.clone())).or_default().push(r);
                        }
                    }
                    let dk = digit_key(&ws);
                    if !dk.is_empty() {
                        ix.digit_words.entry((vendor, dk)).or_default().push(r);
                    }
                }
            }
        }
        for v in ix.names.values_mut().chain(ix.words.values_mut()) {
            v.sort_unstable();
            v.dedup();
        }
        for v in ix.digit_words.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        ix
    }

    fn product(&self, r: Ref) -> (&'a Advisory, &'a Product) {
        let a = &self.lib.advisories[r.0];
        (a, &a.products[r.1])
    }
}

/// The names of a product to compare: its product_name/product_family branches and its
/// full name.
fn names_of(p: &Product) -> impl Iterator<Item = &str> {
    p.names
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(p.name.as_str()))
}

/// The model keys an asset offers: model, product code and order number, whole, word by
/// word, and without a Rockwell series letter.
fn model_candidates(a: &Asset) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |field: &str, v: &str| {
        let mut keys = vec![model_key(v)];
        for w in v.split_whitespace().filter(|w| w.len() >= 4) {
            keys.push(model_key(w));
        }
        for k in keys.clone() {
            if let Some((base, series)) = k.rsplit_once('/') {
                if series.len() == 1 && !base.is_empty() {
                    keys.push(base.to_owned());
                }
            }
        }
        for k in keys {
            if !k.is_empty() && !out.iter().any(|(_, x)| *x == k) {
                out.push((format!("{field} {v}"), k));
            }
        }
    };
    for f in [AssetField::Model, AssetField::ProductCode] {
        if let Some(v) = a.value(f) {
            push(f.name(), v);
        }
    }
    if let Some(f) = a.attributes.get("hardware_order_number") {
        push("order number", &f.value);
    }
    out
}

/// Records a reason if it is stronger than what the pair has.
fn offer(
    found: &mut BTreeMap<Ref, (Confidence, String)>,
    r: Ref,
    c: Confidence,
    reason: impl FnOnce() -> String,
) {
    match found.get(&r) {
        Some((have, _)) if *have <= c => {}
        _ => {
            found.insert(r, (c, reason()));
        }
    }
}

fn candidates(
    ix: &Index<'_>,
    a: &Asset,
    vendor: Option<&str>,
) -> BTreeMap<Ref, (Confidence, String)> {
    let mut found = BTreeMap::new();
    let vendor_ok = |p: &Product| match (vendor, p.vendor.as_deref()) {
        (Some(a), Some(b)) => a == b,
        // A model number or CPE is specific enough when the advisory names no vendor.
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let models = model_candidates(a);
    for (what, key) in &models {
        for (r, m) in ix.models.get(key).into_iter().flatten() {
            if vendor_ok(ix.product(*r).1) {
                offer(&mut found, *r, Confidence::ModelNumber, || {
                    format!("{what} is {} {}", m.from, m.raw)
                });
            }
        }
        for (r, m) in &ix.wild_models {
            if model_matches(&m.pattern, key) && vendor_ok(ix.product(*r).1) {
                offer(&mut found, *r, Confidence::ModelNumber, || {
                    format!("{what} fits {} {}", m.from, m.raw)
                });
            }
        }
    }
    for field in [AssetField::CpeHardware, AssetField::CpeFirmware] {
        let Some(k) = a.value(field).and_then(cpe_key) else {
            continue;
        };
        for r in ix.cpes.get(&k).into_iter().flatten() {
            let p = ix.product(*r).1;
            offer(&mut found, *r, Confidence::Cpe, || {
                format!(
                    "{field} names {k} as CPE {} does",
                    p.cpe.as_deref().unwrap_or("")
                )
            });
        }
    }
    let Some(vendor) = vendor else {
        return found;
    };
    for field in [AssetField::Model, AssetField::ProductName] {
        let Some(v) = a.value(field) else { continue };
        for r in ix.names.get(&(vendor, name_key(v))).into_iter().flatten() {
            offer(&mut found, *r, Confidence::ProductName, || {
                format!("{field} {v} is the product name")
            });
        }
        for w in words(v) {
            let mut ws = vec![w.clone()];
            if let Some((base, series)) = w.rsplit_once('/') {
                if series.len() == 1 {
                    ws.push(base.to_owned());
                }
            }
            for w in ws.into_iter().filter(|w| w.len() >= 5 && has_digit(w)) {
                for r in ix.words.get(&(vendor, w.clone())).into_iter().flatten() {
                    offer(&mut found, *r, Confidence::ProductName, || {
                        format!("{field} {v}: the product name names {}", w.to_uppercase())
                    });
                }
            }
        }
    }
    let fams = family::families(
        vendor,
        a.value(AssetField::Model),
        a.value(AssetField::ProductName),
        a.value(AssetField::Family),
    );
    for fam in &fams {
        let fw = words(fam);
        let dk = digit_key(&fw);
        if dk.is_empty() {
            continue;
        }
        for r in ix.digit_words.get(&(vendor, dk)).into_iter().flatten() {
            let p = ix.product(*r).1;
            // The family's words, in order, in one of the product's names, and nothing
            // else there but the brand's generic words.
            let named = names_of(p).find(|n| names_family(n, &fw, vendor));
            if let Some(n) = named {
                offer(&mut found, *r, Confidence::Family, || {
                    format!(
                        "family {fam} is named by the product {}",
                        family_segment(n).trim()
                    )
                });
            }
        }
    }
    found
}

/// The words a family name may carry beside the family's own without naming another
/// product: brand and vendor words, "CPU", "family", "controllers". Anything else
/// (`Software Controller`, `TM MFP`, `Process`, `Safety`) names a different product of the
/// family, which is not the device.
const FAMILY_FILLER: &[&str] = &[
    "simatic",
    "cpu",
    "cpus",
    "family",
    "controller",
    "controllers",
    "plc",
    "plcs",
    "series",
    "modicon",
    "rockwell",
    "automation",
    "allen-bradley",
    "siemens",
    "schneider",
    "electric",
    "wago",
    "phoenix",
    "contact",
    "all",
    "variants",
    "&",
];

/// The part of a name that names the product: CISA writes `Group - Product`
/// (`Logix Controllers - ControlLogix 5580 controllers`); the last part is the product.
fn family_segment(name: &str) -> String {
    let core = name_core(name);
    match core.rsplit_once(" - ") {
        Some((_, last)) if !last.trim().is_empty() => last.to_owned(),
        _ => core,
    }
}

/// Whether a product name names exactly the family `fw` (its words, lowercase).
fn names_family(name: &str, fw: &[String], vendor: &str) -> bool {
    let ws = words(&family_segment(name));
    let Some(at) = ws.windows(fw.len()).position(|win| win == fw) else {
        return false;
    };
    let vendor_words = words(&vendor.replace('/', " "));
    ws.iter().enumerate().all(|(i, w)| {
        (at..at + fw.len()).contains(&i)
            || FAMILY_FILLER.contains(&w.as_str())
            || vendor_words.contains(w)
    })
}

fn status_rank(s: ProductStatus) -> u8 {
    match s {
        ProductStatus::KnownAffected => 0,
        ProductStatus::UnderInvestigation => 1,
        ProductStatus::Fixed => 2,
        ProductStatus::KnownNotAffected => 3,
    }
}

/// The verdict for one product and one firmware, or `None`: the firmware is outside the
/// product's versions (or the product has no status anywhere).
fn verdict(status: ProductStatus, p: &Product, firmware: Option<&str>) -> Option<Verdict> {
    if status == ProductStatus::UnderInvestigation {
        return Some(Verdict::UnderInvestigation);
    }
    let range = match &p.version {
        None => Ok(Range::All),
        Some(VersionSpec::Exact(t)) => version::parse_version(t),
        Some(VersionSpec::Range(t)) => version::parse_range(t),
    };
    let in_range = match (&range, firmware) {
        (Ok(Range::All), _) => Ok(true),
        (_, None) => {
            return (status == ProductStatus::KnownAffected).then_some(Verdict::VersionUnknown);
        }
        (Ok(r), Some(fw)) => r.contains(fw),
        (Err(e), _) => Err(e.clone()),
    };
    match (status, in_range) {
        (_, Ok(false)) => None,
        (ProductStatus::KnownAffected, Ok(true)) => Some(Verdict::Affected),
        (ProductStatus::KnownAffected, Err(_)) => Some(Verdict::CheckVersion),
        (ProductStatus::Fixed, Ok(true)) => Some(Verdict::Fixed),
        (ProductStatus::KnownNotAffected, Ok(true)) => Some(Verdict::NotAffected),
        // A fixed or not-affected version that does not compare says nothing.
        _ => None,
    }
}

/// Matches every asset of the inventory, and every sub-asset (a module behind an adapter,
/// a unit behind a gateway: what advisories name), against the library; a sub-asset's
/// match carries its path.
pub fn match_inventory(inv: &Inventory, lib: &Library) -> Matches {
    let ix = Index::new(lib);
    let mut matches = Vec::new();
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let mut vendors: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for a in inv
        .assets
        .iter()
        // Matches are kept per address: a MAC-only asset (no address) is not matched.
        .filter(|a| !a.mac_only())
        .flat_map(|a| std::iter::once(a).chain(&a.sub_assets))
    {
        let vendor = a
            .value(AssetField::Manufacturer)
            .map(normalize::vendor_name);
        if let Some(v) = &vendor {
            let ips = vendors.entry(v.clone()).or_default();
            if !ips.contains(&a.ip) {
                ips.push(a.ip);
            }
        }
        let firmware = a.value(AssetField::Firmware).map(normalize::firmware);
        for ((ai, pi), (confidence, reason)) in candidates(&ix, a, vendor.as_deref()) {
            let adv = &lib.advisories[ai];
            let p = &adv.products[pi];
            let mut cves = Vec::new();
            let mut best: Option<ProductStatus> = None;
            let mut remediations = BTreeSet::new();
            for v in &adv.vulns {
                let Some(&s) = v.status.get(&p.id) else {
                    continue;
                };
                if best.is_none_or(|b| status_rank(s) < status_rank(b)) {
                    best = Some(s);
                }
                let score = v.scores.get(&p.id);
                cves.push(CveRef {
                    cve: v
                        .cve
                        .clone()
                        .or_else(|| v.title.clone())
                        .unwrap_or_else(|| "(no CVE)".to_owned()),
                    product_status: s,
                    cvss_base_score: score.map(|s| s.0),
                    cvss_vector: score.map(|s| s.1.clone()),
                });
                for (r, ids) in &v.remediations {
                    if ids.contains(&p.id) {
                        remediations.insert(r.clone());
                    }
                }
            }
            let Some(status) = best else { continue };
            let Some(verdict) = verdict(status, p, firmware.as_deref()) else {
                continue;
            };
            cves.sort_by(|x, y| x.cve.cmp(&y.cve));
            cves.dedup_by(|x, y| x.cve == y.cve);
            // Versions of the same product the advisory lists as fixed.
            let mut fixed_versions: Vec<String> = adv
                .products
                .iter()
                .filter(|q| q.id != p.id && q.names == p.names && !p.names.is_empty())
                .filter(|q| {
                    adv.vulns
                        .iter()
                        .any(|v| v.status.get(&q.id) == Some(&ProductStatus::Fixed))
                })
                .filter_map(|q| q.version.as_ref().map(|v| v.text().to_owned()))
                .collect();
            fixed_versions.sort();
            fixed_versions.dedup();
            used.insert(ai);
            matches.push(Match {
                site: a.site.clone(),
                ip: a.ip,
                path: a.path.clone(),
                advisory: adv.id.clone(),
                advisory_version: adv.version.clone(),
                product: p.name.clone(),
                product_id: p.id.clone(),
                confidence,
                reason: super::cut(&reason, 300),
                verdict,
                product_status: status,
                firmware: firmware.clone(),
                versions: p.version.as_ref().map(|v| v.text().to_owned()),
                fixed_versions,
                cves,
                remediations: remediations.into_iter().take(8).collect(),
            });
        }
    }
    matches.sort_by(|x, y| {
        (&x.site, x.ip, &x.path, &x.advisory, &x.product_id).cmp(&(
            &y.site,
            y.ip,
            &y.path,
            &y.advisory,
            &y.product_id,
        ))
    });
    let mut vendor_review = Vec::new();
    let mut review_docs = BTreeSet::new();
    for (vendor, assets) in vendors {
        let matched: BTreeSet<&str> = matches
            .iter()
            .filter(|m| assets.contains(&m.ip))
            .map(|m| m.advisory.as_str())
            .collect();
        let mut ids: Vec<String> = Vec::new();
        for &ai in ix.by_vendor.get(vendor.as_str()).into_iter().flatten() {
            let adv = &lib.advisories[ai];
            if !matched.contains(adv.id.as_str()) {
                ids.push(adv.id.clone());
                review_docs.insert(ai);
            }
        }
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            vendor_review.push(VendorReview {
                vendor,
                assets,
                advisories: ids,
            });
        }
    }
    let mut documents: Vec<DocumentRef> = used
        .iter()
        .chain(&review_docs)
        .map(|&ai| {
            let a = &lib.advisories[ai];
            DocumentRef {
                id: a.id.clone(),
                version: a.version.clone(),
                title: a.title.clone(),
                file: a.file.clone(),
                sha256: a.sha256.clone(),
            }
        })
        .collect();
    documents.sort();
    documents.dedup();
    Matches {
        documents_read: lib.advisories.len() as u64,
        documents_refused: lib.warnings.len() as u64,
        documents,
        matches,
        vendor_review,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_variants() {
        assert!(glob(b"6ES7315-2EH14-0AB0", b"6ES7315-2EH14-0AB0"));
        assert!(glob(b"6ES7315-*", b"6ES7315-2EH14-0AB0"));
        assert!(glob(b"6ES7315-2EH1?-0AB0", b"6ES7315-2EH14-0AB0"));
        assert!(!glob(b"6ES7315-2EH1?-0AB0", b"6ES7315-2EH1-0AB0"));
        assert!(glob(b"BMEP*", b"BMEP582040"));
        assert!(!glob(b"BMEP58*S", b"BMEP582040"));
        assert!(model_matches("750-82??/???-???", "750-8202"));
        assert!(!model_matches("750-82??/???-???", "750-8102"));
        assert!(!model_matches("750-82??", "750-820"));
    }

    #[test]
    fn name_cores_and_cpe_keys() {
        assert_eq!(
            name_core(
                "SIMATIC S7-300 CPU family (incl. related ET200 CPUs and SIPLUS variants): All versions < V3.X.16"
            ),
            "SIMATIC S7-300 CPU family "
        );
        assert_eq!(
            cpe_key("cpe:2.3:o:siemens:6es7_315-2eh14-0ab0_firmware:3.2.6:*:*:*:*:*:*:*")
                .as_deref(),
            Some("siemens:6es7_315-2eh14-0ab0")
        );
        assert_eq!(cpe_key("cpe:/h:siemens:x").as_deref(), Some("siemens:x"));
        assert_eq!(cpe_key("cpe:2.3:h:*:*"), None);
    }
}
