//! The advisory matches a report carries (`Inventory::advisories`, the report's
//! `advisories` member): plain data. [`crate::advisories`] reads CSAF documents and makes
//! them; they live here so that the inventory does not import the advisory reader.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A product status of CSAF 2.0 §3.2.3.9 (`first_affected`/`last_affected` read as
/// `known_affected`, `first_fixed` as `fixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    KnownAffected,
    UnderInvestigation,
    Fixed,
    KnownNotAffected,
}

/// Remediation as shown: category, URL, and the start of the text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Remediation {
    pub category: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub details: String,
}

/// How a match was made, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The asset's model or order number is one the advisory lists (wildcards allowed).
    ModelNumber,
    /// The advisory's CPE names the asset's vendor and product.
    Cpe,
    /// The advisory's product name names the asset's model or product.
    ProductName,
    /// The advisory names the asset's product family, and no narrower product.
    Family,
}

impl Confidence {
    /// Lowercase words, as in the table.
    pub fn words(self) -> &'static str {
        match self {
            Confidence::ModelNumber => "model number",
            Confidence::Cpe => "cpe",
            Confidence::ProductName => "product name",
            Confidence::Family => "family",
        }
    }
}

/// What a match means for the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Listed as known affected, and the firmware is in the affected versions.
    Affected,
    /// Listed as known affected; the asset's firmware is not known.
    VersionUnknown,
    /// Listed as known affected; the advisory's versions could not be compared with the
    /// firmware (free text otscout does not read, or a version that does not compare).
    CheckVersion,
    UnderInvestigation,
    /// The firmware is a version the advisory lists as fixed.
    Fixed,
    /// The firmware is a version the advisory lists as not affected.
    NotAffected,
}

impl Verdict {
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Affected => "affected",
            Verdict::VersionUnknown => "version unknown",
            Verdict::CheckVersion => "check version",
            Verdict::UnderInvestigation => "under investigation",
            Verdict::Fixed => "fixed",
            Verdict::NotAffected => "not affected",
        }
    }
}

/// A CSAF document a report's matches came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentRef {
    pub id: String,
    pub version: String,
    pub title: String,
    pub file: String,
    pub sha256: String,
}

/// One CVE of a match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CveRef {
    pub cve: String,
    pub product_status: ProductStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_base_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
}

/// One advisory product that applies to one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The asset's site, in a fleet report (addresses are unique within a site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub ip: IpAddr,
    /// The sub-asset matched (`cip:1/0`: the controller module behind the adapter at
    /// `ip`); absent for the address's own asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub advisory: String,
    pub advisory_version: String,
    pub product: String,
    pub product_id: String,
    pub confidence: Confidence,
    /// Why, in words: which asset value met which advisory value.
    pub reason: String,
    pub verdict: Verdict,
    pub product_status: ProductStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    /// The advisory's versions for this product, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
    /// Versions of the same product the advisory lists as fixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed_versions: Vec<String>,
    pub cves: Vec<CveRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<Remediation>,
}

/// Advisories that name a vendor of the inventory but none of its products that otscout
/// could match: for a person to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorReview {
    pub vendor: String,
    pub assets: Vec<IpAddr>,
    pub advisories: Vec<String>,
}

/// The matches of one run, as embedded in a report (its `advisories` member) and printed
/// by `otscout advisories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matches {
    /// How many CSAF documents were read, and how many could not be.
    pub documents_read: u64,
    pub documents_refused: u64,
    /// The documents the matches and reviews below come from, with their files' SHA-256.
    pub documents: Vec<DocumentRef>,
    /// Sorted by address, then advisory, then product.
    pub matches: Vec<Match>,
    pub vendor_review: Vec<VendorReview>,
}

impl Match {
    /// The address, and the sub-asset's path after it when the match is a sub-asset's
    /// (`10.0.0.5 cip:1/0`).
    pub fn address(&self) -> String {
        match &self.path {
            Some(p) => format!("{} {p}", self.ip),
            None => self.ip.to_string(),
        }
    }
}

impl Matches {
    /// Advisory ids matched to an address's own asset (any verdict but fixed and not
    /// affected), sorted.
    pub fn advisories_of(&self, site: Option<&str>, ip: IpAddr) -> Vec<&str> {
        self.advisories_at(site, ip, None)
    }

    /// Advisory ids matched to the asset at `ip` and `path` (`None`: the address's own,
    /// `Some("cip:1/0")`: a sub-asset), as [`Matches::advisories_of`].
    pub fn advisories_at(&self, site: Option<&str>, ip: IpAddr, path: Option<&str>) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .matches
            .iter()
            .filter(|m| m.ip == ip && m.site.as_deref() == site && m.path.as_deref() == path)
            .filter(|m| !matches!(m.verdict, Verdict::Fixed | Verdict::NotAffected))
            .map(|m| m.advisory.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Matches per confidence level.
    pub fn by_confidence(&self) -> BTreeMap<Confidence, usize> {
        let mut m = BTreeMap::new();
        for x in &self.matches {
            *m.entry(x.confidence).or_insert(0) += 1;
        }
        m
    }
}
