//! A MAC address's manufacturer from the IEEE registration authority's registries (MA-L,
//! MA-M, MA-S, CID, IAB), through the `oui-data` crate, which builds the registries it
//! ships into the binary: nothing is fetched, at build time or at run time.
//!
//! A MAC names the maker of the network interface, not of the device: a PLC's module may
//! carry a board maker's OUI. Merge therefore uses it only for an asset that has no
//! manufacturer from any other source, at the lowest precedence, with its own provenance
//! ([`Provenance::MacOui`](super::Provenance::MacOui)).

/// What the registries say about a MAC's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OuiVendor {
    /// The registered prefix, uppercase hex without separators (6, 7 or 9 digits).
    pub prefix: String,
    /// `MA-L`, `MA-M`, `MA-S`, `CID` or `IAB`.
    pub registry: &'static str,
    /// The organisation as registered.
    pub organization: String,
}

/// Why a MAC names no manufacturer, when it is well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoVendor {
    /// Not six octets of hex.
    Malformed,
    /// The I/G bit (bit 0 of the first octet, IEEE 802-2014 8.2) is set: a group address.
    Multicast,
    /// The U/L bit (bit 1 of the first octet) is set: assigned locally (a virtual machine,
    /// a randomised phone MAC), so the prefix names nobody.
    LocallyAdministered,
    /// Universally administered, but in no registry this build ships.
    Unregistered,
}

/// The registered manufacturer of a MAC address (`00:1b:1b:12:34:56`, `00-1B-1B-…`,
/// `001b.1b12.3456`).
pub fn lookup(mac: &str) -> Result<OuiVendor, NoVendor> {
    let hex: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect::<String>()
        .to_ascii_uppercase();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(NoVendor::Malformed);
    }
    let first = u8::from_str_radix(&hex[..2], 16).map_err(|_| NoVendor::Malformed)?;
    if first & 0x01 != 0 {
        return Err(NoVendor::Multicast);
    }
    if first & 0x02 != 0 {
        return Err(NoVendor::LocallyAdministered);
    }
    let rec = oui_data::lookup(&hex).ok_or(NoVendor::Unregistered)?;
    let registry = match rec.registry() {
        oui_data::Registry::Mal => "MA-L",
        oui_data::Registry::Mam => "MA-M",
        oui_data::Registry::Mas => "MA-S",
        oui_data::Registry::Cid => "CID",
        oui_data::Registry::Iab => "IAB",
    };
    let organization = rec.organization().trim().trim_end_matches(',').trim();
    if organization.is_empty() {
        return Err(NoVendor::Unregistered);
    }
    Ok(OuiVendor {
        prefix: rec.oui().to_owned(),
        registry,
        organization: organization.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_universal_mac_names_its_registered_maker() {
        // 00:1B:1B is Siemens AG's MA-L block (IEEE oui.csv).
        let v = lookup("00:1b:1b:12:34:56").unwrap();
        assert_eq!((v.prefix.as_str(), v.registry), ("001B1B", "MA-L"));
        assert!(
            v.organization.to_ascii_lowercase().contains("siemens"),
            "{v:?}"
        );
        assert_eq!(lookup("00-1B-1B-12-34-56"), Ok(v.clone()));
        assert_eq!(lookup("001b.1b12.3456"), Ok(v));
    }

    #[test]
    fn local_group_and_malformed_macs_name_nobody() {
        // 02:… sets the U/L bit; 01:00:5e:… is IPv4 multicast; 33:33:… IPv6 multicast.
        assert_eq!(
            lookup("02:1b:1b:12:34:56"),
            Err(NoVendor::LocallyAdministered)
        );
        assert_eq!(
            lookup("da:a1:19:00:00:01"),
            Err(NoVendor::LocallyAdministered)
        );
        assert_eq!(lookup("01:00:5e:00:00:01"), Err(NoVendor::Multicast));
        assert_eq!(lookup("33:33:00:00:00:01"), Err(NoVendor::Multicast));
        assert_eq!(lookup("ff:ff:ff:ff:ff:ff"), Err(NoVendor::Multicast));
        assert_eq!(lookup("00:1b:1b:12:34"), Err(NoVendor::Malformed));
        assert_eq!(lookup("00:1b:1b:12:34:zz"), Err(NoVendor::Malformed));
    }
}
