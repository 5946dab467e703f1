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
}

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

        Ok(())
    }
}
