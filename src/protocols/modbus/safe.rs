//! Modbus/TCP's safe requests: the Modbus part of [`crate::safety::SafeRequest`], the
//! encoder for Read Device Identification and its guard rule.
//!
//! # OT safety
//! The only Modbus/TCP frame otscout sends is Read Device Identification (function 0x2B,
//! MEI type 0x0E, MAP v1.1b3 6.21): it reads identity strings and changes nothing. The
//! guard re-parses outbound bytes with the same decoder the passive side uses and accepts
//! exactly one such frame: protocol id 0, MBAP length exactly 5, read code 1-4, nothing
//! after. SAFETY.md lists the bytes.

use crate::protocols::Refusal;
use crate::wire::Cursor;
use crate::wire::modbus::{
    FunctionCode, Header, PROTOCOL_ID_MODBUS, ReadCode, ReadDeviceIdRequest, Request, RequestAdu,
    classify, frame_len,
};

/// The kind string of the one allowlisted request (as [`Safe::kind`]).
const KIND: &str = "modbus.read_device_id";

/// Modbus Read Device Identification read codes (Modbus Application Protocol v1.1b3, 6.21).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadDeviceIdCode {
    /// 0x01: basic objects 0x00-0x02 (stream access).
    Basic,
    /// 0x02: regular objects 0x03-0x7F (stream access).
    Regular,
    /// 0x03: extended objects 0x80-0xFF (stream access).
    Extended,
    /// 0x04: one specific object (individual access).
    Individual,
}

impl ReadDeviceIdCode {
    /// The code byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            ReadDeviceIdCode::Basic => 0x01,
            ReadDeviceIdCode::Regular => 0x02,
            ReadDeviceIdCode::Extended => 0x03,
            ReadDeviceIdCode::Individual => 0x04,
        }
    }
}

/// The codec's open read code for an allowed one (the codec defines its own codes: it
/// imports nothing of otscout).
impl From<ReadDeviceIdCode> for ReadCode {
    fn from(c: ReadDeviceIdCode) -> Self {
        ReadCode::from_u8(c.code())
    }
}

/// Modbus/TCP function 0x2B, MEI type 0x0E: Read Device Identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModbusReadDeviceId {
    pub transaction_id: u16,
    pub unit_id: u8,
    pub read_code: ReadDeviceIdCode,
    pub object_id: u8,
}

/// Every Modbus/TCP request otscout is able to send: the Modbus part of
/// [`crate::safety::SafeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// Read Device Identification (0x2B / 0x0E).
    ReadDeviceId(ModbusReadDeviceId),
}

impl Safe {
    /// A stable name for the request kind (ledgers, dry runs, provenance).
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::ReadDeviceId(_) => KIND,
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs).
    pub fn detail(&self) -> String {
        match self {
            Safe::ReadDeviceId(m) => format!(
                "unit {}, read code 0x{:02x} ({:?})",
                m.unit_id,
                m.read_code.code(),
                m.read_code
            )
            .to_lowercase(),
        }
    }

    /// Appends the request's bytes (callers that send use [`crate::safety::emit`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Safe::ReadDeviceId(r) => request_adu(r).encode(out),
        }
    }
}

/// The MBAP length of a Read Device Identification request: unit id, function, MEI type,
/// read code, object id.
const READ_DEVICE_ID_MBAP_LENGTH: u16 = 5;

/// The wire form of `r`.
pub fn request_adu(r: &ModbusReadDeviceId) -> RequestAdu {
    RequestAdu {
        header: Header {
            transaction_id: r.transaction_id,
            protocol_id: PROTOCOL_ID_MODBUS,
            unit_id: r.unit_id,
        },
        pdu: Request::ReadDeviceId(ReadDeviceIdRequest {
            read_code: ReadCode::from(r.read_code),
            object_id: r.object_id,
            trailing: Vec::new(),
        }),
    }
}

fn malformed(reason: impl Into<String>) -> Refusal {
    Refusal::Malformed(reason.into())
}

fn not_allowed(what: impl Into<String>) -> Refusal {
    Refusal::NotAllowed(what.into())
}

/// Accepts `frame` only if it is exactly one allowlisted Modbus/TCP request, and returns
/// its kind. [`crate::safety::check`] calls it for every Modbus frame.
pub fn check(frame: &[u8]) -> Result<&'static str, Refusal> {
    // One complete frame, and nothing else: the MBAP length must cover the bytes exactly.
    let len = match frame_len(frame) {
        Ok(Some(n)) => n,
        Ok(None) => return Err(malformed(format!("partial frame of {} bytes", frame.len()))),
        Err(e) => return Err(malformed(e.to_string())),
    };
    if len != frame.len() {
        return Err(malformed(format!(
            "{} bytes after the {len}-byte frame",
            frame.len() - len
        )));
    }
    let adu =
        RequestAdu::decode(&mut Cursor::framed(frame)).map_err(|e| malformed(e.to_string()))?;
    if adu.header.protocol_id != PROTOCOL_ID_MODBUS {
        return Err(not_allowed(format!(
            "protocol id {:#06x}, not 0",
            adu.header.protocol_id
        )));
    }
    let Request::ReadDeviceId(req) = &adu.pdu else {
        let c = classify(&adu.pdu);
        return Err(not_allowed(format!(
            "function {:#04x} ({})",
            c.function.code(),
            c.name
        )));
    };
    if !req.trailing.is_empty() {
        return Err(not_allowed(format!(
            "{} bytes after the object id",
            req.trailing.len()
        )));
    }
    // Belt and braces: the length field is what a device acts on, so it is checked on the
    // raw bytes too.
    let length = u16::from_be_bytes([frame[4], frame[5]]);
    if length != READ_DEVICE_ID_MBAP_LENGTH
        || frame[7] != FunctionCode::EncapsulatedInterface.code()
    {
        return Err(malformed(format!("mbap length {length}, not 5")));
    }
    match req.read_code {
        ReadCode::Basic | ReadCode::Regular | ReadCode::Extended | ReadCode::Individual => Ok(KIND),
        ReadCode::Unknown(c) => Err(not_allowed(format!(
            "read device identification with read code {c:#04x} (only 1-4 exist)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::{SafeRequest, emit};

    #[test]
    fn emits_the_read_device_id_bytes() {
        let r = SafeRequest::Modbus(Safe::ReadDeviceId(ModbusReadDeviceId {
            transaction_id: 0x0017,
            unit_id: 1,
            read_code: ReadDeviceIdCode::Basic,
            object_id: 0,
        }));
        assert_eq!(
            emit(&r).unwrap(),
            [
                0x00, 0x17, 0x00, 0x00, 0x00, 0x05, 0x01, 0x2b, 0x0e, 0x01, 0x00
            ]
        );
    }

    #[test]
    fn refuses_a_write() {
        let frame = [0, 1, 0, 0, 0, 6, 1, 6, 0, 1, 0, 3];
        assert!(matches!(check(&frame), Err(Refusal::NotAllowed(_))));
    }
}
