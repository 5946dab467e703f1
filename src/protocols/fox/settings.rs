//! The `[fox]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use crate::protocols::settings::{Invalid, Kind, range_u64};

/// The `[fox]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoxSettings {
    pub enabled: bool,
    /// Plain-TCP Fox port (1911). TLS Fox (4911) is never probed: see `fox/mod.rs`.
    pub port: u16,
}

impl Default for FoxSettings {
    fn default() -> Self {
        FoxSettings {
            enabled: false,
            port: super::PORT,
        }
    }
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[("enabled", Kind::Bool), ("port", Kind::UInt(65_535))];

impl FoxSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("fox.port", self.port.into(), 1, 65_535)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let s = FoxSettings::default();
        assert!(!s.enabled);
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            FoxSettings { port: 0, ..s }.validate().unwrap_err().key,
            "fox.port"
        );
    }
}
