//! The conformance specs of EtherNet/IP List Identity (ODVA Vol. 2, 2-4.3) and the CIP
//! Identity object's Get_Attributes_All reply (Vol. 1, 5-2): tshark's `enip.lir.*` and
//! `cip.id.*` fields against otscout's ENIP identities (see
//! [`crate::protocols::conformance`]).

use crate::inventory::{EnipIdentity, EnipIdentitySource, Identity, Protocol};
use crate::protocols::conformance::{
    Frame, Part, PortPref, Spec, hex16, nth_num, num, parse_num, put, serial,
};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[
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
        prefs: &["enip.desegment:TRUE"],
        heuristics: &[],
        tree: &[],
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
        prefs: &["enip.desegment:TRUE"],
        heuristics: &[],
        tree: &[],
    },
];

/// The ENIP/CIP revision `major.minor`.
fn revision(major: u64, minor: u64) -> String {
    format!("{major}.{minor}")
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

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
}
