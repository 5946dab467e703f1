//! The CycloneDX 1.6 JSON view: one `device` component per asset, its sub-assets nested
//! as its own components.
//!
//! Follows the CycloneDX 1.6 JSON schema (cyclonedx.org/schema/bom-1.6.schema.json):
//! `manufacturer` (an organizationalEntity, new in 1.6), `name` (model, else product
//! name, else the address), `version` (firmware), `cpe` (hardware CPE), and everything
//! else (address, MAC, serial, protocols, services, criticality, …) as `otscout:`
//! properties. The serial number (a URN UUID) is derived from the report's own SHA-256 so
//! the view is as deterministic as the report.

use serde_json::{Value, json};

use super::json as report_json;
use super::sign::sha256_hex;
use crate::inventory::Inventory;
use crate::inventory::merge::{AssetField, protocol_name};

/// Renders the CycloneDX view as pretty JSON with a trailing newline.
pub fn render(inv: &Inventory) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&bom(inv)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The CycloneDX document as a JSON value.
pub fn bom(inv: &Inventory) -> Value {
    let digest = sha256_hex(&report_json::render(inv));
    // A version-4-shaped UUID (RFC 9562 variant bits) from the digest's first 128 bits.
    let mut h: Vec<char> = digest.chars().take(32).collect();
    h[12] = '4';
    h[16] = match h[16] {
        '0' | '4' | '8' | 'c' => '8',
        '1' | '5' | '9' | 'd' => '9',
        '2' | '6' | 'a' | 'e' => 'a',
        _ => 'b',
    };
    let h: String = h.into_iter().collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let components: Vec<Value> = inv.assets.iter().map(component).collect();
    let mut sites: Vec<&str> = inv.site.iter().map(String::as_str).collect();
    sites.extend(inv.sites.iter().map(|s| s.site.as_str()));
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{uuid}"),
        "version": 1,
        "metadata": {
            "timestamp": inv.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "otscout",
                    "version": inv.otscout_version,
                }]
            },
            "properties": [
                {"name": "otscout:report_sha256", "value": digest},
                {"name": "otscout:scans", "value": inv.scans.iter().map(|s| s.scan_id.as_str()).collect::<Vec<_>>().join(",")},
            ],
        },
        "components": components,
    });
    if !sites.is_empty() {
        if let Some(p) = doc["metadata"]["properties"].as_array_mut() {
            p.push(json!({"name": "otscout:site", "value": sites.join(",")}));
        }
    }
    if let Some(m) = &inv.advisories {
        doc["vulnerabilities"] = Value::Array(vulnerabilities(m));
    }
    doc
}

/// The advisory matches as CycloneDX 1.6 `vulnerabilities`: one per (advisory, CVE), each
/// `affects` entry referencing a device component (`asset:<ip>`) with the firmware and
/// its status (`affected`; `unknown` for version unknown, check version and under
/// investigation; `unaffected` for fixed and not affected). The advisory is a reference,
/// the match's confidence and reason are `otscout:` properties.
fn vulnerabilities(m: &crate::advisories::Matches) -> Vec<Value> {
    use crate::advisories::Verdict;
    use std::collections::BTreeMap;
    // (advisory, cve) → (highest rating, affects, reasons)
    type Entry<'a> = (Option<(f64, &'a str)>, Vec<Value>, Vec<String>);
    let mut by: BTreeMap<(&str, &str), Entry<'_>> = BTreeMap::new();
    for x in &m.matches {
        let status = match x.verdict {
            Verdict::Affected => "affected",
            Verdict::Fixed | Verdict::NotAffected => "unaffected",
            Verdict::VersionUnknown | Verdict::CheckVersion | Verdict::UnderInvestigation => {
                "unknown"
            }
        };
        for c in &x.cves {
            let e = by
                .entry((x.advisory.as_str(), c.cve.as_str()))
                .or_insert_with(|| (None, Vec::new(), Vec::new()));
            if let (Some(s), Some(v)) = (c.cvss_base_score, c.cvss_vector.as_deref()) {
                if e.0.is_none_or(|(old, _)| s > old) {
                    e.0 = Some((s, v));
                }
            }
            let mut version = json!({ "status": status });
            match (&x.firmware, &x.versions) {
                (Some(fw), _) => version["version"] = json!(fw),
                (None, Some(r)) => version["range"] = json!(r),
                (None, None) => version["range"] = json!("vers:all/*"),
            }
            // The same reference as the device's component (see `component`).
            // A sub-asset's match references the sub-asset's component (its parent's
            // reference with the path after a `/`).
            let mut asset_ref = match &x.site {
                Some(site) => format!("asset:{site}:{}", x.ip),
                None => format!("asset:{}", x.ip),
            };
            if let Some(p) = &x.path {
                asset_ref = format!("{asset_ref}/{p}");
            }
            // One entry per component (CycloneDX requires `affects` unique): a device the
            // advisory names under several products gets its versions in one entry.
            match e.1.iter_mut().find(|v| v["ref"] == json!(asset_ref)) {
                Some(entry) => {
                    if let Some(vs) = entry["versions"].as_array_mut() {
                        if !vs.contains(&version) {
                            vs.push(version);
                        }
                    }
                }
                None => e.1.push(json!({ "ref": asset_ref, "versions": [version] })),
            }
            e.2.push(format!(
                "{}: {} ({}, {})",
                x.address(),
                x.reason,
                x.confidence.words(),
                x.verdict.words()
            ));
        }
    }
    by.into_iter()
        .map(|((adv, cve), (rating, affects, reasons))| {
            let mut v = json!({
                "bom-ref": format!("vuln:{adv}:{cve}"),
                "id": cve,
                "references": [{ "id": adv, "source": { "name": "CSAF advisory" } }],
                "affects": affects,
                "properties": reasons
                    .into_iter()
                    .map(|r| json!({ "name": "otscout:match", "value": r }))
                    .collect::<Vec<_>>(),
            });
            if let Some((score, vector)) = rating {
                let method = if vector.starts_with("CVSS:3.1/") {
                    "CVSSv31"
                } else if vector.starts_with("CVSS:3.0/") {
                    "CVSSv3"
                } else if vector.starts_with("CVSS:4.0/") {
                    "CVSSv4"
                } else {
                    "CVSSv2"
                };
                v["ratings"] = json!([{ "score": score, "method": method, "vector": vector }]);
            }
            v
        })
        .collect()
}

fn component(a: &crate::inventory::merge::Asset) -> Value {
    let name = a
        .value(AssetField::Model)
        .or(a.value(AssetField::ProductName))
        .map_or_else(
            || match &a.path {
                Some(p) => format!("{} {p}", a.label()),
                None => a.label(),
            },
            str::to_owned,
        );
    // A fleet's sites may reuse addresses: the site keeps the reference unique. A
    // sub-asset's reference is its parent's with the path after a `/`.
    // A MAC-only asset is referenced by its MAC (`asset:mac:08:00:06:93:cf:32`).
    let key = match a.mac_key() {
        Some(m) => format!("mac:{m}"),
        None => a.ip.to_string(),
    };
    let mut bom_ref = match &a.site {
        Some(site) => format!("asset:{site}:{key}"),
        None => format!("asset:{key}"),
    };
    if let Some(p) = &a.path {
        bom_ref = format!("{bom_ref}/{p}");
    }
    let mut c = json!({
        "type": "device",
        "bom-ref": bom_ref,
        "name": name,
    });
    if let Some(m) = a.value(AssetField::Manufacturer) {
        c["manufacturer"] = json!({ "name": m });
    }
    if let Some(v) = a.value(AssetField::Firmware) {
        c["version"] = json!(v);
    }
    if let Some(v) = a.value(AssetField::CpeHardware) {
        c["cpe"] = json!(v);
    }
    if let Some(v) = a.value(AssetField::ProductName) {
        c["description"] = json!(v);
    }
    let mut props = Vec::new();
    if !a.mac_only() {
        props.push(json!({"name": "otscout:ip", "value": a.ip.to_string()}));
    }
    if let Some(site) = &a.site {
        props.push(json!({"name": "otscout:site", "value": site}));
    }
    if let Some(path) = &a.path {
        props.push(json!({"name": "otscout:path", "value": path}));
    }
    for field in [
        AssetField::Mac,
        AssetField::Hostname,
        AssetField::Serial,
        AssetField::Family,
        AssetField::DeviceType,
        AssetField::ProductCode,
        AssetField::Os,
        AssetField::Role,
        AssetField::Criticality,
        AssetField::Location,
        AssetField::Owner,
        AssetField::Zone,
        AssetField::CpeFirmware,
    ] {
        if let Some(v) = a.value(field) {
            props.push(json!({"name": format!("otscout:{field}"), "value": v}));
        }
    }
    for p in &a.protocols {
        props.push(json!({"name": "otscout:protocol", "value": protocol_name(*p)}));
    }
    for s in a.service_names() {
        props.push(json!({"name": "otscout:service", "value": s}));
    }
    for f in &a.flags {
        props.push(json!({"name": "otscout:flag", "value": f.detail}));
    }
    c["properties"] = Value::Array(props);
    // Modules behind the device are its parts: CycloneDX 1.6 nests a component's
    // sub-components in its own `components`.
    if !a.sub_assets.is_empty() {
        c["components"] = Value::Array(a.sub_assets.iter().map(component).collect());
    }
    c
}
