//! Modbus codec types as inventory facts: Read Device Identification replies as a
//! [`ModbusIdentity`].

use std::collections::BTreeMap;

use crate::inventory::ModbusIdentity;
use crate::wire::modbus::ReadDeviceIdResponse;

/// Folds the Read Device Identification replies of one unit (every read code and page, in
/// the order received) into an identity. The first value of an object id wins (a later
/// page repeating an object does not overwrite it); the conformity level is the first
/// reply's. Values are text with invalid UTF-8 replaced, and NUL padding trimmed from the
/// end; the raw bytes stay with the caller.
pub fn to_identity<'a>(
    unit_id: u8,
    replies: impl IntoIterator<Item = &'a ReadDeviceIdResponse>,
) -> ModbusIdentity {
    let mut conformity_level = None;
    let mut objects = BTreeMap::new();
    for reply in replies {
        conformity_level.get_or_insert(reply.conformity_level);
        for o in &reply.objects {
            objects
                .entry(o.id)
                .or_insert_with(|| o.as_str().trim_end_matches('\0').to_string());
        }
    }
    ModbusIdentity {
        unit_id,
        conformity_level,
        objects,
    }
}

/// One line naming the identity for the import summary (`otscout passive`).
pub fn describe(m: &ModbusIdentity) -> String {
    let o = |k: u8| m.objects.get(&k).map(String::as_str).unwrap_or("?");
    format!("modbus unit {}: {} {} {}", m.unit_id, o(0), o(1), o(2))
}
