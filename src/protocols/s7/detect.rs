//! The S7comm payload detector (see [`crate::protocols::detect`] for the contract): a
//! segment is S7 when it is exactly a whole number of TPKT frames, version 3 (RFC 1006),
//! carrying a COTP CR, CC or DT (ISO 8073) whose length indicator fits, and for DT an S7
//! header (protocol id 0x32, a known ROSCTR). A COTP CC answers a CR; an S7 ack echoes the
//! job's PDU reference.

use crate::protocols::detect::{MAX_FRAMES, be16};

/// The key COTP connection requests and confirms share.
const COTP_CONNECT_KEY: u64 = 0xC0DE_0000_0000;

/// The segment as whole TPKT frames carrying COTP CR/CC or DT with S7comm; the key is a
/// connect marker for CR/CC and the S7 PDU reference for data.
pub fn frames(payload: &[u8]) -> Option<u64> {
    let mut off = 0;
    let mut key = None;
    for _ in 0..MAX_FRAMES {
        let f = payload.get(off..)?;
        if *f.first()? != 3 || *f.get(1)? != 0 {
            return None;
        }
        // Untrusted: the TPKT length covers its own 4-byte header.
        let len = usize::from(be16(f, 2)?);
        if len < 7 || f.len() < len {
            return None;
        }
        let f = &f[..len];
        let li = usize::from(*f.get(4)?);
        if li < 2 || 5 + li > len {
            return None;
        }
        let k = match *f.get(5)? & 0xF0 {
            0xE0 | 0xD0 if li >= 6 && 5 + li == len => COTP_CONNECT_KEY,
            0xF0 if li == 2 => {
                // S7 header: 0x32, ROSCTR, reserved(2), PDU reference(2).
                let s7 = f.get(7..)?;
                if *s7.first()? != 0x32 || !matches!(*s7.get(1)?, 1 | 2 | 3 | 7) {
                    return None;
                }
                u64::from(be16(s7, 4)?)
            }
            _ => return None,
        };
        key.get_or_insert(k);
        off += len;
        if off == payload.len() {
            return key;
        }
    }
    None
}
