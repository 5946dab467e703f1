//! EtherNet/IP's safe requests: the ENIP part of [`crate::safety::SafeRequest`], the
//! encoder for List Identity / List Services / List Interfaces and the guard rule that
//! accepts exactly those three frames.
//!
//! # OT safety
//! The three List* commands are discovery commands (ODVA Vol. 2 2-4.2, 2-4.3, 2-4.6):
//! they carry no body, need no session, and a device answers them from its identity and
//! capability data without changing any state. The guard re-parses every outbound frame
//! with [`crate::wire::enip`] and accepts only a bare 24-byte header with one of those
//! commands, length 0, session handle 0, status 0 and options 0. Register Session,
//! SendRRData, SendUnitData (the paths to CIP services that write) and everything else
//! are refused. SAFETY.md lists the bytes.

use crate::protocols::Refusal;
use crate::wire::Cursor;
use crate::wire::enip::{Body, Command, EncapStatus, Frame, HEADER_LEN, Header};

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

/// Every EtherNet/IP request otscout is able to send: the ENIP part of
/// [`crate::safety::SafeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// List Identity, List Services or List Interfaces.
    List(EnipList),
}

impl Safe {
    /// A stable name for the request kind (ledgers, dry runs, provenance).
    pub fn kind(&self) -> &'static str {
        match self {
            Safe::List(l) => match l.command {
                EnipListCommand::ListIdentity => "enip.list_identity",
                EnipListCommand::ListServices => "enip.list_services",
                EnipListCommand::ListInterfaces => "enip.list_interfaces",
            },
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs): none, the command is the
    /// kind.
    pub fn detail(&self) -> String {
        match self {
            Safe::List(_) => String::new(),
        }
    }

    /// Appends the request's bytes (callers that send use [`crate::safety::emit`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Safe::List(r) => frame(r).encode(out),
        }
    }
}

/// The wire command of an allowlisted List* request.
pub fn command(c: EnipListCommand) -> Command {
    match c {
        EnipListCommand::ListIdentity => Command::ListIdentity,
        EnipListCommand::ListServices => Command::ListServices,
        EnipListCommand::ListInterfaces => Command::ListInterfaces,
    }
}

/// The request as a wire frame.
pub fn frame(r: &EnipList) -> Frame {
    Frame::new(
        Header {
            command: command(r.command),
            length: 0,
            session_handle: 0,
            status: EncapStatus::Success,
            sender_context: r.sender_context,
            options: 0,
        },
        Body::Empty,
    )
}

fn refuse(what: String) -> Refusal {
    Refusal::NotAllowed(what)
}

/// Accepts `bytes` only if they are exactly one allowlisted List* request, and returns its
/// kind. [`crate::safety::check`] calls it for every EtherNet/IP frame.
pub fn check(bytes: &[u8]) -> Result<&'static str, Refusal> {
    let malformed = Refusal::Malformed;
    if bytes.len() < HEADER_LEN {
        return Err(malformed(format!(
            "{} bytes, an encapsulation header needs {HEADER_LEN}",
            bytes.len()
        )));
    }
    let mut c = Cursor::framed(bytes);
    let f = Frame::decode(&mut c).map_err(|e| malformed(e.to_string()))?;
    if !c.is_empty() {
        return Err(malformed(format!(
            "{} bytes after the frame",
            c.remaining()
        )));
    }
    let h = &f.header;
    let kind = match h.command {
        Command::ListIdentity => "enip.list_identity",
        Command::ListServices => "enip.list_services",
        Command::ListInterfaces => "enip.list_interfaces",
        other => return Err(refuse(format!("command {:#06x}", other.raw()))),
    };
    if h.length != 0 || f.body != Body::Empty {
        return Err(refuse(format!("{kind} with a {}-byte body", h.length)));
    }
    if h.session_handle != 0 {
        return Err(refuse(format!(
            "{kind} with session handle {:#010x}",
            h.session_handle
        )));
    }
    if h.status != EncapStatus::Success {
        return Err(refuse(format!(
            "{kind} with status {:#010x}",
            h.status.raw()
        )));
    }
    if h.options != 0 {
        return Err(refuse(format!("{kind} with options {:#010x}", h.options)));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::{SafeRequest, emit};

    #[test]
    fn list_identity_is_a_bare_header() {
        let r = SafeRequest::Enip(Safe::List(EnipList {
            command: EnipListCommand::ListIdentity,
            sender_context: *b"otscout1",
        }));
        let bytes = emit(&r).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..4], &[0x63, 0, 0, 0]);
        assert_eq!(&bytes[12..20], b"otscout1");
    }

    #[test]
    fn register_session_is_refused() {
        let mut b = vec![0u8; 28];
        b[0] = 0x65;
        b[2] = 4;
        assert!(matches!(check(&b), Err(Refusal::NotAllowed(_))));
    }
}
