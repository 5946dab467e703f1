//! A station's Fox hello as an identity, and that identity as asset fields.
//!
//! Only the station's hello (`fox a 0 -1 fox hello`) describes the device; a client's
//! hello (`fox a 1 -1`) describes the workstation that sent it (captures/INDEX.md). The
//! host address a station reports inside its hello is often private (the JACE in
//! `fox_info.pcap` says 192.168.2.15 behind 106.68.88.119): it is an attribute, never
//! the asset's address. The inventory `Identity` variant comes with phase 2.

use crate::wire::fox::Message;

pub use crate::inventory::FoxIdentity;
pub use crate::inventory::identity_fields::{
    fox_asset_fields as asset_fields, fox_attributes as attributes, fox_family as family,
};

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
