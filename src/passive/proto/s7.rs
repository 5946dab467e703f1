//! s7 analyzer (waiting for the s7 codec in wire/).

use super::Ctx;
use crate::wire::DecodeError;

/// Per-flow s7 state.
#[derive(Debug, Default)]
pub struct S7;

pub fn frame_len(_buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(None)
}

impl S7 {
    pub fn on_frame(&mut self, _frame: &[u8], _ctx: &mut Ctx<'_>) {}
}
