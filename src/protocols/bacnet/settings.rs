//! The `[bacnet]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use crate::protocols::settings::{Invalid, Kind, range_u64};

/// The `[bacnet]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacnetSettings {
    pub enabled: bool,
    /// UDP port (47808, X'BAC0', Annex J).
    pub port: u16,
    /// Read the properties one ReadProperty at a time when ReadPropertyMultiple is refused.
    pub read_property_fallback: bool,
    /// Send one unicast Who-Is (no limits) when the device answers the wildcard instance
    /// with unknown-object, and read with the instance its I-Am gives.
    pub who_is_fallback: bool,
}

impl Default for BacnetSettings {
    fn default() -> Self {
        BacnetSettings {
            enabled: false,
            port: crate::wire::bacnet::PORT,
            read_property_fallback: true,
            who_is_fallback: true,
        }
    }
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("read_property_fallback", Kind::Bool),
    ("who_is_fallback", Kind::Bool),
];

impl BacnetSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("bacnet.port", self.port.into(), 1, 65_535)
    }
}
