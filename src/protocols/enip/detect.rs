//! The EtherNet/IP payload detectors (see [`crate::protocols::detect`] for the contract):
//! over TCP, a segment is ENIP when it is exactly a whole number of encapsulation frames
//! with a command otscout knows (ODVA Vol. 2, 2-3.2), the header's length matching and
//! options zero; a reply echoes the command and sender context. Over UDP, where no answer
//! confirms, only a List Identity reply whose identity item decodes is taken
//! ([`identity_reply`]).

use crate::protocols::detect::{MAX_FRAMES, le16};

/// Encapsulation commands otscout reads (ODVA Vol. 2, 2-3.2).
fn enip_command(c: u16) -> bool {
    matches!(
        c,
        0x0004 | 0x0063 | 0x0064 | 0x0065 | 0x0066 | 0x006F | 0x0070
    )
}

/// The segment as whole EtherNet/IP encapsulation frames; the key is the first frame's
/// command and sender context.
pub fn frames(payload: &[u8]) -> Option<u64> {
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
            return key;
        }
    }
    None
}

/// True when a UDP datagram is exactly one EtherNet/IP List Identity reply (command
/// 0x63, status 0) whose CPF holds an identity item that decodes (ODVA Vol. 2 2-4.3.2):
/// strict enough to stand without a request to confirm it.
pub fn identity_reply(payload: &[u8]) -> bool {
    use crate::wire::enip::{Command, Frame};
    if le16(payload, 0) != Some(0x0063) || frames(payload).is_none() {
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
