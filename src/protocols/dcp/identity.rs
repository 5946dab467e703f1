//! A DCP Identify response (or Hello) as an identity, and that identity as asset fields.
//!
//! # How merge matches MAC-only assets
//! (implemented in [`crate::inventory::mac`]; docs/report-schema.md, "MAC-only assets")
//! DCP observations carry no IP: their endpoint is the device's MAC (the Ethernet source
//! of the response). Merge keys them as MAC-only assets (`mac:08:00:06:93:cf:32`) and
//! joins one to an IP asset only on evidence from the same link, never on the address
//! the DCP payload states:
//! 1. an IP asset whose MAC field came from a local-link source (`MacBasis::EthernetLocal`
//!    or an ARP sender on the same capture) equal to the DCP MAC absorbs the MAC-only
//!    asset, keeping the DCP fields' sources;
//! 2. the IP suite inside the Identify response (`dcp.ip`) is an attribute and a hint: it
//!    never creates an IP asset and never joins by itself (a Set may have changed it
//!    since, as in `ChangeIPUsingDCP.pcap`, where the switch's ARPs show 192.168.0.10
//!    after the response said 192.168.0.6; the ARP joins the MAC to .10 by rule 1);
//! 3. a routed MAC (`EthernetRouted`, a router's) never joins; two IP assets with the same
//!    local MAC (a device with two addresses) both get the DCP fields, each with the
//!    join as its provenance;
//! 4. with no join the MAC-only asset stays in the report as its own asset, keyed by MAC.
//!
//! Rule 1 is restricted to evidence from the same capture file as the DCP frame.
use crate::wire::dcp::{Identity, device_roles};

use chrono::{DateTime, Utc};

pub use crate::inventory::DcpIdentity;
use crate::inventory::merge::AssetField;
use crate::inventory::{Facts, IdentityFacts};

/// Lowercase colon-separated MAC.
pub fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The identity in decoded blocks, for the device at `src_mac`; `None` when the blocks
/// name nothing.
pub fn to_identity(src_mac: [u8; 6], id: &Identity) -> Option<DcpIdentity> {
    let named = id.name_of_station.is_some()
        || id.vendor_value.is_some()
        || id.vendor_id.is_some()
        || id.ip.is_some();
    if !named {
        return None;
    }
    let clean = |s: &Option<String>| {
        s.as_ref()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some(DcpIdentity {
        mac: mac_str(src_mac),
        name_of_station: clean(&id.name_of_station),
        vendor_value: clean(&id.vendor_value),
        vendor_id: id.vendor_id,
        device_id: id.device_id,
        device_role: id.device_role,
        roles: id
            .device_role
            .map(device_roles)
            .unwrap_or_default()
            .into_iter()
            .map(String::from)
            .collect(),
        ip: id.ip.map(|p| p.address.to_string()),
        netmask: id.ip.map(|p| p.mask.to_string()),
        gateway: id.ip.map(|p| p.gateway.to_string()),
    })
}

/// The asset fields this identity sets, each with the block it comes from.
pub fn asset_fields(id: &DcpIdentity) -> Vec<(AssetField, String, &'static str)> {
    let mut out = vec![(AssetField::Mac, id.mac.clone(), "ethernet source")];
    if let Some(v) = id.vendor_id {
        // PROFINET vendor ids are PI's list, the same ids S7 uses (0x002a Siemens).
        let name = crate::data::profinet::vendor_name(v)
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
pub fn attributes(id: &DcpIdentity) -> Vec<(String, String)> {
    [
        ("ip", &id.ip),
        ("netmask", &id.netmask),
        ("gateway", &id.gateway),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (format!("dcp.{k}"), v.clone())))
    .collect()
}

/// The fields and attributes above, each source naming the DCP block it comes from.
impl IdentityFacts for DcpIdentity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, out: &mut Facts) {
        out.listed("profinet dcp", asset_fields(self), attributes(self));
    }

    /// The vendor id's registered name and the DeviceVendorValue.
    fn rule_names(&self, out: &mut Vec<String>) {
        out.extend(
            self.vendor_id
                .and_then(crate::data::profinet::vendor_name)
                .map(str::to_owned),
        );
        out.extend(self.vendor_value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::merge::AssetField;
    use crate::wire::dcp::Pdu;

    /// `ChangeIPUsingDCP.pcap` frame 2 after the EtherType (captures/INDEX.md).
    const F2: &str = "feff 05 01 01000001 0000 005e \
        0205 001c 0000 0101 0102 0201 0202 0203 0204 0205 033d 0501 0502 0503 0504 ffff \
        0201 0005 0000 494e43 00 \
        0202 000b 0000 58323038 2d424f5244 00 \
        0203 0006 0000 002a 0a01 \
        0204 0004 0000 0100 \
        0102 000e 0001 c0a80006 ffffff00 c0a80001";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_x208_maps_to_the_index_values() {
        let p = Pdu::decode(&hex(F2)).unwrap();
        let id = to_identity([0x08, 0, 0x06, 0x93, 0xcf, 0x32], &p.identity().unwrap()).unwrap();
        assert_eq!(id.mac, "08:00:06:93:cf:32");
        assert_eq!(id.name_of_station.as_deref(), Some("X208-BORD"));
        assert_eq!(id.vendor_value.as_deref(), Some("INC"));
        assert_eq!((id.vendor_id, id.device_id), (Some(0x002a), Some(0x0a01)));
        assert_eq!(id.roles, ["io-device"]);
        assert_eq!(id.ip.as_deref(), Some("192.168.0.6"));
        let f = asset_fields(&id);
        assert!(f.contains(&(AssetField::Manufacturer, "Siemens".into(), "vendor id")));
        assert!(f.contains(&(AssetField::Hostname, "X208-BORD".into(), "name of station")));
        assert!(f.contains(&(
            AssetField::ProductCode,
            "0x002a/0x0a01".into(),
            "vendor id/device id"
        )));
        assert_eq!(attributes(&id)[0], ("dcp.ip".into(), "192.168.0.6".into()));
    }
}
