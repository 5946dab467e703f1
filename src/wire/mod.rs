//! Sans-IO codecs for the protocols otscout speaks and reads.
//!
//! One file per protocol layer. This module never does I/O, never reads a clock and
//! never prints: it turns bytes into typed messages and back.
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
//! wrong. Stream framing is `frame_len(&[u8]) -> Result<Option<usize>, DecodeError>` per
//! transport (MBAP, ENIP encapsulation, TPKT): `Ok(None)` means "need more bytes",
//! `Ok(Some(n))` means the first `n` bytes are one whole frame.

pub mod cursor;
pub mod enip;
pub mod modbus;
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anomaly {
    /// The field, as in [`DecodeError`] messages (`modbus.devid.more_follows`).
    pub field: &'static str,
    /// What is odd about it, lowercase.
    pub what: String,
}
