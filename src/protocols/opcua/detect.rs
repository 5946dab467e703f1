//! The OPC UA payload detector: a segment that is exactly whole UA TCP messages. Servers
//! listen on other ports than 4840 (12001 in a capture), so the `HEL`/`ACK` header and the
//! message size are what say OPC UA.

use crate::wire::opcua::{Frame, Security, frame_len};

/// The key Hello and Acknowledge share.
const HELLO_KEY: u64 = 0x4845_4c00_0000_0000;
/// Most messages one segment may hold before the detector stops looking.
const MAX_FRAMES: usize = 16;

/// The segment as whole UA TCP messages; the key is a hello marker for HEL/ACK/ERR and the
/// request id of a secure-conversation chunk (an answer carries its request's).
pub fn frames(payload: &[u8]) -> Option<u64> {
    let mut off = 0;
    let mut key = None;
    for _ in 0..MAX_FRAMES {
        let rest = payload.get(off..)?;
        let n = frame_len(rest).ok()??;
        let f = Frame::decode_exact(&rest[..n]).ok()?;
        let k = match &f {
            Frame::Hello(_) | Frame::Acknowledge(_) | Frame::Error(_) => HELLO_KEY,
            Frame::ReverseHello { .. } => return None,
            Frame::Chunk(c) => match (&c.security, c.plain()) {
                (Security::Asymmetric(_) | Security::Symmetric { .. }, Ok(p)) => {
                    u64::from(p.request_id)
                }
                _ => return None,
            },
        };
        key.get_or_insert(k);
        off += n;
        if off == payload.len() {
            return key;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_and_acknowledge_share_a_key_and_foreign_bytes_do_not_detect() {
        // open62541_client-server_encrypted.pcap frames 5 and 7.
        let hel = hex::decode("48454c463800000000000000ffff0000ffff00000000000000000000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430").unwrap();
        let ack = hex::decode("41434b461c00000000000000ffff0000ffff00000000000000000000").unwrap();
        assert_eq!(frames(&hel), Some(HELLO_KEY));
        assert_eq!(frames(&ack), frames(&hel));
        assert_eq!(frames(&hel[..20]), None);
        assert_eq!(frames(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(frames(&[0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]), None);
    }
}
