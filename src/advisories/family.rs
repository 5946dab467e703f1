//! Product families as advisories name them, for the makers in the demo plant.
//!
//! An advisory often names a family ("SIMATIC S7-300 CPU family", "Modicon M580",
//! "CompactLogix 5370 L3 controllers", "ILC 1x1: All variants") where the device names a
//! catalogue number. This table says which family a device belongs to, from the vendor's
//! catalogue numbering; a family match is the weakest kind ([`super::Confidence::Family`])
//! and is made only for advisory products that list no model numbers and name no other
//! model.
//!
//! Sources, per row: Siemens order numbers (MLFB) through `crate::data::siemens` (the
//! asset's `family`); Rockwell catalogue numbers (1756-L8x: ControlLogix 5580, 1756-L7x:
//! 5570, 1756-L6x: 5560, 1769-L3x: CompactLogix 5370 L3, 1769-L2x: L2, 1769-L1x: L1,
//! 5069-L3x: CompactLogix 5380, PowerFlex 525 in the 520 series; Rockwell's product
//! selection pages); Schneider part numbers (BMXP34: Modicon M340 CPUs, BMEP58/BMEH58:
//! Modicon M580 CPUs; the advisories' own "part numbers BMXP34*" wording); WAGO article
//! numbers (750-82xx: PFC200, 750-81xx: PFC100; ICSA-20-065-01 "Series PFC200:
//! (750-82xx/xxx-xxx)"); Phoenix Contact Inline controllers (ILC 1x1, ILC 1x0 and ILC 3xx
//! as ICSA-22-172-03 groups them: ILC 131/151/171/191 are ILC 1x1).

use super::model_key;

/// One row: a vendor, what the device's model (or product name) starts with, uppercase
/// without spaces (`?` any one character), and the family names advisories use.
struct Row {
    vendor: &'static str,
    prefix: &'static str,
    families: &'static [&'static str],
}

const ROWS: &[Row] = &[
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1756-L8",
        families: &["ControlLogix 5580"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1756-L7",
        families: &["ControlLogix 5570"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1756-L6",
        families: &["ControlLogix 5560"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1769-L3",
        families: &["CompactLogix 5370", "CompactLogix 5370 L3"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1769-L2",
        families: &["CompactLogix 5370", "CompactLogix 5370 L2"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "1769-L1",
        families: &["CompactLogix 5370", "CompactLogix 5370 L1"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "5069-L3",
        families: &["CompactLogix 5380"],
    },
    Row {
        vendor: "Rockwell Automation/Allen-Bradley",
        prefix: "POWERFLEX525",
        families: &["PowerFlex 525"],
    },
    Row {
        vendor: "Schneider Electric",
        prefix: "BMXP34",
        families: &["Modicon M340", "M340"],
    },
    Row {
        vendor: "Schneider Electric",
        prefix: "BMEP58",
        families: &["Modicon M580", "M580"],
    },
    Row {
        vendor: "Schneider Electric",
        prefix: "BMEH58",
        families: &["Modicon M580", "M580"],
    },
    Row {
        vendor: "WAGO",
        prefix: "750-82",
        families: &["PFC200", "Series PFC200"],
    },
    Row {
        vendor: "WAGO",
        prefix: "750-81",
        families: &["PFC100", "Series PFC100"],
    },
    Row {
        vendor: "Phoenix Contact",
        prefix: "ILC1?1",
        families: &["ILC 1x1"],
    },
    Row {
        vendor: "Phoenix Contact",
        prefix: "ILC1?0",
        families: &["ILC 1x0"],
    },
    Row {
        vendor: "Phoenix Contact",
        prefix: "ILC3",
        families: &["ILC 3xx"],
    },
];

fn starts_with_pattern(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.bytes()
            .zip(prefix.bytes())
            .all(|(c, p)| p == b'?' || c == p)
}

/// The family names an asset of this (canonical) vendor belongs to, from its model,
/// product name and (Siemens) order-number family.
pub fn families(
    vendor: &str,
    model: Option<&str>,
    product_name: Option<&str>,
    family: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if vendor == "Siemens" {
        if let Some(f) = family {
            // `ET 200S CPU` is the inventory's name; advisories write `ET 200S`.
            out.push(f.trim_end_matches(" CPU").to_owned());
        }
    }
    let keys: Vec<String> = [model, product_name]
        .into_iter()
        .flatten()
        .map(model_key)
        .collect();
    for row in ROWS.iter().filter(|r| r.vendor == vendor) {
        if keys.iter().any(|k| starts_with_pattern(k, row.prefix)) {
            out.extend(row.families.iter().map(|f| (*f).to_owned()));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::families;

    #[test]
    fn demo_plant_families() {
        assert_eq!(
            families("Siemens", Some("6ES7 315-2EH14-0AB0"), None, Some("S7-300")),
            ["S7-300"]
        );
        assert_eq!(
            families("Siemens", None, None, Some("ET 200S CPU")),
            ["ET 200S"]
        );
        assert_eq!(
            families(
                "Rockwell Automation/Allen-Bradley",
                Some("1769-L33ER/A LOGIX5333ER"),
                None,
                None
            ),
            ["CompactLogix 5370", "CompactLogix 5370 L3"]
        );
        assert_eq!(
            families(
                "Schneider Electric",
                Some("BME P58 2040"),
                Some("Modicon M580"),
                None
            ),
            ["M580", "Modicon M580"]
        );
        assert_eq!(
            families(
                "Phoenix Contact",
                Some("2700973"),
                Some("ILC 151 ETH"),
                None
            ),
            ["ILC 1x1"]
        );
        assert_eq!(
            families("WAGO", Some("750-8202"), None, None),
            ["PFC200", "Series PFC200"]
        );
        // The vendor must be the row's.
        assert!(families("WAGO", Some("BMXP342020"), None, None).is_empty());
    }
}
