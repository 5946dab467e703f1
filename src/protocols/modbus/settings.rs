//! The `[modbus]` profile section: schema, validation and the unit id cap.

use serde::{Deserialize, Serialize};

use super::safe::ReadDeviceIdCode;
use crate::protocols::settings::{Invalid, Kind, bad, list_len, no_dups, range_u64};

/// Unit ids one device is tried with at most, in one probe (SAFETY.md): a gateway with
/// serial devices behind it is the case for many, and each silent unit id costs a
/// response timeout, a connection and a cool-down. The profile's `unit_ids` may hold as
/// many; unit ids observed in passive traffic come first and share the same cap.
pub const MAX_UNIT_IDS: usize = 32;

// The driver's connection limit must leave room for every unit id and one retried connect
// each.
const _: () = assert!(2 * MAX_UNIT_IDS as u32 <= crate::protocols::session::MAX_CONNECTS_LIMIT);

/// The `[modbus]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusSettings {
    pub enabled: bool,
    pub port: u16,
    /// Unit ids to try in order, stopping at the first that answers.
    pub unit_ids: Vec<u8>,
    /// Read codes to ask, in order.
    pub read_codes: Vec<ReadDeviceIdCode>,
    /// Allow unit ids other than 255 and 0 in `unit_ids`.
    #[serde(default)]
    pub allow_other_unit_ids: bool,
    /// Allow the `extended` read code (objects 0x80-0xFF, vendor-specific).
    #[serde(default)]
    pub allow_extended: bool,
    /// Unit ids behind a gateway to read one by one, each answer a sub-asset at
    /// `modbus:unit/N` of the gateway (issue 15; empty: off, and off when a profile table
    /// predates the key). Only on a device that answered a gateway exception (0x0A/0x0B)
    /// or whose own identity `gateway_identities` names; serial addresses 1-247, at most
    /// [`MAX_UNIT_IDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_units: Vec<u8>,
    /// Names that make a device a gateway whose `gateway_units` are read even when it gave
    /// no gateway exception: each a case-insensitive part of its vendor name, product code
    /// or product name (`MGate`, `ProSoft`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateway_identities: Vec<String>,
}

/// The highest serial unit address behind a gateway: Modbus over Serial Line v1.02, 2.2,
/// gives 1-247 to devices; 0 is the serial broadcast (a gateway may pass it to every
/// device, which then must not answer) and 248-255 are reserved.
pub const MAX_SERIAL_UNIT: u8 = 247;

/// The most `gateway_identities` entries (each is matched against every identity).
pub const MAX_GATEWAY_IDENTITIES: usize = 16;

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("unit_ids", Kind::UIntList(255)),
    (
        "read_codes",
        Kind::EnumList(&["basic", "regular", "extended", "individual"]),
    ),
    ("allow_other_unit_ids", Kind::Bool),
    ("allow_extended", Kind::Bool),
    ("gateway_units", Kind::UIntList(255)),
    ("gateway_identities", Kind::StrList),
];

impl ModbusSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        let m = self;
        range_u64("modbus.port", m.port.into(), 1, 65_535)?;
        list_len("modbus.unit_ids", m.unit_ids.len(), MAX_UNIT_IDS)?;
        no_dups("modbus.unit_ids", &m.unit_ids)?;
        if let Some(u) = m
            .unit_ids
            .iter()
            .find(|u| **u != 255 && **u != 0 && !m.allow_other_unit_ids)
        {
            return bad(
                "modbus.unit_ids",
                format!(
                    "may hold only 255 and 0 unless modbus.allow_other_unit_ids = true, got {u}"
                ),
            );
        }
        list_len("modbus.read_codes", m.read_codes.len(), 3)?;
        no_dups("modbus.read_codes", &m.read_codes)?;
        for code in &m.read_codes {
            match code {
                ReadDeviceIdCode::Individual => {
                    return bad(
                        "modbus.read_codes",
                        "may not hold `individual` (use basic, regular, extended)".into(),
                    );
                }
                ReadDeviceIdCode::Extended if !m.allow_extended => {
                    return bad(
                        "modbus.read_codes",
                        "may hold `extended` only when modbus.allow_extended = true".into(),
                    );
                }
                _ => {}
            }
        }

        if !m.gateway_units.is_empty() {
            list_len("modbus.gateway_units", m.gateway_units.len(), MAX_UNIT_IDS)?;
            no_dups("modbus.gateway_units", &m.gateway_units)?;
        }
        if let Some(u) = m
            .gateway_units
            .iter()
            .find(|u| !(1..=MAX_SERIAL_UNIT).contains(*u))
        {
            return bad(
                "modbus.gateway_units",
                format!(
                    "may hold only serial unit ids 1 to {MAX_SERIAL_UNIT} (0 is the serial broadcast, 248-255 are reserved), got {u}"
                ),
            );
        }
        if !m.gateway_identities.is_empty() {
            list_len(
                "modbus.gateway_identities",
                m.gateway_identities.len(),
                MAX_GATEWAY_IDENTITIES,
            )?;
        }
        if m.gateway_identities.iter().any(|g| g.trim().is_empty()) {
            return bad(
                "modbus.gateway_identities",
                "may not hold an empty name (it would name every device a gateway)".into(),
            );
        }
        if !m.gateway_identities.is_empty() && m.gateway_units.is_empty() {
            return bad(
                "modbus.gateway_identities",
                "names gateways but modbus.gateway_units lists no unit id to read behind them"
                    .into(),
            );
        }

        Ok(())
    }
}

/// Whether a device whose own Modbus identity is `id` is a gateway one of `names` names.
pub fn names_gateway(names: &[String], id: &crate::inventory::ModbusIdentity) -> bool {
    // MAP v1.1b3 6.21: object 0 VendorName, 1 ProductCode, 4 ProductName.
    let said: Vec<String> = [0u8, 1, 4]
        .iter()
        .filter_map(|o| id.objects.get(o))
        .map(|v| v.to_lowercase())
        .collect();
    names.iter().any(|g| {
        let g = g.trim().to_lowercase();
        said.iter().any(|v| v.contains(&g))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ModbusSettings {
        ModbusSettings {
            enabled: true,
            port: 502,
            unit_ids: vec![255, 0],
            read_codes: vec![ReadDeviceIdCode::Basic],
            allow_other_unit_ids: false,
            allow_extended: false,
            gateway_units: vec![1, 2, 3],
            gateway_identities: vec!["MGate".into()],
        }
    }

    #[test]
    fn gateway_units_are_bounded_serial_addresses() {
        assert!(settings().validate().is_ok());
        let with = |units: Vec<u8>| ModbusSettings {
            gateway_units: units,
            ..settings()
        };
        assert_eq!(
            with(vec![1, 0]).validate().unwrap_err().to_string(),
            "modbus.gateway_units may hold only serial unit ids 1 to 247 (0 is the serial broadcast, 248-255 are reserved), got 0"
        );
        assert!(with(vec![248]).validate().is_err());
        assert_eq!(
            with((1..=33).collect()).validate().unwrap_err().to_string(),
            "modbus.gateway_units must hold 1 to 32 entries, got 33"
        );
        assert!(with((1..=32).collect()).validate().is_ok());
        assert_eq!(
            with(vec![4, 4]).validate().unwrap_err().to_string(),
            "modbus.gateway_units holds 4 twice"
        );
        let no_units = ModbusSettings {
            gateway_units: vec![],
            ..settings()
        };
        assert!(no_units.validate().is_err());
        let empty_name = ModbusSettings {
            gateway_identities: vec![" ".into()],
            ..settings()
        };
        assert!(empty_name.validate().is_err());
    }

    #[test]
    fn a_gateway_is_named_by_a_part_of_its_vendor_or_product() {
        let id = |objects: &[(u8, &str)]| crate::inventory::ModbusIdentity {
            unit_id: 255,
            conformity_level: None,
            objects: objects.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        };
        let s = settings().gateway_identities;
        assert!(names_gateway(&s, &id(&[(0, "Moxa"), (1, "MGATE MB3180")])));
        assert!(names_gateway(&s, &id(&[(0, "Moxa"), (4, "mgate 5105")])));
        assert!(!names_gateway(
            &s,
            &id(&[(0, "Schneider Electric"), (1, "BMX P34")])
        ));
        // Object 3 (VendorUrl) is not a name.
        assert!(!names_gateway(&s, &id(&[(3, "http://mgate.example")])));
    }
}
