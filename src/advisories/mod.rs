//! Offline matching of CSAF 2.0 security advisories against an inventory.
//!
//! The user downloads advisories (CISA's, a vendor's) as CSAF 2.0 JSON files; otscout reads
//! every document under the folders given ([`load`]: `.json`, `.json.gz`, and ROLIE feed
//! listings, which say which documents should be there), flattens each product tree into
//! [`Product`]s ([`Advisory::from_csaf`]) and matches them against the report's assets
//! ([`matching::match_inventory`]). Every match says why and how sure it is
//! ([`Confidence`]); advisories that only name an asset's vendor are listed apart, as
//! advisories to review.
//!
//! Never reads the network; reads only the files given. A document that cannot be read is
//! one warning naming the file and the JSON path; the caller decides whether that is an
//! error (`--strict`). Nothing from a file can make this module panic.

pub mod csaf;
pub mod family;
pub mod matching;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::inventory::normalize;

pub use matching::match_inventory;

/// The match types live with the inventory that carries them
/// ([`crate::inventory::advisory`]); re-exported here where they are made.
pub use crate::inventory::advisory::{
    Confidence, CveRef, DocumentRef, Match, Matches, ProductStatus, Remediation, VendorReview,
    Verdict,
};

/// Why the advisories could not be loaded at all (one bad document is a warning instead).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("advisory folder {}: {source}; give a folder of CSAF 2.0 JSON files", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("advisory folder {}: no CSAF documents (.json or .json.gz) found", path.display())]
    Empty { path: PathBuf },
}

/// How a product's version is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// `product_version`: one version (or CISA's `vers:all/*` there).
    Exact(String),
    /// `product_version_range`, or CISA's free text after the product name's `: `.
    Range(String),
}

impl VersionSpec {
    /// The text as the advisory wrote it.
    pub fn text(&self) -> &str {
        match self {
            VersionSpec::Exact(t) | VersionSpec::Range(t) => t,
        }
    }
}

/// One product of an advisory's product tree (a leaf with a `product`), with what its
/// path of branches says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    /// The full product name.
    pub name: String,
    /// The vendor branch above it, in the inventory's canonical spelling.
    pub vendor: Option<String>,
    /// The `product_name` branch names above it.
    pub names: Vec<String>,
    pub version: Option<VersionSpec>,
    /// `product_identification_helper.model_numbers` and `skus`, and the article or part
    /// numbers CISA writes in names and versions (`Article number 2700988`,
    /// `part numbers BMXP34*`, `750-82xx/xxx-xxx`), as [`ModelPattern`]s.
    pub models: Vec<ModelPattern>,
    pub cpe: Option<String>,
}

/// A model or order number pattern, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPattern {
    /// Uppercase, without white space; `*` any run, `?` any one character.
    pub pattern: String,
    /// As written.
    pub raw: String,
    pub from: &'static str,
}

/// One vulnerability of an advisory, reduced to what is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Vuln {
    pub cve: Option<String>,
    pub title: Option<String>,
    pub status: BTreeMap<String, ProductStatus>,
    /// Per product id: CVSS base score and vector (v3 preferred over v2).
    pub scores: BTreeMap<String, (f64, String)>,
    pub remediations: Vec<(Remediation, BTreeSet<String>)>,
}

/// An advisory, its product tree flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    pub id: String,
    pub version: String,
    pub title: String,
    pub file: String,
    pub sha256: String,
    pub products: Vec<Product>,
    pub vulns: Vec<Vuln>,
    /// The canonical vendor names in the product tree.
    pub vendors: BTreeSet<String>,
}

/// Cuts untrusted text to `max` characters, control characters as spaces.
pub(crate) fn cut(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A model number as compared: uppercase, no white space.
pub fn model_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Whether a `product_version` holds an article or part number rather than a version
/// (CISA: `2700988` for Phoenix Contact, `750-82xx/xxx-xxx` for WAGO, `1783-SAD2T2SPK9`):
/// no dot, no space, and a hyphen or at least six characters.
fn looks_like_part_number(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && !s.contains(['.', ' ', ':', '*'])
        && s.chars().any(|c| c.is_ascii_digit())
        && (s.contains('-') || s.len() >= 6)
        && !s.starts_with(['v', 'V'])
}

/// A part number written with `x` for "any digit" (`750-82xx/xxx-xxx`, `ILC 1x1`) as a
/// pattern: `x` becomes `?` when the text has no other lowercase letter.
fn part_pattern(raw: &str, from: &'static str) -> ModelPattern {
    let lower_other = raw.chars().any(|c| c.is_ascii_lowercase() && c != 'x');
    let text: String = if lower_other {
        raw.to_owned()
    } else {
        raw.chars()
            .map(|c| if c == 'x' { '?' } else { c })
            .collect()
    };
    ModelPattern {
        pattern: model_key(&text),
        raw: raw.to_owned(),
        from,
    }
}

/// `Article number 2700988`, `part numbers BMEP* and BMEH*`, `part number BMXP34*` in a
/// product name.
fn patterns_in_name(name: &str) -> Vec<ModelPattern> {
    let mut out = Vec::new();
    let lower = name.to_ascii_lowercase();
    for (key, from) in [
        ("article number ", "article number in the product name"),
        ("part numbers ", "part number in the product name"),
        ("part number ", "part number in the product name"),
    ] {
        let Some(i) = lower.find(key) else { continue };
        let rest = &name[i + key.len()..];
        for word in rest.split([' ', ',', ')', ';']) {
            if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                continue;
            }
            if word.is_empty() {
                continue;
            }
            let ok = word.len() >= 4
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '-' | '/' | '?'))
                // A digit, or a wildcard after four characters or more (`BMEP*`).
                && (word.chars().any(|c| c.is_ascii_digit())
                    || word.find(['*', '?']).is_some_and(|i| i >= 4));
            if !ok {
                break;
            }
            out.push(ModelPattern {
                pattern: model_key(word),
                raw: word.to_owned(),
                from,
            });
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

impl Advisory {
    /// Flattens a parsed document. `file` names it (its path), `sha256` is the file's.
    pub fn from_csaf(doc: csaf::Csaf, file: &str, sha256: String) -> Advisory {
        let tree = doc.product_tree.unwrap_or_default();
        let mut products = Vec::new();
        for b in &tree.branches {
            walk(b, &mut Vec::new(), &mut products);
        }
        for fp in tree
            .full_product_names
            .iter()
            .chain(tree.relationships.iter().map(|r| &r.full_product_name))
        {
            products.push(leaf(fp, &[], None));
        }
        let groups: BTreeMap<&str, &Vec<String>> = tree
            .product_groups
            .iter()
            .map(|g| (g.group_id.as_str(), &g.product_ids))
            .collect();
        let vulns = doc
            .vulnerabilities
            .into_iter()
            .map(|v| {
                let mut status = BTreeMap::new();
                let ps = &v.product_status;
                // Later lists win on a product listed twice, most cautious last.
                for (list, s) in [
                    (&ps.known_not_affected, ProductStatus::KnownNotAffected),
                    (&ps.fixed, ProductStatus::Fixed),
                    (&ps.first_fixed, ProductStatus::Fixed),
                    (&ps.under_investigation, ProductStatus::UnderInvestigation),
                    (&ps.first_affected, ProductStatus::KnownAffected),
                    (&ps.last_affected, ProductStatus::KnownAffected),
                    (&ps.known_affected, ProductStatus::KnownAffected),
                ] {
                    for id in list {
                        status.insert(id.clone(), s);
                    }
                }
                let mut scores = BTreeMap::new();
                for s in &v.scores {
                    let Some(c) = s.cvss_v3.as_ref().or(s.cvss_v2.as_ref()) else {
                        continue;
                    };
                    // CVSS base scores are 0.0 to 10.0 (FIRST, CVSS v2 and v3.x).
                    if !(0.0..=10.0).contains(&c.base_score) {
                        continue;
                    }
                    for p in &s.products {
                        scores
                            .entry(p.clone())
                            .or_insert((c.base_score, cut(&c.vector_string, 80)));
                    }
                }
                let remediations = v
                    .remediations
                    .iter()
                    .map(|r| {
                        let mut ids: BTreeSet<String> = r.product_ids.iter().cloned().collect();
                        for g in &r.group_ids {
                            if let Some(members) = groups.get(g.as_str()) {
                                ids.extend(members.iter().cloned());
                            }
                        }
                        (
                            Remediation {
                                category: cut(&r.category, 40),
                                url: r.url.as_deref().map(|u| cut(u, 300)),
                                details: cut(&r.details, 300),
                            },
                            ids,
                        )
                    })
                    .collect();
                Vuln {
                    cve: v.cve.map(|c| cut(&c, 40)),
                    title: v.title.map(|t| cut(&t, 200)),
                    status,
                    scores,
                    remediations,
                }
            })
            .collect();
        let vendors = products.iter().filter_map(|p| p.vendor.clone()).collect();
        Advisory {
            id: cut(&doc.document.tracking.id, 80),
            version: cut(&doc.document.tracking.version, 40),
            title: cut(&doc.document.title, 200),
            file: file.to_owned(),
            sha256,
            products,
            vulns,
            vendors,
        }
    }
}

/// The branch path from the root to here: (category, name).
fn walk<'a>(b: &'a csaf::Branch, path: &mut Vec<&'a csaf::Branch>, out: &mut Vec<Product>) {
    path.push(b);
    if let Some(p) = &b.product {
        let version = match b.category.as_str() {
            "product_version" => Some(VersionSpec::Exact(b.name.trim().to_owned())),
            "product_version_range" => Some(VersionSpec::Range(b.name.trim().to_owned())),
            _ => None,
        };
        out.push(leaf(p, path, version));
    }
    for c in &b.branches {
        walk(c, path, out);
    }
    path.pop();
}

fn leaf(
    p: &csaf::FullProductName,
    path: &[&csaf::Branch],
    version: Option<VersionSpec>,
) -> Product {
    let vendor = path
        .iter()
        .find(|b| b.category == "vendor")
        .map(|b| normalize::vendor_name(&b.name))
        .filter(|v| !v.is_empty());
    let names: Vec<String> = path
        .iter()
        // A `product_family` branch above a specific product names the family, not the
        // product: it is not compared.
        .filter(|b| b.category == "product_name")
        .map(|b| b.name.trim().to_owned())
        .collect();
    let mut models = Vec::new();
    let mut cpe = None;
    if let Some(h) = &p.product_identification_helper {
        for m in h.model_numbers.iter().chain(&h.skus) {
            models.push(ModelPattern {
                pattern: model_key(m),
                raw: m.clone(),
                from: "model number",
            });
        }
        cpe = h.cpe.clone();
    }
    let mut version = version;
    // CISA puts article numbers in `product_version`: they name the model, not a version.
    if let Some(VersionSpec::Exact(v)) = &version {
        let parts: Vec<&str> = v.split('|').map(str::trim).collect();
        if parts.iter().all(|p| looks_like_part_number(p)) {
            for part in parts {
                models.push(part_pattern(part, "article number in product_version"));
            }
            version = None;
        }
    }
    if models.is_empty() {
        models = patterns_in_name(&p.name);
    }
    // No version branch: CISA's `Name: <range>` in the full name, when it reads as one.
    if version.is_none() {
        if let Some((_, tail)) = p.name.rsplit_once(": ") {
            if version::parse_range(tail).is_ok() {
                version = Some(VersionSpec::Range(tail.trim().to_owned()));
            }
        }
    }
    models.retain(|m| !m.pattern.is_empty());
    Product {
        id: p.product_id.clone(),
        name: cut(&p.name, 300),
        vendor,
        names,
        version,
        models,
        cpe,
    }
}

/// The advisories under some folders, and a warning per file that could not be used.
#[derive(Debug, Default)]
pub struct Library {
    pub advisories: Vec<Advisory>,
    pub warnings: Vec<String>,
    /// Feed listings read (their documents are read from the folders like any other).
    pub feeds: usize,
}

/// The most files looked at under one folder: a mistaken `--csaf /` stops here.
pub const MAX_FILES: usize = 200_000;

/// Reads every CSAF document under the folders (recursively, in name order).
pub fn load(dirs: &[PathBuf]) -> Result<Library, LoadError> {
    let mut lib = Library::default();
    for dir in dirs {
        let mut files = Vec::new();
        collect(dir, &mut files, 0).map_err(|source| LoadError::Folder {
            path: dir.clone(),
            source,
        })?;
        files.sort();
        if files.is_empty() {
            return Err(LoadError::Empty { path: dir.clone() });
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut listed: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for f in &files {
            let display = f.display().to_string();
            match csaf::read_file(f) {
                Ok(csaf::ReadFile {
                    sha256,
                    parsed: csaf::Parsed::Document(doc),
                }) => {
                    if let Some(n) = f.file_name() {
                        names.insert(n.to_string_lossy().trim_end_matches(".gz").to_owned());
                    }
                    lib.advisories
                        .push(Advisory::from_csaf(*doc, &display, sha256));
                }
                Ok(csaf::ReadFile {
                    parsed: csaf::Parsed::Feed(feed),
                    ..
                }) => {
                    lib.feeds += 1;
                    let wanted = feed
                        .feed
                        .entry
                        .iter()
                        .filter_map(|e| e.content.as_ref())
                        .filter_map(|c| c.src.rsplit('/').next().map(str::to_owned))
                        .collect();
                    listed.push((f.clone(), wanted));
                }
                Err(e) => lib.warnings.push(e.to_string()),
            }
        }
        for (feed, wanted) in listed {
            let missing: Vec<&String> = wanted.iter().filter(|w| !names.contains(*w)).collect();
            if let Some(first) = missing.first() {
                lib.warnings.push(format!(
                    "{}: the feed lists {} document(s) not found under {} (first: {}); download them to match against them",
                    feed.display(),
                    missing.len(),
                    dir.display(),
                    cut(first, 80)
                ));
            }
        }
    }
    Ok(lib)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> std::io::Result<()> {
    // Symlinked folders could loop: the depth bounds the walk.
    if depth > 16 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = std::fs::metadata(&path).map(|m| m.file_type());
        match ft {
            Ok(t) if t.is_dir() => collect(&path, out, depth + 1)?,
            Ok(t) if t.is_file() => {
                let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
                if (name.ends_with(".json") || name.ends_with(".json.gz")) && out.len() < MAX_FILES
                {
                    out.push(path);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
