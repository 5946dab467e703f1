//! A Controller Data Read answer as an identity, and that identity as asset fields.
//!
//! [`FinsIdentity`] is the payload of the inventory's `Identity::Fins`; [`asset_fields`]
//! and [`attributes`] are what merge folds from it (through [`IdentityFacts`]).

use crate::wire::fins::{ControllerData, fixed_str};

use chrono::{DateTime, Utc};

pub use crate::inventory::FinsIdentity;
use crate::inventory::merge::AssetField;
use crate::inventory::{Facts, IdentityFacts};

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

/// The model's series (`CP1L` of `CP1L-EL20DR-D`, `CJ2M` of `CJ2M-CPU33`): the part
/// before the first hyphen, when there is one.
pub fn family(model: &str) -> Option<String> {
    let (series, rest) = model.split_once('-')?;
    (!series.is_empty() && !rest.is_empty()).then(|| series.to_string())
}

/// The asset fields this identity sets, each with the attribute it comes from (for the
/// field's provenance).
///
/// The manufacturer is Omron: FINS is Omron's protocol and the model field names an
/// Omron controller; a third-party device answering 05 01 would still name its own model.
pub fn asset_fields(id: &FinsIdentity) -> Vec<(AssetField, String, &'static str)> {
    let mut out = vec![
        (AssetField::Manufacturer, "Omron".to_string(), "protocol"),
        (AssetField::Model, id.model.clone(), "controller model"),
        (
            AssetField::DeviceType,
            "PLC".to_string(),
            "controller data read",
        ),
    ];
    if let Some(f) = family(&id.model) {
        out.push((AssetField::Family, f, "controller model"));
    }
    if let Some(v) = &id.version {
        out.push((AssetField::Firmware, v.clone(), "controller version"));
    }
    out
}

/// Attributes beyond the asset fields (`fins.<name>`), in a stable order.
pub fn attributes(id: &FinsIdentity) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push((format!("fins.{k}"), v));
        }
    };
    put(
        "versions",
        (id.versions.len() > 1).then(|| id.versions.join(" ")),
    );
    put("node", id.node.map(|n| n.to_string()));
    put(
        "program_area_size",
        id.program_area_size.map(|v| v.to_string()),
    );
    put("iom_size", id.iom_size.map(|v| v.to_string()));
    put("dm_words", id.dm_words.map(|v| v.to_string()));
    put(
        "timer_counter_size",
        id.timer_counter_size.map(|v| v.to_string()),
    );
    put(
        "expansion_dm_size",
        id.expansion_dm_size.map(|v| v.to_string()),
    );
    put("steps", id.steps.map(|v| v.to_string()));
    put("memory_card", id.memory_card.clone());
    put(
        "memory_card_size",
        id.memory_card_size.map(|v| v.to_string()),
    );
    out
}

/// The fields and attributes above, each source naming the controller data it comes from.
impl IdentityFacts for FinsIdentity {
    fn facts(&self, _seen: Option<DateTime<Utc>>, out: &mut Facts) {
        out.listed("fins controller data", asset_fields(self), attributes(self));
    }

    /// Omron and the controller model.
    fn rule_names(&self, out: &mut Vec<String>) {
        out.push("Omron".to_owned());
        out.push(self.model.clone());
    }
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
