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
    use proptest::prelude::*;

    // Each protocol's detector cases are in its folder (`src/protocols/<name>/detect.rs`).

    #[test]
    fn http_is_no_candidate() {
        assert!(candidate(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_none());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = candidate(&data);
        }
    }
}
