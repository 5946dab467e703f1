//! BACnet answers as an identity: the Device object's properties (from ReadProperty and
//! ReadPropertyMultiple acks) and I-Am, folded into a [`BacnetIdentity`], and its mapping
//! to inventory fields as plain functions.
//!
//! Two pitfalls of real devices are handled here:
//! - an ack echoes the instance that was asked: asked with the wildcard 4194303, every ack
//!   says 4194303 (`bacnet_test.pcap`), so the instance is taken only from the *value* of
//!   `object-identifier` or from I-Am, never from the ack's object;
//! - an I-Am with instance 4194303 is a client advertising itself (the router in
//!   `bacnet_services.pcap` frame 299), not a device instance.

use chrono::{DateTime, Utc};

use crate::inventory::merge::AssetField;
pub use crate::inventory::{BacnetIdentity, BacnetRoute as Route};
use crate::inventory::{Facts, IdentityFacts, normalize};
use crate::wire::Anomaly;
use crate::wire::bacnet::{IAm, NetAddr, Value, WILDCARD_INSTANCE, property, segmentation_name};

impl From<&NetAddr> for Route {
    fn from(a: &NetAddr) -> Self {
        Route {
            network: a.network,
            mac: hex::encode(&a.mac),
        }
    }
}

impl BacnetIdentity {
    /// True when nothing was learned.
    pub fn is_empty(&self) -> bool {
        *self
            == BacnetIdentity {
                route: self.route.clone(),
                ..Default::default()
            }
    }

    /// Takes one property's values from an ack. The first value of a property wins (a
    /// later answer does not overwrite it). Returns what was odd (a string in a character
    /// set otscout cannot decode, a value of the wrong type).
    pub fn apply(&mut self, prop: u32, values: &[Value]) -> Vec<Anomaly> {
        let mut odd = Vec::new();
        let Some(v) = values.first() else {
            return odd;
        };
        let mut text = |slot: &mut Option<String>| match v.as_char_string() {
            Some(s) => {
                let (t, a) = s.to_text();
                odd.extend(a);
                slot.get_or_insert(t);
            }
            None => odd.push(wrong_type(prop, "a character string")),
        };
        match prop {
            property::OBJECT_NAME => text(&mut self.object_name),
            property::VENDOR_NAME => text(&mut self.vendor_name),
            property::MODEL_NAME => text(&mut self.model_name),
            property::FIRMWARE_REVISION => text(&mut self.firmware_revision),
            property::APPLICATION_SOFTWARE_VERSION => text(&mut self.application_software_version),
            property::DESCRIPTION => text(&mut self.description),
            property::LOCATION => text(&mut self.location),
            property::OBJECT_IDENTIFIER => match v {
                Value::ObjectId(o) if o.instance != WILDCARD_INSTANCE => {
                    self.instance.get_or_insert(o.instance);
                }
                Value::ObjectId(_) => odd.push(Anomaly {
                    field: "bacnet.object_identifier",
                    what: "the device answered the wildcard instance 4194303 as its own".into(),
                }),
                _ => odd.push(wrong_type(prop, "an object identifier")),
            },
            property::VENDOR_IDENTIFIER => match v.as_unsigned() {
                Some(n) => {
                    self.vendor_id
                        .get_or_insert(u32::try_from(n).unwrap_or(u32::MAX));
                }
                None => odd.push(wrong_type(prop, "an unsigned")),
            },
            property::MAX_APDU_LENGTH_ACCEPTED => {
                if let Some(n) = v.as_unsigned() {
                    self.max_apdu
                        .get_or_insert(u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
            property::SEGMENTATION_SUPPORTED => {
                if let Some(n) = v.as_unsigned() {
                    self.segmentation
                        .get_or_insert(u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
            _ => {}
        }
        odd
    }

    /// Takes an I-Am. Returns false (and takes nothing) for the wildcard instance 4194303:
    /// that is a client advertising itself, not a device.
    pub fn apply_i_am(&mut self, i: &IAm) -> bool {
        if i.device.instance == WILDCARD_INSTANCE {
            return false;
        }
        self.instance.get_or_insert(i.device.instance);
        self.vendor_id.get_or_insert(i.vendor_id);
        self.max_apdu.get_or_insert(i.max_apdu);
        self.segmentation.get_or_insert(i.segmentation);
        true
    }

    /// The registered name of the vendor id (ASHRAE's list, `data/bacnet_vendors.csv`).
    pub fn vendor(&self) -> Option<&'static str> {
        self.vendor_id.and_then(crate::data::bacnet::vendor_name)
    }

    /// The identity as inventory fields, in a fixed order: (field, value). Empty strings
    /// are kept (a device that says its description is empty said something).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        put("device_instance", self.instance.map(|v| v.to_string()));
        put("object_name", self.object_name.clone());
        put("vendor_id", self.vendor_id.map(|v| v.to_string()));
        put("vendor", self.vendor().map(str::to_string));
        put("vendor_name", self.vendor_name.clone());
        put("model_name", self.model_name.clone());
        put("firmware_revision", self.firmware_revision.clone());
        put(
            "application_software_version",
            self.application_software_version.clone(),
        );
        put("description", self.description.clone());
        put("location", self.location.clone());
        put("max_apdu", self.max_apdu.map(|v| v.to_string()));
        put(
            "segmentation",
            self.segmentation.map(|v| segmentation_name(v).to_string()),
        );
        if let Some(r) = &self.route {
            put("bacnet_network", Some(r.network.to_string()));
            put("bacnet_mac", Some(r.mac.clone()));
        }
        out
    }

    /// The inventory's vendor: the vendor-name property when the device gave one, else the
    /// registered name of its vendor id.
    pub fn inventory_vendor(&self) -> Option<String> {
        self.vendor_name
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| self.vendor().map(str::to_string))
    }

    /// The inventory's model and firmware.
    pub fn inventory_model(&self) -> Option<String> {
        self.model_name.clone().filter(|s| !s.trim().is_empty())
    }

    pub fn inventory_firmware(&self) -> Option<String> {
        self.firmware_revision
            .clone()
            .filter(|s| !s.trim().is_empty())
    }
}

fn wrong_type(prop: u32, want: &str) -> Anomaly {
    Anomaly {
        field: "bacnet.property_value",
        what: format!(
            "{} ({prop}) is not {want}",
            crate::wire::bacnet::property::name(prop)
        ),
    }
}

/// The sub-asset path of a BACnet device behind a router: its network number and MAC
/// (SNET and SADR of the NPDU, ASHRAE 135 6.2.2), the MAC in lowercase hex (`bacnet:3/1d`).
pub fn route_path(r: &crate::inventory::observation::BacnetRoute) -> String {
    format!("bacnet:{}/{}", r.network, r.mac.to_lowercase())
}

/// The vendor (the device's vendor-name, else ASHRAE's name for its vendor id), model and
/// firmware as fields; instance, object name and the rest as attributes. A device behind a
/// router (SNET/SADR) is never the router's own identity: merge folds it into the router's
/// sub-asset at `bacnet:N/MAC` ([`route_path`]).
impl IdentityFacts for BacnetIdentity {
    fn route_path(&self) -> Option<String> {
        self.route.as_ref().map(route_path)
    }

    fn facts(&self, _seen: Option<DateTime<Utc>>, b: &mut Facts) {
        let id = self;
        let s = |attr: &str| format!("bacnet device {attr}");
        let registered = id.vendor_id.and_then(crate::data::bacnet::vendor_name);
        // The device's own vendor-name is the manufacturer; the registered name of its
        // vendor id only when no source names one (an I-Am alone), so that an I-Am and a
        // property read of one device never conflict (vendor 42 is registered as Acuity
        // Brands Lighting, whose devices say Lithonia Lighting).
        match id.vendor_name.as_deref().filter(|v| !v.trim().is_empty()) {
            Some(v) => b.field(
                AssetField::Manufacturer,
                &normalize::vendor_name(v),
                s("vendor-name"),
            ),
            None => {
                let registered = registered
                    .map(normalize::vendor_name)
                    .or_else(|| id.vendor_id.map(|v| format!("BACnet vendor {v}")));
                if let Some(v) = registered {
                    b.field_fallback(AssetField::Manufacturer, &v, s("vendor-identifier"));
                }
            }
        }
        if let Some(m) = &id.model_name {
            b.field(AssetField::Model, m, s("model-name"));
        }
        if let Some(f) = &id.firmware_revision {
            b.field(AssetField::Firmware, f, s("firmware-revision"));
        }
        let attrs = [
            ("bacnet.device_instance", id.instance.map(|v| v.to_string())),
            ("bacnet.vendor_id", id.vendor_id.map(|v| v.to_string())),
            ("bacnet.vendor", registered.map(str::to_owned)),
            ("bacnet.object_name", id.object_name.clone()),
            (
                "bacnet.application_software_version",
                id.application_software_version.clone(),
            ),
            ("bacnet.description", id.description.clone()),
            ("bacnet.location", id.location.clone()),
            ("bacnet.max_apdu", id.max_apdu.map(|v| v.to_string())),
            (
                "bacnet.segmentation",
                id.segmentation.map(|v| segmentation_name(v).to_owned()),
            ),
        ];
        for (name, value) in attrs {
            if let Some(v) = value {
                b.attribute(name, &v, s(name.trim_start_matches("bacnet.")));
            }
        }
    }

    /// The vendor id's registered name and the vendor-name property (both canonical), and
    /// the model.
    fn rule_names(&self, out: &mut Vec<String>) {
        if let Some(v) = self.vendor() {
            out.push(normalize::vendor_name(v));
        }
        out.extend(self.vendor_name.as_deref().map(normalize::vendor_name));
        out.extend(self.model_name.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bacnet::{CharString, ObjectId};

    fn s(charset: u8, raw: &[u8]) -> Value {
        Value::CharacterString(CharString {
            charset,
            raw: raw.to_vec(),
        })
    }

    #[test]
    fn the_wildcard_echo_is_not_the_instance_but_the_value_is() {
        let mut id = BacnetIdentity::default();
        // bacnet_test.pcap frame 4: the ack names device,4194303 but the value is device,500.
        assert!(
            id.apply(75, &[Value::ObjectId(ObjectId::device(500))])
                .is_empty()
        );
        assert_eq!(id.instance, Some(500));
        let mut echo = BacnetIdentity::default();
        assert_eq!(
            echo.apply(75, &[Value::ObjectId(ObjectId::device(WILDCARD_INSTANCE))])
                .len(),
            1
        );
        assert_eq!(echo.instance, None);
    }

    #[test]
    fn jci_nae_identity_from_ucs2_strings() {
        let mut id = BacnetIdentity::default();
        id.apply(120, &[Value::Unsigned(5)]);
        id.apply(121, &[s(4, &[0, b'J', 0, b'C', 0, b'I'])]);
        id.apply(12, &[s(4, &[])]);
        id.apply(70, &[s(4, b"\0M\0S")]);
        assert_eq!(id.vendor_name.as_deref(), Some("JCI"));
        assert_eq!(id.application_software_version.as_deref(), Some(""));
        assert_eq!(id.vendor(), Some("Johnson Controls, Inc."));
        assert_eq!(id.inventory_vendor().as_deref(), Some("JCI"));
        let f = id.fields();
        assert!(f.contains(&("vendor", "Johnson Controls, Inc.".into())));
        assert!(f.contains(&("application_software_version", String::new())));
    }

    #[test]
    fn i_am_of_the_wildcard_is_a_client() {
        let mut id = BacnetIdentity::default();
        let router = IAm {
            device: ObjectId::device(WILDCARD_INSTANCE),
            max_apdu: 480,
            segmentation: 3,
            vendor_id: 24,
        };
        assert!(!id.apply_i_am(&router));
        assert!(id.is_empty());
        let dev = IAm {
            device: ObjectId::device(108),
            ..router
        };
        assert!(id.apply_i_am(&dev));
        assert_eq!(
            (id.instance, id.vendor_id, id.max_apdu),
            (Some(108), Some(24), Some(480))
        );
        assert_eq!(
            id.fields().last(),
            Some(&("segmentation", "no-segmentation".to_string()))
        );
    }

    #[test]
    fn wrong_types_are_anomalies_and_first_value_wins() {
        let mut id = BacnetIdentity::default();
        assert_eq!(id.apply(77, &[Value::Unsigned(1)]).len(), 1);
        id.apply(77, &[s(0, b"first")]);
        id.apply(77, &[s(0, b"second")]);
        assert_eq!(id.object_name.as_deref(), Some("first"));
        assert!(id.apply(77, &[]).is_empty());
    }

    #[test]
    fn serde_keeps_only_what_was_learned() {
        let id = BacnetIdentity {
            instance: Some(29),
            route: Some(Route {
                network: 3,
                mac: "1d".into(),
            }),
            ..Default::default()
        };
        let j = serde_json::to_string(&id).unwrap();
        assert_eq!(j, r#"{"instance":29,"route":{"network":3,"mac":"1d"}}"#);
        assert_eq!(serde_json::from_str::<BacnetIdentity>(&j).unwrap(), id);
    }
}
