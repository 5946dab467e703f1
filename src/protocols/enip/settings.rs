//! The `[enip]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use crate::protocols::settings::{Invalid, Kind, range_u64};

/// Whether the List* requests go over TCP or as UDP datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnipTransport {
    Tcp,
    Udp,
}

/// The `[enip]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnipSettings {
    pub enabled: bool,
    pub port: u16,
    pub transport: EnipTransport,
    /// Also send List Services after List Identity.
    pub list_services: bool,
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("transport", Kind::Enum(&["tcp", "udp"])),
    ("list_services", Kind::Bool),
];

impl EnipSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("enip.port", self.port.into(), 1, 65_535)?;

        Ok(())
    }
}
