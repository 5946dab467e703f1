//! Identity-to-asset-field mappings of the protocols added by issue 17 (Omron FINS,
//! Niagara Fox, PROFINET DCP): what merge folds from each identity, each field with the
//! attribute it comes from (its provenance). Pure functions; the protocol folders
//! re-export them (`protocols::<name>::identity::{asset_fields, attributes}`).

use super::merge::AssetField;
use super::normalize;
use super::{DcpIdentity, FinsIdentity, FoxIdentity};

/// The model's series (`CP1L` of `CP1L-EL20DR-D`, `CJ2M` of `CJ2M-CPU33`): the part
/// before the first hyphen, when there is one.
pub fn fins_family(model: &str) -> Option<String> {
    let (series, rest) = model.split_once('-')?;
    (!series.is_empty() && !rest.is_empty()).then(|| series.to_string())
}

/// The asset fields this identity sets, each with the attribute it comes from (for the
/// field's provenance).
///
/// The manufacturer is Omron: FINS is Omron's protocol and the model field names an
/// Omron controller; a third-party device answering 05 01 would still name its own model.
pub fn fins_asset_fields(id: &FinsIdentity) -> Vec<(AssetField, String, &'static str)> {
    let mut out = vec![
        (AssetField::Manufacturer, "Omron".to_string(), "protocol"),
        (AssetField::Model, id.model.clone(), "controller model"),
        (
            AssetField::DeviceType,
            "PLC".to_string(),
            "controller data read",
        ),
    ];
    if let Some(f) = fins_family(&id.model) {
        out.push((AssetField::Family, f, "controller model"));
    }
    if let Some(v) = &id.version {
        out.push((AssetField::Firmware, v.clone(), "controller version"));
    }
    out
}

/// Attributes beyond the asset fields (`fins.<name>`), in a stable order.
pub fn fins_attributes(id: &FinsIdentity) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push((format!("fins.{k}"), v));
        }
    };
    put(
        "versions",
        (id.versions.len() > 1).then(|| id.versions.join(" ")),
    );
    put("node", id.node.map(|n| n.to_string()));
    put(
        "program_area_size",
        id.program_area_size.map(|v| v.to_string()),
    );
    put("iom_size", id.iom_size.map(|v| v.to_string()));
    put("dm_words", id.dm_words.map(|v| v.to_string()));
    put(
        "timer_counter_size",
        id.timer_counter_size.map(|v| v.to_string()),
    );
    put(
        "expansion_dm_size",
        id.expansion_dm_size.map(|v| v.to_string()),
    );
    put("steps", id.steps.map(|v| v.to_string()));
    put("memory_card", id.memory_card.clone());
    put(
        "memory_card_size",
        id.memory_card_size.map(|v| v.to_string()),
    );
    out
}

/// The Niagara generation from the application version: 3.x is Niagara AX, 4.x Niagara 4.
pub fn fox_family(app_version: &str) -> Option<&'static str> {
    match app_version.split('.').next()? {
        "3" => Some("Niagara AX"),
        "4" => Some("Niagara 4"),
        _ => None,
    }
}

/// The asset fields this identity sets, each with the hello field it comes from.
///
/// The manufacturer is Tridium (the Niagara framework) only for Tridium's own brands
/// (`vykon`, `tridium`); OEM brands (`distech`, `honeywell`, ...) stay attributes, as the
/// brand names the reseller, not always the maker of the hardware.
pub fn fox_asset_fields(id: &FoxIdentity) -> Vec<(AssetField, String, &'static str)> {
    let mut out = Vec::new();
    if let Some(b) = &id.brand_id {
        if matches!(b.to_ascii_lowercase().as_str(), "vykon" | "tridium") {
            out.push((AssetField::Manufacturer, "Tridium".to_string(), "brandId"));
        }
    }
    if let Some(a) = &id.app_name {
        out.push((AssetField::ProductName, format!("Niagara {a}"), "app.name"));
    }
    if let Some(v) = &id.app_version {
        out.push((AssetField::Firmware, v.clone(), "app.version"));
        if let Some(f) = fox_family(v) {
            out.push((AssetField::Family, f.to_string(), "app.version"));
        }
    }
    match (&id.os_name, &id.os_version) {
        (Some(n), Some(v)) => out.push((AssetField::Os, format!("{n} {v}"), "os.name")),
        (Some(n), None) => out.push((AssetField::Os, n.clone(), "os.name")),
        _ => {}
    }
    // A host name that is an address names nothing (nmap's fox-info skips it too).
    if let Some(h) = &id.host_name {
        if h.parse::<std::net::IpAddr>().is_err() {
            out.push((AssetField::Hostname, h.clone(), "hostName"));
        }
    }
    out
}

/// Attributes beyond the asset fields (`fox.<name>`), in a stable order.
pub fn fox_attributes(id: &FoxIdentity) -> Vec<(String, String)> {
    let pairs = [
        ("station_name", &id.station_name),
        ("fox_version", &id.fox_version),
        ("host_address", &id.host_address),
        ("host_id", &id.host_id),
        ("brand_id", &id.brand_id),
        ("vm", &id.vm_name),
        ("vm_version", &id.vm_version),
        ("time_zone", &id.time_zone),
        ("lang", &id.lang),
        ("vm_uuid", &id.vm_uuid),
    ];
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (format!("fox.{k}"), v.clone())))
        .collect()
}

/// The asset fields this identity sets, each with the block it comes from.
pub fn dcp_asset_fields(id: &DcpIdentity) -> Vec<(AssetField, String, &'static str)> {
    let mut out = vec![(AssetField::Mac, id.mac.clone(), "ethernet source")];
    if let Some(v) = id.vendor_id {
        // PROFINET vendor ids are PI's list, the same ids S7 uses (0x002a Siemens).
        let name = normalize::s7_manufacturer(v)
            .map_or_else(|| format!("PROFINET vendor {v:#06x}"), str::to_string);
        out.push((AssetField::Manufacturer, name, "vendor id"));
    }
    if let Some(n) = &id.name_of_station {
        out.push((AssetField::Hostname, n.clone(), "name of station"));
    }
    if let Some(v) = &id.vendor_value {
        out.push((AssetField::ProductName, v.clone(), "device vendor value"));
    }
    if let (Some(v), Some(d)) = (id.vendor_id, id.device_id) {
        out.push((
            AssetField::ProductCode,
            format!("{v:#06x}/{d:#06x}"),
            "vendor id/device id",
        ));
    }
    if !id.roles.is_empty() {
        out.push((
            AssetField::DeviceType,
            format!("PROFINET {}", id.roles.join(", ")),
            "device role",
        ));
    }
    out
}

/// Attributes beyond the asset fields (`dcp.<name>`).
pub fn dcp_attributes(id: &DcpIdentity) -> Vec<(String, String)> {
    [
        ("ip", &id.ip),
        ("netmask", &id.netmask),
        ("gateway", &id.gateway),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (format!("dcp.{k}"), v.clone())))
    .collect()
}
