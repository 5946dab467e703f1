//! EtherNet/IP's safe requests: the ENIP part of [`crate::safety::SafeRequest`], the
//! encoder for List Identity / List Services / List Interfaces and the opt-in backplane
//! read (Register Session, one routed identity read per slot, Unregister Session), and the
//! guard rule that accepts exactly those frames.
//!
//! # OT safety
//! The three List* commands are discovery commands (ODVA Vol. 2 2-4.2, 2-4.3, 2-4.6):
//! they carry no body, need no session, and a device answers them from its identity and
//! capability data without changing any state. The guard re-parses every outbound frame
//! with [`crate::wire::enip`] and accepts only a bare 24-byte header with one of those
//! commands, length 0, session handle 0, status 0 and options 0.
//!
//! The backplane read (issue 15) adds three frames and nothing else: Register Session
//! (0x0065, Vol. 2 2-4.4) with protocol version 1 and options 0; Unregister Session
//! (0x0066, 2-4.5) with no body; and SendRRData (0x006F, 2-4.7) carrying exactly one
//! Unconnected Send (service 0x52 to the Connection Manager, class 0x06 instance 1, Vol. 1
//! 3-5.5.2) that wraps Get_Attributes_All (0x01) to the Identity object (class 0x01
//! instance 1, Vol. 1 5-2) through a route path of one port segment: backplane port 1,
//! slot N (Vol. 1 C-1.4.1), N at most [`MAX_SLOT`]. The guard parses the frame, takes the
//! session handle, sender context and slot from it, rebuilds the one request those
//! values allow and refuses the frame unless every byte is equal: any other service,
//! class, instance, path segment, item, timing byte or trailing byte is refused.
//! SendUnitData, Forward_Open and every other command stay refused. SAFETY.md lists the
//! bytes.

use crate::protocols::Refusal;
use crate::wire::Cursor;
use crate::wire::enip::{
    Body, Command, Cpf, CpfItem, EncapStatus, Frame, HEADER_LEN, Header, ItemType, SendData,
};

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

/// The highest backplane slot otscout may address (the largest ControlLogix chassis,
/// 1756-A17, has slots 0-16; 31 leaves room for other backplanes and is the profile's
/// hard cap too).
pub const MAX_SLOT: u8 = 31;

/// SendRRData's encapsulation timeout field (Vol. 2 2-4.7.1): 0, the device applies the
/// Unconnected Send's own timeout below.
pub const SEND_RR_TIMEOUT: u16 = 0;
/// Unconnected Send priority/time tick (Vol. 1 3-5.5.1.4): priority 0, tick 2^10 ms.
pub const PRIORITY_TICK: u8 = 0x0A;
/// Unconnected Send timeout ticks: 5 ticks of 1024 ms, about 5 s for the routed request.
pub const TIMEOUT_TICKS: u8 = 0x05;
/// The backplane's CIP port number on a ControlLogix adapter (Vol. 1 C-1.4.1, 1756-PM020).
pub const BACKPLANE_PORT: u8 = 1;

/// One routed identity read: SendRRData / Unconnected Send / Get_Attributes_All to the
/// Identity object of the module in backplane slot `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackplaneRead {
    /// The handle the device gave in its Register Session reply (never 0).
    pub session_handle: u32,
    pub sender_context: [u8; 8],
    /// The backplane slot (0 to [`MAX_SLOT`]).
    pub slot: u8,
}

/// Every EtherNet/IP request otscout is able to send: the ENIP part of
/// [`crate::safety::SafeRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// List Identity, List Services or List Interfaces.
    List(EnipList),
    /// Register Session, protocol version 1, options 0 (opens the backplane read).
    RegisterSession { sender_context: [u8; 8] },
    /// One routed identity read of a backplane slot.
    Backplane(BackplaneRead),
    /// Unregister Session (closes the backplane read).
    UnregisterSession {
        session_handle: u32,
        sender_context: [u8; 8],
    },
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
            Safe::RegisterSession { .. } => "enip.register_session",
            Safe::Backplane(_) => "enip.backplane_identity",
            Safe::UnregisterSession { .. } => "enip.unregister_session",
        }
    }

    /// The fields a reviewer needs beside the kind (dry runs): the slot of a backplane
    /// read (the path of the sub-asset it asks for); nothing else.
    pub fn detail(&self) -> String {
        match self {
            Safe::Backplane(b) => format!("route cip:{BACKPLANE_PORT}/{}", b.slot),
            _ => String::new(),
        }
    }

    /// Appends the request's bytes (callers that send use [`crate::safety::emit`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Safe::List(r) => frame(r).encode(out),
            Safe::RegisterSession { sender_context } => Frame::new(
                header(Command::RegisterSession, 0, *sender_context),
                Body::RegisterSession {
                    protocol_version: 1,
                    options: 0,
                },
            )
            .encode(out),
            Safe::Backplane(b) => backplane_frame(b).encode(out),
            Safe::UnregisterSession {
                session_handle,
                sender_context,
            } => Frame::new(
                header(Command::UnregisterSession, *session_handle, *sender_context),
                Body::Empty,
            )
            .encode(out),
        }
    }
}

fn header(command: Command, session_handle: u32, sender_context: [u8; 8]) -> Header {
    Header {
        command,
        length: 0,
        session_handle,
        status: EncapStatus::Success,
        sender_context,
        options: 0,
    }
}

/// The Unconnected Send's data items (Vol. 1 3-5.5.2, table 3-5.13): the embedded
/// Get_Attributes_All to Identity instance 1 and the one-hop route path to `slot`.
pub fn unconnected_send_data(slot: u8) -> Vec<u8> {
    let mut cip = Vec::with_capacity(20);
    // Unconnected Send, path 2 words: 8-bit class segment 0x20 0x06 (Connection
    // Manager), 8-bit instance segment 0x24 0x01 (Vol. 1 C-1.4.2).
    cip.extend_from_slice(&[0x52, 0x02, 0x20, 0x06, 0x24, 0x01]);
    cip.extend_from_slice(&[PRIORITY_TICK, TIMEOUT_TICKS]);
    // Embedded message: 6 bytes, even, so no pad byte follows it.
    cip.extend_from_slice(&6u16.to_le_bytes());
    // Get_Attributes_All, path 2 words: class 0x01 (Identity), instance 1.
    cip.extend_from_slice(&[0x01, 0x02, 0x20, 0x01, 0x24, 0x01]);
    // Route path: 1 word, reserved byte, port segment (port 1, no extended link) + slot.
    cip.extend_from_slice(&[0x01, 0x00, BACKPLANE_PORT, slot]);
    cip
}

/// A backplane read as a wire frame: SendRRData, interface handle 0, the null address
/// item and the unconnected data item (Vol. 2 2-4.7, 2-6).
pub fn backplane_frame(b: &BackplaneRead) -> Frame {
    Frame::new(
        header(Command::SendRrData, b.session_handle, b.sender_context),
        Body::SendData(SendData {
            interface_handle: 0,
            timeout: SEND_RR_TIMEOUT,
            cpf: Cpf {
                items: vec![
                    CpfItem {
                        type_id: ItemType::NullAddress,
                        data: Vec::new(),
                    },
                    CpfItem {
                        type_id: ItemType::UnconnectedData,
                        data: unconnected_send_data(b.slot),
                    },
                ],
            },
        }),
    )
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

/// Accepts `bytes` only if they are exactly one allowlisted request, and returns its
/// kind. [`crate::safety::check`] calls it for every EtherNet/IP frame.
pub fn check(bytes: &[u8]) -> Result<&'static str, Refusal> {
    parse(bytes).map(|r| r.kind())
}

/// Parses `bytes` as exactly one allowlisted request (the guard rule; see the module
/// docs), returning the request they encode.
pub fn parse(bytes: &[u8]) -> Result<Safe, Refusal> {
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
    let list = |command| {
        Safe::List(EnipList {
            command,
            sender_context: h.sender_context,
        })
    };
    let (kind, request) = match h.command {
        Command::ListIdentity => ("enip.list_identity", list(EnipListCommand::ListIdentity)),
        Command::ListServices => ("enip.list_services", list(EnipListCommand::ListServices)),
        Command::ListInterfaces => (
            "enip.list_interfaces",
            list(EnipListCommand::ListInterfaces),
        ),
        Command::RegisterSession => (
            "enip.register_session",
            Safe::RegisterSession {
                sender_context: h.sender_context,
            },
        ),
        Command::UnregisterSession => (
            "enip.unregister_session",
            Safe::UnregisterSession {
                session_handle: h.session_handle,
                sender_context: h.sender_context,
            },
        ),
        Command::SendRrData => (
            "enip.backplane_identity",
            Safe::Backplane(BackplaneRead {
                session_handle: h.session_handle,
                sender_context: h.sender_context,
                slot: backplane_slot(&f)?,
            }),
        ),
        other => return Err(refuse(format!("command {:#06x}", other.raw()))),
    };
    if h.status != EncapStatus::Success {
        return Err(refuse(format!(
            "{kind} with status {:#010x}",
            h.status.raw()
        )));
    }
    if h.options != 0 {
        return Err(refuse(format!("{kind} with options {:#010x}", h.options)));
    }
    match request {
        Safe::List(_) | Safe::RegisterSession { .. } if h.session_handle != 0 => {
            return Err(refuse(format!(
                "{kind} with session handle {:#010x}",
                h.session_handle
            )));
        }
        Safe::UnregisterSession { .. } | Safe::Backplane(_) if h.session_handle == 0 => {
            return Err(refuse(format!("{kind} without a session handle")));
        }
        _ => {}
    }
    // Everything but the session handle, sender context and slot is fixed: the frame must
    // be byte for byte the request those three values make.
    let mut canonical = Vec::with_capacity(bytes.len());
    request.encode(&mut canonical);
    if canonical != bytes {
        let at = canonical
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(canonical.len().min(bytes.len()));
        return Err(refuse(format!(
            "{kind} of {} bytes differs from the allowlisted {}-byte request at byte {at}",
            bytes.len(),
            canonical.len()
        )));
    }
    Ok(request)
}

/// The slot a SendRRData addresses, refusing anything but the one-hop Unconnected Send of
/// Get_Attributes_All to Identity instance 1 (the byte-for-byte comparison in [`parse`]
/// catches the rest; these checks name what is wrong).
fn backplane_slot(f: &Frame) -> Result<u8, Refusal> {
    let Body::SendData(s) = &f.body else {
        return Err(refuse("send_rr_data without its data".into()));
    };
    if s.interface_handle != 0 {
        return Err(refuse(format!(
            "send_rr_data with interface handle {:#010x}",
            s.interface_handle
        )));
    }
    let types: Vec<u16> = s.cpf.items.iter().map(|i| i.type_id.raw()).collect();
    if types != [0x0000, 0x00B2] || !s.cpf.items[0].data.is_empty() {
        return Err(refuse(format!(
            "send_rr_data with items {types:04x?}, only a null address and unconnected data pass"
        )));
    }
    // Two items checked just above.
    let data = &s.cpf.items[1].data;
    let mut c = Cursor::framed(data);
    let outer = crate::wire::enip::CipRequest::decode(&mut c)
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    if outer.service != 0x52 || outer.path != [0x20, 0x06, 0x24, 0x01] {
        return Err(refuse(format!(
            "cip service {:#04x} to path {}, only unconnected send to the connection manager passes",
            outer.service,
            hex::encode(&outer.path)
        )));
    }
    let (inner, route) = crate::wire::enip::unconnected_send(&outer.data)
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    if inner.service != 0x01 || inner.path != [0x20, 0x01, 0x24, 0x01] || !inner.data.is_empty() {
        return Err(refuse(format!(
            "embedded cip service {:#04x} to path {}, only get_attributes_all to identity instance 1 passes",
            inner.service,
            hex::encode(&inner.path)
        )));
    }
    // `route` is whole words (the codec reads `words * 2` bytes); one port segment is 2.
    match route[..] {
        [BACKPLANE_PORT, slot] if slot <= MAX_SLOT => Ok(slot),
        _ => Err(refuse(format!(
            "route path {}, only one hop to backplane port 1 slot 0-{MAX_SLOT} passes",
            hex::encode(&route)
        ))),
    }
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
    fn register_session_of_protocol_version_0_is_refused() {
        let mut b = vec![0u8; 28];
        b[0] = 0x65;
        b[2] = 4;
        assert!(matches!(check(&b), Err(Refusal::NotAllowed(_))));
    }

    fn backplane(slot: u8) -> Safe {
        Safe::Backplane(BackplaneRead {
            session_handle: 0x1122_3344,
            sender_context: *b"otscou\x05\x00",
            slot,
        })
    }

    fn bytes(r: Safe) -> Vec<u8> {
        emit(&SafeRequest::Enip(r)).unwrap()
    }

    /// The bytes SAFETY.md shows, field by field.
    #[test]
    fn backplane_read_is_the_documented_frame() {
        let b = bytes(backplane(3));
        let expected: Vec<u8> = [
            &[0x6f, 0x00, 0x24, 0x00][..],         // SendRRData, 36-byte body
            &[0x44, 0x33, 0x22, 0x11],             // session handle
            &[0, 0, 0, 0],                         // status
            b"otscou\x05\x00",                     // sender context
            &[0, 0, 0, 0],                         // options
            &[0, 0, 0, 0, 0x00, 0x00],             // interface handle, timeout
            &[0x02, 0x00, 0x00, 0x00, 0x00, 0x00], // 2 items; null address, len 0
            &[0xb2, 0x00, 0x14, 0x00],             // unconnected data, 20 bytes
            &[0x52, 0x02, 0x20, 0x06, 0x24, 0x01], // unconnected send to CM 6/1
            &[0x0a, 0x05, 0x06, 0x00],             // tick, ticks, message size 6
            &[0x01, 0x02, 0x20, 0x01, 0x24, 0x01], // get_attributes_all identity 1/1
            &[0x01, 0x00, 0x01, 0x03],             // route: 1 word, port 1 slot 3
        ]
        .concat();
        assert_eq!(b, expected);
        assert_eq!(parse(&b).unwrap(), backplane(3));
        let reg = bytes(Safe::RegisterSession {
            sender_context: [0; 8],
        });
        assert_eq!(&reg[..4], &[0x65, 0, 4, 0]);
        assert_eq!(&reg[24..], &[1, 0, 0, 0]);
        let unreg = bytes(Safe::UnregisterSession {
            session_handle: 7,
            sender_context: [0; 8],
        });
        assert_eq!(&unreg[..8], &[0x66, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(unreg.len(), 24);
    }

    /// Every byte of every new request, flipped to several values: the guard refuses it
    /// or it parses as a request that encodes to exactly the mutated bytes (a different
    /// session handle, sender context or in-range slot).
    #[test]
    fn a_mutated_byte_is_refused_or_reparses_to_the_same_request() {
        let requests = [
            backplane(0),
            backplane(16),
            Safe::RegisterSession {
                sender_context: *b"otscou\x00\x00",
            },
            Safe::UnregisterSession {
                session_handle: 9,
                sender_context: *b"otscou\x07\x00",
            },
        ];
        let mut accepted_changes = 0;
        for r in requests {
            let b = bytes(r);
            for i in 0..b.len() {
                for x in [0x01u8, 0x02, 0x10, 0x20, 0x80, 0xff] {
                    let mut m = b.clone();
                    m[i] ^= x;
                    if let Ok(p) = parse(&m) {
                        let mut again = Vec::new();
                        p.encode(&mut again);
                        assert_eq!(again, m, "byte {i} ^ {x:#x} of {}", r.kind());
                        assert_eq!(p.kind(), r.kind());
                        accepted_changes += 1;
                    }
                }
            }
            // One byte more or less is always refused.
            let mut longer = b.clone();
            longer.push(0);
            assert!(parse(&longer).is_err());
            assert!(parse(&b[..b.len() - 1]).is_err());
        }
        assert!(accepted_changes > 0, "handles and contexts are free fields");
    }

    /// The hand-built frame with one field changed: each is refused.
    #[test]
    fn send_rr_data_of_any_other_shape_is_refused() {
        let good = bytes(backplane(2));
        let at = |off: usize, v: u8| {
            let mut m = good.clone();
            m[off] = v;
            m
        };
        // CIP data starts at 24 + 6 + 2 + 4 + 4 = 40.
        let cip = 40;
        for (what, m) in [
            ("outer service 0x4e forward_close", at(cip, 0x4e)),
            ("outer class 0x02", at(cip + 3, 0x02)),
            ("outer instance 2", at(cip + 5, 0x02)),
            ("inner service set_attributes_all 0x02", at(cip + 10, 0x02)),
            ("inner service reset 0x05", at(cip + 10, 0x05)),
            ("inner class 0x04 assembly", at(cip + 13, 0x04)),
            ("inner instance 2", at(cip + 15, 0x02)),
            ("route port 2", at(cip + 18, 0x02)),
            ("slot 32", at(cip + 19, MAX_SLOT + 1)),
            ("interface handle 1", at(24, 1)),
            ("session handle 0", {
                let mut m = good.clone();
                m[4..8].fill(0);
                m
            }),
        ] {
            assert!(
                matches!(
                    parse(&m),
                    Err(Refusal::NotAllowed(_)) | Err(Refusal::Malformed(_))
                ),
                "{what} passed"
            );
        }
        // A route of two hops (port 1 slot 2, then port 2 slot 0): the sizes agree, the
        // guard still refuses it.
        let mut two = good.clone();
        two.extend_from_slice(&[0x02, 0x00]);
        two[cip + 16] = 2; // route path words
        let len = u16::from_le_bytes([two[2], two[3]]) + 2;
        two[2..4].copy_from_slice(&len.to_le_bytes());
        two[38..40].copy_from_slice(&22u16.to_le_bytes()); // unconnected data item length
        let e = parse(&two).unwrap_err();
        assert!(format!("{e:?}").contains("route path"), "{e:?}");
        // SendUnitData with the same body is refused by command.
        assert!(matches!(parse(&at(0, 0x70)), Err(Refusal::NotAllowed(_))));
        // Register Session with a handle or another protocol version.
        let reg = bytes(Safe::RegisterSession {
            sender_context: [0; 8],
        });
        let mut r2 = reg.clone();
        r2[4] = 1;
        assert!(parse(&r2).is_err());
        let mut r3 = reg.clone();
        r3[24] = 2;
        assert!(parse(&r3).is_err());
    }
}
