//! S7comm over ISO-on-TCP: TPKT (RFC 1006), COTP (ISO 8073 class 0), the S7comm header,
//! Setup Communication, userdata Read SZL (request, follow-up, response, reassembly) and
//! the SZL 0x0011 / 0x001C identity records.
//!
//! What it never does: I/O, clocks, printing, or allocating more than a named cap allows.
//! It decodes everything found on port 102 without failing on what it does not know:
//! S7comm-plus (protocol id 0x72) and other payloads are kept raw, unknown COTP TPDU
//! types and unknown S7 functions keep their bytes and round-trip.
//!
//! Sources (facts only, no code): RFC 1006 section 6 (TPKT), ISO 8073 / ITU-T X.224
//! section 13 (COTP TPDU layouts and parameter codes), and for the Siemens-specific S7comm
//! layer, which Siemens does not publish, the Wireshark S7comm dissector's field
//! descriptions (packet-s7comm.c, packet-s7comm_szl_ids.c) and the Snap7 documentation,
//! cross-checked byte by byte against the real captures in `captures/INDEX.md`.
//!
//! # The untrusted-input contract
//! See [the crate docs](crate): every length below is checked against the bytes present and a
//! named cap before it is used, and the reason it is trusted is written at the read.

use super::{Anomaly, Cursor, DecodeError};

/// TPKT version (RFC 1006 section 6: "vrsn 8 bits, This field is always 3").
pub const TPKT_VERSION: u8 = 3;
/// TPKT header: version, reserved, 16-bit length.
pub const TPKT_HEADER_LEN: usize = 4;
/// The shortest TPKT that can carry a COTP TPDU: header, length indicator, TPDU code and
/// the EOT byte of a class-0 DT (RFC 1006 section 6 requires at least 7 octets).
pub const MIN_TPKT_LEN: usize = 7;
/// S7comm protocol id (first byte of the S7 PDU).
pub const S7_PROTOCOL_ID: u8 = 0x32;
/// S7comm-plus protocol id (S7-1200 from V4 / S7-1500): recognised, never decoded.
pub const S7PLUS_PROTOCOL_ID: u8 = 0x72;
/// Most SZL fragments one answer may arrive in. Real CPUs answer 0x001C in two pieces at a
/// 240-byte PDU; 16 pieces allow lists of almost 4 KiB at that PDU size.
pub const MAX_SZL_PIECES: usize = 16;
/// Most bytes a reassembled SZL answer may hold (the largest identity list we read is
/// 8 + 10 * 34 = 348 bytes; diagnostic lists may be a few KiB).
pub const MAX_SZL_BYTES: usize = 16 * 1024;
/// Most records in one SZL list we accept.
pub const MAX_SZL_RECORDS: usize = 1024;

/// COTP TPDU codes (ISO 8073 section 13.1, table 8), high nibble for CR/CC.
pub const COTP_CR: u8 = 0xE0;
pub const COTP_CC: u8 = 0xD0;
pub const COTP_DR: u8 = 0x80;
pub const COTP_DT: u8 = 0xF0;
/// COTP parameter codes (ISO 8073 section 13.3.4).
pub const PARAM_TPDU_SIZE: u8 = 0xC0;
pub const PARAM_CALLING_TSAP: u8 = 0xC1;
pub const PARAM_CALLED_TSAP: u8 = 0xC2;

/// Stream framing for TPKT: `Ok(None)` until the whole frame is present, then its length.
///
/// Shared by the active TCP reader and the passive reassembler.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < TPKT_HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != TPKT_VERSION {
        return Err(DecodeError::Invalid {
            field: "tpkt.version",
            value: u64::from(buf[0]),
            reason: "rfc 1006 tpkt version is always 3",
        });
    }
    // TPKT length, untrusted: it covers the header itself, so anything below the shortest
    // TPDU is a broken or foreign stream. The u16 caps it at 65535 bytes.
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if len < MIN_TPKT_LEN {
        return Err(DecodeError::Invalid {
            field: "tpkt.length",
            value: len as u64,
            reason: "shorter than the smallest cotp tpdu (7 bytes)",
        });
    }
    Ok(if buf.len() >= len { Some(len) } else { None })
}

/// One TPKT frame with its COTP TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// TPKT reserved byte, 0 by RFC 1006; kept raw.
    pub reserved: u8,
    pub cotp: Cotp,
}

impl Frame {
    /// A frame with a zero reserved byte.
    pub fn new(cotp: Cotp) -> Self {
        Frame { reserved: 0, cotp }
    }

    pub fn encoded_len(&self) -> usize {
        TPKT_HEADER_LEN + self.cotp.encoded_len()
    }

    /// Appends the frame. Lengths above 65535 are not representable; encoders of this
    /// module never build such frames.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.encoded_len();
        out.push(TPKT_VERSION);
        out.push(self.reserved);
        out.extend_from_slice(&(len.min(usize::from(u16::MAX)) as u16).to_be_bytes());
        self.cotp.encode(out);
    }

    /// Decodes one frame from the start of a stream (or a whole frame with
    /// [`Cursor::framed`]). Bytes after the frame are left in the cursor.
    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        let version = r.u8("tpkt.version")?;
        if version != TPKT_VERSION {
            return Err(DecodeError::Invalid {
                field: "tpkt.version",
                value: u64::from(version),
                reason: "rfc 1006 tpkt version is always 3",
            });
        }
        let reserved = r.u8("tpkt.reserved")?;
        let len = usize::from(r.u16_be("tpkt.length")?);
        // Checked as in frame_len: it covers the 4 header bytes and at least a DT TPDU.
        if len < MIN_TPKT_LEN {
            return Err(DecodeError::Invalid {
                field: "tpkt.length",
                value: len as u64,
                reason: "shorter than the smallest cotp tpdu (7 bytes)",
            });
        }
        let mut body = r.sub(len - TPKT_HEADER_LEN, "tpkt.payload")?;
        let cotp = Cotp::decode(&mut body)?;
        Ok(Frame { reserved, cotp })
    }

    /// Decodes `bytes` as exactly one frame: a short frame is `Incomplete`, extra bytes
    /// are `Trailing`.
    pub fn decode_exact(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor::new(bytes);
        let f = Frame::decode(&mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::Trailing {
                field: "tpkt",
                extra: r.remaining(),
            });
        }
        Ok(f)
    }

    /// The S7 PDU inside a DT, if there is one.
    pub fn s7(&self) -> Option<&S7Pdu> {
        match &self.cotp {
            Cotp::Data(d) => match &d.payload {
                Payload::S7(p) => Some(p),
                _ => None,
            },
            _ => None,
        }
    }

    /// Odd but survivable things in the frame.
    pub fn anomalies(&self) -> Vec<Anomaly> {
        let mut out = Vec::new();
        if self.reserved != 0 {
            out.push(Anomaly {
                field: "tpkt.reserved",
                what: format!("reserved byte is {:#04x}, not 0", self.reserved),
            });
        }
        if let Some(p) = self.s7() {
            if p.reserved != 0 {
                out.push(Anomaly {
                    field: "s7.reserved",
                    what: format!("reserved field is {:#06x}, not 0", p.reserved),
                });
            }
        }
        out
    }
}

/// A COTP TPDU (ISO 8073 class 0, as ISO-on-TCP uses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cotp {
    /// CR, 0xE0: connection request.
    ConnectRequest(CotpConnection),
    /// CC, 0xD0: connection confirm.
    ConnectConfirm(CotpConnection),
    /// DT, 0xF0: data.
    Data(CotpData),
    /// DR, 0x80: disconnect request (also how a CPU refuses a TSAP).
    DisconnectRequest(CotpDisconnect),
    /// Any other TPDU (DC, ED, AK, ER, ...): the code byte, the rest of the header inside
    /// the length indicator, and the bytes after it.
    Other {
        code: u8,
        header: Vec<u8>,
        data: Vec<u8>,
    },
}

impl Cotp {
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Cotp::ConnectRequest(c) | Cotp::ConnectConfirm(c) => c.encoded_len(),
            Cotp::Data(d) => d.encoded_len(),
            Cotp::DisconnectRequest(d) => d.encoded_len(),
            Cotp::Other { header, data, .. } => 1 + header.len() + data.len(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cotp::ConnectRequest(c) => c.encode(COTP_CR, out),
            Cotp::ConnectConfirm(c) => c.encode(COTP_CC, out),
            Cotp::Data(d) => d.encode(out),
            Cotp::DisconnectRequest(d) => d.encode(out),
            Cotp::Other { code, header, data } => {
                out.push((1 + header.len()).min(255) as u8);
                out.push(*code);
                out.extend_from_slice(header);
                out.extend_from_slice(data);
            }
        }
    }

    /// Decodes a TPDU that fills the whole cursor (the TPKT payload).
    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        // Length indicator, untrusted: it counts the header after itself (ISO 8073
        // 13.2.1), so it must be at least 1 (the code byte) and fit in the TPKT payload;
        // 254 is the protocol's own maximum (255 is reserved).
        let li = usize::from(r.u8("cotp.length")?);
        if li == 0 || li == 255 {
            return Err(DecodeError::Invalid {
                field: "cotp.length",
                value: li as u64,
                reason: "length indicator must be 1..=254",
            });
        }
        let mut h = r.sub(li, "cotp.header")?;
        let code = h.u8("cotp.pdu_type")?;
        let data = r.rest();
        match code & 0xF0 {
            0xE0 | 0xD0 => {
                let c = CotpConnection::decode(code, &mut h, data)?;
                Ok(if code & 0xF0 == 0xE0 {
                    Cotp::ConnectRequest(c)
                } else {
                    Cotp::ConnectConfirm(c)
                })
            }
            _ if code == COTP_DT && li == 2 => {
                let b = h.u8("cotp.dt.tpdu_nr")?;
                let payload = Payload::decode(b & 0x80 != 0, data)?;
                Ok(Cotp::Data(CotpData {
                    tpdu_nr: b & 0x7F,
                    eot: b & 0x80 != 0,
                    payload,
                }))
            }
            _ if code == COTP_DR && li >= 6 => {
                let dst_ref = h.u16_be("cotp.dr.dst_ref")?;
                let src_ref = h.u16_be("cotp.dr.src_ref")?;
                let reason = h.u8("cotp.dr.reason")?;
                Ok(Cotp::DisconnectRequest(CotpDisconnect {
                    dst_ref,
                    src_ref,
                    reason,
                    params: h.rest().to_vec(),
                    user_data: data.to_vec(),
                }))
            }
            _ => Ok(Cotp::Other {
                code,
                header: h.rest().to_vec(),
                data: data.to_vec(),
            }),
        }
    }
}

/// A COTP parameter (ISO 8073 13.3.4): code and value, kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotpParam {
    pub code: u8,
    pub value: Vec<u8>,
}

impl CotpParam {
    /// A two-byte TSAP parameter.
    pub fn tsap(code: u8, tsap: u16) -> Self {
        CotpParam {
            code,
            value: tsap.to_be_bytes().to_vec(),
        }
    }
}

/// CR or CC TPDU body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotpConnection {
    /// Low nibble of the TPDU code (CDT, credit); 0 in class 0.
    pub credit: u8,
    pub dst_ref: u16,
    pub src_ref: u16,
    /// Class and options byte (0x00: class 0, no extended formats).
    pub class_option: u8,
    /// Parameters in the order sent.
    pub params: Vec<CotpParam>,
    /// Bytes after the header (class 0 allows none; kept to be seen).
    pub user_data: Vec<u8>,
}

impl CotpConnection {
    fn encoded_len(&self) -> usize {
        // LI byte is counted by Cotp; here: code(1) dst(2) src(2) class(1) params, data.
        5 + self.params.iter().map(|p| 2 + p.value.len()).sum::<usize>() + 1 + self.user_data.len()
    }

    fn encode(&self, code: u8, out: &mut Vec<u8>) {
        let li = 6 + self.params.iter().map(|p| 2 + p.value.len()).sum::<usize>();
        out.push(li.min(254) as u8);
        out.push(code | (self.credit & 0x0F));
        out.extend_from_slice(&self.dst_ref.to_be_bytes());
        out.extend_from_slice(&self.src_ref.to_be_bytes());
        out.push(self.class_option);
        for p in &self.params {
            out.push(p.code);
            out.push(p.value.len().min(255) as u8);
            out.extend_from_slice(&p.value);
        }
        out.extend_from_slice(&self.user_data);
    }

    fn decode(code: u8, h: &mut Cursor, data: &[u8]) -> Result<Self, DecodeError> {
        let dst_ref = h.u16_be("cotp.cr.dst_ref")?;
        let src_ref = h.u16_be("cotp.cr.src_ref")?;
        let class_option = h.u8("cotp.cr.class")?;
        let mut params = Vec::new();
        while !h.is_empty() {
            let pcode = h.u8("cotp.param.code")?;
            // Parameter length, untrusted: read through the header sub-cursor, so it
            // cannot reach past the length indicator; at most 254 parameters can fit.
            let plen = usize::from(h.u8("cotp.param.length")?);
            let value = h.bytes(plen, "cotp.param.value")?.to_vec();
            params.push(CotpParam { code: pcode, value });
        }
        Ok(CotpConnection {
            credit: code & 0x0F,
            dst_ref,
            src_ref,
            class_option,
            params,
            user_data: data.to_vec(),
        })
    }

    fn param_u16(&self, code: u8) -> Option<u16> {
        let p = self.params.iter().find(|p| p.code == code)?;
        let b: [u8; 2] = p.value.as_slice().try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    /// Calling (source) TSAP, when it is two bytes.
    pub fn calling_tsap(&self) -> Option<u16> {
        self.param_u16(PARAM_CALLING_TSAP)
    }

    /// Called (destination) TSAP, when it is two bytes.
    pub fn called_tsap(&self) -> Option<u16> {
        self.param_u16(PARAM_CALLED_TSAP)
    }

    /// TPDU size code (0x0a = 1024 bytes: size is 2^code).
    pub fn tpdu_size_code(&self) -> Option<u8> {
        let p = self.params.iter().find(|p| p.code == PARAM_TPDU_SIZE)?;
        match p.value.as_slice() {
            [c] => Some(*c),
            _ => None,
        }
    }
}

/// DT TPDU (class 0: LI = 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotpData {
    /// TPDU number (7 bits).
    pub tpdu_nr: u8,
    /// End of TSDU: this DT completes the user message.
    pub eot: bool,
    pub payload: Payload,
}

impl CotpData {
    fn encoded_len(&self) -> usize {
        2 + self.payload.encoded_len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(2);
        out.push(COTP_DT);
        out.push((self.tpdu_nr & 0x7F) | if self.eot { 0x80 } else { 0 });
        self.payload.encode(out);
    }
}

/// DR TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CotpDisconnect {
    pub dst_ref: u16,
    pub src_ref: u16,
    /// Reason (ISO 8073 13.5.3 e: 0x80 normal disconnect; 0x00 not specified; ...).
    pub reason: u8,
    /// Parameters after the reason, raw.
    pub params: Vec<u8>,
    pub user_data: Vec<u8>,
}

impl CotpDisconnect {
    fn encoded_len(&self) -> usize {
        6 + self.params.len() + self.user_data.len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push((6 + self.params.len()).min(254) as u8);
        out.push(COTP_DR);
        out.extend_from_slice(&self.dst_ref.to_be_bytes());
        out.extend_from_slice(&self.src_ref.to_be_bytes());
        out.push(self.reason);
        out.extend_from_slice(&self.params);
        out.extend_from_slice(&self.user_data);
    }
}

/// What a DT carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Nothing (STEP 7 sends empty DTs between requests).
    Empty,
    /// A classic S7comm PDU.
    S7(Box<S7Pdu>),
    /// S7comm-plus (protocol id 0x72): kept raw, never decoded.
    S7Plus(Vec<u8>),
    /// A DT without EOT: one segment of a longer message, kept raw.
    Segment(Vec<u8>),
    /// Something else (first byte neither 0x32 nor 0x72), kept raw.
    Unknown(Vec<u8>),
}

impl Payload {
    fn encoded_len(&self) -> usize {
        match self {
            Payload::Empty => 0,
            Payload::S7(p) => p.encoded_len(),
            Payload::S7Plus(b) | Payload::Segment(b) | Payload::Unknown(b) => b.len(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Empty => {}
            Payload::S7(p) => p.encode(out),
            Payload::S7Plus(b) | Payload::Segment(b) | Payload::Unknown(b) => {
                out.extend_from_slice(b)
            }
        }
    }

    fn decode(eot: bool, data: &[u8]) -> Result<Self, DecodeError> {
        if data.is_empty() {
            return Ok(Payload::Empty);
        }
        if !eot {
            return Ok(Payload::Segment(data.to_vec()));
        }
        match data[0] {
            S7_PROTOCOL_ID => {
                let mut r = Cursor::framed(data);
                let p = S7Pdu::decode(&mut r)?;
                if !r.is_empty() {
                    return Err(DecodeError::Trailing {
                        field: "s7.pdu",
                        extra: r.remaining(),
                    });
                }
                Ok(Payload::S7(Box::new(p)))
            }
            S7PLUS_PROTOCOL_ID => Ok(Payload::S7Plus(data.to_vec())),
            _ => Ok(Payload::Unknown(data.to_vec())),
        }
    }
}

/// S7comm ROSCTR (message type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rosctr {
    Job,
    Ack,
    AckData,
    Userdata,
    Unknown(u8),
}

impl Rosctr {
    pub fn from_u8(b: u8) -> Self {
        match b {
            1 => Rosctr::Job,
            2 => Rosctr::Ack,
            3 => Rosctr::AckData,
            7 => Rosctr::Userdata,
            other => Rosctr::Unknown(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Rosctr::Job => 1,
            Rosctr::Ack => 2,
            Rosctr::AckData => 3,
            Rosctr::Userdata => 7,
            Rosctr::Unknown(b) => b,
        }
    }

    /// Ack and AckData headers carry two more bytes: error class and code.
    pub fn has_error_field(self) -> bool {
        matches!(self, Rosctr::Ack | Rosctr::AckData)
    }
}

/// Error class and code of an Ack/AckData header (0/0: no error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderError {
    pub class: u8,
    pub code: u8,
}

/// One S7comm PDU: the 10- or 12-byte header and its parameter and data parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S7Pdu {
    pub rosctr: Rosctr,
    /// Redundancy id, 0 in practice; kept raw.
    pub reserved: u16,
    /// PDU reference: the client's request id, echoed by the server.
    pub pdu_ref: u16,
    /// Present exactly for Ack and AckData.
    pub error: Option<HeaderError>,
    pub body: Body,
}

impl S7Pdu {
    fn header_len(&self) -> usize {
        if self.rosctr.has_error_field() {
            12
        } else {
            10
        }
    }

    pub fn encoded_len(&self) -> usize {
        let (p, d) = self.body.lens();
        self.header_len() + p + d
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let (p, d) = self.body.lens();
        out.push(S7_PROTOCOL_ID);
        out.push(self.rosctr.to_u8());
        out.extend_from_slice(&self.reserved.to_be_bytes());
        out.extend_from_slice(&self.pdu_ref.to_be_bytes());
        out.extend_from_slice(&(p.min(0xFFFF) as u16).to_be_bytes());
        out.extend_from_slice(&(d.min(0xFFFF) as u16).to_be_bytes());
        if self.rosctr.has_error_field() {
            let e = self.error.unwrap_or(HeaderError { class: 0, code: 0 });
            out.push(e.class);
            out.push(e.code);
        }
        self.body.encode(out);
    }

    /// Decodes a PDU from a framed cursor (the DT payload).
    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        let id = r.u8("s7.protocol_id")?;
        if id != S7_PROTOCOL_ID {
            return Err(DecodeError::Invalid {
                field: "s7.protocol_id",
                value: u64::from(id),
                reason: "s7comm protocol id is 0x32",
            });
        }
        let rosctr = Rosctr::from_u8(r.u8("s7.rosctr")?);
        let reserved = r.u16_be("s7.reserved")?;
        let pdu_ref = r.u16_be("s7.pdu_ref")?;
        // Parameter and data lengths, untrusted: each is taken from the DT payload through
        // a sub-cursor, so neither can reach past the TPKT length already checked.
        let plen = usize::from(r.u16_be("s7.param_length")?);
        let dlen = usize::from(r.u16_be("s7.data_length")?);
        let error = if rosctr.has_error_field() {
            Some(HeaderError {
                class: r.u8("s7.error_class")?,
                code: r.u8("s7.error_code")?,
            })
        } else {
            None
        };
        let params = r.bytes(plen, "s7.parameters")?;
        let data = r.bytes(dlen, "s7.data")?;
        let body = Body::decode(rosctr, params, data)?;
        Ok(S7Pdu {
            rosctr,
            reserved,
            pdu_ref,
            error,
            body,
        })
    }

    /// The job function (first parameter byte) of a Job/Ack/AckData PDU.
    pub fn function(&self) -> Option<Function> {
        match &self.body {
            Body::Setup(_) => Some(Function::SetupCommunication),
            Body::Raw { params, .. } => params.first().map(|b| Function::from_u8(*b)),
            Body::Userdata(_) => None,
        }
    }
}

/// The parameter and data parts of an S7 PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Setup Communication (function 0xF0, 8 parameter bytes, no data) in a Job or AckData.
    Setup(SetupCommunication),
    /// A userdata PDU with the usual 8- or 12-byte parameter head.
    Userdata(Userdata),
    /// Any other parameter/data pair, raw (first parameter byte is the function).
    Raw { params: Vec<u8>, data: Vec<u8> },
}

impl Body {
    fn lens(&self) -> (usize, usize) {
        match self {
            Body::Setup(_) => (8, 0),
            Body::Userdata(u) => (u.params_len(), u.data.encoded_len()),
            Body::Raw { params, data } => (params.len(), data.len()),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Body::Setup(s) => s.encode(out),
            Body::Userdata(u) => u.encode(out),
            Body::Raw { params, data } => {
                out.extend_from_slice(params);
                out.extend_from_slice(data);
            }
        }
    }

    fn decode(rosctr: Rosctr, params: &[u8], data: &[u8]) -> Result<Self, DecodeError> {
        match rosctr {
            Rosctr::Job | Rosctr::AckData
                if params.len() == 8 && params[0] == 0xF0 && data.is_empty() =>
            {
                let mut c = Cursor::framed(params);
                Ok(Body::Setup(SetupCommunication::decode(&mut c)?))
            }
            Rosctr::Userdata => match Userdata::decode(params, data)? {
                Some(u) => Ok(Body::Userdata(u)),
                None => Ok(Body::Raw {
                    params: params.to_vec(),
                    data: data.to_vec(),
                }),
            },
            _ => Ok(Body::Raw {
                params: params.to_vec(),
                data: data.to_vec(),
            }),
        }
    }
}

/// Setup Communication parameters (function 0xF0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupCommunication {
    /// Byte after the function code, 0.
    pub reserved: u8,
    pub max_amq_calling: u16,
    pub max_amq_called: u16,
    /// Requested (job) or granted (ack_data) PDU length.
    pub pdu_length: u16,
}

impl SetupCommunication {
    pub const FUNCTION: u8 = 0xF0;

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(Self::FUNCTION);
        out.push(self.reserved);
        out.extend_from_slice(&self.max_amq_calling.to_be_bytes());
        out.extend_from_slice(&self.max_amq_called.to_be_bytes());
        out.extend_from_slice(&self.pdu_length.to_be_bytes());
    }

    fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        r.u8("s7.setup.function")?;
        Ok(SetupCommunication {
            reserved: r.u8("s7.setup.reserved")?,
            max_amq_calling: r.u16_be("s7.setup.max_amq_calling")?,
            max_amq_called: r.u16_be("s7.setup.max_amq_called")?,
            pdu_length: r.u16_be("s7.setup.pdu_length")?,
        })
    }
}

/// Userdata method byte: 0x11 request, 0x12 response/follow-up.
pub const METHOD_REQUEST: u8 = 0x11;
pub const METHOD_RESPONSE: u8 = 0x12;
/// Userdata type nibble (high nibble of the type/group byte).
pub const TYPE_PUSH: u8 = 0x0;
pub const TYPE_REQUEST: u8 = 0x4;
pub const TYPE_RESPONSE: u8 = 0x8;
/// Userdata function group "CPU functions" and its Read SZL subfunction.
pub const GROUP_CPU: u8 = 0x4;
pub const SUBFUNCTION_READ_SZL: u8 = 0x01;

/// Userdata function groups (low nibble of the type/group byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionGroup {
    ModeTransition,
    Programmer,
    CyclicData,
    Block,
    Cpu,
    Security,
    Pbc,
    Time,
    NcProgramming,
    Unknown(u8),
}

impl FunctionGroup {
    pub fn from_nibble(n: u8) -> Self {
        match n & 0x0F {
            0x0 => FunctionGroup::ModeTransition,
            0x1 => FunctionGroup::Programmer,
            0x2 => FunctionGroup::CyclicData,
            0x3 => FunctionGroup::Block,
            0x4 => FunctionGroup::Cpu,
            0x5 => FunctionGroup::Security,
            0x6 => FunctionGroup::Pbc,
            0x7 => FunctionGroup::Time,
            0xF => FunctionGroup::NcProgramming,
            other => FunctionGroup::Unknown(other),
        }
    }

    pub fn to_nibble(self) -> u8 {
        match self {
            FunctionGroup::ModeTransition => 0x0,
            FunctionGroup::Programmer => 0x1,
            FunctionGroup::CyclicData => 0x2,
            FunctionGroup::Block => 0x3,
            FunctionGroup::Cpu => 0x4,
            FunctionGroup::Security => 0x5,
            FunctionGroup::Pbc => 0x6,
            FunctionGroup::Time => 0x7,
            FunctionGroup::NcProgramming => 0xF,
            FunctionGroup::Unknown(n) => n & 0x0F,
        }
    }
}

/// The extra parameter bytes of a 12-byte userdata head (responses and follow-ups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    pub data_unit_ref: u8,
    /// 0x00: this is the last piece; 0x01: more follows.
    pub last_data_unit: u8,
    /// 0 on success; e.g. 0xD402 "SZL id not available" (the data then says 0x0A).
    pub error_code: u16,
}

impl Continuation {
    /// The device says another piece follows.
    pub fn more_follows(&self) -> bool {
        self.last_data_unit != 0
    }
}

/// A userdata PDU with the standard parameter head `00 01 12 len method type|group sub seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userdata {
    pub method: u8,
    /// High nibble of the type/group byte: 0 push, 4 request, 8 response.
    pub kind: u8,
    pub group: FunctionGroup,
    pub subfunction: u8,
    pub sequence: u8,
    /// Present when the parameter part is 12 bytes.
    pub continuation: Option<Continuation>,
    pub data: UserdataData,
}

impl Userdata {
    fn params_len(&self) -> usize {
        if self.continuation.is_some() { 12 } else { 8 }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0x00, 0x01, 0x12]);
        out.push((self.params_len() - 4) as u8);
        out.push(self.method);
        out.push((self.kind << 4) | self.group.to_nibble());
        out.push(self.subfunction);
        out.push(self.sequence);
        if let Some(c) = self.continuation {
            out.push(c.data_unit_ref);
            out.push(c.last_data_unit);
            out.extend_from_slice(&c.error_code.to_be_bytes());
        }
        self.data.encode(out);
    }

    /// `Ok(None)` when the parameter part is not the usual userdata head (kept raw).
    fn decode(params: &[u8], data: &[u8]) -> Result<Option<Self>, DecodeError> {
        if !(params.len() == 8 || params.len() == 12)
            || params[..3] != [0x00, 0x01, 0x12]
            || usize::from(params[3]) != params.len() - 4
        {
            return Ok(None);
        }
        let mut p = Cursor::framed(&params[4..]);
        let method = p.u8("s7.userdata.method")?;
        let tg = p.u8("s7.userdata.type_group")?;
        let subfunction = p.u8("s7.userdata.subfunction")?;
        let sequence = p.u8("s7.userdata.sequence")?;
        let continuation = if params.len() == 12 {
            Some(Continuation {
                data_unit_ref: p.u8("s7.userdata.data_unit_ref")?,
                last_data_unit: p.u8("s7.userdata.last_data_unit")?,
                error_code: p.u16_be("s7.userdata.error_code")?,
            })
        } else {
            None
        };
        let kind = tg >> 4;
        Ok(Some(Userdata {
            method,
            kind,
            group: FunctionGroup::from_nibble(tg),
            subfunction,
            sequence,
            continuation,
            data: UserdataData::decode(data),
        }))
    }

    /// True for a CPU-functions Read SZL message (request, follow-up or response).
    pub fn is_read_szl(&self) -> bool {
        self.group == FunctionGroup::Cpu && self.subfunction == SUBFUNCTION_READ_SZL
    }

    /// The SZL id and index a first Read SZL request asks for.
    pub fn szl_request(&self) -> Option<(u16, u16)> {
        if !self.is_read_szl() || self.kind != TYPE_REQUEST || self.continuation.is_some() {
            return None;
        }
        match &self.data {
            UserdataData::Item(i) if i.value.len() == 4 => Some((
                u16::from_be_bytes([i.value[0], i.value[1]]),
                u16::from_be_bytes([i.value[2], i.value[3]]),
            )),
            _ => None,
        }
    }
}

/// Userdata data part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserdataData {
    /// No data part.
    None,
    /// `return_code transport_size length(u16) value`, where the length is the byte count.
    Item(DataItem),
    /// Anything else (a bit-length transport size, a length that disagrees), raw.
    Raw(Vec<u8>),
}

/// One data item: return code 0xFF means success, 0x0A "object does not exist".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItem {
    pub return_code: u8,
    pub transport_size: u8,
    pub value: Vec<u8>,
}

impl UserdataData {
    fn encoded_len(&self) -> usize {
        match self {
            UserdataData::None => 0,
            UserdataData::Item(i) => 4 + i.value.len(),
            UserdataData::Raw(b) => b.len(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            UserdataData::None => {}
            UserdataData::Item(i) => {
                out.push(i.return_code);
                out.push(i.transport_size);
                out.extend_from_slice(&(i.value.len().min(0xFFFF) as u16).to_be_bytes());
                out.extend_from_slice(&i.value);
            }
            UserdataData::Raw(b) => out.extend_from_slice(b),
        }
    }

    fn decode(data: &[u8]) -> Self {
        if data.is_empty() {
            return UserdataData::None;
        }
        // Transport sizes 3, 4 and 5 count bits, not bytes (Wireshark s7comm: "length in
        // bits"); those and any length that disagrees with the bytes present stay raw.
        if data.len() >= 4 && !matches!(data[1], 3..=5) {
            let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
            if len == data.len() - 4 {
                return UserdataData::Item(DataItem {
                    return_code: data[0],
                    transport_size: data[1],
                    value: data[4..].to_vec(),
                });
            }
        }
        UserdataData::Raw(data.to_vec())
    }
}

/// S7 job functions (first parameter byte of Job/AckData).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    CpuServices,
    ReadVar,
    WriteVar,
    RequestDownload,
    DownloadBlock,
    DownloadEnded,
    StartUpload,
    Upload,
    EndUpload,
    PiService,
    PlcStop,
    SetupCommunication,
    Unknown(u8),
}

impl Function {
    pub fn from_u8(b: u8) -> Self {
        match b {
            0x00 => Function::CpuServices,
            0x04 => Function::ReadVar,
            0x05 => Function::WriteVar,
            0x1A => Function::RequestDownload,
            0x1B => Function::DownloadBlock,
            0x1C => Function::DownloadEnded,
            0x1D => Function::StartUpload,
            0x1E => Function::Upload,
            0x1F => Function::EndUpload,
            0x28 => Function::PiService,
            0x29 => Function::PlcStop,
            0xF0 => Function::SetupCommunication,
            other => Function::Unknown(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Function::CpuServices => 0x00,
            Function::ReadVar => 0x04,
            Function::WriteVar => 0x05,
            Function::RequestDownload => 0x1A,
            Function::DownloadBlock => 0x1B,
            Function::DownloadEnded => 0x1C,
            Function::StartUpload => 0x1D,
            Function::Upload => 0x1E,
            Function::EndUpload => 0x1F,
            Function::PiService => 0x28,
            Function::PlcStop => 0x29,
            Function::SetupCommunication => 0xF0,
            Function::Unknown(b) => b,
        }
    }
}

/// What a message does to the device, for the passive side's "who wrote to which PLC".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads data or state (read var, read SZL, block info, time read).
    Read,
    /// Changes process data or settings (write var, time set, password).
    Write,
    /// Changes the run state (PLC stop, PI service such as start or copy RAM to ROM).
    Control,
    /// Moves program blocks (download / upload).
    Program,
    /// Connection management (COTP, setup communication) and answers.
    Session,
    /// Not known to otscout.
    Unknown,
}

/// A message's name (`s7.write_var`, `s7.read_szl`, `cotp.connect`) and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub name: &'static str,
    pub access: Access,
    /// True for a client's request (job, userdata request, CR, DR); false for answers.
    pub request: bool,
}

/// Names a frame and tells read from write and control.
///
/// Upload (0x1D-0x1F) reads program blocks out of the PLC: it changes nothing but is
/// reported as [`Access::Program`] because it exposes the program (know-how theft).
pub fn classify(frame: &Frame) -> Classification {
    let c = |name, access, request| Classification {
        name,
        access,
        request,
    };
    match &frame.cotp {
        Cotp::ConnectRequest(_) => c("cotp.connect", Access::Session, true),
        Cotp::ConnectConfirm(_) => c("cotp.connect_confirm", Access::Session, false),
        Cotp::DisconnectRequest(_) => c("cotp.disconnect", Access::Session, true),
        Cotp::Other { .. } => c("cotp.other", Access::Unknown, false),
        Cotp::Data(d) => match &d.payload {
            Payload::Empty => c("cotp.data_empty", Access::Session, false),
            Payload::S7Plus(_) => c("s7plus", Access::Unknown, false),
            Payload::Segment(_) => c("cotp.segment", Access::Unknown, false),
            Payload::Unknown(_) => c("cotp.unknown_payload", Access::Unknown, false),
            Payload::S7(p) => classify_pdu(p),
        },
    }
}

/// Names an S7 PDU (see [`classify`]).
pub fn classify_pdu(p: &S7Pdu) -> Classification {
    let request = matches!(p.rosctr, Rosctr::Job)
        || matches!(&p.body, Body::Userdata(u) if u.kind == TYPE_REQUEST);
    let (name, access) = match &p.body {
        Body::Userdata(u) => userdata_name(u),
        Body::Raw { .. } if matches!(p.rosctr, Rosctr::Userdata) => {
            ("s7.userdata_other", Access::Unknown)
        }
        _ => match p.function() {
            Some(f) => function_name(f),
            None => ("s7.empty", Access::Unknown),
        },
    };
    Classification {
        name,
        access,
        request,
    }
}

/// The stable name (used in `Fact::Operation::function`) and access of a job function.
pub fn function_name(f: Function) -> (&'static str, Access) {
    match f {
        Function::CpuServices => ("s7.cpu_services", Access::Unknown),
        Function::ReadVar => ("s7.read_var", Access::Read),
        Function::WriteVar => ("s7.write_var", Access::Write),
        Function::RequestDownload => ("s7.request_download", Access::Program),
        Function::DownloadBlock => ("s7.download_block", Access::Program),
        Function::DownloadEnded => ("s7.download_ended", Access::Program),
        Function::StartUpload => ("s7.start_upload", Access::Program),
        Function::Upload => ("s7.upload", Access::Program),
        Function::EndUpload => ("s7.end_upload", Access::Program),
        Function::PiService => ("s7.pi_service", Access::Control),
        Function::PlcStop => ("s7.plc_stop", Access::Control),
        Function::SetupCommunication => ("s7.setup_communication", Access::Session),
        Function::Unknown(_) => ("s7.unknown_function", Access::Unknown),
    }
}

fn userdata_name(u: &Userdata) -> (&'static str, Access) {
    // Subfunction names: Wireshark s7comm userdata tables (cpu, block, time, security).
    match (u.group, u.subfunction) {
        (FunctionGroup::Cpu, 0x01) => {
            if u.continuation.is_some() && u.kind == TYPE_REQUEST {
                ("s7.read_szl_follow_up", Access::Read)
            } else {
                ("s7.read_szl", Access::Read)
            }
        }
        (FunctionGroup::Cpu, _) => ("s7.cpu_function", Access::Unknown),
        (FunctionGroup::Block, _) => ("s7.block_function", Access::Read),
        (FunctionGroup::Time, 0x01 | 0x03) => ("s7.time_read", Access::Read),
        (FunctionGroup::Time, 0x02 | 0x04) => ("s7.time_set", Access::Write),
        (FunctionGroup::Time, _) => ("s7.time_function", Access::Unknown),
        (FunctionGroup::Security, _) => ("s7.security", Access::Write),
        (FunctionGroup::Programmer, _) => ("s7.programmer", Access::Write),
        (FunctionGroup::CyclicData, _) => ("s7.cyclic_data", Access::Read),
        (FunctionGroup::ModeTransition, _) => ("s7.mode_transition", Access::Unknown),
        _ => ("s7.userdata_other", Access::Unknown),
    }
}

/// A whole SZL list (after reassembly): header and fixed-length records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SzlList {
    pub szl_id: u16,
    pub index: u16,
    /// Bytes per record (LENTHDR).
    pub record_len: u16,
    /// Record count (N_DR) as sent.
    pub record_count: u16,
    /// The records, back to back: `record_len * record_count` bytes.
    pub records: Vec<u8>,
}

impl SzlList {
    pub fn encoded_len(&self) -> usize {
        8 + self.records.len()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.szl_id.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.record_len.to_be_bytes());
        out.extend_from_slice(&self.record_count.to_be_bytes());
        out.extend_from_slice(&self.records);
    }

    /// Decodes the reassembled SZL data; the cursor must end with the list.
    pub fn decode(r: &mut Cursor) -> Result<Self, DecodeError> {
        let szl_id = r.u16_be("szl.id")?;
        let index = r.u16_be("szl.index")?;
        let record_len = r.u16_be("szl.record_length")?;
        let record_count = r.u16_be("szl.record_count")?;
        // Record count, untrusted: capped, and its product with the record length must be
        // exactly the bytes present (both are u16, so the product fits in usize).
        if usize::from(record_count) > MAX_SZL_RECORDS {
            return Err(DecodeError::TooLarge {
                field: "szl.record_count",
                value: usize::from(record_count),
                max: MAX_SZL_RECORDS,
            });
        }
        let total = usize::from(record_len) * usize::from(record_count);
        let records = r.bytes(total, "szl.records")?.to_vec();
        if !r.is_empty() {
            return Err(DecodeError::Trailing {
                field: "szl.records",
                extra: r.remaining(),
            });
        }
        Ok(SzlList {
            szl_id,
            index,
            record_len,
            record_count,
            records,
        })
    }

    /// Each record's bytes.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let n = usize::from(self.record_len).max(1);
        self.records.chunks_exact(n).take(if self.record_len == 0 {
            0
        } else {
            usize::from(self.record_count)
        })
    }

    /// The records as SZL 0x0011 module identification (28-byte records).
    pub fn module_records(&self) -> Vec<ModuleIdRecord> {
        if self.szl_id & 0x00FF != 0x11 || self.record_len != MODULE_RECORD_LEN {
            return Vec::new();
        }
        self.records().filter_map(ModuleIdRecord::parse).collect()
    }

    /// Index and order number of each SZL 0x0011 record whose length is not the standard
    /// 28 bytes but still holds both (22 bytes or more): python-snap7 3.x's server sends
    /// 26-byte records whose last four bytes follow no published layout, so only the
    /// fields every layout shares are read from them. Empty for standard lists (read those
    /// with [`SzlList::module_records`]).
    pub fn nonstandard_order_numbers(&self) -> Vec<(u16, String)> {
        let len = usize::from(self.record_len);
        if self.szl_id & 0x00FF != 0x11
            || self.record_len == MODULE_RECORD_LEN
            || len < MODULE_ORDER_NUMBER_END
        {
            return Vec::new();
        }
        // `records()` yields whole records of `len` >= 22 bytes, so both reads succeed.
        self.records()
            .filter_map(|b| {
                let index = b.get(..2)?;
                let order_number = b.get(2..MODULE_ORDER_NUMBER_END)?;
                Some((
                    u16::from_be_bytes([index[0], index[1]]),
                    clean_text(order_number, true),
                ))
            })
            .collect()
    }

    /// The record length the SZL id's layout has (0x0011: 28, 0x001C: 34), when it is one
    /// of the two identity lists and the answer uses another: the records were not read
    /// as the standard layout (see [`SzlList::nonstandard_order_numbers`]).
    pub fn nonstandard_record_len(&self) -> Option<u16> {
        let expected = match self.szl_id & 0x00FF {
            0x11 => MODULE_RECORD_LEN,
            0x1C => COMPONENT_RECORD_LEN,
            _ => return None,
        };
        (self.record_len != expected).then_some(expected)
    }

    /// The records as SZL 0x001C component identification (34-byte records).
    pub fn component_records(&self) -> Vec<ComponentRecord> {
        if self.szl_id & 0x00FF != 0x1C || self.record_len != COMPONENT_RECORD_LEN {
            return Vec::new();
        }
        self.records().filter_map(ComponentRecord::parse).collect()
    }
}

/// Bytes of an SZL 0x0011 record: index, order number, BGTyp, Ausbg, Ausbe.
pub const MODULE_RECORD_LEN: u16 = 28;
/// End of the order number in an SZL 0x0011 record (2-byte index, 20-byte MLFB).
const MODULE_ORDER_NUMBER_END: usize = 22;
/// Bytes of an SZL 0x001C record: index and a 32-byte value.
pub const COMPONENT_RECORD_LEN: u16 = 34;

/// SZL 0x0011 record: index, 20-character order number (MLFB), BGTyp, Ausbg, Ausbe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdRecord {
    pub index: u16,
    pub order_number: [u8; 20],
    pub bg_type: u16,
    pub ausbg: u16,
    pub ausbe: u16,
}

impl ModuleIdRecord {
    fn parse(b: &[u8]) -> Option<Self> {
        let mut r = Cursor::framed(b);
        Some(ModuleIdRecord {
            index: r.u16_be("szl11.index").ok()?,
            order_number: r.array("szl11.order_number").ok()?,
            bg_type: r.u16_be("szl11.bg_type").ok()?,
            ausbg: r.u16_be("szl11.ausbg").ok()?,
            ausbe: r.u16_be("szl11.ausbe").ok()?,
        })
    }

    /// The order number without its space/NUL padding.
    pub fn order_number_str(&self) -> String {
        clean_text(&self.order_number, true)
    }

    /// `V3.2.6` from Ausbg 0x5603 / Ausbe 0x0206: the letter is Ausbg's high byte, the
    /// version Ausbg's low byte and both bytes of Ausbe. `None` when the high byte is not
    /// a letter (the boot loader record's 0x4120 is not a version in this form).
    pub fn version(&self) -> Option<String> {
        let [letter, major] = self.ausbg.to_be_bytes();
        let [minor, patch] = self.ausbe.to_be_bytes();
        if letter != b'V' {
            return None;
        }
        Some(format!("V{major}.{minor}.{patch}"))
    }
}

/// SZL 0x001C record: index and a 32-byte text (index 9: manufacturer and profile ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    pub index: u16,
    pub value: [u8; 32],
}

impl ComponentRecord {
    fn parse(b: &[u8]) -> Option<Self> {
        let mut r = Cursor::framed(b);
        Some(ComponentRecord {
            index: r.u16_be("szl1c.index").ok()?,
            value: r.array("szl1c.value").ok()?,
        })
    }

    /// The text without NUL padding.
    pub fn text(&self) -> String {
        clean_text(&self.value, false)
    }
}

fn clean_text(b: &[u8], trim_spaces: bool) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]);
    if trim_spaces {
        s.trim_end_matches(' ').to_string()
    } else {
        s.into_owned()
    }
}

/// Why an SZL answer could not be put back together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SzlError {
    #[error("szl answer arrived in more than {max} pieces")]
    TooManyPieces { max: usize },
    #[error("szl answer is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("szl answer is malformed: {0}")]
    Decode(#[from] DecodeError),
}

/// Puts a fragmented SZL answer back together: the data values of the responses,
/// concatenated in order, form one [`SzlList`].
///
/// Shared by the probe (which asks for the next piece) and the passive importer (which
/// stitches the pieces it sees).
#[derive(Debug, Clone, Default)]
pub struct SzlReassembler {
    buf: Vec<u8>,
    pieces: usize,
}

impl SzlReassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one response's data value; when `more_follows` is false, returns the list.
    pub fn push(&mut self, value: &[u8], more_follows: bool) -> Result<Option<SzlList>, SzlError> {
        self.pieces += 1;
        if self.pieces > MAX_SZL_PIECES {
            return Err(SzlError::TooManyPieces {
                max: MAX_SZL_PIECES,
            });
        }
        if self.buf.len() + value.len() > MAX_SZL_BYTES {
            return Err(SzlError::TooLarge { max: MAX_SZL_BYTES });
        }
        self.buf.extend_from_slice(value);
        if more_follows {
            return Ok(None);
        }
        let mut r = Cursor::framed(&self.buf);
        let list = SzlList::decode(&mut r)?;
        self.buf.clear();
        self.pieces = 0;
        Ok(Some(list))
    }

    /// Pieces received so far for the answer being assembled.
    pub fn pieces(&self) -> usize {
        self.pieces
    }
}

/// A decoded Read SZL response piece, as the probe and the passive side see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SzlResponse<'a> {
    pub pdu_ref: u16,
    pub sequence: u8,
    pub more_follows: bool,
    /// Userdata error code (0 = none).
    pub error_code: u16,
    /// Data return code (0xFF = success).
    pub return_code: u8,
    pub value: &'a [u8],
}

impl S7Pdu {
    /// This PDU as a Read SZL response piece.
    pub fn szl_response(&self) -> Option<SzlResponse<'_>> {
        let Body::Userdata(u) = &self.body else {
            return None;
        };
        if !u.is_read_szl() || u.kind != TYPE_RESPONSE {
            return None;
        }
        let cont = u.continuation.unwrap_or(Continuation {
            data_unit_ref: 0,
            last_data_unit: 0,
            error_code: 0,
        });
        let (return_code, value): (u8, &[u8]) = match &u.data {
            UserdataData::Item(i) => (i.return_code, &i.value),
            UserdataData::None => (0, &[]),
            UserdataData::Raw(b) => (b.first().copied().unwrap_or(0), &[]),
        };
        Some(SzlResponse {
            pdu_ref: self.pdu_ref,
            sequence: u.sequence,
            more_follows: cont.more_follows(),
            error_code: cont.error_code,
            return_code,
            value,
        })
    }
}
