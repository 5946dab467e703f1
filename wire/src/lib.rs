//! Sans-IO codecs for the protocols otscout speaks and reads: Modbus/TCP (MBAP), EtherNet/IP
//! encapsulation and CIP, S7comm over TPKT (RFC 1006) and COTP (ISO 8073) with SZL,
//! BACnet/IP (BVLC, NPDU, APDU), OPC UA binary (UA TCP), Omron FINS (UDP and FINS/TCP),
//! Niagara Fox and PROFINET DCP (layer 2, decode only).
//!
//! One file per protocol layer. This crate never does I/O, never reads a clock and never
//! prints: it turns bytes into typed messages and back. It imports nothing of otscout:
//! what a message means for the inventory (identities, operation kinds) and which requests
//! otscout may send are decided above it, in otscout's `protocols` and `safety` modules,
//! and the crate boundary lets the compiler hold that direction. otscout re-exports the
//! crate as `otscout::wire`.
//!
//! # The untrusted-input contract
//! Every byte handed to a decoder may come from a hostile or broken device or a corrupt
//! capture. Decoders therefore:
//! - read only through [`Cursor`], which never reads past the end of its slice;
//! - check every length and count taken from the wire against the bytes actually present
//!   and against a documented cap *before* indexing or allocating, and say at the read
//!   why the value is trusted;
//! - never panic, whatever the input (property tests and fuzz targets hold them to it);
//! - are lenient where real vendors deviate from the spec: they keep the raw value,
//!   record an anomaly, and let the caller decide how strict to be.
//!
//! # One verb pair
//! `encode(&self, out: &mut Vec<u8>)` cannot fail and `encoded_len()` says how many bytes
//! it will append; `decode(&mut Cursor) -> Result<Self, DecodeError>` says exactly what went
//! wrong.
//!
//! # The framing contract
//! Stream framing is `frame_len(&[u8]) -> Result<Option<usize>, DecodeError>` per
//! transport (MBAP [`modbus::frame_len`], ENIP encapsulation [`enip::frame_len`], TPKT
//! [`s7::frame_len`], BVLC [`bacnet::frame_len`],
//! UA TCP [`opcua::frame_len`], FINS/TCP [`fins::frame_len`], Fox
//! [`fox::frame_len`]), and every one of them keeps the same promise, so a caller never
//! needs to check the answer against what it holds:
//! - `Ok(Some(n))` only when the first `n` bytes of `buf` are one whole frame: always
//!   `0 < n <= buf.len()`;
//! - `Ok(None)` when more bytes are needed to tell (a header not yet whole, or a frame
//!   whose announced length is longer than what `buf` holds);
//! - `Err(_)` when the bytes cannot start a frame of the protocol, whatever follows
//!   (waiting will not help: the caller resynchronises or drops the connection).
//!
//! The answer depends only on the bytes, never on how they were cut: feeding a stream in
//! any chunking frames it into the same messages (a property test below holds every
//! framer to it).

pub mod bacnet;
pub mod cursor;
pub mod dcp;
pub mod enip;
pub mod fins;
pub mod fox;
pub mod modbus;
pub mod opcua;
pub mod s7;

pub use cursor::Cursor;

/// Why bytes could not be decoded.
///
/// [`DecodeError::Incomplete`] is the only variant that more bytes can cure; every other
/// variant means the bytes are wrong and waiting will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stream ends before `field`; `needed` more bytes would let decoding go on.
    #[error("need {needed} more bytes for {field}")]
    Incomplete { field: &'static str, needed: usize },
    /// A frame whose length was already fixed by its header ends before `field`.
    #[error("frame too short for {field}: {needed} bytes missing")]
    Truncated { field: &'static str, needed: usize },
    /// A length or count from the wire is above what otscout accepts.
    #[error("{field} is {value}, more than the limit of {max}")]
    TooLarge {
        field: &'static str,
        value: usize,
        max: usize,
    },
    /// A value the specification does not allow where it stands.
    #[error("{field} has invalid value {value:#x}: {reason}")]
    Invalid {
        field: &'static str,
        value: u64,
        reason: &'static str,
    },
    /// Bytes left over after a message that should have ended.
    #[error("{extra} unexpected bytes after {field}")]
    Trailing { field: &'static str, extra: usize },
}

impl DecodeError {
    /// True when more bytes could make decoding succeed.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, DecodeError::Incomplete { .. })
    }
}

/// Something odd but survivable in a decoded message: kept so the caller can report it
/// (a vendor's deviation, a suspicious value), never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The field, as in [`DecodeError`] messages (`modbus.devid.more_follows`).
    pub field: &'static str,
    /// What is odd about it, lowercase.
    pub what: String,
}

#[cfg(test)]
mod framing_contract {
    //! The framing contract of the module docs, over every framer: any stream of
    //! valid messages, cut at any offsets and fed in any chunking, frames into the same
    //! messages, and `Ok(Some(n))` never claims more than is held.

    use proptest::prelude::*;

    type FrameLen = fn(&[u8]) -> Result<Option<usize>, super::DecodeError>;

    /// A consumer as the probe and the passive engine are: append a chunk, then cut
    /// frames while the framer finds whole ones.
    fn reframe(frame_len: FrameLen, stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut from = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        bounds.push(stream.len());
        bounds.sort_unstable();
        for to in bounds {
            buf.extend_from_slice(&stream[from..to]);
            from = to;
            while let Some(n) = frame_len(&buf).expect("valid stream") {
                assert!(n > 0 && n <= buf.len(), "Some({n}) with {} held", buf.len());
                out.push(buf.drain(..n).collect());
            }
        }
        assert!(buf.is_empty(), "{} bytes left unframed", buf.len());
        out
    }

    /// An MBAP frame: transaction, protocol 0, length, unit, a PDU of 1 to 253 bytes.
    fn modbus_msg() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u16>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 1..=253),
        )
            .prop_map(|(tid, unit, pdu)| {
                let mut f = tid.to_be_bytes().to_vec();
                f.extend([0, 0]);
                f.extend(((pdu.len() + 1) as u16).to_be_bytes());
                f.push(unit);
                f.extend(pdu);
                f
            })
    }

    /// An encapsulation frame: command, length, session, status, context, options, body.
    fn enip_msg() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u16>(),
            any::<[u8; 20]>(),
            prop::collection::vec(any::<u8>(), 0..600),
        )
            .prop_map(|(cmd, rest, body)| {
                let mut f = cmd.to_le_bytes().to_vec();
                f.extend((body.len() as u16).to_le_bytes());
                f.extend(rest);
                f.extend(body);
                f
            })
    }

    /// A TPKT frame (version 3) with a COTP DT and any payload.
    fn s7_msg() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..600).prop_map(|payload| {
            let mut f = vec![3, 0];
            f.extend(((7 + payload.len()) as u16).to_be_bytes());
            f.extend([2, 0xF0, 0x80]);
            f.extend(payload);
            f
        })
    }

    /// A BVLC frame (type 0x81, any function) whose length counts the whole frame.
    fn bacnet_msg() -> impl Strategy<Value = Vec<u8>> {
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(function, body)| {
            let mut f = vec![0x81, function];
            f.extend(((4 + body.len()) as u16).to_be_bytes());
            f.extend(body);
            f
        })
    }
    /// A UA TCP chunk: one of the seven types, a chunk byte the type allows, a body at
    /// least the type's fixed fields long.
    fn opcua_msg() -> impl Strategy<Value = Vec<u8>> {
        (
            0usize..7,
            prop::collection::vec(any::<u8>(), 24..600),
            any::<bool>(),
        )
            .prop_map(|(t, body, intermediate)| {
                let tags: [&[u8; 3]; 7] = [b"HEL", b"ACK", b"ERR", b"RHE", b"OPN", b"MSG", b"CLO"];
                let mut f = tags[t].to_vec();
                f.push(if intermediate && t >= 4 { b'C' } else { b'F' });
                f.extend(((8 + body.len()) as u32).to_le_bytes());
                f.extend(body);
                f
            })
    }
    /// A FINS/TCP frame: a node-address exchange or a FINS frame of 12 to 600 bytes.
    fn fins_msg() -> impl Strategy<Value = Vec<u8>> {
        (
            0u32..4,
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 12..600),
        )
            .prop_map(|(cmd, err, body)| {
                let mut f = b"FINS".to_vec();
                f.extend(((8 + body.len()) as u32).to_be_bytes());
                f.extend(cmd.to_be_bytes());
                f.extend(err.to_be_bytes());
                f.extend(body);
                f
            })
    }

    /// A Fox message: string fields with any printable text, and blobs holding any byte
    /// (newlines and the end marker included).
    fn fox_msg() -> impl Strategy<Value = Vec<u8>> {
        let field = prop_oneof![
            ("[a-z.]{1,12}", "[ -~]{0,40}").prop_map(|(k, v)| format!("{k}=s:{v}\n").into_bytes()),
            ("[a-z.]{1,12}", prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(k, v)| {
                let mut f = format!("{k}=b:{}[", v.len()).into_bytes();
                f.extend(v);
                f.extend(b"]\n");
                f
            }),
        ];
        (0i64..3, prop::collection::vec(field, 0..8)).prop_map(|(n, fields)| {
            let mut f = format!("fox a {n} -1 fox hello\n{{\n").into_bytes();
            for x in fields {
                f.extend(x);
            }
            f.extend(b"};;\n");
            f
        })
    }

    fn check(frame_len: FrameLen, msgs: &[Vec<u8>], cuts: &[usize]) {
        let stream: Vec<u8> = msgs.concat();
        assert_eq!(&reframe(frame_len, &stream, cuts), msgs);
        // And byte by byte.
        let every: Vec<usize> = (0..stream.len()).collect();
        assert_eq!(&reframe(frame_len, &stream, &every), msgs);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn modbus_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(modbus_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::modbus::frame_len, &msgs, &cuts);
        }

        #[test]
        fn enip_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(enip_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::enip::frame_len, &msgs, &cuts);
        }

        #[test]
        fn s7_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(s7_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::s7::frame_len, &msgs, &cuts);
        }

        #[test]
        fn bacnet_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(bacnet_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::bacnet::frame_len, &msgs, &cuts);
        }

        #[test]
        fn opcua_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(opcua_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::opcua::frame_len, &msgs, &cuts);
        }

        #[test]
        fn fins_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(fins_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::fins::frame_len, &msgs, &cuts);
        }

        #[test]
        fn fox_frames_the_same_in_any_chunking(
            msgs in prop::collection::vec(fox_msg(), 1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            check(super::fox::frame_len, &msgs, &cuts);
        }
    }
}
