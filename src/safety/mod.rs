//! [`SafeRequest`], the only thing the active side can send, and the outbound guard.
//!
//! # OT safety
//! Two independent locks stand between otscout and a write to a PLC:
//! 1. **The type.** Probes can only ask for a [`SafeRequest`]; it has no write, control or
//!    program variant, and adding any variant needs an entry in SAFETY.md.
//! 2. **The guard.** [`emit`] encodes a request and then [`check`] re-parses the bytes
//!    from scratch, accepting them only if they are exactly one allowlisted read-only
//!    identity request of the protocol the connection speaks. A bug in an encoder
//!    therefore cannot put anything else on the wire.
//!
//! The per-protocol encoders and checks live in the submodules; SAFETY.md describes every
//! allowed frame byte by byte.

pub mod enip;
pub mod modbus;
pub mod s7;

use crate::inventory::Protocol;

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
impl From<ReadDeviceIdCode> for crate::wire::modbus::ReadCode {
    fn from(c: ReadDeviceIdCode) -> Self {
        crate::wire::modbus::ReadCode::from_u8(c.code())
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

/// The three EtherNet/IP discovery commands otscout may send (all with an empty body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnipListCommand {
    /// 0x0063 List Identity.
    ListIdentity,
    /// 0x0004 List Services.
    ListServices,
    /// 0x0064 List Interfaces.
    ListInterfaces,
}

/// An EtherNet/IP List* request (TCP or UDP 44818).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnipList {
    pub command: EnipListCommand,
    /// Echoed by the device; lets the prober match replies.
    pub sender_context: [u8; 8],
}

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

/// Every request the active side is able to emit. There is no write variant.
///
/// # OT safety
/// Adding a variant requires a SAFETY.md entry describing its bytes and why it cannot
/// change a device's state, and a guard rule that accepts exactly those bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeRequest {
    ModbusReadDeviceId(ModbusReadDeviceId),
    EnipList(EnipList),
    CotpConnect(CotpConnect),
    S7SetupCommunication(S7SetupCommunication),
    S7ReadSzl(S7ReadSzl),
    S7ReadSzlFollowUp(S7ReadSzlFollowUp),
    CotpDisconnect(CotpDisconnect),
}

impl SafeRequest {
    /// A stable name for the request kind, used in ledgers, dry runs and provenance.
    pub fn kind(&self) -> &'static str {
        match self {
            SafeRequest::ModbusReadDeviceId(_) => "modbus.read_device_id",
            SafeRequest::EnipList(l) => match l.command {
                EnipListCommand::ListIdentity => "enip.list_identity",
                EnipListCommand::ListServices => "enip.list_services",
                EnipListCommand::ListInterfaces => "enip.list_interfaces",
            },
            SafeRequest::CotpConnect(_) => "cotp.connect",
            SafeRequest::S7SetupCommunication(_) => "s7.setup_communication",
            SafeRequest::S7ReadSzl(_) => "s7.read_szl",
            SafeRequest::S7ReadSzlFollowUp(_) => "s7.read_szl_follow_up",
            SafeRequest::CotpDisconnect(_) => "cotp.disconnect",
        }
    }

    /// The protocol (and so the guard rules) the request belongs to.
    pub fn protocol(&self) -> Protocol {
        match self {
            SafeRequest::ModbusReadDeviceId(_) => Protocol::Modbus,
            SafeRequest::EnipList(_) => Protocol::Enip,
            SafeRequest::CotpConnect(_)
            | SafeRequest::S7SetupCommunication(_)
            | SafeRequest::S7ReadSzl(_)
            | SafeRequest::S7ReadSzlFollowUp(_)
            | SafeRequest::CotpDisconnect(_) => Protocol::S7,
        }
    }

    /// Appends the request's bytes. Callers that send use [`emit`], which also guards.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SafeRequest::ModbusReadDeviceId(r) => modbus::encode(r, out),
            SafeRequest::EnipList(r) => enip::encode(r, out),
            SafeRequest::CotpConnect(r) => s7::encode_cotp_connect(r, out),
            SafeRequest::S7SetupCommunication(r) => s7::encode_setup(r, out),
            SafeRequest::S7ReadSzl(r) => s7::encode_read_szl(r, out),
            SafeRequest::S7ReadSzlFollowUp(r) => s7::encode_read_szl_follow_up(r, out),
            SafeRequest::CotpDisconnect(r) => s7::encode_cotp_disconnect(r, out),
        }
    }

    /// How many bytes [`SafeRequest::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

/// Why the guard refused a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The bytes do not parse as one complete frame of the protocol.
    #[error("guard refused a {protocol:?} frame: malformed: {reason}")]
    Malformed { protocol: Protocol, reason: String },
    /// The frame parses but is not on the allowlist.
    #[error("guard refused a {protocol:?} frame: not an allowlisted read-only request: {what}")]
    NotAllowed { protocol: Protocol, what: String },
    /// The protocol has no allowlist (otscout never sends it).
    #[error("guard refused a {protocol:?} frame: otscout never sends this protocol")]
    UnknownProtocol { protocol: Protocol },
    /// The frame is allowed, but is not the request the caller meant to send.
    #[error("guard refused a frame: encoded {encoded} but it parses as {parsed}")]
    Mismatch {
        encoded: &'static str,
        parsed: &'static str,
    },
}

/// Re-parses `frame` as `protocol` and returns the request kind it is, or refuses it.
///
/// # OT safety
/// This is the last check before bytes reach a socket. It trusts nothing about how the
/// bytes were made.
pub fn check(protocol: Protocol, frame: &[u8]) -> Result<&'static str, GuardError> {
    match protocol {
        Protocol::Modbus => modbus::check(frame),
        Protocol::Enip => enip::check(frame),
        Protocol::S7 => s7::check(frame),
        other => Err(GuardError::UnknownProtocol { protocol: other }),
    }
}

/// Encodes `request` and passes the bytes through [`check`]: the only way the active side
/// produces bytes to send.
pub fn emit(request: &SafeRequest) -> Result<Vec<u8>, GuardError> {
    let mut frame = Vec::with_capacity(64);
    request.encode(&mut frame);
    let parsed = check(request.protocol(), &frame)?;
    if parsed != request.kind() {
        return Err(GuardError::Mismatch {
            encoded: request.kind(),
            parsed,
        });
    }
    Ok(frame)
}
