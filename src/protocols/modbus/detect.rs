//! The Modbus/TCP payload detector (see [`crate::protocols::detect`] for the contract): a
//! segment is Modbus when it is exactly a whole number of MBAP frames with protocol id 0,
//! a length of 2 to 254 (Modbus Application Protocol v1.1b3, 4.1: a PDU is at most 253
//! bytes), a public function code, or an exception (code | 0x80) three bytes long with
//! exception code 1 to 0x0B. A reply echoes the request's transaction id and function.

use crate::protocols::detect::{MAX_FRAMES, be16};

/// Public Modbus function codes (Modbus Application Protocol v1.1b3, 5.1).
fn modbus_function(fc: u8) -> bool {
    matches!(
        fc,
        1..=8 | 11 | 12 | 15..=17 | 20..=24 | 43
    )
}

/// The segment as whole MBAP frames; the key is the first frame's transaction id and
/// function (without the exception bit).
pub fn frames(payload: &[u8]) -> Option<u64> {
    let mut off = 0;
    let mut key = None;
    for _ in 0..MAX_FRAMES {
        let f = payload.get(off..)?;
        if be16(f, 2)? != 0 {
            return None;
        }
        // Untrusted: MBAP length counts the unit id and the PDU.
        let len = usize::from(be16(f, 4)?);
        if !(2..=254).contains(&len) {
            return None;
        }
        let frame_len = 6 + len;
        let fc = *f.get(7)?;
        if f.len() < frame_len {
            return None;
        }
        let plausible = if fc & 0x80 != 0 {
            let code = *f.get(8)?;
            modbus_function(fc & 0x7f) && len == 3 && (1..=0x0B).contains(&code)
        } else {
            modbus_function(fc)
        };
        if !plausible {
            return None;
        }
        key.get_or_insert((u64::from(be16(f, 0)?) << 8) | u64::from(fc & 0x7f));
        off += frame_len;
        if off == payload.len() {
            return key;
        }
    }
    None
}
