//! The names an identity answers to when vendor rules are matched.

use crate::inventory::Identity;
use crate::inventory::normalize;

/// The names devices answer to for vendor rules: canonical vendor names, families and
/// product names (the profile's rules match when a name contains the rule's `match`).
pub fn identity_names(identities: &[Identity]) -> Vec<String> {
    let mut names = Vec::new();
    for identity in identities {
        match identity {
            Identity::Enip(e) => {
                if let Some(v) = normalize::odva_vendor(e.vendor_id) {
                    names.push(v.to_owned());
                }
                names.push(e.product_name.clone());
            }
            Identity::Modbus(m) => {
                for id in [0u8, 4, 5] {
                    if let Some(v) = m.objects.get(&id) {
                        names.push(if id == 0 {
                            normalize::vendor_name(v)
                        } else {
                            v.clone()
                        });
                    }
                }
            }
            Identity::Opcua(u) => {
                if let Some(m) = u
                    .build_info
                    .as_ref()
                    .and_then(|b| b.manufacturer_name.as_deref())
                {
                    names.push(normalize::vendor_name(m));
                }
                if let Some(p) = u.build_info.as_ref().and_then(|b| b.product_name.clone()) {
                    names.push(p);
                }
            }
            Identity::Fins(f) => {
                names.push("Omron".to_owned());
                names.push(f.model.clone());
            }
            Identity::Fox(f) => {
                names.extend(f.app_name.iter().map(|a| format!("Niagara {a}")));
                names.extend(f.brand_id.clone());
            }
            Identity::ProfinetDcp(d) => {
                names.extend(
                    d.vendor_id
                        .and_then(normalize::s7_manufacturer)
                        .map(str::to_owned),
                );
                names.extend(d.vendor_value.clone());
            }
            Identity::S7(s) => {
                let vendor = s
                    .manufacturer_id
                    .and_then(normalize::s7_manufacturer)
                    .unwrap_or("Siemens");
                names.push(vendor.to_owned());
                if let Some(f) = s
                    .order_number
                    .as_deref()
                    .and_then(normalize::siemens_family)
                {
                    names.push(f.to_owned());
                }
                names.extend(s.module_type.clone());
            }
            Identity::Bacnet(b) => {
                if let Some(v) = b.vendor_id.and_then(crate::data::bacnet::vendor_name) {
                    names.push(normalize::vendor_name(v));
                }
                names.extend(b.vendor_name.as_deref().map(normalize::vendor_name));
                names.extend(b.model_name.clone());
            }
        }
    }
    names
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
