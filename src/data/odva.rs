//! ODVA vendor ids and CIP device type codes, from `data/odva_vendors.csv` and
//! `data/cip_device_types.csv` (each names its source in its header).
//!
//! The tables are embedded at build time and parsed once, on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

const VENDORS_CSV: &str = include_str!("../../data/odva_vendors.csv");
const DEVICE_TYPES_CSV: &str = include_str!("../../data/cip_device_types.csv");

static VENDORS: OnceLock<HashMap<u16, String>> = OnceLock::new();
static DEVICE_TYPES: OnceLock<HashMap<u16, String>> = OnceLock::new();

/// Parses an `id,name` table with `#` comment lines and a header row. Rows that do not
/// parse are skipped (the unit tests prove there are none in the shipped files).
fn parse(csv_text: &str) -> HashMap<u16, String> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let id = r.get(0)?.trim().parse::<u16>().ok()?;
            let name = r.get(1)?.trim();
            (!name.is_empty()).then(|| (id, name.to_owned()))
        })
        .collect()
}

/// The registered name of an ODVA vendor id (`1` is `Rockwell Automation/Allen-Bradley`).
pub fn vendor_name(id: u16) -> Option<&'static str> {
    VENDORS
        .get_or_init(|| parse(VENDORS_CSV))
        .get(&id)
        .map(String::as_str)
}

/// The name of a CIP device type (device profile) code (`12` is `Communications Adapter`,
/// `14` `Programmable Logic Controller`).
pub fn device_type_name(code: u16) -> Option<&'static str> {
    DEVICE_TYPES
        .get_or_init(|| parse(DEVICE_TYPES_CSV))
        .get(&code)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_rows(text: &str) -> usize {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count()
            - 1
    }

    #[test]
    fn every_row_parses_and_ids_are_unique() {
        assert_eq!(parse(VENDORS_CSV).len(), data_rows(VENDORS_CSV));
        assert_eq!(parse(DEVICE_TYPES_CSV).len(), data_rows(DEVICE_TYPES_CSV));
    }

    #[test]
    fn major_vendors() {
        assert_eq!(vendor_name(1), Some("Rockwell Automation/Allen-Bradley"));
        assert_eq!(vendor_name(47), Some("Omron Corporation"));
        assert_eq!(vendor_name(40), Some("Wago Corporation"));
        assert_eq!(vendor_name(108), Some("Beckhoff Automation GmbH"));
        assert_eq!(vendor_name(562), Some("Phoenix Contact"));
        assert_eq!(vendor_name(283), Some("Hilscher GmbH"));
        assert_eq!(vendor_name(90), Some("HMS Industrial Networks AB"));
        assert_eq!(vendor_name(939), Some("Cisco Systems"));
        assert!(vendor_name(243).is_some_and(|n| n.contains("Schneider")));
        assert!(vendor_name(145).is_some_and(|n| n.contains("Siemens")));
        assert_eq!(vendor_name(0), None, "0 is reserved");
        assert_eq!(
            vendor_name(1337),
            None,
            "not registered (cpppo test server)"
        );
    }

    #[test]
    fn device_types() {
        assert_eq!(device_type_name(0), Some("Generic Device (deprecated)"));
        assert_eq!(device_type_name(2), Some("AC Drive"));
        assert_eq!(device_type_name(12), Some("Communications Adapter"));
        assert_eq!(device_type_name(14), Some("Programmable Logic Controller"));
        assert_eq!(device_type_name(0x2B), Some("Generic Device (keyable)"));
        assert_eq!(device_type_name(0x2C), Some("Managed Ethernet Switch"));
        assert_eq!(device_type_name(0xFFFF), None);
    }
}
