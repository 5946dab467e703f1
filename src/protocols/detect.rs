//! The payload detector contract ([`super::ProtocolSpec::detect`]) and what the
//! detectors of `protocols/<name>/detect.rs` share.
//!
//! Strict on purpose: a false positive would feed some other protocol's bytes to an
//! analyzer and could invent an identity. A detector answers `Some(key)` only when the
//! segment is exactly a whole number of well-formed frames of its protocol (at most
//! [`MAX_FRAMES`]), the key being what the other direction's segment must carry to confirm
//! it (a reply echoing its request). The engine's use of it is described in
//! [`crate::passive::detect`].
//!
//! Sans-IO and bounds-checked: every length is read from the slice with `get` and
//! checked against what is there; nothing here allocates.

/// Frames in one segment beyond which a detector gives up (pipelined polling rarely puts
/// more than a few in one segment).
pub const MAX_FRAMES: usize = 16;

/// The big-endian u16 at `at`, if the slice holds it.
pub fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// The little-endian u16 at `at`, if the slice holds it.
pub fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}
