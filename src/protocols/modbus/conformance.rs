//! The conformance spec of Modbus Read Device Identification (MAP 6.21): tshark's
//! `modbus.*` fields against otscout's [`ModbusIdentity`](crate::inventory::Identity)
//! (see [`crate::protocols::conformance`]).

use crate::inventory::{Identity, Protocol};
use crate::protocols::conformance::{Frame, Part, PortPref, Spec, nth_num, num, parse_num, put};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "modbus",
    filter: "modbus.conformity_level",
    fields: &[
        "mbtcp.unit_id",
        "modbus.conformity_level",
        "modbus.num_objects",
        "modbus.object_id",
        "modbus.objects_len",
        "modbus.object_str_value",
        "modbus.object_value",
    ],
    tshark: modbus_tshark,
    otscout: modbus_otscout,
    protocols: &[Protocol::Modbus],
    tcp: Some(PortPref {
        name: "mbtcp.tcp.port",
        default: &[502],
    }),
    udp: Some(PortPref {
        name: "mbudp.udp.port",
        default: &[502],
    }),
    prefs: &["mbtcp.desegment:TRUE"],
    heuristics: &[],
    tree: &[],
}];

/// Object fields are named `object 0x00`.. so the table sorts them by id.
fn object_field(id: u8) -> String {
    format!("object {id:#04x}")
}

/// One FC 43/14 response frame. tshark puts objects 0-6 in `modbus.object_str_value`
/// (ASCII) and the others in `modbus.object_value` (bytes, only when their length is not
/// zero; packet-mbtcp.c); otscout keeps every value as text, invalid UTF-8 replaced. A
/// reply with no objects is no identity on either side (issue 14 reports it as "answered,
/// no identity objects"). The unit is the reply's (`mbtcp.unit_id`).
///
/// A frame may hold several ADUs (a pipelining client's replies coalesced): when each
/// ADU in it is a device identification reply (as many unit ids as object counts), the
/// flat field lists are cut per ADU by `modbus.num_objects`; in a frame that mixes
/// function codes the unit ids cannot be matched to the replies, and the objects go to
/// the frame's first unit.
fn modbus_tshark(f: &Frame) -> Vec<Part> {
    let ids = f.get("modbus.object_id");
    if ids.is_empty() {
        return Vec::new();
    }
    let units = f.get("mbtcp.unit_id");
    let counts: Vec<usize> = f
        .get("modbus.num_objects")
        .iter()
        .filter_map(|s| parse_num(s))
        .map(|n| n as usize)
        .collect();
    // (unit, number of objects) per ADU; the last ADU takes what is left.
    let adus: Vec<(Option<&String>, usize)> = if counts.len() > 1 && units.len() == counts.len() {
        units.iter().map(Some).zip(counts.iter().copied()).collect()
    } else {
        vec![(units.first(), ids.len())]
    };
    let lens = f.get("modbus.objects_len");
    let mut strs = f.get("modbus.object_str_value").iter();
    let mut bytes = f.get("modbus.object_value").iter();
    let mut next = 0;
    let mut parts = Vec::new();
    for (adu, (unit, count)) in adus.iter().enumerate() {
        let mut p = Part {
            key: unit.and_then(|s| parse_num(s)).map(num).unwrap_or_default(),
            ..Part::default()
        };
        put(
            &mut p,
            "conformity_level",
            nth_num(f, "modbus.conformity_level", adu, |v| format!("{v:#04x}")),
        );
        let take = if adu + 1 == adus.len() {
            ids.len().saturating_sub(next)
        } else {
            *count
        };
        for (i, id) in ids.iter().enumerate().skip(next).take(take) {
            let Some(id) = parse_num(id).and_then(|v| u8::try_from(v).ok()) else {
                continue;
            };
            let len = lens.get(i).and_then(|s| parse_num(s)).unwrap_or(1);
            let value = if id < 7 {
                strs.next().cloned()
            } else if len == 0 {
                Some(String::new())
            } else {
                bytes.next().map(|h| {
                    String::from_utf8_lossy(&hex::decode(h.replace(':', "")).unwrap_or_default())
                        .into_owned()
                })
            };
            p.fields
                .entry(object_field(id))
                .or_insert_with(|| value.unwrap_or_else(|| "(no value)".into()));
        }
        next += take;
        if p.fields.keys().any(|k| k.starts_with("object ")) {
            parts.push(p);
        }
    }
    parts
}

fn modbus_otscout(id: &Identity) -> Option<Part> {
    let Identity::Modbus(m) = id else {
        return None;
    };
    if m.objects.is_empty() {
        return None;
    }
    let mut p = Part {
        key: num(m.unit_id.into()),
        ..Part::default()
    };
    put(
        &mut p,
        "conformity_level",
        m.conformity_level.map(|v| format!("{v:#04x}")),
    );
    for (id, v) in &m.objects {
        p.fields.insert(object_field(*id), v.clone());
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

    #[test]
    fn modbus_private_objects_come_from_the_bytes_field_and_empty_ones_have_no_value() {
        // frame 13 of pymodbus-client-vs-pymodbus.pcap, shortened: ids 0 and 0x80 as
        // tshark 4.0 prints them, plus an empty private object 0x81.
        let f = frame(&[
            ("mbtcp.unit_id", &["1"]),
            ("modbus.conformity_level", &["0x83"]),
            ("modbus.object_id", &["0", "128", "129"]),
            ("modbus.objects_len", &["4", "2", "0"]),
            ("modbus.object_str_value", &["Acme"]),
            ("modbus.object_value", &["7879"]),
        ]);
        let p = &modbus_tshark(&f)[0];
        assert_eq!(p.key, "1");
        assert_eq!(p.fields["conformity_level"], "0x83");
        assert_eq!(p.fields["object 0x00"], "Acme");
        assert_eq!(p.fields["object 0x80"], "xy");
        assert_eq!(p.fields["object 0x81"], "");
    }

    #[test]
    fn modbus_objects_of_two_replies_in_one_frame_go_to_their_own_units() {
        // Two FC 43/14 replies coalesced in one TCP segment, as tshark 4.0 prints them.
        let f = frame(&[
            ("mbtcp.unit_id", &["1", "2"]),
            ("modbus.conformity_level", &["0x83", "0x81"]),
            ("modbus.num_objects", &["2", "1"]),
            ("modbus.object_id", &["0", "1", "0"]),
            ("modbus.objects_len", &["8", "2", "8"]),
            ("modbus.object_str_value", &["Unit One", "U1", "Unit Two"]),
        ]);
        let p = modbus_tshark(&f);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].key, "1");
        assert_eq!(p[0].fields["object 0x01"], "U1");
        assert_eq!(p[1].key, "2");
        assert_eq!(p[1].fields["conformity_level"], "0x81");
        assert_eq!(p[1].fields["object 0x00"], "Unit Two");
        assert!(!p[1].fields.contains_key("object 0x01"));
    }
}
