//! Per-direction TCP stream reassembly with hard caps.
//!
//! A [`Stream`] turns segments (in capture order, possibly retransmitted, overlapping,
//! out of order or missing) into the in-order byte stream a protocol framer reads. It
//! never trusts the capture to be complete: a capture may start mid-connection (no SYN),
//! segments may be lost at the SPAN port, and a hostile or broken peer may send
//! anything. Memory per stream is bounded by [`MAX_BUFFER`] (bytes waiting to form a
//! frame) plus [`MAX_OUT_OF_ORDER`] (segments held ahead of a hole); past either cap the
//! stream declares a gap, drops what it cannot place, and resynchronises at the next
//! segment.
//!
//! A segment that starts where the stream expects, with nothing buffered or held (nearly
//! every segment of a healthy capture), is not copied: the engine frames it where it lies
//! ([`Stream::in_order`]) and buffers only the start of a frame it leaves incomplete
//! ([`Stream::keep`]). What is decoded is the same either way.

use std::collections::BTreeMap;

/// Bytes buffered in order while a frame is incomplete. The largest frame of the
/// protocols read is an ENIP encapsulation (24 + 65535 bytes); a buffer past this cap
/// is not a frame we would decode.
pub const MAX_BUFFER: usize = 128 * 1024;
/// Bytes held ahead of a hole waiting for it to fill; past this the hole is skipped.
pub const MAX_OUT_OF_ORDER: usize = 64 * 1024;
/// How far ahead of the expected sequence number a segment may start and still be held
/// (rather than treated as a gap).
pub const WINDOW: u32 = 1024 * 1024;
/// Out-of-order segments held at once; past this the hole is skipped.
const MAX_OOO_SEGMENTS: usize = 64;

/// What a segment did to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effect {
    /// New in-order bytes were appended.
    pub appended: bool,
    /// Bytes were lost (a hole never filled, or a cap overflowed): the buffer was
    /// cleared and the stream restarted at an unknown frame boundary.
    pub gap: bool,
    /// A duplicate (retransmitted) segment.
    pub retransmission: bool,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    next_seq: Option<u32>,
    /// In-order bytes not yet consumed by the framer.
    pub buf: Vec<u8>,
    ooo: BTreeMap<u32, Vec<u8>>,
    ooo_bytes: usize,
    /// False when the start of `buf` may not be a frame boundary (mid-stream start, after a gap).
    pub aligned: bool,
    /// The peer sent bytes that cannot start a frame where one had to start: this
    /// direction is not the protocol, and nothing more of it is buffered ([`Self::stop`]).
    pub stopped: bool,
}

impl Stream {
    /// Records the SYN: the stream's data starts at `seq + 1`, on a frame boundary.
    pub fn syn(&mut self, seq: u32) {
        self.next_seq = Some(seq.wrapping_add(1));
        self.buf.clear();
        self.ooo.clear();
        self.ooo_bytes = 0;
        self.aligned = true;
        self.stopped = false;
    }

    /// Adds a segment's payload.
    pub fn segment(&mut self, seq: u32, payload: &[u8]) -> Effect {
        let mut fx = Effect::default();
        if payload.is_empty() {
            return fx;
        }
        let next = match self.next_seq {
            Some(n) => n,
            None => {
                // Mid-connection start: trust the first segment's start as a boundary
                // (protocol messages usually begin a segment); the framer re-checks.
                self.next_seq = Some(seq);
                self.aligned = false;
                seq
            }
        };
        // Signed distance from where we expect the next byte: wrapping arithmetic is
        // TCP's own (RFC 793 sequence space).
        let diff = seq.wrapping_sub(next) as i32;
        if diff <= 0 {
            let overlap = diff.unsigned_abs() as usize;
            if overlap >= payload.len() {
                fx.retransmission = true;
                return fx;
            }
            fx.appended = self.append(&payload[overlap..], &mut fx);
            self.drain_ooo(&mut fx);
        } else if (diff as u32) <= WINDOW && payload.len() <= MAX_OUT_OF_ORDER {
            let keep = self.ooo.entry(seq).or_default();
            if payload.len() > keep.len() {
                self.ooo_bytes = self.ooo_bytes + payload.len() - keep.len();
                *keep = payload.to_vec();
            }
            if self.ooo.len() > MAX_OOO_SEGMENTS || self.ooo_bytes > MAX_OUT_OF_ORDER {
                // The hole has not filled while this much arrived after it: those bytes
                // are lost (a SPAN port drops, it does not retransmit). Skip to the first
                // held segment and go on from there.
                if let Some(&lowest) = self.ooo.keys().min_by_key(|&&s| s.wrapping_sub(next)) {
                    fx.gap = true;
                    self.buf.clear();
                    self.aligned = false;
                    self.next_seq = Some(lowest);
                    self.drain_ooo(&mut fx);
                    fx.appended = true;
                }
            }
        } else {
            // Too far ahead or too much held: the hole will not fill in bounded memory.
            self.restart_at(seq, &mut fx);
            fx.appended = self.append(payload, &mut fx);
            self.drain_ooo(&mut fx);
        }
        fx
    }

    /// The common case, taken without copying: a segment that starts exactly where the
    /// stream expects, with nothing buffered or held ahead of a hole. Advances the stream
    /// past the `len` bytes and returns true; the caller frames the payload in place and
    /// [`Self::keep`]s what is left of it. Anything else returns false and changes
    /// nothing ([`Self::segment`] then takes the segment).
    ///
    /// Equivalent to [`Self::segment`] for such a segment: it appends the bytes (no gap, no
    /// retransmission, no held segment to drain) to an empty buffer, where the framer reads
    /// them from the same offset.
    pub fn in_order(&mut self, seq: u32, len: usize) -> bool {
        if len == 0
            || len > MAX_BUFFER
            || self.stopped
            || !self.buf.is_empty()
            || !self.ooo.is_empty()
            || self.next_seq != Some(seq)
        {
            return false;
        }
        // `len` is at most MAX_BUFFER (checked above), so it fits in u32.
        self.next_seq = Some(seq.wrapping_add(len as u32));
        true
    }

    /// Buffers the tail of an [`Self::in_order`] segment the framer could not use yet
    /// (the start of a frame the next segments complete).
    pub fn keep(&mut self, rest: &[u8]) {
        self.buf.extend_from_slice(rest);
    }

    fn restart_at(&mut self, seq: u32, fx: &mut Effect) {
        fx.gap = true;
        self.buf.clear();
        self.aligned = false;
        self.next_seq = Some(seq);
        // Held segments behind the new start can never be placed.
        let stale: Vec<u32> = self
            .ooo
            .keys()
            .copied()
            .filter(|&s| (s.wrapping_sub(seq) as i32) < 0)
            .collect();
        for s in stale {
            if let Some(v) = self.ooo.remove(&s) {
                self.ooo_bytes -= v.len();
            }
        }
    }

    fn append(&mut self, bytes: &[u8], fx: &mut Effect) -> bool {
        if let Some(n) = self.next_seq {
            self.next_seq = Some(n.wrapping_add(bytes.len() as u32));
        }
        if self.buf.len() + bytes.len() > MAX_BUFFER {
            // No frame of ours is this long: whatever is buffered is not one.
            fx.gap = true;
            self.buf.clear();
            self.aligned = false;
            if bytes.len() > MAX_BUFFER {
                return false;
            }
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    fn drain_ooo(&mut self, fx: &mut Effect) {
        while let Some(next) = self.next_seq {
            // The held segment that starts at or before `next` (first in sequence order
            // relative to `next`), if any.
            let Some((&seq, _)) = self
                .ooo
                .iter()
                .find(|(s, _)| (s.wrapping_sub(next) as i32) <= 0)
            else {
                return;
            };
            let Some(data) = self.ooo.remove(&seq) else {
                return;
            };
            self.ooo_bytes -= data.len();
            let overlap = next.wrapping_sub(seq) as usize;
            if overlap < data.len() {
                self.append(&data[overlap..], fx);
                fx.appended = true;
            }
        }
    }

    /// True when `seq` is the next sequence number this stream expects.
    pub fn expects(&self, seq: u32) -> bool {
        self.next_seq == Some(seq)
    }

    /// Forgets everything buffered and waits for the next segment to start a frame.
    pub fn desync(&mut self) {
        self.buf.clear();
        self.aligned = false;
    }

    /// Forgets everything buffered and held, and reads nothing more of this direction
    /// until a new SYN starts it again.
    ///
    /// Where a frame had to start (in order after whole frames, with no gap), the bytes
    /// could not start one: the peer is not speaking the protocol. Resynchronising at the
    /// next segment would make what is decoded after it depend on how TCP happened to cut
    /// the stream (garbage cut at another offset frames as a plausible write), so the
    /// rest is not read.
    pub fn stop(&mut self) {
        self.buf = Vec::new();
        self.ooo = BTreeMap::new();
        self.ooo_bytes = 0;
        self.aligned = false;
        self.stopped = true;
    }

    /// Heap bytes this stream holds (the buffer's allocation and the held segments): what
    /// the engine's global budget counts.
    pub fn held(&self) -> usize {
        self.buf.capacity() + self.ooo_bytes
    }

    /// Drops everything buffered and held, freeing the memory, and restarts at the next
    /// segment as if the capture began there (the engine's budget ran out). Returns the
    /// bytes of data lost.
    pub fn release(&mut self) -> usize {
        let lost = self.buf.len() + self.ooo_bytes;
        self.buf = Vec::new();
        self.ooo = BTreeMap::new();
        self.ooo_bytes = 0;
        self.next_seq = None;
        self.aligned = false;
        lost
    }

    /// Gives back a buffer allocation much larger than what it holds (after a large frame
    /// was consumed), so idle flows do not keep their peak.
    pub fn trim(&mut self) {
        const KEEP: usize = 4096;
        if self.buf.capacity() > KEEP && self.buf.capacity() > 2 * self.buf.len() {
            self.buf.shrink_to(self.buf.len().max(KEEP));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_retransmit_and_reorder() {
        let mut s = Stream::default();
        s.syn(999);
        assert!(s.segment(1000, b"abc").appended);
        assert!(s.segment(1000, b"abc").retransmission);
        // 1006.. arrives before 1003..
        let fx = s.segment(1006, b"ghi");
        assert!(!fx.appended && !fx.gap);
        assert!(s.segment(1003, b"def").appended);
        assert_eq!(s.buf, b"abcdefghi");
        // Partial overlap keeps only the new tail.
        s.segment(1007, b"hijk");
        assert_eq!(s.buf, b"abcdefghijk");
        assert!(s.aligned);
    }

    #[test]
    fn mid_stream_start_and_far_gap() {
        let mut s = Stream::default();
        s.segment(5, b"xy");
        assert!(!s.aligned);
        assert_eq!(s.buf, b"xy");
        s.buf.clear();
        let fx = s.segment(5 + 2 + WINDOW + 10, b"zz");
        assert!(fx.gap);
        assert_eq!(s.buf, b"zz");
    }

    #[test]
    fn a_hole_that_never_fills_is_skipped_in_bounded_memory() {
        let mut s = Stream::default();
        s.syn(0);
        s.segment(1, b"a");
        s.buf.clear();
        // Byte 2 is lost; everything after it arrives.
        let mut seq = 3u32;
        let mut skipped = false;
        for _ in 0..=MAX_OOO_SEGMENTS {
            let fx = s.segment(seq, b"xy");
            skipped |= fx.gap;
            seq += 2;
        }
        assert!(skipped);
        assert!(!s.aligned);
        assert_eq!(s.buf.len(), 2 * (MAX_OOO_SEGMENTS + 1));
        assert!(s.segment(seq, b"z").appended);
    }

    #[test]
    fn in_order_only_when_nothing_is_buffered_or_held() {
        let mut s = Stream::default();
        // No SYN: the boundary is unknown, the slow path decides.
        assert!(!s.in_order(1, 3));
        s.syn(0);
        assert!(!s.in_order(2, 3), "not where the stream expects");
        assert!(!s.in_order(1, 0), "empty");
        assert!(s.in_order(1, 3));
        // The stream moved past the three bytes without buffering them.
        assert!(s.buf.is_empty() && s.expects(4));
        s.keep(b"x");
        assert!(!s.in_order(4, 3), "a partial frame is buffered");
        s.buf.clear();
        s.segment(10, b"later");
        assert!(!s.in_order(4, 3), "a segment is held ahead of a hole");
        let mut t = Stream::default();
        t.syn(0);
        t.stop();
        assert!(!t.in_order(1, 3), "stopped");
        let mut u = Stream::default();
        u.syn(0);
        assert!(!u.in_order(1, MAX_BUFFER + 1), "larger than the buffer cap");
    }

    #[test]
    fn sequence_wraps() {
        let mut s = Stream::default();
        s.syn(u32::MAX - 1);
        s.segment(u32::MAX, b"a");
        s.segment(0, b"b");
        assert_eq!(s.buf, b"ab");
    }

    #[test]
    fn buffer_is_capped() {
        let mut s = Stream::default();
        s.syn(0);
        let chunk = vec![0u8; 60_000];
        let mut seq = 1u32;
        let mut gap = false;
        for _ in 0..5 {
            gap |= s.segment(seq, &chunk).gap;
            seq += chunk.len() as u32;
        }
        assert!(gap);
        assert!(s.buf.len() <= MAX_BUFFER);
    }
}
