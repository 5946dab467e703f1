//! What an identity says about its asset, in merge's terms: asset fields, attributes and
//! the model to fall back on, each with the detail of where in the identity it came from
//! (the `detail` of the value's [`super::merge::Source`]).
//!
//! Each protocol's folder maps its own identity (`protocols::<name>::identity`
//! implements [`IdentityFacts`] for its identity type); [`super::Identity::facts`] is the
//! one dispatch over the closed enum. Merge folds the facts with its precedence and
//! conflict rules and adds the provenance: a protocol says what, merge says how much it
//! counts. The dependency points from `protocols` to here; this module names no
//! protocol.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::merge::AssetField;
use super::normalize;

/// One thing an identity says about its asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityFact {
    /// A value of an asset field, already in its canonical spelling (the protocol
    /// normalises what needs it: vendor names, firmware versions).
    Field {
        field: AssetField,
        value: String,
        detail: String,
    },
    /// The model only when no source names one (a Modbus ProductCode: a read of the basic
    /// objects must not contradict a scan that read the ModelName).
    ModelFallback { value: String, detail: String },
    /// A value of `field` only when no source names one (a BACnet vendor id's registered
    /// name: the device's own vendor-name, read elsewhere, must not conflict with it).
    FieldFallback {
        field: AssetField,
        value: String,
        detail: String,
    },
    /// A detail without a field of its own (`opcua.application_uri`, `plant_tag`, …).
    Attribute {
        name: String,
        value: String,
        detail: String,
    },
}

/// The facts of one identity, in the order the protocol gives them. Empty values are kept
/// here; merge drops them (after trimming) as it does every source's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(Vec<IdentityFact>);

impl Facts {
    /// A value of `field`.
    pub fn field(&mut self, field: AssetField, value: &str, detail: String) {
        self.0.push(IdentityFact::Field {
            field,
            value: value.to_owned(),
            detail,
        });
    }

    /// A value of `field` to use only when no source names one.
    pub fn field_fallback(&mut self, field: AssetField, value: &str, detail: String) {
        self.0.push(IdentityFact::FieldFallback {
            field,
            value: value.to_owned(),
            detail,
        });
    }

    /// A model to use only when no source names one.
    pub fn model_fallback(&mut self, value: &str, detail: String) {
        self.0.push(IdentityFact::ModelFallback {
            value: value.to_owned(),
            detail,
        });
    }

    /// An attribute.
    pub fn attribute(&mut self, name: &str, value: &str, detail: String) {
        self.0.push(IdentityFact::Attribute {
            name: name.to_owned(),
            value: value.to_owned(),
            detail,
        });
    }

    /// Fields and attributes given as lists (`<name>::identity::{asset_fields,
    /// attributes}`), each field's detail `"{via} {attribute}"` and each attribute's
    /// `"{via} {name}"`; a manufacturer, firmware or MAC goes through normalisation as
    /// every other source's does.
    pub fn listed(
        &mut self,
        via: &str,
        fields: Vec<(AssetField, String, &'static str)>,
        attributes: Vec<(String, String)>,
    ) {
        for (field, value, attr) in fields {
            let value = match field {
                AssetField::Manufacturer => normalize::vendor_name(&value),
                AssetField::Firmware => normalize::firmware(&value),
                AssetField::Mac => normalize::mac(&value).unwrap_or(value),
                _ => value,
            };
            self.field(field, &value, format!("{via} {attr}"));
        }
        for (name, value) in attributes {
            self.attribute(&name, &value, format!("{via} {name}"));
        }
    }
}

impl IntoIterator for Facts {
    type Item = IdentityFact;
    type IntoIter = std::vec::IntoIter<IdentityFact>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The mapping of one protocol's identity to what merge folds into an asset, implemented
/// in the protocol's folder (`src/protocols/<name>/identity.rs`).
pub trait IdentityFacts {
    /// What the identity says. `seen` is when it was seen: what depends on the time (an
    /// OPC UA certificate that had expired then) is judged at that time, never now.
    fn facts(&self, seen: Option<DateTime<Utc>>, out: &mut Facts);

    /// The names the device answers to when a profile's vendor rules are matched (a rule
    /// matches when a name contains its `match`): canonical vendor names, families,
    /// product names.
    fn rule_names(&self, out: &mut Vec<String>);

    /// Where the identity was read, when its protocol addresses devices behind one
    /// address without a route path of its own (a Modbus unit id, an S7 called TSAP):
    /// merge makes it a sub-asset when the address answered for several devices. `None`
    /// (the default) for a protocol that does not.
    fn behind(&self) -> Option<Behind> {
        None
    }

    /// The sub-asset path of a device read through a router of its protocol (a BACnet
    /// NPDU's SNET/SADR): always a sub-asset of the address that relayed it, whatever
    /// else that address answered. `None` (the default) for a device's own identity.
    fn route_path(&self) -> Option<String> {
        None
    }
}

/// An identity read through an address of its protocol's own (a Modbus unit id, an S7
/// called TSAP), as merge needs it to tell a gateway from one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    /// The unit id or TSAP it was read through.
    pub via: u32,
    /// What this reading said, each member's name to its comparison key
    /// ([`normalize::compare_key`]), `via` itself left out: two readings contradict when
    /// a member both name differs.
    pub said: BTreeMap<String, String>,
    /// The sub-asset path it belongs to when the address answered for several devices;
    /// `None` when `via` addresses the relaying device itself (Modbus unit 0 or 0xFF).
    pub path: Option<String>,
}
