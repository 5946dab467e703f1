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

#[cfg(test)]
mod tests {
    use super::frames;
    use hex_literal::hex;
    use proptest::prelude::*;

    #[test]
    fn modbus_request_and_reply_share_a_key() {
        // FC 3 request (tid 0x0102, unit 1) and its reply.
        let req = hex!("0102 0000 0006 01 03 0000 0002");
        let rsp = hex!("0102 0000 0007 01 03 04 0001 0002");
        let a = frames(&req).unwrap();
        let b = frames(&rsp).unwrap();
        assert_eq!(a, b);
        // An exception reply keeps the key.
        let exc = hex!("0102 0000 0003 01 83 02");
        assert_eq!(frames(&exc), Some(a));
        // Two frames in one segment.
        let two = [&req[..], &req[..]].concat();
        assert!(frames(&two).is_some());
    }

    #[test]
    fn modbus_rejects_near_misses() {
        // Protocol id 1, length past the segment, trailing byte, unknown function,
        // exception with a bad code.
        assert!(frames(&hex!("0102 0001 0006 01 03 0000 0002")).is_none());
        assert!(frames(&hex!("0102 0000 0009 01 03 0000 0002")).is_none());
        assert!(frames(&hex!("0102 0000 0006 01 03 0000 0002 00")).is_none());
        assert!(frames(&hex!("0102 0000 0006 01 63 0000 0002")).is_none());
        assert!(frames(&hex!("0102 0000 0003 01 83 7f")).is_none());
    }

    proptest! {
        #[test]
        fn any_well_formed_mbap_frame_is_a_modbus_candidate(
            tid in any::<u16>(),
            unit in any::<u8>(),
            fc in prop::sample::select(vec![1u8, 2, 3, 4, 5, 6, 15, 16, 17, 43]),
            data in proptest::collection::vec(any::<u8>(), 0..252),
        ) {
            let mut f = tid.to_be_bytes().to_vec();
            f.extend([0, 0]);
            f.extend(((data.len() + 2) as u16).to_be_bytes());
            f.push(unit);
            f.push(fc);
            f.extend(&data);
            let key = frames(&f).expect("candidate");
            prop_assert_eq!(key, (u64::from(tid) << 8) | u64::from(fc));
            // Cut anywhere, it is not a candidate.
            for n in 0..f.len() {
                prop_assert!(frames(&f[..n]).is_none());
            }
        }
    }
}
