//! Modbus in Zeek/ICSNPP logs (cisagov/icsnpp-modbus `scripts/icsnpp/modbus/main.zeek`):
//! the same facts the capture analyzer ([`super::passive`]) records.
//!
//! - `modbus_read_device_identification.log`: one row per object of a Read Device
//!   Identification answer (the unit id column is `uint` in some releases and `unit` in
//!   others): the identity, under the analyzer's key `modbus:<port>:<unit>`;
//! - `modbus_detailed.log`: one row per request (matched with its response, `matched` in
//!   newer releases): who polls whom, the unit ids in use, writes and diagnostics as
//!   operations named as the analyzer names them.

use std::collections::BTreeMap;

use crate::facts::zeek::{Row, boolean, num};
use crate::facts::{At, FactSink};
use crate::inventory::{Identity, ModbusIdentity, Protocol};
use crate::wire::modbus;

use super::passive::ATTR_MODBUS_UNIT;

/// Reads one row of a Modbus log.
pub fn row(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    match r.log {
        "modbus_read_device_identification" => device_id(r, sink),
        "modbus_detailed" => detailed(r, sink),
        _ => {}
    }
}

/// ICSNPP names the basic and regular objects; private ones come as codes.
fn object_id(r: &Row<'_>) -> Option<u8> {
    if let Some(code) = r.get("object_id_code").and_then(num) {
        return u8::try_from(code).ok();
    }
    let v = r.get("object_id")?;
    if let Some(n) = num(v) {
        return u8::try_from(n).ok();
    }
    // Modbus Application Protocol v1.1b3, 6.21, table "Object Id": 0x00-0x06.
    Some(match v {
        "VendorName" => 0,
        "ProductCode" => 1,
        "MajorMinorVersion" | "MajorMinorRevision" => 2,
        "VendorURL" | "VendorUrl" => 3,
        "ProductName" => 4,
        "ModelName" => 5,
        "UserApplicationName" => 6,
        _ => return None,
    })
}

fn device_id(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let is_response = match (r.get("is_orig"), r.get("request_response")) {
        (_, Some(rr)) => rr.eq_ignore_ascii_case("RESPONSE"),
        (Some(o), None) => match boolean(o) {
            Some(orig) => !orig,
            None => return r.bad("is_orig", Some(o), "row skipped"),
        },
        (None, None) => true,
    };
    if !is_response {
        return;
    }
    // The responder: the row's source when logged, else the connection's responder.
    let device = if r.get("source_h").is_some() {
        r.addr("source_h")
    } else {
        r.addr("id.resp_h")
    };
    let Some(device) = device else {
        return;
    };
    // Without the unit id the objects cannot be put on the right unit.
    let unit_field = if r.has("uint") { "uint" } else { "unit" };
    let Some(unit) = r.required::<u8>(unit_field) else {
        return;
    };
    let Some(object) = object_id(r) else {
        let v = r.get("object_id_code").or_else(|| r.get("object_id"));
        return r.bad("object_id", v, "row skipped");
    };
    let value = r.get("object_value").unwrap_or("").to_string();
    let level: Option<u8> = r.number("conformity_level_code", "field left out");
    let at = r.at();
    // The server's port names the identity as the analyzer does (`modbus:<port>:<unit>`);
    // a row without it is on Modbus's own port.
    let port = r.get("id.resp_p").and_then(num).unwrap_or(502);
    let identity = ModbusIdentity {
        unit_id: unit,
        conformity_level: level,
        objects: BTreeMap::from([(object, value)]),
    };
    sink.host(device, at);
    sink.identity(
        device,
        format!("modbus:{port}:{unit}"),
        Identity::Modbus(identity),
        &[],
        at,
    );
}

fn detailed(r: &mut Row<'_>, sink: &mut dyn FactSink) {
    let Some((client, server)) = r.ends() else {
        return;
    };
    let at: At = r.at();
    let Some(func) = r.get("func") else {
        return r.bad("func", None, "row skipped");
    };
    let base = func.strip_suffix("_EXCEPTION");
    // The server answered when the row says so (`matched`, newer releases), carries an
    // exception or response values.
    let answered = r.get("matched").and_then(boolean) == Some(true)
        || base.is_some()
        || r.get("exception_code").is_some()
        || r.get("response_values").is_some();
    let name = base.unwrap_or(func).to_ascii_lowercase();
    sink.host(client, at);
    if answered {
        sink.host(server, at);
    }
    sink.peer(client, server, Protocol::Modbus, at);
    if let Some(unit) = r.number::<u8>("unit", "field left out") {
        sink.observed(server, ATTR_MODBUS_UNIT, unit.to_string(), at);
    }
    let Some(code) = (1u8..=127).find(|c| modbus::FunctionCode::from_u8(*c).name() == name) else {
        return;
    };
    let access = modbus::FunctionCode::from_u8(code).access();
    if let Some(kind) = super::ops::operation_kind(access) {
        sink.operation(server, client, Protocol::Modbus, kind, &name, at);
    }
}
