//! What is compared, protocol by protocol: one [`Spec`] per kind of identity, each naming
//! the tshark display filter and fields that carry it and mapping both tshark's fields and
//! otscout's [`Identity`] into the same flat [`Part`] (field name to rendered value).
//!
//! Adding a protocol is one entry in [`SPECS`] (BACnet, OPC UA, FINS, Fox and DCP, once
//! otscout decodes them: issues 16 and 17).
//!
//! Both sides render values with the same helpers ([`num`], [`hex16`], [`serial`]), and
//! strings are compared as otscout normalises them (documented per field below), so a
//! difference in the table is a difference in what was decoded, not in how it is printed.

use std::collections::BTreeMap;

use super::tshark::Frame;
use crate::inventory::{EnipIdentity, EnipIdentitySource, Identity, Protocol, S7Identity};

/// One identity (or one frame's share of it) as flat fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// Which identity of the device this is: the Modbus unit id, the ENIP serial, empty
    /// for S7 (one CPU per address).
    pub key: String,
    pub fields: BTreeMap<String, String>,
}

/// How one kind of identity is found in tshark's output and in otscout's.
#[derive(Debug)]
pub struct Spec {
    /// The name in the table and in the explanations file.
    pub name: &'static str,
    /// tshark display filter for the frames that may carry it (a pre-selection: `tshark`
    /// does the real selection by which fields are present).
    pub filter: &'static str,
    /// The tshark fields `tshark` reads.
    pub fields: &'static [&'static str],
    /// One tshark frame to the identity parts it carries (several for a List Identity
    /// reply with several items).
    pub tshark: fn(&Frame) -> Vec<Part>,
    /// One otscout identity to a part, when it is this spec's kind.
    pub otscout: fn(&Identity) -> Option<Part>,
    /// otscout protocols whose services on a port outside `tcp`/`udp`'s defaults are
    /// added to tshark's port preference.
    pub protocols: &'static [Protocol],
    /// tshark's TCP port preference for the dissector, when it runs over TCP.
    pub tcp: Option<PortPref>,
    /// tshark's UDP port preference for the dissector, when it runs over UDP.
    pub udp: Option<PortPref>,
}

/// A dissector's port preference (`-o mbtcp.tcp.port:502,5020`) and its default value.
///
/// A port preference rather than a decode-as (`-d tcp.port==5020,mbtcp`): Wireshark's
/// Modbus/TCP dissector tells a query from a response by whether the source or the
/// destination port is in this preference (`classify_mbtcp_packet`, packet-mbtcp.c), so
/// under a decode-as it prints "Unable to classify as query or response" and no
/// device identification objects. The preference is a list, so it must repeat the
/// default ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPref {
    pub name: &'static str,
    pub default: &'static [u16],
}

/// The identities compared today.
pub static SPECS: &[Spec] = &[
    Spec {
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
    },
    Spec {
        name: "enip.list_identity",
        filter: "enip.lir.vendor",
        fields: &[
            "enip.lir.vendor",
            "enip.lir.devtype",
            "enip.lir.prodcode",
            "enip.lir.revision",
            "enip.lir.status",
            "enip.lir.serial",
            "enip.lir.name",
            "enip.lir.state",
            "enip.encapver",
            "enip.sinaddr",
            "enip.sinport",
        ],
        tshark: list_identity_tshark,
        otscout: list_identity_otscout,
        protocols: &[Protocol::Enip, Protocol::Cip],
        tcp: Some(PortPref {
            name: "enip.tcp.port",
            default: &[44818],
        }),
        udp: Some(PortPref {
            name: "enip.udp.port",
            default: &[44818],
        }),
    },
    Spec {
        name: "cip.identity",
        filter: "cip.id.vendor_id && cip.id.serial_number",
        fields: &[
            "cip.id.vendor_id",
            "cip.id.device_type",
            "cip.id.product_code",
            "cip.id.major_rev",
            "cip.id.minor_rev",
            "cip.id.status",
            "cip.id.serial_number",
            "cip.id.product_name",
            "cip.id.state",
        ],
        tshark: cip_identity_tshark,
        otscout: cip_identity_otscout,
        protocols: &[Protocol::Enip, Protocol::Cip],
        tcp: Some(PortPref {
            name: "enip.tcp.port",
            default: &[44818],
        }),
        udp: Some(PortPref {
            name: "enip.udp.port",
            default: &[44818],
        }),
    },
    Spec {
        name: "s7",
        filter: "s7comm.szl.xy11.0001.index || s7comm.szl.001c.000x.index",
        fields: &[
            "s7comm.szl.xy11.0001.index",
            "s7comm.szl.xy11.0001.anz",
            "s7comm.szl.xy11.0001.ausbg",
            "s7comm.szl.xy11.0001.ausbe",
            "s7comm.szl.001c.0001.name",
            "s7comm.szl.001c.0002.name",
            "s7comm.szl.001c.0003.tag",
            "s7comm.szl.001c.0004.copyright",
            "s7comm.szl.001c.0005.serialn",
            "s7comm.szl.001c.0007.cputypname",
            "s7comm.szl.001c.0008.snmcmmc",
            "s7comm.szl.001c.0009.manufacturer_id",
            "s7comm.szl.001c.0009.profile_id",
            "s7comm.szl.001c.0009.profile_spec_typ",
            "s7comm.szl.001c.000a.oem_copyright_string",
            "s7comm.szl.001c.000b.loc_id",
        ],
        tshark: s7_tshark,
        otscout: s7_otscout,
        protocols: &[Protocol::S7],
        tcp: Some(PortPref {
            name: "tpkt.tcp.port",
            default: &[102],
        }),
        udp: None,
    },
    Spec {
        name: "opcua",
        // GetEndpoints and CreateSession answers carry the server's application description
        // in every endpoint.
        filter: "opcua.servicenodeid.numeric == 431 || opcua.servicenodeid.numeric == 464",
        fields: &["opcua.ApplicationUri", "opcua.ProductUri"],
        tshark: opcua_tshark,
        otscout: opcua_otscout,
        protocols: &[Protocol::Opcua],
        tcp: Some(PortPref {
            name: "opcua.tcp.port",
            default: &[4840],
        }),
        udp: None,
    },
];

// ----- OPC UA GetEndpoints / CreateSession (OPC 10000-4, 5.4.4 and 5.6.2) -----

/// The application of the first endpoint (tshark lists one per endpoint, all the same
/// server's); a null ProductUri is an empty field to tshark and absent to otscout.
fn opcua_tshark(f: &Frame) -> Vec<Part> {
    let mut p = Part::default();
    let first = |field: &str| {
        f.get(field)
            .first()
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty())
    };
    put(&mut p, "application_uri", first("opcua.ApplicationUri"));
    put(&mut p, "product_uri", first("opcua.ProductUri"));
    if p.fields.is_empty() {
        return Vec::new();
    }
    vec![p]
}

fn opcua_otscout(id: &Identity) -> Option<Part> {
    let Identity::Opcua(u) = id else {
        return None;
    };
    let mut p = Part::default();
    put(&mut p, "application_uri", u.application_uri.clone());
    put(
        &mut p,
        "product_uri",
        u.product_uri.clone().filter(|s| !s.is_empty()),
    );
    Some(p)
}

/// A number as tshark prints it (`12`, `0x000c`), or `None`.
pub fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Decimal.
pub fn num(v: u64) -> String {
    v.to_string()
}

/// `0x002a`.
pub fn hex16(v: u64) -> String {
    format!("{v:#06x}")
}

/// `0x00524d8e`.
pub fn serial(v: u64) -> String {
    format!("{v:#010x}")
}

/// The ENIP/CIP revision `major.minor`.
fn revision(major: u64, minor: u64) -> String {
    format!("{major}.{minor}")
}

/// A fixed-width S7 string as otscout keeps it: cut at the first NUL, and (order numbers)
/// its space padding trimmed. The S7 callers also leave blank strings out, as otscout's
/// `non_empty` does; ENIP and Modbus strings are compared as tshark prints them.
fn text(s: &str, trim_end_spaces: bool) -> String {
    let s = s.split('\0').next().unwrap_or("");
    if trim_end_spaces {
        s.trim_end_matches(' ').to_string()
    } else {
        s.to_string()
    }
}

fn put(p: &mut Part, field: &str, v: Option<String>) {
    if let Some(v) = v {
        p.fields.insert(field.to_string(), v);
    }
}

/// The i-th value of a field, parsed as a number and rendered with `r`.
fn nth_num(f: &Frame, field: &str, i: usize, r: fn(u64) -> String) -> Option<String> {
    f.get(field).get(i).and_then(|s| parse_num(s)).map(r)
}

// ----- Modbus Read Device Identification (MAP 6.21) -----

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

// ----- EtherNet/IP List Identity (ODVA Vol. 2, 2-4.3) and CIP Identity (Vol. 1, 5-2) -----

/// The fields common to both ENIP sources, from otscout.
fn enip_common(e: &EnipIdentity) -> Part {
    let mut p = Part {
        key: serial(e.serial.into()),
        ..Part::default()
    };
    let f = &mut p.fields;
    f.insert("vendor_id".into(), num(e.vendor_id.into()));
    f.insert("device_type".into(), num(e.device_type.into()));
    f.insert("product_code".into(), num(e.product_code.into()));
    f.insert(
        "revision".into(),
        revision(e.revision_major.into(), e.revision_minor.into()),
    );
    f.insert("status".into(), hex16(e.status.into()));
    f.insert("serial".into(), serial(e.serial.into()));
    f.insert("product_name".into(), e.product_name.clone());
    put(&mut p, "state", e.state.map(|s| num(s.into())));
    p
}

/// A List Identity reply: one part per identity item. tshark reads the revision as one
/// big-endian word (bytes `04 03` are 1027): major is its high byte.
fn list_identity_tshark(f: &Frame) -> Vec<Part> {
    let n = f.get("enip.lir.vendor").len();
    (0..n)
        .map(|i| {
            let mut p = Part {
                key: nth_num(f, "enip.lir.serial", i, serial).unwrap_or_default(),
                ..Part::default()
            };
            put(&mut p, "vendor_id", nth_num(f, "enip.lir.vendor", i, num));
            put(
                &mut p,
                "device_type",
                nth_num(f, "enip.lir.devtype", i, num),
            );
            put(
                &mut p,
                "product_code",
                nth_num(f, "enip.lir.prodcode", i, num),
            );
            put(
                &mut p,
                "revision",
                f.get("enip.lir.revision")
                    .get(i)
                    .and_then(|s| parse_num(s))
                    .map(|r| revision(r >> 8, r & 0xff)),
            );
            put(&mut p, "status", nth_num(f, "enip.lir.status", i, hex16));
            put(&mut p, "serial", nth_num(f, "enip.lir.serial", i, serial));
            put(
                &mut p,
                "product_name",
                f.get("enip.lir.name").get(i).cloned(),
            );
            put(&mut p, "state", nth_num(f, "enip.lir.state", i, num));
            put(
                &mut p,
                "encapsulation_version",
                nth_num(f, "enip.encapver", i, num),
            );
            let addr = f.get("enip.sinaddr").get(i);
            let port = f.get("enip.sinport").get(i).and_then(|s| parse_num(s));
            put(
                &mut p,
                "socket_addr",
                addr.zip(port).map(|(a, p)| format!("{a}:{p}")),
            );
            p
        })
        .collect()
}

fn list_identity_otscout(id: &Identity) -> Option<Part> {
    let Identity::Enip(e) = id else {
        return None;
    };
    if e.source != EnipIdentitySource::ListIdentity {
        return None;
    }
    let mut p = enip_common(e);
    put(
        &mut p,
        "encapsulation_version",
        e.encapsulation_version.map(|v| num(v.into())),
    );
    put(&mut p, "socket_addr", e.socket_addr.map(|a| a.to_string()));
    Some(p)
}

/// A Get_Attributes_All reply that tshark paired with a request to the Identity object
/// (it prints `cip.id.*` only then).
fn cip_identity_tshark(f: &Frame) -> Vec<Part> {
    let n = f.get("cip.id.serial_number").len();
    (0..n)
        .map(|i| {
            let mut p = Part {
                key: nth_num(f, "cip.id.serial_number", i, serial).unwrap_or_default(),
                ..Part::default()
            };
            put(&mut p, "vendor_id", nth_num(f, "cip.id.vendor_id", i, num));
            put(
                &mut p,
                "device_type",
                nth_num(f, "cip.id.device_type", i, num),
            );
            put(
                &mut p,
                "product_code",
                nth_num(f, "cip.id.product_code", i, num),
            );
            let major = f.get("cip.id.major_rev").get(i).and_then(|s| parse_num(s));
            let minor = f.get("cip.id.minor_rev").get(i).and_then(|s| parse_num(s));
            put(
                &mut p,
                "revision",
                major.zip(minor).map(|(a, b)| revision(a, b)),
            );
            put(&mut p, "status", nth_num(f, "cip.id.status", i, hex16));
            put(
                &mut p,
                "serial",
                nth_num(f, "cip.id.serial_number", i, serial),
            );
            put(
                &mut p,
                "product_name",
                f.get("cip.id.product_name").get(i).cloned(),
            );
            put(&mut p, "state", nth_num(f, "cip.id.state", i, num));
            p
        })
        .collect()
}

fn cip_identity_otscout(id: &Identity) -> Option<Part> {
    let Identity::Enip(e) = id else {
        return None;
    };
    (e.source == EnipIdentitySource::CipGetAttributesAll).then(|| enip_common(e))
}

// ----- S7 SZL 0x0011 / 0x001C (Siemens, System Software for S7-300/400, chapter 33) -----

/// Firmware `V3.2.6` from Ausbg 0x5603 / Ausbe 0x0206 (the letter is Ausbg's high byte);
/// `None` when that byte is not `V`.
fn s7_version(ausbg: u64, ausbe: u64) -> Option<String> {
    (ausbg >> 8 == u64::from(b'V'))
        .then(|| format!("V{}.{}.{}", ausbg & 0xff, (ausbe >> 8) & 0xff, ausbe & 0xff))
}

/// An SZL answer tshark reassembled (it stitches "more follows" pieces itself). Module
/// identification records: index 1 order number, 6 hardware order number (both with their
/// space padding trimmed), 7 firmware, 0x81 boot loader (as a version, or `0xAAAA/0xBBBB`
/// when not one). Component identification: the 32-byte texts cut at the NUL; blank
/// strings are absent, as otscout leaves them out.
fn s7_tshark(f: &Frame) -> Vec<Part> {
    let mut p = Part::default();
    let idx = f.get("s7comm.szl.xy11.0001.index");
    for (i, index) in idx.iter().enumerate() {
        let ausbg = f
            .get("s7comm.szl.xy11.0001.ausbg")
            .get(i)
            .and_then(|s| parse_num(s));
        let ausbe = f
            .get("s7comm.szl.xy11.0001.ausbe")
            .get(i)
            .and_then(|s| parse_num(s));
        let mlfb = f
            .get("s7comm.szl.xy11.0001.anz")
            .get(i)
            .map(|s| text(s, true))
            .filter(|s| !s.trim().is_empty());
        let (field, value) = match parse_num(index) {
            Some(0x0001) => ("order_number", mlfb),
            Some(0x0006) => ("hardware_order_number", mlfb),
            Some(0x0007) => (
                "firmware",
                ausbg.zip(ausbe).and_then(|(g, e)| s7_version(g, e)),
            ),
            Some(0x0081) => (
                "boot_loader",
                ausbg
                    .zip(ausbe)
                    .map(|(g, e)| s7_version(g, e).unwrap_or_else(|| format!("{g:#06x}/{e:#06x}"))),
            ),
            _ => continue,
        };
        if let Some(v) = value {
            p.fields.entry(field.to_string()).or_insert(v);
        }
    }
    let texts = [
        ("s7comm.szl.001c.0001.name", "as_name"),
        ("s7comm.szl.001c.0002.name", "module_name"),
        ("s7comm.szl.001c.0003.tag", "plant_tag"),
        ("s7comm.szl.001c.0004.copyright", "copyright"),
        ("s7comm.szl.001c.0005.serialn", "serial"),
        ("s7comm.szl.001c.0007.cputypname", "module_type"),
        ("s7comm.szl.001c.0008.snmcmmc", "memory_card_serial"),
        // tshark splits record 0x000A into a 26-byte string and two numbers; otscout keeps
        // the record's text up to its NUL: the same when the string is NUL-terminated.
        ("s7comm.szl.001c.000a.oem_copyright_string", "oem_id"),
        ("s7comm.szl.001c.000b.loc_id", "location"),
    ];
    for (tf, field) in texts {
        if let Some(v) = f
            .get(tf)
            .first()
            .map(|s| text(s, false))
            .filter(|s| !s.trim().is_empty())
        {
            p.fields.insert(field.to_string(), v);
        }
    }
    put(
        &mut p,
        "manufacturer_id",
        nth_num(f, "s7comm.szl.001c.0009.manufacturer_id", 0, hex16),
    );
    put(
        &mut p,
        "profile_id",
        nth_num(f, "s7comm.szl.001c.0009.profile_id", 0, hex16),
    );
    put(
        &mut p,
        "profile_type",
        nth_num(f, "s7comm.szl.001c.0009.profile_spec_typ", 0, hex16),
    );
    if p.fields.is_empty() {
        Vec::new()
    } else {
        vec![p]
    }
}

fn s7_otscout(id: &Identity) -> Option<Part> {
    let Identity::S7(s) = id else {
        return None;
    };
    let S7Identity {
        order_number,
        hardware_order_number,
        firmware,
        boot_loader,
        as_name,
        module_name,
        plant_tag,
        copyright,
        serial,
        module_type,
        memory_card_serial,
        manufacturer_id,
        profile_id,
        profile_type,
        oem_id,
        location,
        ..
    } = s.as_ref();
    let mut p = Part::default();
    for (field, v) in [
        ("order_number", order_number),
        ("hardware_order_number", hardware_order_number),
        ("firmware", firmware),
        ("boot_loader", boot_loader),
        ("as_name", as_name),
        ("module_name", module_name),
        ("plant_tag", plant_tag),
        ("copyright", copyright),
        ("serial", serial),
        ("module_type", module_type),
        ("memory_card_serial", memory_card_serial),
        ("oem_id", oem_id),
        ("location", location),
    ] {
        put(&mut p, field, v.clone());
    }
    for (field, v) in [
        ("manufacturer_id", manufacturer_id),
        ("profile_id", profile_id),
        ("profile_type", profile_type),
    ] {
        put(&mut p, field, v.map(|v| hex16(v.into())));
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fields: &[(&str, &[&str])]) -> Frame {
        Frame {
            number: 1,
            src: None,
            layers: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn numbers_parse_as_tshark_prints_them() {
        assert_eq!(parse_num("0x000c"), Some(12));
        assert_eq!(parse_num("58"), Some(58));
        assert_eq!(parse_num("x"), None);
    }

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

    #[test]
    fn list_identity_revision_is_one_big_endian_word_in_tshark() {
        // enip_test.pcap frame 7: revision bytes 04 03, printed by tshark as 1027.
        let f = frame(&[
            ("enip.lir.vendor", &["0x0001"]),
            ("enip.lir.revision", &["1027"]),
            ("enip.lir.serial", &["0x00524d8e"]),
        ]);
        let p = &list_identity_tshark(&f)[0];
        assert_eq!(p.fields["revision"], "4.3");
        assert_eq!(p.key, "0x00524d8e");
    }

    #[test]
    fn s7_firmware_comes_from_record_7_and_the_boot_loader_stays_raw() {
        // s7comm_reading_plc_status.pcap frame 59 as tshark prints it.
        let f = frame(&[
            (
                "s7comm.szl.xy11.0001.index",
                &["0x0001", "0x0006", "0x0007", "0x0081"],
            ),
            (
                "s7comm.szl.xy11.0001.anz",
                &[
                    "6ES7 151-8AB01-0AB0 ",
                    "6ES7 151-8AB01-0AB0 ",
                    "                    ",
                    "Boot Loader         ",
                ],
            ),
            ("s7comm.szl.xy11.0001.ausbg", &["3", "3", "22019", "16672"]),
            ("s7comm.szl.xy11.0001.ausbe", &["1", "1", "518", "2313"]),
            ("s7comm.szl.001c.0003.tag", &[""]),
        ]);
        let p = &s7_tshark(&f)[0];
        assert_eq!(p.fields["order_number"], "6ES7 151-8AB01-0AB0");
        assert_eq!(p.fields["firmware"], "V3.2.6");
        assert_eq!(p.fields["boot_loader"], "0x4120/0x0909");
        assert!(!p.fields.contains_key("plant_tag"));
    }
}
