//! A station's Fox hello as an identity, and that identity as asset fields.
//!
//! Only the station's hello (`fox a 0 -1 fox hello`) describes the device; a client's
//! hello (`fox a 1 -1`) describes the workstation that sent it (captures/INDEX.md). The
//! host address a station reports inside its hello is often private (the JACE in
//! `fox_info.pcap` says 192.168.2.15 behind 106.68.88.119): it is an attribute, never
//! the asset's address. [`asset_fields`] and [`attributes`] are what merge folds from
//! the identity (through [`IdentityFacts`]).

use crate::wire::fox::Message;

use chrono::{DateTime, Utc};

pub use crate::inventory::FoxIdentity;
use crate::inventory::merge::AssetField;
use crate::inventory::{Facts, IdentityFacts};

/// The identity in a station's hello; `None` for any other message, and for a hello that
/// names nothing.
pub fn to_identity(m: &Message) -> Option<FoxIdentity> {
    if !m.is_station_hello() {
        return None;
    }
    let s = |k: &str| {
        m.str(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let id = FoxIdentity {
        fox_version: s("fox.version"),
        host_name: s("hostName"),
        host_address: s("hostAddress"),
        app_name: s("app.name"),
        app_version: s("app.version"),
        vm_name: s("vm.name"),
        vm_version: s("vm.version"),
        os_name: s("os.name"),
        os_version: s("os.version"),
        station_name: s("station.name"),
        brand_id: s("brandId"),
        time_zone: s("timeZone"),
        host_id: s("hostId"),
        lang: s("lang"),
        vm_uuid: s("vmUuid"),
    };
    // fox.version alone says only that Fox answered.
    let named = FoxIdentity {
        fox_version: None,
        ..id.clone()
    };
    (named != FoxIdentity::default()).then_some(id)
}

/// The Niagara generation from the application version: 3.x is Niagara AX, 4.x Niagara 4.
pub fn family(app_version: &str) -> Option<&'static str> {
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
pub fn asset_fields(id: &FoxIdentity) -> Vec<(AssetField, String, &'static str)> {
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
        if let Some(f) = family(v) {
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
pub fn attributes(id: &FoxIdentity) -> Vec<(String, String)> {
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

/// The fields and attributes above, each source naming the hello field it comes from.
impl IdentityFacts for FoxIdentity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, out: &mut Facts) {
        out.listed("fox station hello", asset_fields(self), attributes(self));
    }

    /// `Niagara <app name>` and the brand.
    fn rule_names(&self, out: &mut Vec<String>) {
        out.extend(self.app_name.iter().map(|a| format!("Niagara {a}")));
        out.extend(self.brand_id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::merge::AssetField;

    /// `fox_info.pcap` frame 6 (captures/INDEX.md), without the sysInfo object.
    const STATION: &[u8] = b"fox a 0 -1 fox hello\n{\n\
fox.version=s:1.0\nid=i:2\nhostName=s:192.168.2.15\nhostAddress=s:192.168.2.15\n\
app.name=s:Station\napp.version=s:3.5.41.1\nvm.name=s:J9\nvm.version=s:2.3\n\
os.name=s:QNX\nos.version=s:6.3.2\nstation.name=s:Legion_HQ_V4\nlang=s:en\n\
timeZone=s:Australia/Perth;28800000;0;null;null\nhostId=s:Qnx-NPM6-0000-1490-C30C\n\
vmUuid=s:11e4d864-cd0e-664a-0000-00000000b83b\nbrandId=s:vykon\n};;\n";

    #[test]
    fn the_jace_hello_maps_to_the_index_values() {
        let m = Message::decode_exact(STATION).unwrap();
        let id = to_identity(&m).unwrap();
        assert_eq!(id.station_name.as_deref(), Some("Legion_HQ_V4"));
        assert_eq!(id.app_version.as_deref(), Some("3.5.41.1"));
        assert_eq!(id.host_id.as_deref(), Some("Qnx-NPM6-0000-1490-C30C"));
        let f = asset_fields(&id);
        assert!(f.contains(&(AssetField::Manufacturer, "Tridium".into(), "brandId")));
        assert!(f.contains(&(AssetField::Os, "QNX 6.3.2".into(), "os.name")));
        assert!(f.contains(&(AssetField::Family, "Niagara AX".into(), "app.version")));
        assert!(f.contains(&(
            AssetField::ProductName,
            "Niagara Station".into(),
            "app.name"
        )));
        // hostName is an address: no hostname field.
        assert!(!f.iter().any(|(k, _, _)| *k == AssetField::Hostname));
        let a = attributes(&id);
        assert_eq!(a[0], ("fox.station_name".into(), "Legion_HQ_V4".into()));
        assert!(a.contains(&("fox.host_address".into(), "192.168.2.15".into())));
        let json = serde_json::to_string(&id).unwrap();
        assert!(json.contains("\"station_name\":\"Legion_HQ_V4\""), "{json}");
    }

    #[test]
    fn a_client_hello_or_an_empty_one_is_no_identity() {
        let client = Message::minimal_hello();
        assert_eq!(to_identity(&client), None);
        let empty =
            Message::decode_exact(b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0\n};;\n").unwrap();
        assert_eq!(to_identity(&empty), None);
    }
}
