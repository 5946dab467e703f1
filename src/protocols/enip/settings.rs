//! The `[enip]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use super::safe::MAX_SLOT;
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
    /// Read the identity of every module in the backplane slots below, through a device
    /// that identified as a communications adapter (issue 15; off unless a profile says,
    /// and off when a profile table predates the key).
    #[serde(default)]
    pub backplane: bool,
    /// The first backplane slot read (0 to [`MAX_SLOT`]).
    #[serde(default)]
    pub backplane_slot_first: u8,
    /// The last backplane slot read (`backplane_slot_first` to [`MAX_SLOT`]; default 16,
    /// the last slot of the largest ControlLogix chassis).
    #[serde(default = "last_slot_16")]
    pub backplane_slot_last: u8,
}

fn last_slot_16() -> u8 {
    16
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("transport", Kind::Enum(&["tcp", "udp"])),
    ("list_services", Kind::Bool),
    ("backplane", Kind::Bool),
    ("backplane_slot_first", Kind::UInt(MAX_SLOT as u64)),
    ("backplane_slot_last", Kind::UInt(MAX_SLOT as u64)),
];

impl EnipSettings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        range_u64("enip.port", self.port.into(), 1, 65_535)?;
        // Hard cap: slot 31 is the highest the guard lets out (`safe::MAX_SLOT`).
        range_u64(
            "enip.backplane_slot_last",
            self.backplane_slot_last.into(),
            self.backplane_slot_first.into(),
            MAX_SLOT.into(),
        )?;

        Ok(())
    }

    /// The backplane slots to read, in order (empty when `backplane` is off).
    pub fn slots(&self) -> std::ops::RangeInclusive<u8> {
        if self.backplane {
            self.backplane_slot_first..=self.backplane_slot_last
        } else {
            #[allow(clippy::reversed_empty_ranges)]
            {
                1..=0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(first: u8, last: u8) -> EnipSettings {
        EnipSettings {
            enabled: true,
            port: 44818,
            transport: EnipTransport::Tcp,
            list_services: false,
            backplane: true,
            backplane_slot_first: first,
            backplane_slot_last: last,
        }
    }

    #[test]
    fn the_slot_range_is_capped_and_ordered() {
        assert!(settings(0, 16).validate().is_ok());
        assert!(settings(0, 31).validate().is_ok());
        let e = settings(0, 32).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "enip.backplane_slot_last must be at most 31, got 32"
        );
        let e = settings(5, 4).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "enip.backplane_slot_last must be at least 5, got 4"
        );
        assert_eq!(settings(2, 4).slots().collect::<Vec<_>>(), [2, 3, 4]);
        let off = EnipSettings {
            backplane: false,
            ..settings(0, 16)
        };
        assert_eq!(off.slots().count(), 0);
    }
}
