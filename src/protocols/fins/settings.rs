//! The `[fins]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use super::safe::Transport;
use crate::protocols::settings::{Invalid, Kind, range_u64};

/// How the Controller Data Read travels (profile value `udp` or `tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinsTransport {
    /// One datagram, no connection (the default: nothing to hold open on the unit).
    Udp,
    /// FINS/TCP: the node-address handshake, then the read, on one connection.
    Tcp,
}

impl From<FinsTransport> for Transport {
    fn from(t: FinsTransport) -> Self {
        match t {
            FinsTransport::Udp => Transport::Udp,
            FinsTransport::Tcp => Transport::Tcp,
        }
    }
}

/// The `[fins]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinsSettings {
    pub enabled: bool,
    /// UDP or TCP port (9600, W342/W421).
    pub port: u16,
    pub transport: FinsTransport,
    /// SA1 over UDP when our own address gives no node number (IPv6, host part 0 or
    /// 255): 1-254.
    pub fallback_source_node: u8,
}

impl Default for FinsSettings {
    fn default() -> Self {
        FinsSettings {
            enabled: false,
            port: super::PORT,
            transport: FinsTransport::Udp,
            fallback_source_node: 0x63,
        }
    }
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("transport", Kind::Enum(&["udp", "tcp"])),
    ("fallback_source_node", Kind::UInt(255)),
];

impl FinsSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("fins.port", self.port.into(), 1, 65_535)?;
        // 0 is the unit itself and 255 broadcast (W342 5-1): the guard refuses both.
        range_u64(
            "fins.fallback_source_node",
            self.fallback_source_node.into(),
            1,
            254,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_off() {
        let s = FinsSettings::default();
        assert!(!s.enabled);
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn broadcast_and_self_source_nodes_are_refused() {
        for n in [0u8, 255] {
            let s = FinsSettings {
                fallback_source_node: n,
                ..FinsSettings::default()
            };
            let e = s.validate().unwrap_err();
            assert_eq!(e.key, "fins.fallback_source_node");
        }
    }
}
