//! S7comm codec types as inventory facts: SZL module and component identification as an
//! [`S7Identity`].

use chrono::{DateTime, Utc};

use crate::inventory::merge::AssetField;
use crate::inventory::{Behind, Facts, IdentityFacts, S7Identity, normalize};
use crate::wire::s7::SzlList;

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

/// Builds an identity from SZL 0x0011 (module identification) and 0x001C (component
/// identification) lists; `None` when neither yields a field.
///
/// Firmware comes from record 0x0007 only, never from the boot loader record 0x0081.
pub fn to_identity(module: Option<&SzlList>, component: Option<&SzlList>) -> Option<S7Identity> {
    let mut id = S7Identity::default();
    for rec in module.map(SzlList::module_records).unwrap_or_default() {
        match rec.index {
            0x0001 => id.order_number = non_empty(rec.order_number_str()),
            0x0006 => id.hardware_order_number = non_empty(rec.order_number_str()),
            0x0007 => id.firmware = rec.version(),
            0x0081 => {
                id.boot_loader = Some(
                    rec.version()
                        .unwrap_or_else(|| format!("{:#06x}/{:#06x}", rec.ausbg, rec.ausbe)),
                )
            }
            _ => {}
        }
    }
    for (index, order_number) in module
        .map(SzlList::nonstandard_order_numbers)
        .unwrap_or_default()
    {
        match index {
            0x0001 => id.order_number = non_empty(order_number),
            0x0006 => id.hardware_order_number = non_empty(order_number),
            _ => {}
        }
    }
    for rec in component
        .map(SzlList::component_records)
        .unwrap_or_default()
    {
        let t = || non_empty(rec.text());
        match rec.index {
            0x0001 => id.as_name = t(),
            0x0002 => id.module_name = t(),
            0x0003 => id.plant_tag = t(),
            0x0004 => id.copyright = t(),
            0x0005 => id.serial = t(),
            0x0007 => id.module_type = t(),
            0x0008 => id.memory_card_serial = t(),
            0x0009 => {
                let v = rec.value;
                id.manufacturer_id = Some(u16::from_be_bytes([v[0], v[1]]));
                id.profile_id = Some(u16::from_be_bytes([v[2], v[3]]));
                id.profile_type = Some(u16::from_be_bytes([v[4], v[5]]));
            }
            0x000A => id.oem_id = t(),
            0x000B => id.location = t(),
            _ => {}
        }
    }
    (id != S7Identity::default()).then_some(id)
}

/// Folds a later part of a CPU's identity into an earlier one (SZL 0x0011 and 0x001C
/// seen in different answers): missing fields are filled, a value already present is
/// kept.
pub fn fold_part(a: &mut S7Identity, b: S7Identity) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if a.$f.is_none() { a.$f = b.$f; } )* };
    }
    fill!(
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
        tsap
    );
}

/// One line naming the identity for the import summary (`otscout passive`).
pub fn describe(s: &S7Identity) -> String {
    format!(
        "s7 {} {} firmware {} serial {}",
        s.order_number.as_deref().unwrap_or("?"),
        s.module_name.as_deref().unwrap_or("?"),
        s.firmware.as_deref().unwrap_or("?"),
        s.serial.as_deref().unwrap_or("?")
    )
}

/// Manufacturer (SZL 0x001C index 9), order number (the model, and its family), firmware,
/// module type, serial, AS name, location and the rest as attributes, each source naming
/// the SZL and index it comes from.
impl IdentityFacts for S7Identity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, b: &mut Facts) {
        let id = self;
        let s11 = |idx: u16, what: &str| format!("s7 szl 0x0011 index 0x{idx:04x} {what}");
        let s1c = |idx: u16, what: &str| format!("s7 szl 0x001c index 0x{idx:04x} {what}");
        if let Some(m) = id.manufacturer_id {
            let name = crate::data::profinet::vendor_name(m)
                .map_or_else(|| format!("PROFINET manufacturer 0x{m:04x}"), str::to_owned);
            b.field(AssetField::Manufacturer, &name, s1c(9, "manufacturer id"));
        }
        if let Some(o) = &id.order_number {
            b.field(AssetField::Model, o, s11(1, "order number"));
            if let Some(f) = crate::data::siemens::family(o) {
                b.field(AssetField::Family, f, s11(1, "order number"));
            }
        }
        if let Some(v) = &id.firmware {
            b.field(
                AssetField::Firmware,
                &normalize::firmware(v),
                s11(7, "firmware"),
            );
        }
        if let Some(v) = &id.module_type {
            b.field(AssetField::ProductName, v, s1c(7, "module type"));
        }
        if let Some(v) = &id.serial {
            b.field(AssetField::Serial, v, s1c(5, "serial"));
        }
        if let Some(v) = &id.as_name {
            b.field(AssetField::Hostname, v, s1c(1, "AS name"));
        }
        if let Some(v) = &id.location {
            b.field(AssetField::Location, v, s1c(0x0b, "location"));
        }
        if id.manufacturer_id.is_some() || id.order_number.is_some() {
            b.field(AssetField::DeviceType, "PLC", s11(1, "SZL 0x0011 answered"));
        }
        let attrs: [(&str, &Option<String>, u16, u16); 6] = [
            ("module_name", &id.module_name, 0x001c, 2),
            ("plant_tag", &id.plant_tag, 0x001c, 3),
            ("memory_card_serial", &id.memory_card_serial, 0x001c, 8),
            ("boot_loader", &id.boot_loader, 0x0011, 0x81),
            (
                "hardware_order_number",
                &id.hardware_order_number,
                0x0011,
                6,
            ),
            ("oem_id", &id.oem_id, 0x001c, 0x0a),
        ];
        for (name, v, szl, idx) in attrs {
            if let Some(v) = v {
                b.attribute(
                    name,
                    v,
                    format!("s7 szl 0x{szl:04x} index 0x{idx:04x} {name}"),
                );
            }
        }
    }

    /// The called TSAP it was read through: in a station that answered for several
    /// modules, the sub-asset at its rack and slot (`s7:R/S`).
    fn behind(&self) -> Option<Behind> {
        let tsap = self.tsap?;
        let mut bare = self.clone();
        bare.tsap = None;
        let said = match serde_json::to_value(&bare) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| (k, normalize::compare_key(&v.to_string())))
                .collect(),
            _ => Default::default(),
        };
        Some(Behind {
            via: u32::from(tsap),
            said,
            path: Some(tsap_path(tsap)),
        })
    }

    /// The manufacturer (Siemens when the CPU names none: S7comm is Siemens'), the family
    /// of the order number and the module type.
    fn rule_names(&self, out: &mut Vec<String>) {
        let vendor = self
            .manufacturer_id
            .and_then(crate::data::profinet::vendor_name)
            .unwrap_or("Siemens");
        out.push(vendor.to_owned());
        if let Some(f) = self
            .order_number
            .as_deref()
            .and_then(crate::data::siemens::family)
        {
            out.push(f.to_owned());
        }
        out.extend(self.module_type.clone());
    }
}

/// The sub-asset path of the S7 module a called TSAP addresses: its second byte is rack
/// (bits 7-5) and slot (bits 4-0) (the ISO-on-TCP remote TSAP convention of S7 stations,
/// e.g. 0x0102 for rack 0 slot 2).
pub fn tsap_path(tsap: u16) -> String {
    let lo = tsap & 0xff;
    format!("s7:{}/{}", lo >> 5, lo & 0x1f)
}
