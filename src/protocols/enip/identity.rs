//! EtherNet/IP and CIP codec types as inventory facts: List Identity items and the CIP
//! Identity object as an [`EnipIdentity`], and that identity as asset fields.

use chrono::{DateTime, Utc};

use crate::inventory::merge::AssetField;
use crate::inventory::{EnipIdentity, EnipIdentitySource, Facts, IdentityFacts, normalize};
use crate::wire::enip::{CipIdentity, Frame, IdentityItem, identity_items};
use crate::wire::{Anomaly, DecodeError};

/// A List Identity item as an identity (source `list_identity`), with the state byte,
/// the encapsulation version and the socket address the item carries.
pub fn list_identity(item: &IdentityItem) -> EnipIdentity {
    EnipIdentity {
        source: EnipIdentitySource::ListIdentity,
        state: item.state(),
        encapsulation_version: Some(item.encapsulation_version),
        socket_addr: Some(item.socket_addr()),
        ..attributes(&item.identity)
    }
}

/// A Get_Attributes_All (or complete Get_Attribute_List) reply of the Identity object as
/// an identity (source `cip_get_attributes_all`). The state byte (attribute 8) is not
/// taken from `extra`: devices differ in what follows the name.
pub fn cip_identity(id: &CipIdentity) -> EnipIdentity {
    attributes(id)
}

fn attributes(id: &CipIdentity) -> EnipIdentity {
    EnipIdentity {
        source: EnipIdentitySource::CipGetAttributesAll,
        vendor_id: id.vendor_id,
        device_type: id.device_type,
        product_code: id.product_code,
        revision_major: id.revision[0],
        revision_minor: id.revision[1],
        status: id.status,
        serial: id.serial,
        product_name: id.product_name_str(),
        state: None,
        encapsulation_version: None,
        socket_addr: None,
    }
}

/// The identities of a List Identity reply frame. Items of other types are skipped with
/// an anomaly; a malformed identity item is an error.
pub fn list_identity_reply(
    frame: &Frame,
) -> Result<(Vec<EnipIdentity>, Vec<Anomaly>), DecodeError> {
    let (items, anomalies) = identity_items(frame)?;
    Ok((items.iter().map(list_identity).collect(), anomalies))
}

/// One line naming the identity for the import summary (`otscout passive`).
pub fn describe(e: &EnipIdentity) -> String {
    format!(
        "enip vendor {} type {} product {}: {} rev {}.{} serial {:#010x}",
        e.vendor_id,
        e.device_type,
        e.product_code,
        e.product_name,
        e.revision_major,
        e.revision_minor,
        e.serial
    )
}

/// Vendor (ODVA's name for the vendor id), device type, product name (also the model),
/// product code, revision and serial, each named by the exchange it came from.
impl IdentityFacts for EnipIdentity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, b: &mut Facts) {
        let via = match self.source {
            EnipIdentitySource::ListIdentity => "enip list identity",
            EnipIdentitySource::CipGetAttributesAll => "cip identity object",
        };
        let s = |attr: &str| format!("{via} {attr}");
        // Through the same canonical spelling as other sources: ODVA says "Schneider
        // Automation, Inc." where a Modbus VendorName says "Schneider Electric".
        let vendor = crate::data::odva::vendor_name(self.vendor_id).map_or_else(
            || format!("ODVA vendor {}", self.vendor_id),
            normalize::vendor_name,
        );
        b.field(
            AssetField::Manufacturer,
            &vendor,
            s(&format!("vendor_id {}", self.vendor_id)),
        );
        let dt = crate::data::odva::device_type_name(self.device_type).map_or_else(
            || format!("CIP device type {}", self.device_type),
            str::to_owned,
        );
        b.field(
            AssetField::DeviceType,
            &dt,
            s(&format!("device_type {}", self.device_type)),
        );
        b.field(AssetField::Model, &self.product_name, s("product_name"));
        b.field(
            AssetField::ProductName,
            &self.product_name,
            s("product_name"),
        );
        b.field(
            AssetField::ProductCode,
            &self.product_code.to_string(),
            s("product_code"),
        );
        b.field(
            AssetField::Firmware,
            &format!("{}.{}", self.revision_major, self.revision_minor),
            s("revision"),
        );
        b.field(
            AssetField::Serial,
            &format!("0x{:08x}", self.serial),
            s("serial_number"),
        );
    }

    fn rule_names(&self, out: &mut Vec<String>) {
        out.extend(crate::data::odva::vendor_name(self.vendor_id).map(str::to_owned));
        out.push(self.product_name.clone());
    }
}
