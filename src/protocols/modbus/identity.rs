//! Modbus codec types as inventory facts: Read Device Identification replies as a
//! [`ModbusIdentity`], and that identity as asset fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::inventory::merge::AssetField;
use crate::inventory::{Behind, Facts, IdentityFacts, ModbusIdentity, normalize};
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

/// Folds a later part of a unit's identity into an earlier one (a passive capture sees
/// the objects page by page): a missing conformity level is filled, objects are added,
/// a value already present is kept.
pub fn fold_part(into: &mut ModbusIdentity, part: ModbusIdentity) {
    if into.conformity_level.is_none() {
        into.conformity_level = part.conformity_level;
    }
    for (k, v) in part.objects {
        into.objects.entry(k).or_insert(v);
    }
}

/// One line naming the identity for the import summary (`otscout passive`).
pub fn describe(m: &ModbusIdentity) -> String {
    let o = |k: u8| m.objects.get(&k).map(String::as_str).unwrap_or("?");
    format!("modbus unit {}: {} {} {}", m.unit_id, o(0), o(1), o(2))
}

/// The unit ids a gateway answers for itself (Modbus Messaging on TCP/IP Implementation
/// Guide V1.0b, 4.4.1.2: 0xFF, or 0, addresses the TCP device itself).
const OWN_UNITS: [u8; 2] = [0, 0xff];

/// Vendor, product code, model, firmware and product name as fields; the user
/// application name and vendor URL as attributes. Each source names the unit and the
/// object it comes from.
impl IdentityFacts for ModbusIdentity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, b: &mut Facts) {
        let unit = self.unit_id;
        let obj = |n: u8, name: &str| format!("modbus unit {unit} object 0x{n:02x} {name}");
        if let Some(v) = self.objects.get(&0) {
            b.field(
                AssetField::Manufacturer,
                &normalize::vendor_name(v),
                obj(0, "VendorName"),
            );
        }
        if let Some(v) = self.objects.get(&1) {
            b.field(AssetField::ProductCode, v, obj(1, "ProductCode"));
        }
        // ModelName when the device has one, else (only if nothing better turns up) its
        // ProductCode.
        match (self.objects.get(&5), self.objects.get(&1)) {
            (Some(m), _) if !m.trim().is_empty() => {
                b.field(AssetField::Model, m, obj(5, "ModelName"))
            }
            (_, Some(p)) if !p.trim().is_empty() => {
                b.model_fallback(p.trim(), obj(1, "ProductCode"))
            }
            _ => {}
        }
        if let Some(v) = self.objects.get(&2) {
            b.field(
                AssetField::Firmware,
                &normalize::firmware(v),
                obj(2, "MajorMinorRevision"),
            );
        }
        if let Some(v) = self.objects.get(&4) {
            b.field(AssetField::ProductName, v, obj(4, "ProductName"));
        }
        if let Some(v) = self.objects.get(&6) {
            b.attribute("user_application_name", v, obj(6, "UserApplicationName"));
        }
        if let Some(v) = self.objects.get(&3) {
            b.attribute("vendor_url", v, obj(3, "VendorUrl"));
        }
    }

    /// The unit id it was read through: behind a gateway, the sub-asset at
    /// `modbus:unit/N`, except for the units that address the gateway itself.
    fn behind(&self) -> Option<Behind> {
        Some(Behind {
            via: u32::from(self.unit_id),
            said: self
                .objects
                .iter()
                .map(|(k, v)| (k.to_string(), normalize::compare_key(v)))
                .collect(),
            path: (!OWN_UNITS.contains(&self.unit_id)).then(|| unit_path(self.unit_id)),
        })
    }

    /// VendorName (canonical), ProductName and ModelName.
    fn rule_names(&self, out: &mut Vec<String>) {
        for id in [0u8, 4, 5] {
            if let Some(v) = self.objects.get(&id) {
                out.push(if id == 0 {
                    normalize::vendor_name(v)
                } else {
                    v.clone()
                });
            }
        }
    }
}

/// The sub-asset path of a Modbus unit behind a gateway (`modbus:unit/3`).
pub fn unit_path(unit: u8) -> String {
    format!("modbus:unit/{unit}")
}
