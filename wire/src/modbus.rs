//! Modbus/TCP: the MBAP header, Read Device Identification (function 0x2B, MEI 0x0E),
//! exception responses, and enough of every other function to name it and tell a read
//! from a write.
//!
//! This module never does I/O, never reads a clock and never prints. It follows the
//! Modbus Application Protocol Specification v1.1b3 (MAP; 6.21 for Read Device
//! Identification, 7 for exceptions) and the Modbus Messaging on TCP/IP Implementation
//! Guide v1.0b (MMTCP; 3.1.3 for the MBAP header).
//!
//! # Untrusted input
//! Every byte may come from a broken or hostile device, or a corrupt capture. The MBAP
//! length is checked against [`MAX_MBAP_LENGTH`] before anything is framed, every object
//! count and object length is checked against the bytes actually present before anything
//! is allocated, and nothing here panics whatever the input (property tests and the
//! `fuzz/fuzz_targets/modbus_*.rs` targets hold it to that). Decoding is lenient where
//! real devices deviate (a non-zero protocol id, an odd "more follows" byte, a read code
//! echoed differently): the raw value is kept and [`ReadDeviceIdResponse::anomalies`] /
//! [`Header::anomalies`] say what is odd; callers decide how strict to be.
//!
//! # Shape
//! A frame is an ADU: a [`Header`] (MBAP without its length, which is derived from the
//! PDU when encoding and delimits the PDU when decoding) and a PDU. Requests
//! ([`RequestAdu`]) and responses ([`ResponseAdu`]) are decoded separately: the same
//! function code means different layouts in each direction, and only the transport (who
//! connected to port 502) says which direction a frame went.

use std::borrow::Cow;

use super::{Anomaly, Cursor, DecodeError};

/// The registered Modbus/TCP port (MMTCP 4.1.1): the side on it is the server, so a
/// frame sent to it is a request and a frame sent from it a response.
pub const PORT: u16 = 502;

/// Bytes of the MBAP header, including the unit id (MMTCP 3.1.3).
pub const MBAP_LEN: usize = 7;

/// Bytes before the MBAP length field's end: transaction id, protocol id, length.
const MBAP_PREFIX: usize = 6;

/// Largest MBAP length field accepted: unit id (1) + the largest PDU (253 bytes, MAP 4.1,
/// inherited from the 256-byte serial line ADU). A larger value is not Modbus.
pub const MAX_MBAP_LENGTH: usize = 1 + MAX_PDU_LEN;

/// Largest Modbus PDU (MAP 4.1).
pub const MAX_PDU_LEN: usize = 253;

/// Smallest MBAP length field: unit id plus a function code.
pub const MIN_MBAP_LENGTH: usize = 2;

/// Largest whole Modbus/TCP frame: 6 header bytes + [`MAX_MBAP_LENGTH`].
pub const MAX_ADU_LEN: usize = MBAP_PREFIX + MAX_MBAP_LENGTH;

/// The one protocol id MMTCP defines (0 = Modbus).
pub const PROTOCOL_ID_MODBUS: u16 = 0;

/// MEI type of Read Device Identification (MAP 6.21).
pub const MEI_READ_DEVICE_ID: u8 = 0x0E;

/// MEI type of CANopen General Reference (MAP 6.20): can read or write, never sent.
pub const MEI_CANOPEN: u8 = 0x0D;

/// "More follows" byte that asks for another request (MAP 6.21).
pub const MORE_FOLLOWS: u8 = 0xFF;

/// Largest number of objects one reply can hold: each takes at least two bytes (id and
/// length) and the reply's fixed part takes 7 of the 253-byte PDU.
pub const MAX_OBJECTS: usize = (MAX_PDU_LEN - 7) / 2;

/// Length of the complete MBAP frame at the start of `buf`, for stream framing (the
/// active TCP reader and the passive reassembler share it).
///
/// `Ok(None)`: more bytes are needed. `Ok(Some(n))`: the first `n` bytes are one frame.
/// An error: the bytes cannot start a Modbus/TCP frame (waiting will not help). The
/// protocol id is not checked here (see [`Header::anomalies`]); only the length decides
/// the framing.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(len_bytes) = buf.get(4..MBAP_PREFIX) else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    check_mbap_length(length)?;
    let total = MBAP_PREFIX + length;
    Ok((buf.len() >= total).then_some(total))
}

fn check_mbap_length(length: usize) -> Result<(), DecodeError> {
    // The MBAP length counts the unit id and the PDU; it is untrusted, and it decides how
    // many bytes the frame owns, so it is bounded before anything is framed with it.
    if length > MAX_MBAP_LENGTH {
        return Err(DecodeError::TooLarge {
            field: "modbus.mbap.length",
            value: length,
            max: MAX_MBAP_LENGTH,
        });
    }
    if length < MIN_MBAP_LENGTH {
        return Err(DecodeError::Invalid {
            field: "modbus.mbap.length",
            value: length as u64,
            reason: "must count at least the unit id and a function code",
        });
    }
    Ok(())
}

/// The MBAP header without its length field (MMTCP 3.1.3): the length is derived from the
/// PDU when encoding and frames the PDU when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Chosen by the client, echoed by the server: matches a reply to its request.
    pub transaction_id: u16,
    /// 0 for Modbus; anything else is kept raw and flagged.
    pub protocol_id: u16,
    /// Unit identifier: the serial slave behind a gateway, often 0xFF or 0 or 1 otherwise.
    pub unit_id: u8,
}

impl Header {
    fn encode(&self, pdu_len: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.transaction_id.to_be_bytes());
        out.extend_from_slice(&self.protocol_id.to_be_bytes());
        // Encoders only build PDUs within MAX_PDU_LEN (the types hold at most that many
        // bytes when they come from the decoder); saturate rather than wrap otherwise.
        let length = u16::try_from(pdu_len + 1).unwrap_or(u16::MAX);
        out.extend_from_slice(&length.to_be_bytes());
        out.push(self.unit_id);
    }

    /// Reads the header and returns it with a framed cursor over exactly its PDU.
    fn decode<'a>(c: &mut Cursor<'a>) -> Result<(Header, Cursor<'a>), DecodeError> {
        let transaction_id = c.u16_be("modbus.mbap.transaction_id")?;
        let protocol_id = c.u16_be("modbus.mbap.protocol_id")?;
        let length = usize::from(c.u16_be("modbus.mbap.length")?);
        check_mbap_length(length)?;
        let unit_id = c.u8("modbus.mbap.unit_id")?;
        // Bounded above by MAX_MBAP_LENGTH; the sub-cursor holds the PDU to exactly that.
        let pdu = c.sub(length - 1, "modbus.pdu")?;
        Ok((
            Header {
                transaction_id,
                protocol_id,
                unit_id,
            },
            pdu,
        ))
    }

    /// What is odd about the header (a protocol id other than 0).
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        if self.protocol_id != PROTOCOL_ID_MODBUS {
            out.push(Anomaly {
                field: "modbus.mbap.protocol_id",
                what: format!("protocol id {:#06x}, not 0 (modbus)", self.protocol_id),
            });
        }
        out
    }
}

/// What a function does to the device, for "who wrote to which PLC".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Reads data or identity; changes nothing.
    Read,
    /// Writes process data or configuration.
    Write,
    /// Changes how the device runs (restart communications, listen-only mode, counters).
    Control,
    /// Not known to be a read: vendor, user-defined or unassigned functions. Treat as
    /// possibly state-changing.
    Unknown,
}

/// A Modbus function code (MAP 6), open: unknown codes round-trip as [`FunctionCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FunctionCode {
    ReadCoils,
    ReadDiscreteInputs,
    ReadHoldingRegisters,
    ReadInputRegisters,
    WriteSingleCoil,
    WriteSingleRegister,
    ReadExceptionStatus,
    Diagnostics,
    GetCommEventCounter,
    GetCommEventLog,
    WriteMultipleCoils,
    WriteMultipleRegisters,
    ReportServerId,
    ReadFileRecord,
    WriteFileRecord,
    MaskWriteRegister,
    ReadWriteMultipleRegisters,
    ReadFifoQueue,
    /// 0x2B: Encapsulated Interface Transport (MEI); 0x0E is Read Device Identification.
    EncapsulatedInterface,
    /// Any other code below 0x80 (including user-defined 65-72, 100-110 and vendor codes
    /// such as Schneider's 0x5A).
    Unknown(u8),
}

impl FunctionCode {
    /// The function for a code byte (without the exception bit).
    pub fn from_u8(code: u8) -> Self {
        use FunctionCode::*;
        match code {
            1 => ReadCoils,
            2 => ReadDiscreteInputs,
            3 => ReadHoldingRegisters,
            4 => ReadInputRegisters,
            5 => WriteSingleCoil,
            6 => WriteSingleRegister,
            7 => ReadExceptionStatus,
            8 => Diagnostics,
            11 => GetCommEventCounter,
            12 => GetCommEventLog,
            15 => WriteMultipleCoils,
            16 => WriteMultipleRegisters,
            17 => ReportServerId,
            20 => ReadFileRecord,
            21 => WriteFileRecord,
            22 => MaskWriteRegister,
            23 => ReadWriteMultipleRegisters,
            24 => ReadFifoQueue,
            43 => EncapsulatedInterface,
            other => Unknown(other),
        }
    }

    /// The code byte.
    pub fn code(self) -> u8 {
        use FunctionCode::*;
        match self {
            ReadCoils => 1,
            ReadDiscreteInputs => 2,
            ReadHoldingRegisters => 3,
            ReadInputRegisters => 4,
            WriteSingleCoil => 5,
            WriteSingleRegister => 6,
            ReadExceptionStatus => 7,
            Diagnostics => 8,
            GetCommEventCounter => 11,
            GetCommEventLog => 12,
            WriteMultipleCoils => 15,
            WriteMultipleRegisters => 16,
            ReportServerId => 17,
            ReadFileRecord => 20,
            WriteFileRecord => 21,
            MaskWriteRegister => 22,
            ReadWriteMultipleRegisters => 23,
            ReadFifoQueue => 24,
            EncapsulatedInterface => 43,
            Unknown(c) => c,
        }
    }

    /// A stable snake_case name (used in `Fact::Operation::function`).
    pub fn name(self) -> &'static str {
        use FunctionCode::*;
        match self {
            ReadCoils => "read_coils",
            ReadDiscreteInputs => "read_discrete_inputs",
            ReadHoldingRegisters => "read_holding_registers",
            ReadInputRegisters => "read_input_registers",
            WriteSingleCoil => "write_single_coil",
            WriteSingleRegister => "write_single_register",
            ReadExceptionStatus => "read_exception_status",
            Diagnostics => "diagnostics",
            GetCommEventCounter => "get_comm_event_counter",
            GetCommEventLog => "get_comm_event_log",
            WriteMultipleCoils => "write_multiple_coils",
            WriteMultipleRegisters => "write_multiple_registers",
            ReportServerId => "report_server_id",
            ReadFileRecord => "read_file_record",
            WriteFileRecord => "write_file_record",
            MaskWriteRegister => "mask_write_register",
            ReadWriteMultipleRegisters => "read_write_multiple_registers",
            ReadFifoQueue => "read_fifo_queue",
            EncapsulatedInterface => "encapsulated_interface",
            // Schneider Electric's UMAS rides on this code (program download, run/stop).
            Unknown(0x5A) => "schneider_umas",
            Unknown(_) => "unknown",
        }
    }

    /// What the function does to the device. Function 43 depends on its MEI type: use
    /// [`classify`] when the PDU is at hand.
    pub fn access(self) -> Access {
        use FunctionCode::*;
        match self {
            ReadCoils | ReadDiscreteInputs | ReadHoldingRegisters | ReadInputRegisters
            | ReadExceptionStatus | GetCommEventCounter | GetCommEventLog | ReportServerId
            | ReadFileRecord | ReadFifoQueue => Access::Read,
            // Function 23 writes before it reads (MAP 6.17).
            WriteSingleCoil
            | WriteSingleRegister
            | WriteMultipleCoils
            | WriteMultipleRegisters
            | WriteFileRecord
            | MaskWriteRegister
            | ReadWriteMultipleRegisters => Access::Write,
            // Sub-functions restart communications, force listen-only mode, clear counters
            // (MAP 6.8): they change how the device runs.
            Diagnostics => Access::Control,
            EncapsulatedInterface | Unknown(_) => Access::Unknown,
        }
    }
}

/// A function's name and what it does, for the passive side's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classification {
    pub function: FunctionCode,
    /// Stable snake_case name (`write_multiple_registers`, `read_device_identification`).
    pub name: &'static str,
    pub access: Access,
}

/// Names a request (its function code and, for function 43, its MEI type) and says
/// whether it reads, writes or controls.
pub fn classify(request: &Request) -> Classification {
    match request {
        Request::ReadDeviceId(_) => Classification {
            function: FunctionCode::EncapsulatedInterface,
            name: "read_device_identification",
            access: Access::Read,
        },
        Request::Other { function, data } => classify_function(*function, data),
    }
}

/// Names a function from its code and the PDU bytes after the code (only function 43 looks
/// at them: its first byte is the MEI type).
pub fn classify_function(function: FunctionCode, data: &[u8]) -> Classification {
    let (name, access) = match (function, data.first()) {
        (FunctionCode::EncapsulatedInterface, Some(&MEI_READ_DEVICE_ID)) => {
            ("read_device_identification", Access::Read)
        }
        // CANopen General Reference can write object dictionary entries (MAP 6.20).
        (FunctionCode::EncapsulatedInterface, Some(&MEI_CANOPEN)) => {
            ("canopen_general_reference", Access::Unknown)
        }
        (f, _) => (f.name(), f.access()),
    };
    Classification {
        function,
        name,
        access,
    }
}

/// Read Device Identification read code (MAP 6.21, table "Read Device ID code"), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadCode {
    /// 0x01: basic objects 0x00-0x02, stream access.
    Basic,
    /// 0x02: regular objects 0x03-0x7F, stream access.
    Regular,
    /// 0x03: extended objects 0x80-0xFF, stream access.
    Extended,
    /// 0x04: one specific object.
    Individual,
    /// Any other byte (the spec defines none; kept raw).
    Unknown(u8),
}

impl ReadCode {
    pub fn from_u8(b: u8) -> Self {
        match b {
            1 => ReadCode::Basic,
            2 => ReadCode::Regular,
            3 => ReadCode::Extended,
            4 => ReadCode::Individual,
            other => ReadCode::Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ReadCode::Basic => 1,
            ReadCode::Regular => 2,
            ReadCode::Extended => 3,
            ReadCode::Individual => 4,
            ReadCode::Unknown(b) => b,
        }
    }
}

/// The standard name of a device identification object (MAP 6.21, object table).
pub fn object_name(id: u8) -> &'static str {
    match id {
        0x00 => "VendorName",
        0x01 => "ProductCode",
        0x02 => "MajorMinorRevision",
        0x03 => "VendorUrl",
        0x04 => "ProductName",
        0x05 => "ModelName",
        0x06 => "UserApplicationName",
        0x07..=0x7F => "Reserved",
        _ => "Private",
    }
}

/// Read Device Identification request PDU after the function code and MEI type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadDeviceIdRequest {
    pub read_code: ReadCode,
    /// First object wanted (stream access) or the object wanted (individual access).
    pub object_id: u8,
    /// Bytes after the object id inside the frame: none by the spec, but real captures
    /// hold them (`modbus_test_data_part1.pcap` frame 32); kept and flagged, never sent.
    pub trailing: Vec<u8>,
}

impl ReadDeviceIdRequest {
    /// What is odd about the request.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        if matches!(self.read_code, ReadCode::Unknown(_)) {
            out.push(Anomaly {
                field: "modbus.devid.read_code",
                what: format!("read code {:#04x} is not defined", self.read_code.code()),
            });
        }
        if !self.trailing.is_empty() {
            out.push(Anomaly {
                field: "modbus.devid.object_id",
                what: format!("{} bytes after the object id", self.trailing.len()),
            });
        }
        out
    }
}

/// One device identification object: the id and its bytes as sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceIdObject {
    pub id: u8,
    /// The value as sent (at most 255 bytes: its length is one byte). The spec says ASCII.
    pub value: Vec<u8>,
}

impl DeviceIdObject {
    /// The value as text, invalid UTF-8 replaced.
    pub fn as_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// Read Device Identification response PDU after the function code and MEI type
/// (MAP 6.21).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadDeviceIdResponse {
    /// The read code as echoed by the device.
    pub read_code: ReadCode,
    /// Conformity level byte as sent (0x01-0x03, 0x81-0x83 by the spec).
    pub conformity_level: u8,
    /// 0x00 no more, 0xFF more follows; anything else is kept and flagged.
    pub more_follows: u8,
    /// Where the next request should start when more follows (0 otherwise).
    pub next_object_id: u8,
    /// The objects, in wire order.
    pub objects: Vec<DeviceIdObject>,
    /// Bytes after the last object, inside the frame (a vendor deviation; kept, flagged).
    pub trailing: Vec<u8>,
}

impl ReadDeviceIdResponse {
    /// True when the device says another request is needed (the byte is exactly 0xFF).
    pub fn more_follows(&self) -> bool {
        self.more_follows == MORE_FOLLOWS
    }

    /// What is odd about the reply.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        if self.more_follows != 0x00 && self.more_follows != MORE_FOLLOWS {
            out.push(Anomaly {
                field: "modbus.devid.more_follows",
                what: format!(
                    "more follows byte {:#04x}, neither 0x00 nor 0xff: read as no more",
                    self.more_follows
                ),
            });
        }
        if self.more_follows != MORE_FOLLOWS && self.next_object_id != 0 {
            out.push(Anomaly {
                field: "modbus.devid.next_object_id",
                what: format!(
                    "next object id {:#04x} without more follows (the spec says 0)",
                    self.next_object_id
                ),
            });
        }
        if !matches!(self.conformity_level, 0x01..=0x03 | 0x81..=0x83) {
            out.push(Anomaly {
                field: "modbus.devid.conformity_level",
                what: format!(
                    "conformity level {:#04x} is not defined",
                    self.conformity_level
                ),
            });
        }
        if matches!(self.read_code, ReadCode::Unknown(_)) {
            out.push(Anomaly {
                field: "modbus.devid.read_code",
                what: format!("read code {:#04x} is not defined", self.read_code.code()),
            });
        }
        if !self.trailing.is_empty() {
            out.push(Anomaly {
                field: "modbus.devid.objects",
                what: format!("{} bytes after the last object", self.trailing.len()),
            });
        }
        out
    }

    /// Bytes after the MEI type: read code, conformity, more follows, next object, count,
    /// then the objects.
    fn encoded_body_len(&self) -> usize {
        5 + self
            .objects
            .iter()
            .map(|o| 2 + o.value.len())
            .sum::<usize>()
            + self.trailing.len()
    }
}

/// A Modbus exception code (MAP 7), open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExceptionCode {
    IllegalFunction,
    IllegalDataAddress,
    IllegalDataValue,
    ServerDeviceFailure,
    Acknowledge,
    ServerDeviceBusy,
    MemoryParityError,
    /// 0x0A: a gateway could not route to the unit id.
    GatewayPathUnavailable,
    /// 0x0B: a gateway got no answer from the unit id.
    GatewayTargetFailedToRespond,
    Unknown(u8),
}

impl ExceptionCode {
    pub fn from_u8(b: u8) -> Self {
        use ExceptionCode::*;
        match b {
            0x01 => IllegalFunction,
            0x02 => IllegalDataAddress,
            0x03 => IllegalDataValue,
            0x04 => ServerDeviceFailure,
            0x05 => Acknowledge,
            0x06 => ServerDeviceBusy,
            0x08 => MemoryParityError,
            0x0A => GatewayPathUnavailable,
            0x0B => GatewayTargetFailedToRespond,
            other => Unknown(other),
        }
    }

    pub fn code(self) -> u8 {
        use ExceptionCode::*;
        match self {
            IllegalFunction => 0x01,
            IllegalDataAddress => 0x02,
            IllegalDataValue => 0x03,
            ServerDeviceFailure => 0x04,
            Acknowledge => 0x05,
            ServerDeviceBusy => 0x06,
            MemoryParityError => 0x08,
            GatewayPathUnavailable => 0x0A,
            GatewayTargetFailedToRespond => 0x0B,
            Unknown(b) => b,
        }
    }

    /// Lowercase description, as MAP 7 names it.
    pub fn describe(self) -> &'static str {
        use ExceptionCode::*;
        match self {
            IllegalFunction => "illegal function",
            IllegalDataAddress => "illegal data address",
            IllegalDataValue => "illegal data value",
            ServerDeviceFailure => "server device failure",
            Acknowledge => "acknowledge",
            ServerDeviceBusy => "server device busy",
            MemoryParityError => "memory parity error",
            GatewayPathUnavailable => "gateway path unavailable",
            GatewayTargetFailedToRespond => "gateway target device failed to respond",
            Unknown(_) => "unknown exception",
        }
    }

    /// True for the gateway codes: the gateway answered for a unit that did not.
    pub fn is_gateway(self) -> bool {
        matches!(
            self,
            ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetFailedToRespond
        )
    }
}

/// A request PDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// Function 0x2B, MEI 0x0E.
    ReadDeviceId(ReadDeviceIdRequest),
    /// Any other function: its code and the PDU bytes after it, raw (see
    /// [`Request::address_range`] and [`classify`]).
    Other {
        function: FunctionCode,
        data: Vec<u8>,
    },
}

impl Request {
    /// The function code.
    pub fn function(&self) -> FunctionCode {
        match self {
            Request::ReadDeviceId(_) => FunctionCode::EncapsulatedInterface,
            Request::Other { function, .. } => *function,
        }
    }

    /// Starting address and quantity of a read or write of the data model (functions
    /// 1-6, 15, 16, 22 and 23's read part), when the PDU is long enough to hold them.
    /// For functions 5 and 6 the quantity is 1; for 22 it is 1.
    pub fn address_range(&self) -> Option<(u16, u16)> {
        let Request::Other { function, data } = self else {
            return None;
        };
        let at = |i: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]))
        };
        match function.code() {
            1..=4 | 15 | 16 | 23 => Some((at(0)?, at(2)?)),
            5 | 6 | 22 => Some((at(0)?, 1)),
            _ => None,
        }
    }

    fn pdu_len(&self) -> usize {
        match self {
            Request::ReadDeviceId(r) => 4 + r.trailing.len(),
            Request::Other { data, .. } => 1 + data.len(),
        }
    }

    fn encode_pdu(&self, out: &mut Vec<u8>) {
        match self {
            Request::ReadDeviceId(r) => {
                out.extend_from_slice(&[
                    FunctionCode::EncapsulatedInterface.code(),
                    MEI_READ_DEVICE_ID,
                    r.read_code.code(),
                    r.object_id,
                ]);
                out.extend_from_slice(&r.trailing);
            }
            Request::Other { function, data } => {
                out.push(function.code());
                out.extend_from_slice(data);
            }
        }
    }

    /// Decodes a PDU that a header already delimited.
    fn decode_pdu(c: &mut Cursor<'_>) -> Result<Request, DecodeError> {
        let code = c.u8("modbus.function")?;
        if code >= 0x80 {
            return Err(DecodeError::Invalid {
                field: "modbus.function",
                value: u64::from(code),
                reason: "a request cannot carry the exception bit",
            });
        }
        let function = FunctionCode::from_u8(code);
        if function == FunctionCode::EncapsulatedInterface
            && c.peek_u8() == Some(MEI_READ_DEVICE_ID)
        {
            c.skip(1, "modbus.devid.mei_type")?;
            let read_code = ReadCode::from_u8(c.u8("modbus.devid.read_code")?);
            let object_id = c.u8("modbus.devid.object_id")?;
            return Ok(Request::ReadDeviceId(ReadDeviceIdRequest {
                read_code,
                object_id,
                trailing: c.rest().to_vec(),
            }));
        }
        Ok(Request::Other {
            function,
            data: c.rest().to_vec(),
        })
    }
}

/// A response PDU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Response {
    /// Function 0x2B, MEI 0x0E.
    ReadDeviceId(ReadDeviceIdResponse),
    /// The function code with 0x80 set, and an exception code (MAP 7).
    Exception {
        function: FunctionCode,
        code: ExceptionCode,
        /// Bytes after the exception code inside the frame (none by the spec; seen in
        /// `modbus_test_data_part1.pcap` frames 91-109). Kept so the frame round-trips.
        trailing: Vec<u8>,
    },
    /// Any other function: its code and the PDU bytes after it, raw (see
    /// [`Response::report_server_id`]).
    Other {
        function: FunctionCode,
        data: Vec<u8>,
    },
}

impl Response {
    /// The function code (without the exception bit).
    pub fn function(&self) -> FunctionCode {
        match self {
            Response::ReadDeviceId(_) => FunctionCode::EncapsulatedInterface,
            Response::Exception { function, .. } | Response::Other { function, .. } => *function,
        }
    }

    /// Function 17's server id and run indicator bytes (MAP 6.13: byte count, then
    /// device-specific data), when this is such a reply and its byte count fits.
    pub fn report_server_id(&self) -> Option<&[u8]> {
        let Response::Other {
            function: FunctionCode::ReportServerId,
            data,
        } = self
        else {
            return None;
        };
        let (&count, rest) = data.split_first()?;
        rest.get(..usize::from(count))
    }

    fn pdu_len(&self) -> usize {
        match self {
            Response::ReadDeviceId(r) => 2 + r.encoded_body_len(),
            Response::Exception { trailing, .. } => 2 + trailing.len(),
            Response::Other { data, .. } => 1 + data.len(),
        }
    }

    fn encode_pdu(&self, out: &mut Vec<u8>) {
        match self {
            Response::ReadDeviceId(r) => {
                out.extend_from_slice(&[
                    FunctionCode::EncapsulatedInterface.code(),
                    MEI_READ_DEVICE_ID,
                    r.read_code.code(),
                    r.conformity_level,
                    r.more_follows,
                    r.next_object_id,
                    // At most MAX_OBJECTS when decoded; saturate for hand-built values.
                    u8::try_from(r.objects.len()).unwrap_or(u8::MAX),
                ]);
                for o in &r.objects {
                    out.push(o.id);
                    out.push(u8::try_from(o.value.len()).unwrap_or(u8::MAX));
                    out.extend_from_slice(&o.value);
                }
                out.extend_from_slice(&r.trailing);
            }
            Response::Exception {
                function,
                code,
                trailing,
            } => {
                out.push(function.code() | 0x80);
                out.push(code.code());
                out.extend_from_slice(trailing);
            }
            Response::Other { function, data } => {
                out.push(function.code());
                out.extend_from_slice(data);
            }
        }
    }

    fn decode_pdu(c: &mut Cursor<'_>) -> Result<Response, DecodeError> {
        let code = c.u8("modbus.function")?;
        if code >= 0x80 {
            let exception = ExceptionCode::from_u8(c.u8("modbus.exception_code")?);
            return Ok(Response::Exception {
                function: FunctionCode::from_u8(code & 0x7F),
                code: exception,
                trailing: c.rest().to_vec(),
            });
        }
        let function = FunctionCode::from_u8(code);
        if function == FunctionCode::EncapsulatedInterface
            && c.peek_u8() == Some(MEI_READ_DEVICE_ID)
        {
            c.skip(1, "modbus.devid.mei_type")?;
            return decode_devid_response(c).map(Response::ReadDeviceId);
        }
        Ok(Response::Other {
            function,
            data: c.rest().to_vec(),
        })
    }
}

fn decode_devid_response(c: &mut Cursor<'_>) -> Result<ReadDeviceIdResponse, DecodeError> {
    let read_code = ReadCode::from_u8(c.u8("modbus.devid.read_code")?);
    let conformity_level = c.u8("modbus.devid.conformity_level")?;
    let more_follows = c.u8("modbus.devid.more_follows")?;
    let next_object_id = c.u8("modbus.devid.next_object_id")?;
    let count = usize::from(c.u8("modbus.devid.object_count")?);
    // The count is untrusted: each object needs at least its id and length byte, so no
    // 253-byte PDU holds more than MAX_OBJECTS, and a count the rest of this PDU cannot
    // hold is a broken reply. Both are refused before anything is allocated for it.
    if count > MAX_OBJECTS {
        return Err(DecodeError::TooLarge {
            field: "modbus.devid.object_count",
            value: count,
            max: MAX_OBJECTS,
        });
    }
    if count > c.remaining() / 2 {
        return Err(DecodeError::Truncated {
            field: "modbus.devid.objects",
            needed: count * 2 - c.remaining(),
        });
    }
    let mut objects = Vec::with_capacity(count);
    for _ in 0..count {
        let id = c.u8("modbus.devid.object_id")?;
        // The object length is one byte and read through the cursor, which refuses a
        // length longer than what the frame holds.
        let len = usize::from(c.u8("modbus.devid.object_length")?);
        let value = c.bytes(len, "modbus.devid.object_value")?.to_vec();
        objects.push(DeviceIdObject { id, value });
    }
    Ok(ReadDeviceIdResponse {
        read_code,
        conformity_level,
        more_follows,
        next_object_id,
        objects,
        trailing: c.rest().to_vec(),
    })
}

/// A whole Modbus/TCP request frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestAdu {
    pub header: Header,
    pub pdu: Request,
}

impl RequestAdu {
    /// Appends the frame (the MBAP length is derived from the PDU).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(self.pdu.pdu_len(), out);
        self.pdu.encode_pdu(out);
    }

    /// Bytes [`RequestAdu::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        MBAP_LEN + self.pdu.pdu_len()
    }

    /// Decodes one frame from the cursor: over a stream prefix ([`Cursor::new`]) a short
    /// frame is [`DecodeError::Incomplete`]; bytes after the frame stay in the cursor.
    pub fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let (header, mut pdu) = Header::decode(c)?;
        let pdu = Request::decode_pdu(&mut pdu)?;
        Ok(RequestAdu { header, pdu })
    }
}

/// A whole Modbus/TCP response frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseAdu {
    pub header: Header,
    pub pdu: Response,
}

impl ResponseAdu {
    /// Appends the frame (the MBAP length is derived from the PDU).
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(self.pdu.pdu_len(), out);
        self.pdu.encode_pdu(out);
    }

    /// Bytes [`ResponseAdu::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        MBAP_LEN + self.pdu.pdu_len()
    }

    /// Decodes one frame from the cursor (see [`RequestAdu::decode`]).
    pub fn decode(c: &mut Cursor<'_>) -> Result<Self, DecodeError> {
        let (header, mut pdu) = Header::decode(c)?;
        let pdu = Response::decode_pdu(&mut pdu)?;
        Ok(ResponseAdu { header, pdu })
    }
}

/// What a unit that answered Read Device Identification with zero objects said, as the
/// answer of an "answered, no identity objects" finding (`unit 1 answered read device
/// identification with no identity objects (read code 1)`): the probe and the passive
/// side word it the same way.
pub fn no_identity_objects_answer(unit_id: u8, read_code: u8) -> String {
    format!(
        "unit {unit_id} answered read device identification with no identity objects (read code {read_code})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_needs_the_length_field() {
        assert_eq!(frame_len(&[0, 1, 0, 0, 0]), Ok(None));
        assert_eq!(frame_len(&[0, 1, 0, 0, 0, 5, 1, 0x2b, 0x0e, 1]), Ok(None));
        assert_eq!(
            frame_len(&[0, 1, 0, 0, 0, 5, 1, 0x2b, 0x0e, 1, 0, 9]),
            Ok(Some(11))
        );
    }

    #[test]
    fn frame_len_refuses_lengths_outside_the_spec() {
        assert!(matches!(
            frame_len(&[0, 1, 0, 0, 0x01, 0x00]),
            Err(DecodeError::TooLarge { value: 256, .. })
        ));
        assert!(matches!(
            frame_len(&[0, 1, 0, 0, 0, 1]),
            Err(DecodeError::Invalid { value: 1, .. })
        ));
    }

    #[test]
    fn object_count_larger_than_the_frame_is_refused_before_allocating() {
        // 0x2b 0x0e, code 1, conformity 0x81, more 0, next 0, count 100, nothing after.
        let frame = [0, 1, 0, 0, 0, 8, 1, 0x2b, 0x0e, 1, 0x81, 0, 0, 100];
        let err = ResponseAdu::decode(&mut Cursor::new(&frame)).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                field: "modbus.devid.objects",
                ..
            }
        ));
    }

    #[test]
    fn object_count_above_what_any_pdu_holds_is_too_large() {
        let frame = [0, 1, 0, 0, 0, 8, 1, 0x2b, 0x0e, 1, 0x81, 0, 0, 200];
        assert_eq!(
            ResponseAdu::decode(&mut Cursor::new(&frame)),
            Err(DecodeError::TooLarge {
                field: "modbus.devid.object_count",
                value: 200,
                max: MAX_OBJECTS
            })
        );
    }

    #[test]
    fn classifies_writes_and_mei_types() {
        let write = Request::Other {
            function: FunctionCode::from_u8(16),
            data: vec![0, 10, 0, 2, 4, 0, 1, 0, 2],
        };
        assert_eq!(classify(&write).access, Access::Write);
        assert_eq!(classify(&write).name, "write_multiple_registers");
        assert_eq!(write.address_range(), Some((10, 2)));
        let canopen = Request::Other {
            function: FunctionCode::EncapsulatedInterface,
            data: vec![MEI_CANOPEN, 0],
        };
        assert_eq!(classify(&canopen).access, Access::Unknown);
    }
}
