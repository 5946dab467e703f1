//! The conformance spec of the Niagara Fox station hello (`fox a 0 -1 fox hello`).
//!
//! tshark 4.0 has no Fox dissector (`tshark -G fields` lists none), so the oracle is
//! weaker than for the other protocols: tshark selects the frames (its display filter
//! matches the station's hello in the TCP payload) and prints `tcp.payload`, and this
//! file reads the hello's `key=type:value` lines from those bytes with a reader of its
//! own, independent of `otscout_wire::fox`. What is checked is that otscout's passive
//! path (flow, framing, pairing, fields) gives the values the bytes hold.
//!
//! Only the station's hello describes the device (captures/INDEX.md); one station per
//! address, so the key is empty.

use crate::inventory::{Identity, Protocol};
use crate::protocols::conformance::{Frame, Part, Spec, put};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "fox",
    filter: "tcp.payload contains \"fox a 0 -1 fox hello\"",
    fields: &["tcp.payload"],
    tshark: fox_tshark,
    otscout: fox_otscout,
    protocols: &[Protocol::Fox],
    tcp: None,
    udp: None,
    prefs: &[],
    heuristics: &[],
    tree: &[],
}];

/// Hello keys and the field names both sides use.
const KEYS: [(&str, &str); 15] = [
    ("fox.version", "fox_version"),
    ("hostName", "host_name"),
    ("hostAddress", "host_address"),
    ("app.name", "app_name"),
    ("app.version", "app_version"),
    ("vm.name", "vm_name"),
    ("vm.version", "vm_version"),
    ("os.name", "os_name"),
    ("os.version", "os_version"),
    ("station.name", "station_name"),
    ("brandId", "brand_id"),
    ("timeZone", "time_zone"),
    ("hostId", "host_id"),
    ("lang", "lang"),
    ("vmUuid", "vm_uuid"),
];

/// The station hello in one frame's TCP payload (hex, as tshark prints it): the lines
/// `key=t:value` between the `{` after the command line and the closing `};;`; the
/// type letter is dropped, blank values are absent (as otscout leaves them out).
fn fox_tshark(f: &Frame) -> Vec<Part> {
    let Some(bytes) = f
        .get("tcp.payload")
        .first()
        .and_then(|h| hex::decode(h.replace(':', "")).ok())
    else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let Some(body) = text.split_once("fox a 0 -1 fox hello\n{\n").map(|(_, b)| b) else {
        return Vec::new();
    };
    let mut p = Part::default();
    for line in body.lines() {
        if line.starts_with('}') {
            break;
        }
        let Some((key, typed)) = line.split_once('=') else {
            continue;
        };
        let Some((_, value)) = typed.split_once(':') else {
            continue;
        };
        if let Some((_, name)) = KEYS.iter().find(|(k, _)| *k == key) {
            let v = value.trim();
            if !v.is_empty() {
                p.fields.entry((*name).to_string()).or_insert(v.to_string());
            }
        }
    }
    if p.fields.is_empty() {
        return Vec::new();
    }
    vec![p]
}

fn fox_otscout(id: &Identity) -> Option<Part> {
    let Identity::Fox(x) = id else {
        return None;
    };
    let mut p = Part::default();
    for (name, v) in [
        ("fox_version", &x.fox_version),
        ("host_name", &x.host_name),
        ("host_address", &x.host_address),
        ("app_name", &x.app_name),
        ("app_version", &x.app_version),
        ("vm_name", &x.vm_name),
        ("vm_version", &x.vm_version),
        ("os_name", &x.os_name),
        ("os_version", &x.os_version),
        ("station_name", &x.station_name),
        ("brand_id", &x.brand_id),
        ("time_zone", &x.time_zone),
        ("host_id", &x.host_id),
        ("lang", &x.lang),
        ("vm_uuid", &x.vm_uuid),
    ] {
        put(&mut p, name, v.clone());
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

    #[test]
    fn the_station_hello_is_read_from_the_payload_and_a_client_hello_is_not() {
        let station = hex::encode(
            b"fox a 0 -1 fox hello\n{\nfox.version=s:1.0\nid=i:2\nstation.name=s:Legion_HQ_V4\nlang=s:\n};;\n",
        );
        let p = &fox_tshark(&frame(&[("tcp.payload", &[station.as_str()])]))[0];
        assert_eq!(p.fields["fox_version"], "1.0");
        assert_eq!(p.fields["station_name"], "Legion_HQ_V4");
        assert!(!p.fields.contains_key("lang"));
        let client = hex::encode(b"fox a 1 -1 fox hello\n{\nfox.version=s:1.0\n};;\n");
        assert!(fox_tshark(&frame(&[("tcp.payload", &[client.as_str()])])).is_empty());
    }
}
