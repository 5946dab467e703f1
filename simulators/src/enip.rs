//! EtherNet/IP encapsulation device model (server side), written from ODVA CIP Vol 2
//! (EtherNet/IP adaptation), chapter 2: encapsulation header, List Identity (0x63),
//! List Services (0x04), List Interfaces (0x64).
//!
//! Sans-IO. All multi-byte encapsulation fields are little-endian; the socket address
//! inside the identity item is big-endian (Vol 2, 2-6.3.3).

use std::net::Ipv4Addr;

use crate::plant::EnipConfig;
use crate::{Answer, Classified};

/// Encapsulation header length.
pub(crate) const HEADER_LEN: usize = 24;
/// Largest request body we accept; identity requests carry none (Vol 2, 2-4).
const MAX_BODY: usize = 4096;

const LIST_SERVICES: u16 = 0x0004;
const LIST_IDENTITY: u16 = 0x0063;
const LIST_INTERFACES: u16 = 0x0064;

/// Total frame length from the header.
pub(crate) fn frame_len(header: &[u8]) -> Result<usize, String> {
    let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
    if len > MAX_BODY {
        return Err(format!("encapsulation length {len} above {MAX_BODY}"));
    }
    Ok(HEADER_LEN + len)
}

/// Names the command; the identity set is List Identity, List Services, List Interfaces.
pub(crate) fn classify(frame: &[u8]) -> Classified {
    let cmd = u16::from_le_bytes([frame[0], frame[1]]);
    let function = match cmd {
        0x0000 => "nop".to_string(),
        0x0001 => "legacy_0x0001".into(),
        LIST_SERVICES => "list_services".into(),
        LIST_IDENTITY => "list_identity".into(),
        LIST_INTERFACES => "list_interfaces".into(),
        0x0065 => "register_session".into(),
        0x0066 => "unregister_session".into(),
        0x006f => "send_rr_data".into(),
        0x0070 => "send_unit_data".into(),
        c => format!("command 0x{c:04x}"),
    };
    Classified {
        identity: matches!(cmd, LIST_SERVICES | LIST_IDENTITY | LIST_INTERFACES),
        function,
    }
}

fn encap(req: &[u8], status: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&req[0..2]); // command echoed
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&req[4..8]); // session handle echoed
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&req[12..20]); // sender context echoed
    out.extend_from_slice(&[0; 4]); // options
    out.extend_from_slice(body);
    out
}

/// Answers one complete frame. `own` is the device's address and port, for the
/// socket-address field of the identity item.
pub(crate) fn handle(cfg: &EnipConfig, own: (Ipv4Addr, u16), frame: &[u8]) -> Answer {
    let cmd = u16::from_le_bytes([frame[0], frame[1]]);
    match cmd {
        // Vol 2, 2-4.1: NOP has no reply.
        0x0000 => Answer::none(),
        LIST_IDENTITY if !cfg.list_identity_unsupported => {
            Answer::one(encap(frame, 0, &identity_item(cfg, own)))
        }
        LIST_SERVICES => {
            let mut b = Vec::new();
            b.extend_from_slice(&1u16.to_le_bytes()); // item count
            b.extend_from_slice(&0x0100u16.to_le_bytes()); // communications item
            b.extend_from_slice(&20u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes()); // protocol version
            // Capability flags: bit 5 CIP over TCP, bit 8 class 0/1 over UDP (Vol 2, 2-4.6.3).
            b.extend_from_slice(&0x0120u16.to_le_bytes());
            let mut name = [0u8; 16];
            name[..14].copy_from_slice(b"Communications");
            b.extend_from_slice(&name);
            Answer::one(encap(frame, 0, &b))
        }
        LIST_INTERFACES => Answer::one(encap(frame, 0, &0u16.to_le_bytes())),
        // Status 0x0001: invalid or unsupported encapsulation command.
        _ => Answer::one(encap(frame, 0x0001, &[])),
    }
}

fn identity_item(cfg: &EnipConfig, own: (Ipv4Addr, u16)) -> Vec<u8> {
    let id = &cfg.identity;
    let mut item = Vec::new();
    item.extend_from_slice(&1u16.to_le_bytes()); // encapsulation protocol version
    item.extend_from_slice(&2u16.to_be_bytes()); // sin_family AF_INET, big-endian
    item.extend_from_slice(&own.1.to_be_bytes());
    item.extend_from_slice(&id.socket_address.unwrap_or(own.0).octets());
    item.extend_from_slice(&[0; 8]);
    item.extend_from_slice(&id.vendor_id.to_le_bytes());
    item.extend_from_slice(&id.device_type.to_le_bytes());
    item.extend_from_slice(&id.product_code.to_le_bytes());
    item.push(id.revision_major);
    item.push(id.revision_minor);
    item.extend_from_slice(&id.status.to_le_bytes());
    item.extend_from_slice(&id.serial.to_le_bytes());
    let name = id.product_name.as_bytes();
    item.push(name.len() as u8); // validated <= 32 at load
    item.extend_from_slice(name);
    item.push(id.state);
    let mut b = Vec::with_capacity(6 + item.len());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0x000cu16.to_le_bytes());
    b.extend_from_slice(&(item.len() as u16).to_le_bytes());
    b.extend_from_slice(&item);
    b
}
