//! S7comm over ISO-on-TCP: encoders for COTP connect/disconnect, Setup Communication and
//! Read SZL (with its follow-up), and their guard rule.
//! (Placeholder until the S7 codec lands: the guard refuses everything.)

use super::{
    CotpConnect, CotpDisconnect, GuardError, S7ReadSzl, S7ReadSzlFollowUp, S7SetupCommunication,
};
use crate::inventory::Protocol;

pub(crate) fn encode_cotp_connect(_r: &CotpConnect, _out: &mut Vec<u8>) {}
pub(crate) fn encode_setup(_r: &S7SetupCommunication, _out: &mut Vec<u8>) {}
pub(crate) fn encode_read_szl(_r: &S7ReadSzl, _out: &mut Vec<u8>) {}
pub(crate) fn encode_read_szl_follow_up(_r: &S7ReadSzlFollowUp, _out: &mut Vec<u8>) {}
pub(crate) fn encode_cotp_disconnect(_r: &CotpDisconnect, _out: &mut Vec<u8>) {}

pub(crate) fn check(_frame: &[u8]) -> Result<&'static str, GuardError> {
    Err(GuardError::NotAllowed {
        protocol: Protocol::S7,
        what: "guard not built yet".into(),
    })
}
