//! S7comm codec types as inventory facts: SZL module and component identification as an
//! [`S7Identity`].

use crate::inventory::S7Identity;
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
