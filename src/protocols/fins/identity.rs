//! A Controller Data Read answer as an identity, and that identity as asset fields.
//!
//! The inventory's `Identity` enum gets its `fins` variant with the registry work (issue
//! 13); until then [`FinsIdentity`] is the payload it will carry (serde names already
//! snake_case) and [`asset_fields`] / [`attributes`] are what merge will fold from it.

use crate::wire::fins::{ControllerData, fixed_str};

pub use crate::inventory::FinsIdentity;
pub use crate::inventory::identity_fields::{
    fins_asset_fields as asset_fields, fins_attributes as attributes, fins_family as family,
};

/// The memory card kind byte's name (W342 5-3-1).
pub fn memory_card_kind(k: u8) -> String {
    match k {
        0 => "none".into(),
        1 => "spram".into(),
        2 => "eprom".into(),
        3 => "eeprom".into(),
        k => format!("kind {k}"),
    }
}

/// The identity in a Controller Data Read answer from node `node`; `None` when the
/// model field is empty (a device that answered but named nothing).
pub fn to_identity(d: &ControllerData, node: Option<u8>) -> Option<FinsIdentity> {
    let model = fixed_str(&d.model).trim().to_string();
    if model.is_empty() {
        return None;
    }
    let versions = d.versions();
    let a = d.area;
    Some(FinsIdentity {
        model,
        version: versions.first().cloned(),
        versions,
        node,
        program_area_size: a.map(|a| a.program_area_size),
        iom_size: a.map(|a| a.iom_size),
        dm_words: a.map(|a| a.dm_words),
        timer_counter_size: a.map(|a| a.timer_counter_size),
        expansion_dm_size: a.map(|a| a.expansion_dm_size),
        steps: a.map(|a| a.steps),
        memory_card: a.map(|a| memory_card_kind(a.memory_card_kind)),
        memory_card_size: a.map(|a| a.memory_card_size),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::merge::AssetField;
    use crate::wire::fins::{AreaData, ControllerData};

    /// The CP1L of `omron_test.pcap` frames 9 and 18 (captures/INDEX.md).
    fn cp1l() -> ControllerData {
        let mut model = [0u8; 20];
        model[..13].copy_from_slice(b"CP1L-EL20DR-D");
        model[16..].copy_from_slice(b"    ");
        let mut version = [0u8; 20];
        version[..5].copy_from_slice(b"01.00");
        version[10..15].copy_from_slice(b"01.06");
        ControllerData {
            model,
            version,
            system_use: Some(vec![0; 40]),
            area: Some(AreaData {
                program_area_size: 10,
                iom_size: 23,
                dm_words: 10768,
                timer_counter_size: 8,
                expansion_dm_size: 0,
                steps: 0,
                memory_card_kind: 0,
                memory_card_size: 0,
            }),
            rest: vec![],
        }
    }

    #[test]
    fn the_cp1l_maps_to_model_version_and_area_data() {
        let id = to_identity(&cp1l(), Some(0xc8)).unwrap();
        assert_eq!(id.model, "CP1L-EL20DR-D");
        assert_eq!(id.version.as_deref(), Some("01.00"));
        assert_eq!(id.versions, ["01.00", "01.06"]);
        assert_eq!(
            (id.program_area_size, id.iom_size, id.dm_words),
            (Some(10), Some(23), Some(10768))
        );
        assert_eq!(id.memory_card.as_deref(), Some("none"));
        let fields = asset_fields(&id);
        assert!(fields.contains(&(AssetField::Family, "CP1L".into(), "controller model")));
        assert!(fields.contains(&(AssetField::Firmware, "01.00".into(), "controller version")));
        let attrs = attributes(&id);
        assert_eq!(attrs[0], ("fins.versions".into(), "01.00 01.06".into()));
        assert!(attrs.contains(&("fins.node".into(), "200".into())));
        // Serialized names are snake_case and round-trip.
        let json = serde_json::to_string(&id).unwrap();
        assert!(json.contains("\"dm_words\":10768"), "{json}");
        assert_eq!(serde_json::from_str::<FinsIdentity>(&json).unwrap(), id);
    }

    #[test]
    fn an_empty_model_is_no_identity() {
        let mut d = cp1l();
        d.model = [b' '; 20];
        assert_eq!(to_identity(&d, None), None);
        assert_eq!(family("CJ2M-CPU33"), Some("CJ2M".into()));
        assert_eq!(family("NJ501"), None);
    }
}
