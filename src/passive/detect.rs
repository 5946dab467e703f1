//! Payload-based protocol detection for TCP flows on ports that name no ICS protocol
//! (a Modbus gateway on 5020, an S7 behind a port forward on 10102).
//!
//! Strict on purpose: a false positive would feed some other protocol's bytes to an
//! analyzer and could invent an identity. A segment is a [`Candidate`] only when its
//! payload is exactly a whole number of well-formed frames of one protocol:
//! - Modbus/TCP: MBAP protocol id 0, a length of 2 to 254 (Modbus Application Protocol
//!   v1.1b3, 4.1: a PDU is at most 253 bytes), a public function code, or an exception
//!   (code | 0x80) three bytes long with exception code 1 to 0x0B;
//! - EtherNet/IP: a command otscout knows (ODVA Vol. 2, 2-3.2), the header's length
//!   matching, options zero;
//! - S7comm: TPKT version 3 (RFC 1006), a COTP CR, CC or DT (ISO 8073) whose length
//!   indicator fits, and for DT an S7 header (protocol id 0x32, a known ROSCTR).
//!
//! One candidate is not enough: the engine calls a flow ICS only when both directions
//! produce candidates of the same protocol whose [`Candidate::key`]s match (a Modbus
//! reply echoes the transaction id and function, an ENIP reply the command and sender
//! context, an S7 ack the PDU reference, a COTP CC answers a CR). The detection is
//! recorded as heuristic in the observations.
//!
//! UDP has no second direction to confirm with: there only a List Identity reply whose
//! identity item decodes is taken ([`enip_identity_reply`]).
//!
//! Sans-IO and bounds-checked: every length is read from the slice with `get` and
//! checked against what is there; nothing here allocates.

use crate::inventory::Protocol;

/// Frames in one segment beyond which the check gives up (pipelined polling rarely puts
/// more than a few in one segment).
const MAX_FRAMES: usize = 16;

/// One segment that parses cleanly as one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub protocol: Protocol,
    /// What the other direction's candidate must carry to confirm this one.
    pub key: u64,
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// Public Modbus function codes (Modbus Application Protocol v1.1b3, 5.1).
fn modbus_function(fc: u8) -> bool {
    matches!(
        fc,
        1..=8 | 11 | 12 | 15..=17 | 20..=24 | 43
    )
}

/// The segment as whole MBAP frames; the key is the first frame's transaction id and
/// function (without the exception bit).
pub fn modbus(payload: &[u8]) -> Option<Candidate> {
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
            return key.map(|key| Candidate {
                protocol: Protocol::Modbus,
                key,
            });
        }
    }
    None
}

/// Encapsulation commands otscout reads (ODVA Vol. 2, 2-3.2).
fn enip_command(c: u16) -> bool {
    matches!(
        c,
        0x0004 | 0x0063 | 0x0064 | 0x0065 | 0x0066 | 0x006F | 0x0070
    )
}

/// The segment as whole EtherNet/IP encapsulation frames; the key is the first frame's
/// command and sender context.
pub fn enip(payload: &[u8]) -> Option<Candidate> {
    let mut off = 0;
    let mut key = None;
    for _ in 0..MAX_FRAMES {
        let f = payload.get(off..)?;
        let command = le16(f, 0)?;
        // Untrusted: the length of the data after the 24-byte header.
        let len = usize::from(le16(f, 2)?);
        let status = u32::from_le_bytes(f.get(8..12)?.try_into().ok()?);
        let options = f.get(20..24)?;
        if !enip_command(command) || status > 0xFF || options != [0, 0, 0, 0] {
            return None;
        }
        let frame_len = 24 + len;
        if f.len() < frame_len {
            return None;
        }
        let context = f.get(12..20)?;
        key.get_or_insert_with(|| {
            context
                .iter()
                .fold(u64::from(command), |h, b| h.rotate_left(8) ^ u64::from(*b))
        });
        off += frame_len;
        if off == payload.len() {
            return key.map(|key| Candidate {
                protocol: Protocol::Enip,
                key,
            });
        }
    }
    None
}

/// True when a UDP datagram is exactly one EtherNet/IP List Identity reply (command
/// 0x63, status 0) whose CPF holds an identity item that decodes (ODVA Vol. 2 2-4.3.2):
/// strict enough to stand without a request to confirm it.
pub fn enip_identity_reply(payload: &[u8]) -> bool {
    use crate::wire::enip::{Command, Frame};
    if le16(payload, 0) != Some(0x0063) || enip(payload).is_none() {
        return false;
    }
    let Ok(frame) = Frame::decode_exact(payload) else {
        return false;
    };
    frame.header.command == Command::ListIdentity
        && frame.header.status.raw() == 0
        && crate::protocols::enip::identity::list_identity_reply(&frame)
            .is_ok_and(|(ids, _)| !ids.is_empty())
}

/// The key COTP connection requests and confirms share.
const COTP_CONNECT_KEY: u64 = 0xC0DE_0000_0000;

/// The segment as whole TPKT frames carrying COTP CR/CC or DT with S7comm; the key is a
/// connect marker for CR/CC and the S7 PDU reference for data.
pub fn s7(payload: &[u8]) -> Option<Candidate> {
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
            return key.map(|key| Candidate {
                protocol: Protocol::S7,
                key,
            });
        }
    }
    None
}

/// The first protocol the segment parses cleanly as, if any.
pub fn candidate(payload: &[u8]) -> Option<Candidate> {
    modbus(payload)
        .or_else(|| enip(payload))
        .or_else(|| s7(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    #[test]
    fn modbus_request_and_reply_share_a_key() {
        // FC 3 request (tid 0x0102, unit 1) and its reply.
        let req = hex!("0102 0000 0006 01 03 0000 0002");
        let rsp = hex!("0102 0000 0007 01 03 04 0001 0002");
        let a = modbus(&req).unwrap();
        let b = modbus(&rsp).unwrap();
        assert_eq!(a, b);
        // An exception reply keeps the key.
        let exc = hex!("0102 0000 0003 01 83 02");
        assert_eq!(modbus(&exc), Some(a));
        // Two frames in one segment.
        let two = [&req[..], &req[..]].concat();
        assert!(modbus(&two).is_some());
    }

    #[test]
    fn modbus_rejects_near_misses() {
        // Protocol id 1, length past the segment, trailing byte, unknown function,
        // exception with a bad code.
        assert!(modbus(&hex!("0102 0001 0006 01 03 0000 0002")).is_none());
        assert!(modbus(&hex!("0102 0000 0009 01 03 0000 0002")).is_none());
        assert!(modbus(&hex!("0102 0000 0006 01 03 0000 0002 00")).is_none());
        assert!(modbus(&hex!("0102 0000 0006 01 63 0000 0002")).is_none());
        assert!(modbus(&hex!("0102 0000 0003 01 83 7f")).is_none());
        // HTTP is not Modbus.
        assert!(candidate(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_none());
    }

    #[test]
    fn enip_list_identity_and_s7_frames() {
        let li = hex!("6300 0000 00000000 00000000 0102030405060708 00000000");
        let c = enip(&li).unwrap();
        assert_eq!(c.protocol, Protocol::Enip);
        // Options non-zero: refused.
        let bad = hex!("6300 0000 00000000 00000000 0102030405060708 01000000");
        assert!(enip(&bad).is_none());
        // COTP CR (s7comm_reading_plc_status.pcap frame 4 layout) and a CC.
        let cr = hex!("0300 0016 11 e0 0000 0001 00 c1020100 c2020102 c0010a");
        let cc = hex!("0300 0016 11 d0 0001 0001 00 c1020100 c2020102 c0010a");
        assert_eq!(s7(&cr), s7(&cc));
        assert!(s7(&cr).is_some());
        // S7 setup communication job and its ack data share the PDU reference.
        let job = hex!("0300 0019 02 f0 80 32 01 0000 0400 0008 0000 f0 00 0001 0001 01e0");
        let ack = hex!("0300 001b 02 f0 80 32 03 0000 0400 0008 0000 0000 f0 00 0001 0001 00f0");
        assert_eq!(s7(&job).map(|c| c.key), Some(0x0400));
        assert_eq!(s7(&job), s7(&ack));
        // S7comm-plus (0x72) is not claimed.
        assert!(s7(&hex!("0300 000b 02 f0 80 72 01 0000")).is_none());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = candidate(&data);
        }

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
            let c = modbus(&f).expect("candidate");
            prop_assert_eq!(c.key, (u64::from(tid) << 8) | u64::from(fc));
            // Cut anywhere, it is not a candidate.
            for n in 0..f.len() {
                prop_assert!(modbus(&f[..n]).is_none());
            }
        }
    }
}
