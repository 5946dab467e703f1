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
//! The per-protocol request types, encoders and checks live in each protocol's folder
//! (`src/protocols/<name>/safe.rs`); this module is the one closed enum that nests them and
//! the dispatch of the guard. SAFETY.md describes every allowed frame byte by byte.

use crate::inventory::Protocol;
use crate::protocols::{Refusal, bacnet, enip, fins, fox, modbus, opcua, s7};

// The request types live with their protocol; re-exported here so the one closed enum and
// the types it nests are reviewable, and nameable, from one place.
pub use crate::protocols::enip::safe::{EnipList, EnipListCommand};
pub use crate::protocols::modbus::safe::{ModbusReadDeviceId, ReadDeviceIdCode};
pub use crate::protocols::s7::safe::{
    CotpConnect, CotpDisconnect, S7ReadSzl, S7ReadSzlFollowUp, S7SetupCommunication,
};

/// Every request the active side is able to emit. There is no write variant.
///
/// # OT safety
/// Adding a variant requires a SAFETY.md entry describing its bytes and why it cannot
/// change a device's state, and a guard rule that accepts exactly those bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeRequest {
    /// Modbus/TCP (src/protocols/modbus/safe.rs).
    Modbus(modbus::Safe),
    /// EtherNet/IP (src/protocols/enip/safe.rs).
    Enip(enip::Safe),
    /// S7comm over ISO-on-TCP (src/protocols/s7/safe.rs).
    S7(s7::Safe),
    /// BACnet/IP (src/protocols/bacnet/safe.rs).
    Bacnet(bacnet::safe::Safe),
    /// OPC UA binary, SecurityPolicy None (src/protocols/opcua/safe.rs).
    Opcua(opcua::safe::Safe),
    /// Omron FINS Controller Data Read and the FINS/TCP node-address request
    /// (src/protocols/fins/safe.rs).
    Fins(fins::safe::Safe),
    /// Niagara Fox, the minimal hello (src/protocols/fox/safe.rs).
    Fox(fox::safe::Safe),
}

impl SafeRequest {
    /// A stable name for the request kind, used in ledgers, dry runs and provenance.
    pub fn kind(&self) -> &'static str {
        match self {
            SafeRequest::Modbus(r) => r.kind(),
            SafeRequest::Enip(r) => r.kind(),
            SafeRequest::S7(r) => r.kind(),
            SafeRequest::Bacnet(r) => r.kind(),
            SafeRequest::Opcua(r) => r.kind(),
            SafeRequest::Fins(r) => r.kind(),
            SafeRequest::Fox(r) => r.kind(),
        }
    }

    /// The protocol (and so the guard rules) the request belongs to.
    pub fn protocol(&self) -> Protocol {
        match self {
            SafeRequest::Modbus(_) => Protocol::Modbus,
            SafeRequest::Enip(_) => Protocol::Enip,
            SafeRequest::S7(_) => Protocol::S7,
            SafeRequest::Bacnet(_) => Protocol::Bacnet,
            SafeRequest::Opcua(_) => Protocol::Opcua,
            SafeRequest::Fins(_) => Protocol::Fins,
            SafeRequest::Fox(_) => Protocol::Fox,
        }
    }

    /// The fields of the request a reviewer needs beside its kind (`unit 255, read code
    /// 0x01 (basic)`, `SZL 0x0011 index 0x0000`); empty when the kind says it all.
    pub fn detail(&self) -> String {
        match self {
            SafeRequest::Modbus(r) => r.detail(),
            SafeRequest::Enip(r) => r.detail(),
            SafeRequest::S7(r) => r.detail(),
            SafeRequest::Bacnet(r) => r.detail(),
            SafeRequest::Opcua(r) => r.detail(),
            SafeRequest::Fins(r) => r.detail(),
            SafeRequest::Fox(r) => r.detail(),
        }
    }

    /// Appends the request's bytes. Callers that send use [`emit`], which also guards.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SafeRequest::Modbus(r) => r.encode(out),
            SafeRequest::Enip(r) => r.encode(out),
            SafeRequest::S7(r) => r.encode(out),
            SafeRequest::Bacnet(r) => r.encode(out),
            SafeRequest::Opcua(r) => r.encode(out),
            SafeRequest::Fins(r) => r.encode(out),
            SafeRequest::Fox(r) => r.encode(out),
        }
    }

    /// How many bytes [`SafeRequest::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

impl From<modbus::Safe> for SafeRequest {
    fn from(r: modbus::Safe) -> Self {
        SafeRequest::Modbus(r)
    }
}

impl From<enip::Safe> for SafeRequest {
    fn from(r: enip::Safe) -> Self {
        SafeRequest::Enip(r)
    }
}

impl From<fins::safe::Safe> for SafeRequest {
    fn from(r: fins::safe::Safe) -> Self {
        SafeRequest::Fins(r)
    }
}

impl From<fox::safe::Safe> for SafeRequest {
    fn from(r: fox::safe::Safe) -> Self {
        SafeRequest::Fox(r)
    }
}

impl From<s7::Safe> for SafeRequest {
    fn from(r: s7::Safe) -> Self {
        SafeRequest::S7(r)
    }
}

impl From<bacnet::safe::Safe> for SafeRequest {
    fn from(r: bacnet::safe::Safe) -> Self {
        SafeRequest::Bacnet(r)
    }
}
impl From<opcua::safe::Safe> for SafeRequest {
    fn from(r: opcua::safe::Safe) -> Self {
        SafeRequest::Opcua(r)
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
    let rule = match protocol {
        Protocol::Modbus => modbus::safe::check,
        Protocol::Enip => enip::safe::check,
        Protocol::S7 => s7::safe::check,
        Protocol::Bacnet => bacnet::safe::guard,
        Protocol::Opcua => opcua::safe::guard,
        Protocol::Fins => fins::safe::rule,
        Protocol::Fox => fox::safe::rule,
        other => return Err(GuardError::UnknownProtocol { protocol: other }),
    };
    rule(frame).map_err(|r| match r {
        Refusal::Malformed(reason) => GuardError::Malformed { protocol, reason },
        Refusal::NotAllowed(what) => GuardError::NotAllowed { protocol, what },
    })
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
