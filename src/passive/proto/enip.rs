//! enip analyzer (waiting for the enip codec in wire/).

use super::Ctx;
use crate::wire::DecodeError;

/// Per-flow enip state.
#[derive(Debug, Default)]
pub struct Enip;

pub fn frame_len(_buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(None)
}

impl Enip {
    pub fn on_frame(&mut self, _frame: &[u8], _ctx: &mut Ctx<'_>) {}
}
