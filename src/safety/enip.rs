//! EtherNet/IP: the encoder for List Identity/Services/Interfaces and its guard rule.
//! (Placeholder until the ENIP codec lands: the guard refuses everything.)

use super::{EnipList, GuardError};
use crate::inventory::Protocol;

pub(crate) fn encode(_r: &EnipList, _out: &mut Vec<u8>) {}

pub(crate) fn check(_frame: &[u8]) -> Result<&'static str, GuardError> {
    Err(GuardError::NotAllowed {
        protocol: Protocol::Enip,
        what: "guard not built yet".into(),
    })
}
