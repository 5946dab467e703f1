//! The names an identity answers to when vendor rules are matched.

use crate::inventory::Identity;

/// The names devices answer to for vendor rules: canonical vendor names, families and
/// product names (the profile's rules match when a name contains the rule's `match`);
/// each protocol's own in its folder (`protocols::<name>::identity`).
pub fn identity_names(identities: &[Identity]) -> Vec<String> {
    identities.iter().flat_map(Identity::rule_names).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{EnipIdentity, EnipIdentitySource, S7Identity};

    #[test]
    fn names_for_vendor_rules() {
        let rockwell = Identity::Enip(EnipIdentity {
            source: EnipIdentitySource::ListIdentity,
            vendor_id: 1,
            device_type: 12,
            product_code: 58,
            revision_major: 4,
            revision_minor: 3,
            status: 0x30,
            serial: 0x0052_4d8e,
            product_name: "1756-ENBT/A".into(),
            state: Some(3),
            encapsulation_version: Some(1),
            socket_addr: None,
        });
        let names = identity_names(std::slice::from_ref(&rockwell));
        assert!(
            names.iter().any(|n| n.to_lowercase().contains("rockwell")),
            "{names:?}"
        );
        let s7 = Identity::S7(Box::new(S7Identity {
            order_number: Some("6ES7 315-2EH14-0AB0 ".into()),
            ..S7Identity::default()
        }));
        let names = identity_names(std::slice::from_ref(&s7));
        assert!(names.contains(&"Siemens".to_owned()), "{names:?}");
        assert!(names.contains(&"S7-300".to_owned()), "{names:?}");
    }
}
