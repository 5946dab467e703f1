//! EtherNet/IP and CIP in Zeek/ICSNPP logs (cisagov/icsnpp-enip
//! `scripts/icsnpp/enip/main.zeek`): the same facts the capture analyzer
//! ([`super::passive`]) records.
//!
//! - `cip_identity.log`: a List Identity answer, under the analyzer's key
//!   `enip:list_identity:<serial>` (revision as `major.minor`; status, serial and state as
//!   0x-hex); the socket address inside the reply is data, never the key;
//! - `cip.log`: one row per CIP header: requests give who talks CIP to whom and writes and
//!   control (Set_Attribute*, reset/start/stop, Logix tag writes) as operations,
//!   classified as the analyzer classifies them; a response shows the server answered;
//! - `enip.log`: one row per encapsulation header: who talks EtherNet/IP to whom. Rows of
//!   older releases do not say their direction (no `is_orig`): they count as traffic, and
//!   conn.log tells whether the server answered.

use std::net::{IpAddr, SocketAddr};

use crate::facts::FactSink;
use crate::facts::zeek::Row;
use crate::inventory::{EnipIdentity, EnipIdentitySource, Identity, Protocol};
use crate::wire::enip;

/// Reads one row of an EtherNet/IP or CIP log.
pub fn row(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    match r.log {
        "cip_identity" => identity(r, sink),
        "cip" => cip(r, sink),
        "enip" => encapsulation(r, sink),
        _ => {}
    }
}

/// `major.minor`, as ICSNPP writes a CIP revision.
fn revision(v: &str) -> Option<(u8, u8)> {
    let (a, b) = v.split_once('.')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => !(v.is_broadcast() || v.is_multicast() || v.is_unspecified()),
        IpAddr::V6(v) => !(v.is_multicast() || v.is_unspecified()),
    }
}

fn identity(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some(device) = r.replier() else {
        return;
    };
    if !unicast(&device) {
        return r.warn(&format!(
            "responder {device} is not a unicast address (a broadcast List Identity?): row skipped"
        ));
    }
    let at = r.at();
    let rev = match r.get("revision") {
        None => return r.bad("revision", None, "row skipped"),
        Some(v) => match revision(v) {
            Some(rev) => rev,
            None => return r.bad("revision", Some(v), "row skipped"),
        },
    };
    let (Some(vendor_id), Some(device_type), Some(product_code), Some(status), Some(serial)) = (
        r.required::<u16>("vendor_id"),
        r.required::<u16>("device_type_id"),
        r.required::<u16>("product_code"),
        r.required::<u16>("device_status"),
        r.required::<u32>("serial_number"),
    ) else {
        return;
    };
    let Some(product_name) = r.get("product_name").map(str::to_string) else {
        return r.bad("product_name", None, "row skipped");
    };
    let socket_ip = match r.get("socket_address") {
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                r.bad("socket_address", Some(a), "field left out");
                None
            }
        },
        None => None,
    };
    let socket_port: Option<u16> = r.number("socket_port", "field left out");
    let socket_addr = match (socket_ip, socket_port) {
        (Some(a), Some(p)) => Some(SocketAddr::new(a, p)),
        _ => None,
    };
    let state = r.number("device_state", "field left out");
    let encapsulation_version = r.number("encapsulation_version", "field left out");
    let id = EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        vendor_id,
        device_type,
        product_code,
        revision_major: rev.0,
        revision_minor: rev.1,
        status,
        serial,
        product_name,
        state,
        encapsulation_version,
        socket_addr,
    };
    sink.host(device, at);
    sink.identity(
        device,
        format!("enip:list_identity:{serial:08x}"),
        Identity::Enip(id),
        &[],
        at,
    );
}

fn cip(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some((client, server)) = r.ends() else {
        return;
    };
    let at = r.at();
    let request = match r.get("direction") {
        Some(d) if d.eq_ignore_ascii_case("request") => true,
        Some(d) if d.eq_ignore_ascii_case("response") => false,
        other => return r.bad("direction", other, "row skipped"),
    };
    sink.host(client, at);
    if !request {
        sink.host(server, at);
        sink.peers(client, server, Protocol::Cip, 0, at);
        return;
    }
    sink.peer(client, server, Protocol::Cip, at);
    let Some(code) = r.number::<u8>("cip_service_code", "row skipped") else {
        return;
    };
    // Path fields are 0x-hex; absent on a symbolic (tag name) path.
    let target = enip::PathTarget {
        class: r.number("class_id", "field left out"),
        instance: r.number("instance_id", "field left out"),
        attribute: r.number("attribute_id", "field left out"),
        symbol: None,
        unparsed: false,
    };
    let (function, access) = enip::service_operation(code, &target);
    if let Some(kind) = super::ops::operation_kind(access) {
        sink.operation(server, client, Protocol::Cip, kind, &function, at);
    }
}

fn encapsulation(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some((client, server)) = r.ends() else {
        return;
    };
    let at = r.at();
    let Ok(from_client) = r.is_orig() else {
        return;
    };
    sink.host(client, at);
    if from_client == Some(false) {
        sink.host(server, at);
        sink.peers(client, server, Protocol::Enip, 0, at);
    } else {
        sink.peer(client, server, Protocol::Enip, at);
    }
}
