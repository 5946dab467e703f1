//! S7comm over ISO-on-TCP's safe requests (the S7 part of [`crate::safety::SafeRequest`]):
//! encoders for COTP connect/disconnect, Setup Communication and
//! Read SZL (with its follow-up), and their guard rule.
//!
//! The encoders build [`crate::wire::s7`] values; [`check`] re-parses bytes with the same
//! decoders and accepts exactly the five frames SAFETY.md describes, nothing else.

use crate::protocols::Refusal;
use crate::wire::s7::{
    self as w, Body, Continuation, Cotp, CotpConnection, CotpData, CotpParam, DataItem,
    FunctionGroup, Payload, Rosctr, S7Pdu, SetupCommunication, Userdata, UserdataData,
};

/// COTP DR reason "normal disconnect initiated by the session entity" (ISO 8073 13.5.3).
pub const DR_REASON_NORMAL: u8 = 0x80;
/// Data item transport size "octet string" (the SZL id + index of a Read SZL request).
const TS_OCTET_STRING: u8 = 0x09;
/// Data item return code a client puts in a request ("reserved", 0xFF as STEP 7 sends).
const RC_REQUEST: u8 = 0xFF;
/// Return code a STEP 7 follow-up carries (0x0A, with an empty value).
const RC_FOLLOW_UP: u8 = 0x0A;

/// ISO 8073 COTP Connection Request in TPKT (RFC 1006), with TSAPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CotpConnect {
    pub src_ref: u16,
    pub calling_tsap: u16,
    pub called_tsap: u16,
    /// TPDU size parameter code (0x0a = 1024 bytes).
    pub tpdu_size_code: u8,
}

/// S7comm job: Setup Communication (function 0xF0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7SetupCommunication {
    pub pdu_ref: u16,
    pub max_amq_calling: u16,
    pub max_amq_called: u16,
    pub pdu_length: u16,
}

/// S7comm userdata: CPU functions, Read SZL (first request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7ReadSzl {
    pub pdu_ref: u16,
    pub szl_id: u16,
    pub szl_index: u16,
}

/// S7comm userdata: Read SZL follow-up for a fragmented answer (no SZL id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S7ReadSzlFollowUp {
    pub pdu_ref: u16,
    /// The sequence number the device gave in its "more follows" response.
    pub sequence_number: u8,
}

/// COTP Disconnect Request in TPKT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CotpDisconnect {
    pub dst_ref: u16,
    pub src_ref: u16,
}

/// Every S7 request otscout is able to send, in the order a session sends them: the S7
/// part of [`crate::safety::SafeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// COTP Connection Request (TPKT, RFC 1006).
    Connect(CotpConnect),
    /// S7comm Setup Communication job.
    Setup(S7SetupCommunication),
    /// Read SZL, first request.
    ReadSzl(S7ReadSzl),
    /// Read SZL follow-up for a fragmented answer.
    ReadSzlFollowUp(S7ReadSzlFollowUp),
    /// COTP Disconnect Request.
    Disconnect(CotpDisconnect),
}

impl Safe {
    /// A stable name for the request kind (ledgers, dry runs, provenance).
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::Connect(_) => "cotp.connect",
            Safe::Setup(_) => "s7.setup_communication",
            Safe::ReadSzl(_) => "s7.read_szl",
            Safe::ReadSzlFollowUp(_) => "s7.read_szl_follow_up",
            Safe::Disconnect(_) => "cotp.disconnect",
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs).
    pub fn detail(&self) -> String {
        match self {
            Safe::Connect(c) => format!(
                "calling TSAP 0x{:04x}, called TSAP 0x{:04x}",
                c.calling_tsap, c.called_tsap
            ),
            Safe::Setup(s) => format!("PDU length {}", s.pdu_length),
            Safe::ReadSzl(z) => format!("SZL 0x{:04x} index 0x{:04x}", z.szl_id, z.szl_index),
            Safe::ReadSzlFollowUp(f) => format!("sequence {}", f.sequence_number),
            Safe::Disconnect(_) => String::new(),
        }
    }

    /// Appends the request's bytes (callers that send use [`crate::safety::emit`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Safe::Connect(r) => connect_frame(r).encode(out),
            Safe::Setup(r) => setup_frame(r).encode(out),
            Safe::ReadSzl(r) => read_szl_frame(r).encode(out),
            Safe::ReadSzlFollowUp(r) => read_szl_follow_up_frame(r).encode(out),
            Safe::Disconnect(r) => disconnect_frame(r).encode(out),
        }
    }
}

/// The CR frame: TSAP parameters in the order STEP 7 sends them (calling, called, size).
pub fn connect_frame(r: &CotpConnect) -> w::Frame {
    w::Frame::new(Cotp::ConnectRequest(CotpConnection {
        credit: 0,
        dst_ref: 0,
        src_ref: r.src_ref,
        class_option: 0,
        params: vec![
            CotpParam::tsap(w::PARAM_CALLING_TSAP, r.calling_tsap),
            CotpParam::tsap(w::PARAM_CALLED_TSAP, r.called_tsap),
            CotpParam {
                code: w::PARAM_TPDU_SIZE,
                value: vec![r.tpdu_size_code],
            },
        ],
        user_data: Vec::new(),
    }))
}

fn dt(pdu: S7Pdu) -> w::Frame {
    w::Frame::new(Cotp::Data(CotpData {
        tpdu_nr: 0,
        eot: true,
        payload: Payload::S7(Box::new(pdu)),
    }))
}

/// The Setup Communication job frame.
pub fn setup_frame(r: &S7SetupCommunication) -> w::Frame {
    dt(S7Pdu {
        rosctr: Rosctr::Job,
        reserved: 0,
        pdu_ref: r.pdu_ref,
        error: None,
        body: Body::Setup(SetupCommunication {
            reserved: 0,
            max_amq_calling: r.max_amq_calling,
            max_amq_called: r.max_amq_called,
            pdu_length: r.pdu_length,
        }),
    })
}

/// The first Read SZL userdata request frame.
pub fn read_szl_frame(r: &S7ReadSzl) -> w::Frame {
    let mut value = r.szl_id.to_be_bytes().to_vec();
    value.extend_from_slice(&r.szl_index.to_be_bytes());
    dt(S7Pdu {
        rosctr: Rosctr::Userdata,
        reserved: 0,
        pdu_ref: r.pdu_ref,
        error: None,
        body: Body::Userdata(Userdata {
            method: w::METHOD_REQUEST,
            kind: w::TYPE_REQUEST,
            group: FunctionGroup::Cpu,
            subfunction: w::SUBFUNCTION_READ_SZL,
            sequence: 0,
            continuation: None,
            data: UserdataData::Item(DataItem {
                return_code: RC_REQUEST,
                transport_size: TS_OCTET_STRING,
                value,
            }),
        }),
    })
}

/// The Read SZL follow-up frame (as STEP 7 sends it: capture frame 71 of
/// s7comm_reading_plc_status.pcap).
pub fn read_szl_follow_up_frame(r: &S7ReadSzlFollowUp) -> w::Frame {
    dt(S7Pdu {
        rosctr: Rosctr::Userdata,
        reserved: 0,
        pdu_ref: r.pdu_ref,
        error: None,
        body: Body::Userdata(Userdata {
            method: w::METHOD_RESPONSE,
            kind: w::TYPE_REQUEST,
            group: FunctionGroup::Cpu,
            subfunction: w::SUBFUNCTION_READ_SZL,
            sequence: r.sequence_number,
            continuation: Some(Continuation {
                data_unit_ref: 0,
                last_data_unit: 0,
                error_code: 0,
            }),
            data: UserdataData::Item(DataItem {
                return_code: RC_FOLLOW_UP,
                transport_size: 0,
                value: Vec::new(),
            }),
        }),
    })
}

/// The DR frame.
pub fn disconnect_frame(r: &CotpDisconnect) -> w::Frame {
    w::Frame::new(Cotp::DisconnectRequest(w::CotpDisconnect {
        dst_ref: r.dst_ref,
        src_ref: r.src_ref,
        reason: DR_REASON_NORMAL,
        params: Vec::new(),
        user_data: Vec::new(),
    }))
}

fn malformed(reason: impl Into<String>) -> Refusal {
    Refusal::Malformed(reason.into())
}

fn refuse(what: impl Into<String>) -> Refusal {
    Refusal::NotAllowed(what.into())
}

/// Accepts `frame` only if it is exactly one complete allowlisted S7 request.
///
/// # OT safety
/// The bytes are re-parsed from scratch; every field that is not a free identifier
/// (references, TSAPs, PDU reference, SZL id/index, sequence number, PDU size) must have the
/// one value SAFETY.md gives, and the frame must end where its TPKT length says.
pub fn check(frame: &[u8]) -> Result<&'static str, Refusal> {
    match w::frame_len(frame) {
        Ok(Some(n)) if n == frame.len() => {}
        Ok(Some(n)) => {
            return Err(malformed(format!(
                "{} bytes after a {n}-byte tpkt frame",
                frame.len() - n
            )));
        }
        Ok(None) => return Err(malformed("partial tpkt frame")),
        Err(e) => return Err(malformed(e.to_string())),
    }
    if frame[1] != 0 {
        return Err(malformed("tpkt reserved byte is not 0"));
    }
    let f = w::Frame::decode_exact(frame).map_err(|e| malformed(e.to_string()))?;
    match &f.cotp {
        Cotp::ConnectRequest(c) => check_connect(c),
        Cotp::DisconnectRequest(d) => {
            if d.reason != DR_REASON_NORMAL || !d.params.is_empty() || !d.user_data.is_empty() {
                return Err(refuse("cotp dr with other reason, parameters or user data"));
            }
            Ok("cotp.disconnect")
        }
        Cotp::Data(d) => {
            if !d.eot || d.tpdu_nr != 0 {
                return Err(refuse("cotp dt must be a single tpdu 0 with eot"));
            }
            match &d.payload {
                Payload::S7(p) => check_s7(p),
                Payload::S7Plus(_) => Err(refuse("s7comm-plus")),
                Payload::Empty => Err(refuse("empty cotp dt")),
                _ => Err(refuse("cotp dt payload that is not s7comm")),
            }
        }
        Cotp::ConnectConfirm(_) => Err(refuse("cotp cc (a server's answer)")),
        Cotp::Other { code, .. } => Err(refuse(format!("cotp tpdu type {code:#04x}"))),
    }
}

fn check_connect(c: &CotpConnection) -> Result<&'static str, Refusal> {
    if c.credit != 0 || c.dst_ref != 0 || c.class_option != 0 || !c.user_data.is_empty() {
        return Err(refuse(
            "cotp cr must be class 0 with dst ref 0, no credit and no user data",
        ));
    }
    let mut seen = [false; 3];
    for p in &c.params {
        let (slot, len) = match p.code {
            w::PARAM_CALLING_TSAP => (0, 2),
            w::PARAM_CALLED_TSAP => (1, 2),
            w::PARAM_TPDU_SIZE => (2, 1),
            other => return Err(refuse(format!("cotp cr parameter {other:#04x}"))),
        };
        if seen[slot] || p.value.len() != len {
            return Err(refuse(format!(
                "cotp cr parameter {:#04x} repeated or of length {}",
                p.code,
                p.value.len()
            )));
        }
        seen[slot] = true;
    }
    if seen != [true; 3] {
        return Err(refuse(
            "cotp cr without calling tsap, called tsap and tpdu size",
        ));
    }
    // ISO 8073 13.3.4 b: TPDU size codes 0x07 (128) to 0x0D (8192).
    match c.tpdu_size_code() {
        Some(0x07..=0x0D) => Ok("cotp.connect"),
        other => Err(refuse(format!("cotp tpdu size code {other:?}"))),
    }
}

fn check_s7(p: &S7Pdu) -> Result<&'static str, Refusal> {
    if p.reserved != 0 || p.error.is_some() {
        return Err(refuse("s7 header reserved field or error field set"));
    }
    match (p.rosctr, &p.body) {
        (Rosctr::Job, Body::Setup(s)) => {
            if s.reserved != 0 || s.max_amq_calling == 0 || s.max_amq_called == 0 {
                return Err(refuse("setup communication with zero amq or reserved byte"));
            }
            if s.pdu_length == 0 {
                return Err(refuse("setup communication with pdu length 0"));
            }
            Ok("s7.setup_communication")
        }
        (Rosctr::Userdata, Body::Userdata(u)) => check_userdata(u),
        (Rosctr::Job, _) => Err(refuse(format!(
            "s7 job function {:?}",
            p.function().map(|f| f.to_u8())
        ))),
        (r, _) => Err(refuse(format!("s7 rosctr {:#04x}", r.to_u8()))),
    }
}

fn check_userdata(u: &Userdata) -> Result<&'static str, Refusal> {
    if u.group != FunctionGroup::Cpu
        || u.subfunction != w::SUBFUNCTION_READ_SZL
        || u.kind != w::TYPE_REQUEST
    {
        return Err(refuse(format!(
            "userdata type {:#x} group {:#x} subfunction {:#04x}",
            u.kind,
            u.group.to_nibble(),
            u.subfunction
        )));
    }
    match (u.method, u.continuation, &u.data) {
        (w::METHOD_REQUEST, None, UserdataData::Item(i))
            if u.sequence == 0
                && i.return_code == RC_REQUEST
                && i.transport_size == TS_OCTET_STRING
                && i.value.len() == 4 =>
        {
            Ok("s7.read_szl")
        }
        (
            w::METHOD_RESPONSE,
            Some(Continuation {
                data_unit_ref: 0,
                last_data_unit: 0,
                error_code: 0,
            }),
            UserdataData::Item(i),
        ) if u.sequence != 0
            && i.return_code == RC_FOLLOW_UP
            && i.transport_size == 0
            && i.value.is_empty() =>
        {
            Ok("s7.read_szl_follow_up")
        }
        _ => Err(refuse("read szl request of an unexpected shape")),
    }
}
