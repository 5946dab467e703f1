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

#[cfg(test)]
mod tests {
    use super::frames;
    use hex_literal::hex;

    #[test]
    fn s7_frames_share_keys_with_their_answers() {
        // COTP CR (s7comm_reading_plc_status.pcap frame 4 layout) and a CC.
        let cr = hex!("0300 0016 11 e0 0000 0001 00 c1020100 c2020102 c0010a");
        let cc = hex!("0300 0016 11 d0 0001 0001 00 c1020100 c2020102 c0010a");
        assert_eq!(frames(&cr), frames(&cc));
        assert!(frames(&cr).is_some());
        // S7 setup communication job and its ack data share the PDU reference.
        let job = hex!("0300 0019 02 f0 80 32 01 0000 0400 0008 0000 f0 00 0001 0001 01e0");
        let ack = hex!("0300 001b 02 f0 80 32 03 0000 0400 0008 0000 0000 f0 00 0001 0001 00f0");
        assert_eq!(frames(&job), Some(0x0400));
        assert_eq!(frames(&job), frames(&ack));
        // S7comm-plus (0x72) is not claimed.
        assert!(frames(&hex!("0300 000b 02 f0 80 72 01 0000")).is_none());
    }
}
