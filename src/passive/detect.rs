//! Payload-based protocol detection for TCP flows on ports that name no ICS protocol
//! (a Modbus gateway on 5020, an S7 behind a port forward on 10102).
//!
//! Strict on purpose: a false positive would feed some other protocol's bytes to an
//! analyzer and could invent an identity. A segment is a [`Candidate`] only when its
//! payload is exactly a whole number of well-formed frames of one protocol, as that
//! protocol's detector says ([`crate::protocols::ProtocolSpec::detect`], in
//! `src/protocols/<name>/detect.rs`; the registry's order decides between two, which the
//! detectors' rules keep from happening on real traffic).
//!
//! One candidate is not enough: the engine calls a flow ICS only when both directions
//! produce candidates of the same protocol whose [`Candidate::key`]s match (a Modbus
//! reply echoes the transaction id and function, an ENIP reply the command and sender
//! context, an S7 ack the PDU reference, a COTP CC answers a CR). The detection is
//! recorded as heuristic in the observations.
//!
//! UDP has no second direction to confirm with: there only a List Identity reply whose
//! identity item decodes is taken ([`datagram`]).

use crate::inventory::Protocol;
use crate::protocols::{ProtocolSpec, REGISTRY};

/// One segment that parses cleanly as one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub protocol: Protocol,
    /// What the other direction's candidate must carry to confirm this one.
    pub key: u64,
}

/// The first registered protocol the segment parses cleanly as, if any.
pub fn candidate(payload: &[u8]) -> Option<Candidate> {
    REGISTRY.iter().find_map(|s| {
        s.detect(payload).map(|key| Candidate {
            protocol: s.protocol(),
            key,
        })
    })
}

/// The registered protocol a lone UDP datagram is, on its own, and why that is believed.
pub fn datagram(payload: &[u8]) -> Option<(&'static dyn ProtocolSpec, &'static str)> {
    REGISTRY
        .iter()
        .find_map(|s| s.detect_datagram(payload).map(|why| (*s, why)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use proptest::prelude::*;

    // The protocols' detectors as candidates (the cases below predate the registry).
    fn with(protocol: Protocol, key: Option<u64>) -> Option<Candidate> {
        key.map(|key| Candidate { protocol, key })
    }
    fn modbus(d: &[u8]) -> Option<Candidate> {
        with(
            Protocol::Modbus,
            crate::protocols::modbus::detect::frames(d),
        )
    }
    fn enip(d: &[u8]) -> Option<Candidate> {
        with(Protocol::Enip, crate::protocols::enip::detect::frames(d))
    }
    fn s7(d: &[u8]) -> Option<Candidate> {
        with(Protocol::S7, crate::protocols::s7::detect::frames(d))
    }

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
