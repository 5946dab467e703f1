//! The conformance spec of BACnet device identity (ASHRAE 135, 16.10 I-Am, 15.5
//! ReadProperty-ACK, 15.7 ReadPropertyMultiple-ACK): tshark's `bacapp` dissector against
//! otscout's BACnet identity (see [`crate::protocols::conformance`]).
//!
//! tshark 4.0 names only a few BACnet values as fields (`bacapp.instance_number`,
//! `bacapp.vendor_identifier` in I-Am, `bacapp.object_name`); property values in acks are
//! printed in tree labels only (`vendor-identifier: (Unsigned) 42`, `model-name: UTF-8
//! 'SYSC MLX'`), so this spec reads tshark's whole tree ([`Spec::tree`]) and walks the
//! labels in order: a `Property Identifier: name (n)` label, then its value's label.
//!
//! Compared: the Device object's instance (I-Am, or the value of `object-identifier`,
//! never the wildcard 4194303 an ack echoes), vendor id, object-name, model-name,
//! firmware-revision and application-software-version. Key: the route (`snet:sadr` in
//! hex, as otscout keys a device behind a router), empty for a device on the IP network.

use crate::inventory::{Identity, Protocol};
use crate::protocols::conformance::{Frame, Part, Spec, first, parse_num, put};
use crate::wire::bacnet::{WILDCARD_INSTANCE, property};

/// The specs of this folder.
pub static SPECS: &[Spec] = &[Spec {
    name: "bacnet",
    filter: "(bacapp.type == 1 && bacapp.unconfirmed_service == 0) || (bacapp.type == 3 && \
             (bacapp.confirmed_service == 12 || bacapp.confirmed_service == 14))",
    fields: &[],
    tshark: bacnet_tshark,
    otscout: bacnet_otscout,
    protocols: &[Protocol::Bacnet],
    // tshark 4.0 registers BVLC on UDP 47808 through the port table only.
    tcp: None,
    udp: None,
    prefs: &[],
    heuristics: &[],
    tree: &["bvlc", "bacnet", "bacapp"],
}];

/// `snet:sadr` as otscout keys a routed device (the MAC in lowercase hex).
fn route_key(f: &Frame) -> String {
    let Some(net) = f.get("bacnet.snet").first().and_then(|s| parse_num(s)) else {
        return String::new();
    };
    let mac = if let Some(m) = f.get("bacnet.sadr_mstp").first().and_then(|s| parse_num(s)) {
        format!("{m:02x}")
    } else if let Some(m) = f
        .get("bacnet.sadr_eth")
        .first()
        .or_else(|| f.get("bacnet.sadr_tmp").first())
    {
        m.replace(':', "").to_lowercase()
    } else {
        String::new()
    };
    format!("{net}:{mac}")
}

/// The quoted text of a string value's label (`model-name: UTF-8 'SYSC MLX'`).
fn quoted(label: &str) -> Option<String> {
    let a = label.find('\'')?;
    let b = label.rfind('\'')?;
    (b > a).then(|| label[a + 1..b].to_string())
}

/// The number after the last space of a label (`vendor-identifier: (Unsigned) 42`,
/// `ObjectIdentifier: device, 500`, `Property Identifier: model-name (70)` without its
/// parentheses).
fn last_num(label: &str) -> Option<u64> {
    let t = label.rsplit(' ').next()?;
    parse_num(t.trim_matches(|c| c == '(' || c == ')'))
}

fn bacnet_tshark(f: &Frame) -> Vec<Part> {
    let mut p = Part {
        key: route_key(f),
        ..Part::default()
    };
    let num = |n: u64| n.to_string();
    let ty = f.get("bacapp.type").first().and_then(|s| parse_num(s));
    if ty == Some(1) {
        // I-Am: the device's own instance and vendor (never a client's wildcard).
        let inst = f
            .get("bacapp.instance_number")
            .first()
            .and_then(|s| parse_num(s))
            .filter(|i| *i != u64::from(WILDCARD_INSTANCE));
        let Some(inst) = inst else {
            return Vec::new();
        };
        put(&mut p, "instance", Some(num(inst)));
        put(
            &mut p,
            "vendor_id",
            f.get("bacapp.vendor_identifier")
                .first()
                .and_then(|s| parse_num(s))
                .map(num),
        );
        return vec![p];
    }
    // An ack: the properties of a Device object, read from the labels in order.
    let labels = f.get(crate::conformance::tshark::LABEL);
    let mut object_is_device = false;
    let mut prop: Option<u32> = None;
    for l in labels {
        // The tag headers under each item (`Context Tag: 1, Length/Value/Type: 1`,
        // `Application Tag: Character String, ...`) are not values.
        if l.starts_with("Context Tag") || l.starts_with("Application Tag") {
            continue;
        }
        if let Some(rest) = l.strip_prefix("Property Identifier: ") {
            prop = last_num(rest).and_then(|n| u32::try_from(n).ok());
            continue;
        }
        if l.starts_with("ObjectIdentifier: ") && prop.is_none() {
            // The object the ack is about (before its first property).
            object_is_device = l.starts_with("ObjectIdentifier: device,");
            continue;
        }
        let Some(pr) = prop.take() else { continue };
        if !object_is_device {
            continue;
        }
        match pr {
            property::OBJECT_IDENTIFIER => put(
                &mut p,
                "instance",
                l.strip_prefix("ObjectIdentifier: device, ")
                    .and_then(parse_num)
                    .filter(|i| *i != u64::from(WILDCARD_INSTANCE))
                    .map(num),
            ),
            property::VENDOR_IDENTIFIER => put(&mut p, "vendor_id", last_num(l).map(num)),
            property::MODEL_NAME => put(&mut p, "model_name", quoted(l)),
            property::FIRMWARE_REVISION => put(&mut p, "firmware_revision", quoted(l)),
            property::APPLICATION_SOFTWARE_VERSION => {
                put(&mut p, "application_software_version", quoted(l))
            }
            // object-name: its label is "Object Name"; the value is a field.
            _ => prop = None,
        }
    }
    if object_is_device
        && f.get("bacapp.property_identifier")
            .iter()
            .any(|s| parse_num(s) == Some(u64::from(property::OBJECT_NAME)))
    {
        put(&mut p, "object_name", first(f, "bacapp.object_name"));
    }
    if p.fields.is_empty() {
        return Vec::new();
    }
    vec![p]
}

fn bacnet_otscout(id: &Identity) -> Option<Part> {
    let Identity::Bacnet(b) = id else {
        return None;
    };
    let mut p = Part {
        key: b
            .route
            .as_ref()
            .map(|r| format!("{}:{}", r.network, r.mac))
            .unwrap_or_default(),
        ..Part::default()
    };
    put(&mut p, "instance", b.instance.map(|v| v.to_string()));
    put(&mut p, "vendor_id", b.vendor_id.map(|v| v.to_string()));
    put(&mut p, "object_name", b.object_name.clone());
    put(&mut p, "model_name", b.model_name.clone());
    put(&mut p, "firmware_revision", b.firmware_revision.clone());
    put(
        &mut p,
        "application_software_version",
        b.application_software_version.clone(),
    );
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::conformance::test_frame as frame;

    #[test]
    fn an_ack_is_read_from_the_labels_and_the_echoed_wildcard_is_not_an_instance() {
        // bacnet_test.pcap frame 4, and bacnet_services.pcap frame 636, as tshark 4.0
        // prints their trees.
        let mut f = frame(&[
            ("bacapp.type", &["3"]),
            (
                "_label",
                &[
                    "ObjectIdentifier: device, 4194303",
                    "Property Identifier: object-identifier (75)",
                    "ObjectIdentifier: device, 500",
                ],
            ),
        ]);
        f.tree = true;
        let p = &bacnet_tshark(&f)[0];
        assert_eq!(p.key, "");
        assert_eq!(p.fields["instance"], "500");
        let f = frame(&[
            ("bacapp.type", &["3"]),
            ("bacnet.snet", &["3"]),
            ("bacnet.sadr_mstp", &["29"]),
            (
                "_label",
                &[
                    "ObjectIdentifier: device, 29",
                    "Property Identifier: model-name (70)",
                    "model-name: UTF-8 'SYSC MLX'",
                ],
            ),
        ]);
        let p = &bacnet_tshark(&f)[0];
        assert_eq!(p.key, "3:1d");
        assert_eq!(p.fields["model_name"], "SYSC MLX");
        assert!(!p.fields.contains_key("instance"));
    }

    #[test]
    fn a_clients_i_am_is_no_device() {
        let f = frame(&[
            ("bacapp.type", &["1"]),
            ("bacapp.instance_number", &["4194303"]),
            ("bacapp.vendor_identifier", &["24"]),
        ]);
        assert!(bacnet_tshark(&f).is_empty());
    }
}
