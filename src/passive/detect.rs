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
//!
//! # Buffering the first bytes ([`Probe`])
//! What the detector decides must not depend on how TCP cut the stream: a flow whose
//! first segment is a few bytes of an OPC UA Hello is OPC UA as much as one whose Hello
//! came whole. So the engine buffers each direction's first bytes (in sequence order, at
//! most [`MAX_PROBE_BYTES`] per direction) and the probe reads them frame by frame with
//! each registered protocol's own framer, asking the protocol's detector about each whole
//! frame: a protocol is found when a frame of each direction gives the same key, ruled
//! out for a direction when its bytes cannot be that protocol's frame. The engine then
//! replays what it buffered to the protocol's analyzer, so nothing of the first exchange
//! is lost. A flow whose probe fills before a decision is opaque for good (counted in
//! `ImportStats::probe_capped`).

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

/// Bytes of each direction of a TCP flow on a port that names no protocol held while the
/// detector decides. 4 KiB holds the first exchanges of every registered protocol (an OPC
/// UA Hello is under 300 bytes with a long endpoint URL, a COTP connect 22, a Modbus ADU
/// at most 260, a List Identity reply well under 1 KiB); counted in the engine's global
/// reassembly budget like any stream.
pub const MAX_PROBE_BYTES: usize = 4096;
/// Frames of one direction the probe reads per protocol (a capture that starts
/// mid-conversation may need a few before a request and its answer line up).
pub const MAX_PROBE_FRAMES: usize = 8;

/// How far one protocol's framer got in one direction.
#[derive(Debug, Clone, Default)]
struct Scan {
    /// Bytes of whole frames read.
    offset: usize,
    /// The detector's key of each frame read.
    keys: Vec<u64>,
    /// The bytes at `offset` cannot be this protocol's frame.
    dead: bool,
}

impl Scan {
    fn done(&self) -> bool {
        self.dead || self.keys.len() >= MAX_PROBE_FRAMES
    }
}

/// What the probe of one flow concluded so far.
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    /// Neither found nor ruled out: buffer more.
    Undecided,
    /// Both directions are this protocol.
    Found(&'static dyn ProtocolSpec),
    /// No registered protocol can be both directions.
    NotIcs,
}

/// The detector's reading of one TCP flow's first bytes (see the module docs).
#[derive(Debug, Clone)]
pub struct Probe {
    /// Per registered protocol (registry order), per direction (0: from the client).
    scans: Vec<[Scan; 2]>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            scans: vec![Default::default(); REGISTRY.len()],
        }
    }
}

impl Probe {
    /// Reads the whole frames of direction `dir` (0: from the client) that `buf` (every
    /// byte of that direction since its start, in order) holds beyond what was read.
    pub fn advance(&mut self, dir: usize, buf: &[u8]) {
        for (spec, scans) in REGISTRY.iter().zip(self.scans.iter_mut()) {
            let s = &mut scans[dir];
            while !s.done() {
                let Some(rest) = buf.get(s.offset..) else {
                    s.dead = true;
                    break;
                };
                match spec.frame_len(rest) {
                    // The framing contract: `n` whole bytes are in `rest`.
                    Ok(Some(n)) if n > 0 && n <= rest.len() => match spec.detect(&rest[..n]) {
                        Some(key) => {
                            s.keys.push(key);
                            s.offset += n;
                        }
                        None => s.dead = true,
                    },
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) => s.dead = true,
                }
            }
        }
    }

    /// Forgets what was read of direction `dir` (its buffer was dropped: a gap, or a
    /// resynchronisation).
    pub fn reset(&mut self, dir: usize) {
        for s in &mut self.scans {
            s[dir] = Scan::default();
        }
    }

    /// True when no protocol's framer read a frame of direction `dir` and none can.
    pub fn dead(&self, dir: usize) -> bool {
        self.scans
            .iter()
            .all(|s| s[dir].dead && s[dir].keys.is_empty())
    }

    /// The first registered protocol whose frames of both directions share a key; else
    /// whether one still may.
    pub fn verdict(&self) -> Verdict {
        let mut possible = false;
        for (spec, [a, b]) in REGISTRY.iter().zip(&self.scans) {
            if a.keys.iter().any(|k| b.keys.contains(k)) {
                return Verdict::Found(*spec);
            }
            let ruled_out = (a.dead && a.keys.is_empty())
                || (b.dead && b.keys.is_empty())
                || (a.done() && b.done());
            possible |= !ruled_out;
        }
        if possible {
            Verdict::Undecided
        } else {
            Verdict::NotIcs
        }
    }
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
