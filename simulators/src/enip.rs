//! EtherNet/IP encapsulation device model (server side), written from ODVA CIP Vol 2
//! (EtherNet/IP adaptation), chapter 2: encapsulation header, List Identity (0x63),
//! List Services (0x04), List Interfaces (0x64); for a device with a chassis also
//! Register Session (0x65, 2-4.4), Unregister Session (0x66, 2-4.5) and SendRRData (0x6F,
//! 2-4.7) carrying an Unconnected Send (CIP Vol 1, 3-5.5.2) routed to backplane port 1.
//!
//! Sans-IO. All multi-byte encapsulation fields are little-endian; the socket address
//! inside the identity item is big-endian (Vol 2, 2-6.3.3).

use std::net::Ipv4Addr;

use crate::plant::{Chassis, EnipConfig, EnipIdentity};
use crate::{Answer, Classified};

/// Encapsulation header length.
pub(crate) const HEADER_LEN: usize = 24;
/// Largest request body we accept; identity requests carry none (Vol 2, 2-4).
const MAX_BODY: usize = 4096;

const LIST_SERVICES: u16 = 0x0004;
const LIST_IDENTITY: u16 = 0x0063;
const LIST_INTERFACES: u16 = 0x0064;
const REGISTER_SESSION: u16 = 0x0065;
const UNREGISTER_SESSION: u16 = 0x0066;
const SEND_RR_DATA: u16 = 0x006f;
/// The one session handle a chassis hands out (any non-zero value is valid, 2-4.4).
pub(crate) const SESSION_HANDLE: u32 = 0x5e55_1001;

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
        REGISTER_SESSION => "register_session".into(),
        UNREGISTER_SESSION => "unregister_session".into(),
        SEND_RR_DATA => match routed_identity_read(frame) {
            Some(slot) => format!("send_rr_data get_attributes_all identity via 1/{slot}"),
            None => "send_rr_data".into(),
        },
        0x0070 => "send_unit_data".into(),
        c => format!("command 0x{c:04x}"),
    };
    // The routed identity read and the session around it read nothing but identities.
    let identity = matches!(
        cmd,
        LIST_SERVICES | LIST_IDENTITY | LIST_INTERFACES | REGISTER_SESSION | UNREGISTER_SESSION
    ) || (cmd == SEND_RR_DATA && routed_identity_read(frame).is_some());
    Classified { identity, function }
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
        REGISTER_SESSION if cfg.chassis.is_some() => register(frame),
        // Vol 2, 2-4.5: no reply; the target closes the connection.
        UNREGISTER_SESSION if cfg.chassis.is_some() => Answer::close(Vec::new()),
        SEND_RR_DATA => match &cfg.chassis {
            Some(c) => send_rr_data(c, frame),
            None => Answer::one(encap(frame, 0x0001, &[])),
        },
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

fn register(frame: &[u8]) -> Answer {
    let body = &frame[HEADER_LEN..];
    // Protocol version 1, options 0 (2-4.4.1); anything else: unsupported revision.
    if body != [1, 0, 0, 0] || frame[4..8] != [0; 4] {
        return Answer::one(encap(frame, 0x0069, &[]));
    }
    let mut out = encap(frame, 0, body);
    out[4..8].copy_from_slice(&SESSION_HANDLE.to_le_bytes());
    Answer::one(out)
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The unconnected data item (0x00B2) of a SendRRData frame: interface handle (4),
/// timeout (2), item count, then items of type, length, data (Vol 2, 2-6).
fn unconnected_item(frame: &[u8]) -> Option<&[u8]> {
    let body = frame.get(HEADER_LEN..)?;
    let count = le16(body, 6)?;
    let mut at = 8;
    for _ in 0..count {
        let ty = le16(body, at)?;
        let len = usize::from(le16(body, at + 2)?);
        let data = body.get(at + 4..at + 4 + len)?;
        if ty == 0x00b2 {
            return Some(data);
        }
        at += 4 + len;
    }
    None
}

/// What an Unconnected Send to the Connection Manager carries: the embedded request's
/// bytes and the route path's bytes (CIP Vol 1, 3-5.5.2).
fn unconnected_send(cip: &[u8]) -> Option<(&[u8], &[u8])> {
    // Service 0x52, path of 2 words: class 0x06, instance 1.
    if cip.get(..6)? != [0x52, 0x02, 0x20, 0x06, 0x24, 0x01] {
        return None;
    }
    let size = usize::from(le16(cip, 8)?);
    let msg = cip.get(10..10 + size)?;
    let mut at = 10 + size + size % 2;
    let words = usize::from(*cip.get(at)?);
    at += 2;
    let route = cip.get(at..at + 2 * words)?;
    Some((msg, route))
}

/// The slot of a SendRRData that is exactly a routed Get_Attributes_All to Identity
/// instance 1 through backplane port 1.
fn routed_identity_read(frame: &[u8]) -> Option<u8> {
    let (msg, route) = unconnected_send(unconnected_item(frame)?)?;
    match (msg, route) {
        ([0x01, 0x02, 0x20, 0x01, 0x24, 0x01], [0x01, slot]) => Some(*slot),
        _ => None,
    }
}

fn send_rr_data(chassis: &Chassis, frame: &[u8]) -> Answer {
    if frame[4..8] != SESSION_HANDLE.to_le_bytes() {
        // 0x0064: invalid session handle.
        return Answer::one(encap(frame, 0x0064, &[]));
    }
    let cip = match unconnected_item(frame) {
        Some(c) => c,
        None => return Answer::one(encap(frame, 0x0003, &[])),
    };
    let reply = match (unconnected_send(cip), routed_identity_read(frame)) {
        (Some(_), Some(slot)) if slot >= chassis.slots => {
            // Unconnected Send failed: general status 0x01, extended status 0x0312 (link
            // address not valid), CIP Vol 1 table 3-5.29.
            vec![0xd2, 0, 0x01, 1, 0x12, 0x03]
        }
        (Some(_), Some(slot)) => match chassis.modules.iter().find(|m| m.slot == slot) {
            Some(m) => {
                let mut r = vec![0x81, 0, 0, 0];
                identity_attributes(&m.identity, &mut r);
                r
            }
            // An empty slot: general status 0x01, extended status 0x0204 (unconnected
            // request timed out), what a ControlLogix adapter answers for an empty slot.
            None => vec![0xd2, 0, 0x01, 1, 0x04, 0x02],
        },
        // Routed somewhere else or another embedded request: path destination unknown.
        (Some(_), None) => vec![0xd2, 0, 0x05, 0],
        // Any other service: service not supported, echoed with the reply bit.
        (None, _) => vec![cip.first().copied().unwrap_or(0) | 0x80, 0, 0x08, 0],
    };
    let mut body = Vec::new();
    body.extend_from_slice(&[0; 6]); // interface handle 0, timeout 0
    body.extend_from_slice(&2u16.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]); // null address item
    body.extend_from_slice(&0x00b2u16.to_le_bytes());
    body.extend_from_slice(&(reply.len() as u16).to_le_bytes());
    body.extend_from_slice(&reply);
    Answer::one(encap(frame, 0, &body))
}

/// Identity attributes 1-7 in Get_Attributes_All order (CIP Vol 1, 5-2.2).
fn identity_attributes(id: &EnipIdentity, out: &mut Vec<u8>) {
    out.extend_from_slice(&id.vendor_id.to_le_bytes());
    out.extend_from_slice(&id.device_type.to_le_bytes());
    out.extend_from_slice(&id.product_code.to_le_bytes());
    out.push(id.revision_major);
    out.push(id.revision_minor);
    out.extend_from_slice(&id.status.to_le_bytes());
    out.extend_from_slice(&id.serial.to_le_bytes());
    let name = id.product_name.as_bytes();
    out.push(name.len() as u8); // validated <= 32 at load
    out.extend_from_slice(name);
    out.push(id.state);
}
