//! The difference between two reports: assets that appeared, assets that are gone, and
//! fields that changed (firmware, serial, model, manufacturer, MAC, services), with old
//! and new values. Assets are matched by IP address, sub-assets by their parent's address
//! and their path (a module added to, removed from or swapped in a slot is drift: added,
//! removed, or its model and serial changed at that path); values are compared the way
//! merge compares them (case and spacing do not count as a change).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::inventory::Inventory;
use crate::inventory::merge::{Asset, AssetField};
use crate::inventory::normalize::compare_key;

/// What diff compares of an asset: a field, or its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    Field(AssetField),
    Services,
}

impl Compared {
    /// The name a [`Change`] carries.
    pub fn name(self) -> &'static str {
        match self {
            Compared::Field(f) => f.name(),
            Compared::Services => "services",
        }
    }
}

/// What diff compares, in output order.
pub const FIELDS: [Compared; 6] = [
    Compared::Field(AssetField::Manufacturer),
    Compared::Field(AssetField::Model),
    Compared::Field(AssetField::Firmware),
    Compared::Field(AssetField::Serial),
    Compared::Field(AssetField::Mac),
    Compared::Services,
];

/// The difference between an old and a new report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub old_generated_at: DateTime<Utc>,
    pub new_generated_at: DateTime<Utc>,
    pub added: Vec<AssetBrief>,
    pub removed: Vec<AssetBrief>,
    pub changed: Vec<Change>,
    /// A missing asset whose serial turned up at a new address: probably the same device,
    /// re-addressed. It is listed under `added` and `removed` too.
    #[serde(default)]
    pub moved: Vec<Moved>,
    /// Advisories that newly apply, or no longer apply, to an asset present in both
    /// reports. Compared only when the new report carries advisory matches (`merge
    /// --csaf`); an old report without them counts as having none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<AdvisoryChange>,
}

impl Diff {
    /// Whether anything changed. A new advisory on an otherwise unchanged device is drift.
    pub fn is_drift(&self) -> bool {
        !(self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.moved.is_empty()
            && self.advisories.is_empty())
    }
}

/// An advisory that newly applies (`new: true`) or no longer applies to an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryChange {
    /// The site, in a fleet report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub ip: IpAddr,
    /// The sub-asset the advisory is matched to (a module behind the address), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub advisory: String,
    pub new: bool,
}

/// A serial that left one address and appeared at another, or a module (a sub-asset)
/// that left one slot of its parent for another (then `from_path` and `to_path` say which:
/// one change, not a removal and an addition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub serial: String,
    pub from: IpAddr,
    pub to: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

impl Moved {
    /// Where it was and where it is, a module with its path (`10.0.0.5 cip:1/2`).
    pub fn places(&self) -> (String, String) {
        let at = |ip: &IpAddr, path: &Option<String>| match path {
            Some(p) => format!("{ip} {p}"),
            None => ip.to_string(),
        };
        (at(&self.from, &self.from_path), at(&self.to, &self.to_path))
    }
}

/// Enough to recognise an asset that appeared or went away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetBrief {
    /// The site, in a fleet report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub ip: IpAddr,
    /// A sub-asset's path behind the asset at `ip`; for an asset known only by MAC (`ip`
    /// 0.0.0.0), `mac:` and its MAC, then the path of a sub-asset behind it, as in
    /// observations ([`crate::inventory::MAC_PATH_PREFIX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// One field of one asset that changed. `None`: not known on that side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The site, in a fleet report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub ip: IpAddr,
    /// A sub-asset's path behind the asset at `ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

fn brief(key: &Key<'_>, a: &Asset) -> AssetBrief {
    AssetBrief {
        site: a.site.clone(),
        ip: a.ip,
        path: key.2.clone(),
        manufacturer: a.value(AssetField::Manufacturer).map(str::to_owned),
        model: a.value(AssetField::Model).map(str::to_owned),
        serial: a.value(AssetField::Serial).map(str::to_owned),
    }
}

fn field_value(a: &Asset, compared: Compared) -> Option<String> {
    match compared {
        Compared::Field(f) => a.value(f).map(str::to_owned),
        Compared::Services => {
            let s = a.service_names();
            (!s.is_empty()).then(|| s.join(", "))
        }
    }
}

/// Site, address and sub-asset path: what matches an asset or sub-asset across reports.
/// An asset known only by MAC (and what is behind it) is keyed by the observations'
/// `mac:` path.
type Key<'a> = (Option<&'a str>, IpAddr, Option<String>);

/// Every asset and sub-asset of a report by its [`Key`].
fn keyed(inv: &Inventory) -> BTreeMap<Key<'_>, &Asset> {
    inv.assets
        .iter()
        .flat_map(|a| {
            std::iter::once(a).chain(&a.sub_assets).map(move |x| {
                let path = match a.mac_key() {
                    Some(mac) => Some(crate::inventory::mac_path(mac, x.path.as_deref())),
                    None => x.path.clone(),
                };
                ((x.site.as_deref(), x.ip, path), x)
            })
        })
        .collect()
}

/// True for a brief's path that names a sub-asset (not a MAC-only asset's own key).
fn is_module(ip: &IpAddr, path: &Option<String>) -> bool {
    match path {
        Some(p) if ip.is_unspecified() && p.starts_with(crate::inventory::MAC_PATH_PREFIX) => {
            p.contains(' ')
        }
        Some(_) => true,
        None => false,
    }
}

/// Compares two reports. Assets are matched by site and address (a fleet report's
/// 10.0.0.5 at one plant is not another plant's), sub-assets also by path.
pub fn diff(old: &Inventory, new: &Inventory) -> Diff {
    let olds = keyed(old);
    let news = keyed(new);
    let mut d = Diff {
        old_generated_at: old.generated_at,
        new_generated_at: new.generated_at,
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        moved: Vec::new(),
        advisories: Vec::new(),
    };
    for (ip, a) in &olds {
        if !news.contains_key(ip) {
            d.removed.push(brief(ip, a));
        }
    }
    for (ip, n) in &news {
        let Some(o) = olds.get(ip) else {
            d.added.push(brief(ip, n));
            continue;
        };
        for f in FIELDS {
            let (ov, nv) = (field_value(o, f), field_value(n, f));
            let same = match (&ov, &nv) {
                (Some(a), Some(b)) => compare_key(a) == compare_key(b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                d.changed.push(Change {
                    site: ip.0.map(str::to_owned),
                    ip: ip.1,
                    path: ip.2.clone(),
                    field: f.name().to_owned(),
                    old: ov,
                    new: nv,
                });
            }
        }
    }
    if let Some(nm) = &new.advisories {
        // Advisories are matched to addresses and to the modules behind them.
        for ip in news.keys().filter(|ip| olds.contains_key(*ip)) {
            let was: Vec<&str> = old
                .advisories
                .as_ref()
                .map(|m| m.advisories_at(ip.0, ip.1, ip.2.as_deref()))
                .unwrap_or_default();
            let is = nm.advisories_at(ip.0, ip.1, ip.2.as_deref());
            for a in is.iter().filter(|a| !was.contains(a)) {
                d.advisories.push(AdvisoryChange {
                    site: ip.0.map(str::to_owned),
                    ip: ip.1,
                    path: ip.2.clone(),
                    advisory: (*a).to_owned(),
                    new: true,
                });
            }
            for a in was.iter().filter(|a| !is.contains(a)) {
                d.advisories.push(AdvisoryChange {
                    site: ip.0.map(str::to_owned),
                    ip: ip.1,
                    path: ip.2.clone(),
                    advisory: (*a).to_owned(),
                    new: false,
                });
            }
        }
    }
    // Re-addressed devices; a module's serial in another slot is reported as removed and
    // added at its paths.
    for r in d.removed.iter().filter(|r| r.path.is_none()) {
        let Some(serial) = &r.serial else { continue };
        for a in d.added.iter().filter(|a| {
            a.path.is_none()
                && a.site == r.site
                && a.serial.as_deref().map(compare_key) == Some(compare_key(serial))
        }) {
            d.moved.push(Moved {
                serial: serial.clone(),
                from: r.ip,
                to: a.ip,
                from_path: None,
                to_path: None,
            });
        }
    }
    // A module that left one slot of a parent for another slot of the same parent (the
    // same serial): one "moved" change, no longer a removal and an addition.
    let mut gone: Vec<usize> = Vec::new();
    let mut came: Vec<usize> = Vec::new();
    for (ri, r) in d.removed.iter().enumerate() {
        let (Some(from), Some(serial)) = (&r.path, &r.serial) else {
            continue;
        };
        let found = d.added.iter().enumerate().find(|(ai, a)| {
            a.path.is_some()
                && !came.contains(ai)
                && a.site == r.site
                && a.ip == r.ip
                && a.serial.as_deref().map(compare_key) == Some(compare_key(serial))
        });
        if let Some((ai, a)) = found {
            d.moved.push(Moved {
                serial: serial.clone(),
                from: r.ip,
                to: a.ip,
                from_path: Some(from.clone()),
                to_path: a.path.clone(),
            });
            gone.push(ri);
            came.push(ai);
        }
    }
    let keep = |v: &mut Vec<AssetBrief>, drop: &[usize]| {
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            !drop.contains(&(i - 1))
        });
    };
    keep(&mut d.removed, &gone);
    keep(&mut d.added, &came);
    d
}

/// Device-supplied text for a terminal: control characters (an escape sequence, a
/// newline that would forge a line of the diff) become `?`.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The human rendering. Device-supplied strings lose their control characters.
pub fn render_text(d: &Diff) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "comparing report of {} with report of {}",
        d.old_generated_at.to_rfc3339(),
        d.new_generated_at.to_rfc3339()
    );
    if !d.is_drift() {
        let _ = writeln!(s, "no changes");
        return s;
    }
    let desc = |b: &AssetBrief| -> String {
        let parts: Vec<&str> = [&b.manufacturer, &b.model, &b.serial]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            clean(&format!(" ({})", parts.join(", ")))
        }
    };
    let at = |ip: &IpAddr, path: &Option<String>| match path {
        // A MAC-only asset: its `mac:` key names it.
        Some(p) if ip.is_unspecified() && p.starts_with(crate::inventory::MAC_PATH_PREFIX) => {
            clean(p)
        }
        Some(p) => format!("{ip} {}", clean(p)),
        None => ip.to_string(),
    };
    for b in &d.added {
        let what = if is_module(&b.ip, &b.path) {
            "module"
        } else {
            "asset"
        };
        let _ = writeln!(s, "+ new {what} {}{}", at(&b.ip, &b.path), desc(b));
    }
    for b in &d.removed {
        let what = if is_module(&b.ip, &b.path) {
            "module"
        } else {
            "asset"
        };
        let _ = writeln!(s, "- missing {what} {}{}", at(&b.ip, &b.path), desc(b));
    }
    for c in &d.changed {
        let _ = writeln!(
            s,
            "~ {} {}: {} -> {}",
            at(&c.ip, &c.path),
            clean(&c.field),
            clean(c.old.as_deref().unwrap_or("(unknown)")),
            clean(c.new.as_deref().unwrap_or("(unknown)"))
        );
    }
    for m in &d.moved {
        let (from, to) = m.places();
        let _ = writeln!(
            s,
            "> serial {} moved from {} to {}",
            clean(&m.serial),
            clean(&from),
            clean(&to)
        );
    }
    for a in &d.advisories {
        let _ = writeln!(
            s,
            "{} {} advisory {}",
            if a.new { "! new" } else { "- no longer" },
            at(&a.ip, &a.path),
            clean(&a.advisory)
        );
    }
    let _ = writeln!(
        s,
        "{} new, {} missing, {} changed field(s)",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    );
    if !d.advisories.is_empty() {
        let _ = writeln!(
            s,
            "{} advisory match(es) new, {} gone",
            d.advisories.iter().filter(|a| a.new).count(),
            d.advisories.iter().filter(|a| !a.new).count()
        );
    }
    s
}
