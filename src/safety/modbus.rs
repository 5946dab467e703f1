//! Modbus/TCP: the encoder for Read Device Identification and its guard rule.
//! (Placeholder until the Modbus codec lands: the guard refuses everything.)

use super::{GuardError, ModbusReadDeviceId};
use crate::inventory::Protocol;

pub(crate) fn encode(_r: &ModbusReadDeviceId, _out: &mut Vec<u8>) {}

pub(crate) fn check(_frame: &[u8]) -> Result<&'static str, GuardError> {
    Err(GuardError::NotAllowed {
        protocol: Protocol::Modbus,
        what: "guard not built yet".into(),
    })
}
