//! Bounded IP fragment reassembly (RFC 791 for IPv4, RFC 8200 4.5 for IPv6).
//!
//! Fragments are keyed by (source, destination, protocol, identification); a datagram is
//! handed back whole once a last fragment (more-fragments clear) has fixed its length and
//! the pieces cover every byte from 0 to it. Overlapping pieces are accepted (captures
//! repeat retransmitted fragments): a piece at an offset already held replaces it, and
//! where pieces at different offsets overlap, the one at the higher offset wins. A piece
//! that reaches past the length the last fragment gives drops the datagram.
//!
//! Never trusts the capture: a datagram past [`MAX_DATAGRAM`] bytes or [`MAX_PIECES`]
//! pieces is dropped, at most [`MAX_PENDING`] datagrams and [`MAX_HELD`] bytes wait at
//! once, and a datagram incomplete after [`TIMEOUT_SECS`] of capture time is dropped.
//! Everything dropped is counted so the importer can say so. Sans-IO: time is a
//! parameter.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::packet::Fragment;

/// An IP datagram's payload is at most 65,535 bytes (IPv4 total length; IPv6 without
/// jumbograms).
pub const MAX_DATAGRAM: usize = 65_535;
/// Pieces one datagram may arrive in (a 1500-byte MTU needs 45 for the largest).
pub const MAX_PIECES: usize = 64;
/// Datagrams waiting for pieces at once.
pub const MAX_PENDING: usize = 1024;
/// Bytes waiting in all of them together.
pub const MAX_HELD: usize = 8 * 1024 * 1024;
/// Capture seconds a datagram may wait for its pieces (Linux's ipfrag_time is 30).
pub const TIMEOUT_SECS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug, Default)]
struct Pending {
    pieces: BTreeMap<usize, Vec<u8>>,
    /// The payload length, once the last piece is seen.
    total: Option<usize>,
    bytes: usize,
    first_seen: i64,
}

/// The reassembly table of one capture.
#[derive(Debug, Default)]
pub struct Defrag {
    pending: HashMap<Key, Pending>,
    held: usize,
    /// Datagrams handed back whole.
    pub reassembled: u64,
    /// Fragments thrown away (over a cap, timed out, or still incomplete at the end).
    pub dropped: u64,
}

impl Defrag {
    /// Adds one fragment seen at capture time `now` (seconds); returns the transport
    /// protocol and the whole payload when this piece completes its datagram.
    pub fn push(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        frag: &Fragment<'_>,
        now: i64,
    ) -> Option<(u8, Vec<u8>)> {
        let key = Key {
            src,
            dst,
            proto: frag.proto,
            id: frag.id,
        };
        // Untrusted: offset and length come from the capture.
        let end = frag.offset.checked_add(frag.payload.len())?;
        if end > MAX_DATAGRAM || (frag.more && frag.payload.is_empty()) {
            self.drop_key(&key, 1);
            return None;
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING {
                self.expire(now);
            }
            if self.pending.len() >= MAX_PENDING {
                self.dropped += 1;
                return None;
            }
            self.pending.insert(
                key,
                Pending {
                    first_seen: now,
                    ..Pending::default()
                },
            );
        }
        if self.held + frag.payload.len() > MAX_HELD {
            self.expire(now);
            if self.held + frag.payload.len() > MAX_HELD {
                self.drop_key(&key, 1);
                return None;
            }
        }
        let p = self.pending.get_mut(&key)?;
        if !frag.more {
            match p.total {
                // Two different last pieces: the datagram cannot be trusted.
                Some(t) if t != end => {
                    self.drop_key(&key, 1);
                    return None;
                }
                _ => p.total = Some(end),
            }
        }
        // A piece past the end (this one, or one held before the last piece fixed the
        // length): the datagram cannot be trusted.
        let past_end = p.total.is_some_and(|t| {
            end > t
                || p.pieces
                    .iter()
                    .any(|(off, piece)| off.saturating_add(piece.len()) > t)
        });
        if past_end || p.pieces.len() >= MAX_PIECES {
            self.drop_key(&key, 1);
            return None;
        }
        let old = p
            .pieces
            .insert(frag.offset, frag.payload.to_vec())
            .map_or(0, |v| v.len());
        p.bytes = p.bytes + frag.payload.len() - old;
        self.held = self.held + frag.payload.len() - old;
        let total = p.total?;
        let mut covered = 0;
        for (off, piece) in &p.pieces {
            if *off > covered {
                return None;
            }
            covered = covered.max(off + piece.len());
        }
        if covered < total {
            return None;
        }
        let p = self.pending.remove(&key)?;
        self.held -= p.bytes;
        let mut whole = vec![0u8; total];
        for (off, piece) in p.pieces {
            // Every piece ends at or before `total` (checked when it was added, and for
            // the pieces already held, when the last piece fixed `total`).
            whole[off..off + piece.len()].copy_from_slice(&piece);
        }
        self.reassembled += 1;
        Some((key.proto, whole))
    }

    /// Drops datagrams waiting longer than [`TIMEOUT_SECS`] before `now`.
    pub fn expire(&mut self, now: i64) {
        let stale: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now - p.first_seen > TIMEOUT_SECS)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.drop_key(&k, 0);
        }
    }

    /// Ends the capture: whatever still waits is dropped (and counted).
    pub fn finish(&mut self) {
        let keys: Vec<Key> = self.pending.keys().copied().collect();
        for k in keys {
            self.drop_key(&k, 0);
        }
    }

    fn drop_key(&mut self, key: &Key, extra: u64) {
        self.dropped += extra;
        if let Some(p) = self.pending.remove(key) {
            self.held -= p.bytes;
            self.dropped += p.pieces.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frag(id: u32, offset: usize, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            id,
            proto: 17,
            offset,
            more,
            payload,
        }
    }

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn out_of_order_pieces_make_the_datagram() {
        let mut d = Defrag::default();
        let data: Vec<u8> = (0..40).collect();
        assert!(
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(7, 24, false, &data[24..]),
                0
            )
            .is_none()
        );
        let (proto, whole) = d
            .push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(7, 0, true, &data[..24]),
                0,
            )
            .unwrap();
        assert_eq!((proto, whole), (17, data));
        assert_eq!((d.reassembled, d.dropped, d.held), (1, 0, 0));
    }

    #[test]
    fn a_hole_is_never_filled_with_zeros_and_is_counted() {
        let mut d = Defrag::default();
        let data = [1u8; 48];
        assert!(
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(1, 0, true, &data[..16]),
                0
            )
            .is_none()
        );
        assert!(
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(1, 32, false, &data[32..]),
                0
            )
            .is_none()
        );
        d.finish();
        assert_eq!((d.reassembled, d.dropped, d.held), (0, 2, 0));
    }

    #[test]
    fn caps_hold() {
        let mut d = Defrag::default();
        // Past the largest datagram.
        assert!(
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(1, 65_528, false, &[0; 16]),
                0
            )
            .is_none()
        );
        assert_eq!(d.dropped, 1);
        // Too many waiting datagrams: the oldest expire when time allows.
        for id in 0..MAX_PENDING as u32 {
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(id + 10, 0, true, &[0; 8]),
                0,
            );
        }
        assert!(
            d.push(
                a("10.0.0.1"),
                a("10.0.0.2"),
                &frag(5000, 0, true, &[0; 8]),
                1
            )
            .is_none()
        );
        assert_eq!(d.pending.len(), MAX_PENDING);
        d.push(
            a("10.0.0.1"),
            a("10.0.0.2"),
            &frag(5001, 0, true, &[0; 8]),
            100,
        );
        assert_eq!(d.pending.len(), 1);
    }

    #[test]
    fn a_piece_past_a_later_last_piece_drops_the_datagram() {
        // A first piece longer than the datagram the last piece then declares: the
        // datagram cannot be trusted (and must not be copied past its end).
        let mut d = Defrag::default();
        let long = [7u8; 100];
        assert!(
            d.push(a("10.0.0.1"), a("10.0.0.2"), &frag(3, 0, true, &long), 0)
                .is_none()
        );
        assert!(
            d.push(a("10.0.0.1"), a("10.0.0.2"), &frag(3, 8, false, &[1; 8]), 0)
                .is_none()
        );
        assert_eq!((d.reassembled, d.dropped, d.held), (0, 2, 0));
        assert!(d.pending.is_empty());
    }

    proptest! {
        #[test]
        fn any_split_and_order_reassembles(
            data in proptest::collection::vec(any::<u8>(), 1..2000),
            cuts in proptest::collection::vec(1usize..250, 0..20),
            seed in any::<u64>(),
        ) {
            // Pieces at multiples of 8, as senders cut them.
            let mut bounds = vec![0usize];
            for c in cuts {
                let next = bounds.last().unwrap() + c * 8;
                if next >= data.len() { break; }
                bounds.push(next);
            }
            bounds.push(data.len());
            let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            // A deterministic shuffle.
            let n = pieces.len();
            for i in 0..n {
                let j = (seed.rotate_left(i as u32) as usize) % n;
                pieces.swap(i, j);
            }
            let mut d = Defrag::default();
            let mut out = None;
            for (lo, hi) in pieces {
                let f = frag(9, lo, hi != data.len(), &data[lo..hi]);
                if let Some(w) = d.push(a("10.0.0.1"), a("10.0.0.2"), &f, 0) {
                    prop_assert!(out.is_none());
                    out = Some(w);
                }
            }
            prop_assert_eq!(out, Some((17, data)));
            prop_assert_eq!(d.held, 0);
        }

        #[test]
        fn overlapping_pieces_near_the_start_never_panic(
            pieces in proptest::collection::vec((0usize..40, any::<bool>(), 0usize..300), 0..20),
        ) {
            // Offsets that meet (multiples of 8 from 0), so datagrams do complete.
            let mut d = Defrag::default();
            let buf = vec![0x55u8; 300];
            for (off, more, len) in pieces {
                if let Some((_, whole)) =
                    d.push(a("10.0.0.1"), a("10.0.0.2"), &frag(1, off * 8, more, &buf[..len]), 0)
                {
                    prop_assert!(whole.iter().all(|b| *b == 0x55));
                }
            }
            d.finish();
            prop_assert_eq!(d.held, 0);
        }

        #[test]
        fn hostile_pieces_never_panic(
            pieces in proptest::collection::vec((0usize..70_000, any::<bool>(), 0usize..300), 0..40),
        ) {
            let mut d = Defrag::default();
            let buf = vec![0xAAu8; 300];
            for (off, more, len) in pieces {
                let _ = d.push(a("10.0.0.1"), a("10.0.0.2"), &frag(1, off, more, &buf[..len]), 0);
            }
            d.finish();
            prop_assert_eq!(d.held, 0);
        }
    }
}
