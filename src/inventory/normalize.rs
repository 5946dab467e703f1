//! Vendor, model, family and firmware normalisation, and CPE 2.3 names.
//!
//! Devices name themselves inconsistently: a vendor name typed by whoever wrote the
//! firmware, a registry id a protocol folder turned into its registered name. Every
//! value goes through here so that the same maker reads the same in every asset, and so
//! that a declared CSV value can be compared with an observed one ([`compare_key`]).
//! Protocol registries (ODVA's, PI's, ASHRAE's) are read in the protocol folders, from
//! `crate::data`; nothing here knows a protocol.
//!
//! Never reads the network or the clock; pure functions of their arguments.

/// A Modbus VendorName (or a declared vendor) in its canonical spelling.
///
/// Known makers are folded to one name ("SCHNEIDER-ELECTRIC", "Schneider Electric SA"
/// and "Telemecanique" all become "Schneider Electric"); anything else keeps its own
/// spelling with whitespace trimmed and collapsed.
pub fn vendor_name(raw: &str) -> String {
    let collapsed = collapse_ws(raw);
    let key: String = collapsed
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let canonical = if key.starts_with("schneider") || key.starts_with("telemecanique") {
        "Schneider Electric"
    } else if key == "siemens" || key.starts_with("siemensag") {
        "Siemens"
    } else if key.starts_with("rockwell") || key.starts_with("allenbradley") {
        "Rockwell Automation/Allen-Bradley"
    } else if key.starts_with("wago") {
        "WAGO"
    } else if key.starts_with("phoenixcontact") {
        "Phoenix Contact"
    } else if key.starts_with("abb") && key.len() <= 8 {
        "ABB"
    } else {
        return collapsed;
    };
    canonical.to_owned()
}

/// A firmware revision as a bare version string: `V3.2.6` → `3.2.6`, `v3.16.1-lab` →
/// `3.16.1-lab`.
pub fn firmware(raw: &str) -> String {
    let t = collapse_ws(raw);
    let stripped = t
        .strip_prefix('V')
        .or_else(|| t.strip_prefix('v'))
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    stripped.map(str::to_owned).unwrap_or(t)
}

/// A MAC address as lowercase colon-separated hex, or `None` when it is not one.
pub fn mac(raw: &str) -> Option<String> {
    let hex: String = raw.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let seps_ok = raw
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if hex.len() != 12 || !seps_ok {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let parts: Vec<&str> = (0..6).map(|i| &lower[i * 2..i * 2 + 2]).collect();
    Some(parts.join(":"))
}

/// The key two values of one field are compared by: case, surrounding and repeated
/// whitespace, and a `0x` prefix do not make two values differ.
pub fn compare_key(value: &str) -> String {
    // White space is spelling, not meaning: `BME P58 2040` and `BMEP582040` are one model.
    let lower: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => lower,
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The CPE 2.3 vendor component for a canonical vendor name (NVD's own spellings for
/// the makers it knows).
fn cpe_vendor(vendor: &str) -> String {
    match vendor {
        "Siemens" => "siemens".to_owned(),
        "Rockwell Automation/Allen-Bradley" => "rockwellautomation".to_owned(),
        "Schneider Electric" => "schneider-electric".to_owned(),
        "Phoenix Contact" => "phoenixcontact".to_owned(),
        other => cpe_component(other),
    }
}

/// One CPE 2.3 formatted-string component (NISTIR 7695 §6.2): lowercase, whitespace as
/// `_`, and every other printable ASCII character than letters, digits, `_`, `-` and `.`
/// quoted with `\`; control characters (a device can put ESC in its name) are dropped.
fn cpe_component(s: &str) -> String {
    let mut out = String::new();
    for c in collapse_ws(s).to_lowercase().chars() {
        if c == ' ' {
            out.push('_');
        } else if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            out.push(c);
        } else if c.is_ascii_graphic() {
            out.push('\\');
            out.push(c);
        }
        // Non-ASCII is dropped: CPE components are ASCII.
    }
    out
}

/// The hardware CPE (`cpe:2.3:h:vendor:model:-:…`); `None` when the vendor or model has
/// nothing CPE can spell.
pub fn cpe_hardware(vendor: &str, model: &str) -> Option<String> {
    let (v, m) = (cpe_vendor(vendor), cpe_component(model));
    (!v.is_empty() && !m.is_empty()).then(|| format!("cpe:2.3:h:{v}:{m}:-:*:*:*:*:*:*:*"))
}

/// The firmware CPE (`cpe:2.3:o:vendor:model_firmware:version:…`); `*` when the
/// version is unknown; `None` as for [`cpe_hardware`].
pub fn cpe_firmware(vendor: &str, model: &str, version: Option<&str>) -> Option<String> {
    let (v, m) = (cpe_vendor(vendor), cpe_component(model));
    let ver = version
        .map(cpe_component)
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "*".to_owned());
    (!v.is_empty() && !m.is_empty())
        .then(|| format!("cpe:2.3:o:{v}:{m}_firmware:{ver}:*:*:*:*:*:*:*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_fold() {
        for v in [
            "Schneider Electric",
            "SCHNEIDER-ELECTRIC",
            " Schneider  Electric SA ",
            "Telemecanique",
        ] {
            assert_eq!(vendor_name(v), "Schneider Electric", "{v}");
        }
        assert_eq!(vendor_name("Siemens AG"), "Siemens");
        assert_eq!(
            vendor_name("PeerLab  Automation GmbH"),
            "PeerLab Automation GmbH"
        );
    }

    #[test]
    fn firmware_mac_and_compare_keys() {
        assert_eq!(firmware("V3.2.6"), "3.2.6");
        assert_eq!(firmware("v3.16.1-lab"), "3.16.1-lab");
        assert_eq!(firmware("Version"), "Version");
        assert_eq!(
            mac("00-1B-1B-23-EB-3B").as_deref(),
            Some("00:1b:1b:23:eb:3b")
        );
        assert_eq!(mac("not a mac"), None);
        assert_eq!(compare_key("0x00524D8E"), compare_key("00524d8e"));
    }

    #[test]
    fn cpe_names() {
        assert_eq!(
            cpe_hardware("Siemens", "6ES7 151-8AB01-0AB0").as_deref(),
            Some("cpe:2.3:h:siemens:6es7_151-8ab01-0ab0:-:*:*:*:*:*:*:*")
        );
        assert_eq!(
            cpe_firmware(
                "Rockwell Automation/Allen-Bradley",
                "1756-ENBT/A",
                Some("4.3")
            )
            .as_deref(),
            Some("cpe:2.3:o:rockwellautomation:1756-enbt\\/a_firmware:4.3:*:*:*:*:*:*:*")
        );
        assert_eq!(
            cpe_firmware("Acme", "X", None).as_deref(),
            Some("cpe:2.3:o:acme:x_firmware:*:*:*:*:*:*:*:*")
        );
        assert_eq!(cpe_hardware("Acme", "\u{c4}\u{d6}"), None);
        assert_eq!(
            cpe_hardware("Acme", "X\u{1b}[2J\u{7f}\u{0}").as_deref(),
            Some("cpe:2.3:h:acme:x\\[2j:-:*:*:*:*:*:*:*")
        );
        assert_eq!(cpe_hardware("Acme", "\u{1b}\u{7}"), None);
    }

    proptest::proptest! {
        /// Device strings are untrusted: no input makes normalisation panic, and the CPE
        /// components stay within CPE's character set.
        #[test]
        fn any_string_normalises(s in "(\\PC|\\p{Cc}){0,40}") {
            let _ = vendor_name(&s);
            let _ = firmware(&s);
            let _ = mac(&s);
            let _ = compare_key(&s);
            let _ = crate::data::siemens::family(&s);
            if let Some(cpe) = cpe_firmware(&s, &s, Some(&s)) {
                proptest::prop_assert!(cpe.chars().all(|c| c.is_ascii_graphic()), "{:?}", cpe);
                // 13 non-empty components once quoted characters (`\\x`) are skipped.
                let mut parts = vec![0usize];
                let mut chars = cpe.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                            *parts.last_mut().unwrap_or(&mut 0) += 1;
                        }
                        ':' => parts.push(0),
                        _ => *parts.last_mut().unwrap_or(&mut 0) += 1,
                    }
                }
                proptest::prop_assert_eq!(parts.len(), 13, "{}", cpe);
                proptest::prop_assert!(parts.iter().all(|&n| n > 0), "{}", cpe);
            }
        }
    }
}
