//! The `[s7]` profile section: schema and validation.

use serde::{Deserialize, Serialize};

use crate::protocols::settings::{Invalid, Kind, bad, list_len, no_dups, range_u64};

/// The `[s7]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S7Settings {
    pub enabled: bool,
    pub port: u16,
    /// Remote (called) TSAPs to try in order, one connection each, stopping at the first
    /// the CPU accepts. High byte: connection type (0x01 PG, 0x02 OP, 0x03 S7-basic);
    /// low byte: rack * 32 + slot.
    pub tsaps: Vec<u16>,
    /// Local (calling) TSAP.
    pub local_tsap: u16,
    /// SZL ids to read (index 0 each).
    pub szl_ids: Vec<u16>,
    /// PDU length to propose in Setup Communication.
    pub pdu_length: u16,
    /// Allow TSAP 0x0101 (PG, rack 0 slot 1: S7-1200/1500) in `tsaps`.
    #[serde(default)]
    pub allow_tsap_0101: bool,
}

/// The keys of the section and their types (the profile loader checks them).
pub const SCHEMA: &[(&str, Kind)] = &[
    ("enabled", Kind::Bool),
    ("port", Kind::UInt(65_535)),
    ("tsaps", Kind::UIntList(65_535)),
    ("local_tsap", Kind::UInt(65_535)),
    ("szl_ids", Kind::UIntList(65_535)),
    ("pdu_length", Kind::UInt(65_535)),
    ("allow_tsap_0101", Kind::Bool),
];

impl S7Settings {
    /// Checks every key's range; the error names the key and the value.
    pub fn validate(&self) -> Result<(), Invalid> {
        let s = self;
        range_u64("s7.port", s.port.into(), 1, 65_535)?;
        list_len("s7.tsaps", s.tsaps.len(), 8)?;
        no_dups("s7.tsaps", &s.tsaps)?;
        for t in &s.tsaps {
            if !(1..=3).contains(&(t >> 8)) {
                return bad(
                    "s7.tsaps",
                    format!(
                        "high byte must be the connection type 0x01 (PG), 0x02 (OP) or 0x03 (S7-basic), got 0x{t:04x}"
                    ),
                );
            }
            if *t == 0x0101 && !s.allow_tsap_0101 {
                return bad(
                    "s7.tsaps",
                    "may hold 0x0101 (S7-1200/1500) only when s7.allow_tsap_0101 = true".into(),
                );
            }
        }
        if s.local_tsap == 0 {
            return bad("s7.local_tsap", "must not be 0".into());
        }
        list_len("s7.szl_ids", s.szl_ids.len(), 2)?;
        no_dups("s7.szl_ids", &s.szl_ids)?;
        if let Some(id) = s.szl_ids.iter().find(|id| **id != 0x0011 && **id != 0x001C) {
            return bad(
                "s7.szl_ids",
                format!(
                    "may hold only 0x0011 (module identification) and 0x001c (component identification), got 0x{id:04x}"
                ),
            );
        }
        range_u64("s7.pdu_length", s.pdu_length.into(), 240, 960)?;

        Ok(())
    }
}
