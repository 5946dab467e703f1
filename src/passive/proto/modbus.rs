//! modbus analyzer (waiting for the modbus codec in wire/).

use super::Ctx;
use crate::wire::DecodeError;

/// Per-flow modbus state.
#[derive(Debug, Default)]
pub struct Modbus;

pub fn frame_len(_buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(None)
}

impl Modbus {
    pub fn on_frame(&mut self, _frame: &[u8], _ctx: &mut Ctx<'_>) {}
}
