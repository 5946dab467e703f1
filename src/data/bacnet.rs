//! BACnet vendor identifiers, from `data/bacnet_vendors.csv` (ASHRAE's BACnet Vendor ID
//! list as Wireshark 4.0.17 carries it; the file names its source in its header).
//!
//! The table is embedded at build time and parsed once, on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

const VENDORS_CSV: &str = include_str!("../../data/bacnet_vendors.csv");

static VENDORS: OnceLock<HashMap<u32, String>> = OnceLock::new();

/// Parses the `id,name` table with `#` comment lines and a header row. Rows that do not
/// parse are skipped (the unit test proves there are none in the shipped file).
fn parse(csv_text: &str) -> HashMap<u32, String> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            let id = r.get(0)?.trim().parse::<u32>().ok()?;
            let name = r.get(1)?.trim();
            (!name.is_empty()).then(|| (id, name.to_owned()))
        })
        .collect()
}

/// The name ASHRAE registered for a BACnet vendor id (`5` is `Johnson Controls, Inc.`).
pub fn vendor_name(id: u32) -> Option<&'static str> {
    VENDORS
        .get_or_init(|| parse(VENDORS_CSV))
        .get(&id)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses_and_the_captures_vendors_are_named() {
        let rows = VENDORS_CSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count()
            - 1;
        assert_eq!(parse(VENDORS_CSV).len(), rows);
        // bacnet_test.pcap (JCI NAE), bacnet_services.pcap (the router, the lighting panels).
        assert_eq!(vendor_name(5), Some("Johnson Controls, Inc."));
        assert_eq!(vendor_name(24), Some("Automated Logic Corporation"));
        assert_eq!(vendor_name(42), Some("Acuity Brands Lighting, Inc."));
        assert_eq!(vendor_name(0), Some("ASHRAE"));
        assert_eq!(vendor_name(4_000_000), None);
    }
}
