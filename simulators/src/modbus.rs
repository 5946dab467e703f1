//! Modbus/TCP device model (server side), written from the Modbus Application Protocol
//! v1.1b3 and the Modbus Messaging on TCP/IP Implementation Guide v1.0b.
//!
//! Sans-IO: takes one complete ADU, returns the reply. Never reads the clock.
//! Untrusted input: every length in the request is checked against the bytes present.

use crate::plant::{ModbusConfig, ModbusIdentity, UnknownUnit};
use crate::{Answer, Classified};

/// MBAP header length (transaction, protocol, length, unit).
pub(crate) const HEADER_LEN: usize = 7;
/// Implementation guide 4.3.1: the PDU is at most 253 bytes, so length <= 254.
const MAX_LENGTH_FIELD: usize = 254;
/// Largest PDU a reply may carry.
const MAX_PDU: usize = 253;

/// Total ADU length from the 7-byte MBAP header, or why the header is unacceptable.
pub(crate) fn frame_len(header: &[u8]) -> Result<usize, String> {
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if !(2..=MAX_LENGTH_FIELD).contains(&len) {
        return Err(format!("mbap length {len} outside 2..=254"));
    }
    Ok(6 + len)
}

/// Names the request's function and says whether it is in the identity set (FC 43/14).
pub(crate) fn classify(adu: &[u8]) -> Classified {
    let fc = adu.get(7).copied().unwrap_or(0);
    let mei = adu.get(8).copied();
    let function = match (fc, mei) {
        (0x2b, Some(0x0e)) => "read_device_identification".to_string(),
        (0x2b, Some(0x0d)) => "can_general_reference".to_string(),
        (0x01, _) => "read_coils".into(),
        (0x02, _) => "read_discrete_inputs".into(),
        (0x03, _) => "read_holding_registers".into(),
        (0x04, _) => "read_input_registers".into(),
        (0x05, _) => "write_single_coil".into(),
        (0x06, _) => "write_single_register".into(),
        (0x08, _) => "diagnostics".into(),
        (0x0f, _) => "write_multiple_coils".into(),
        (0x10, _) => "write_multiple_registers".into(),
        (0x11, _) => "report_server_id".into(),
        (0x16, _) => "mask_write_register".into(),
        (0x17, _) => "read_write_multiple_registers".into(),
        (f, _) => format!("function 0x{f:02x}"),
    };
    Classified {
        identity: fc == 0x2b && mei == Some(0x0e),
        function,
    }
}

fn reply(adu: &[u8], pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + pdu.len());
    out.extend_from_slice(&adu[0..4]); // transaction and protocol id echoed
    out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    out.push(adu[6]);
    out.extend_from_slice(pdu);
    out
}

fn exception(adu: &[u8], fc: u8, code: u8) -> Vec<u8> {
    reply(adu, &[fc | 0x80, code])
}

/// Answers one complete ADU (its length already checked by [`frame_len`]).
pub(crate) fn handle(cfg: &ModbusConfig, adu: &[u8]) -> Answer {
    // Implementation guide 3.1.3: protocol id 0 is Modbus; servers drop anything else.
    if adu[2..4] != [0, 0] {
        return Answer::none();
    }
    let unit = adu[6];
    let fc = adu.get(7).copied().unwrap_or(0);
    let own = cfg.any_unit || cfg.unit_ids.contains(&unit);
    let identity = if own {
        &cfg.identity
    } else if let Some(g) = cfg.gateway.iter().find(|g| g.unit_id == unit) {
        if g.silent {
            return Answer::none();
        }
        if !g.online {
            return Answer::one(exception(adu, fc, 0x0b));
        }
        &g.identity
    } else if !cfg.gateway.is_empty() {
        return Answer::one(exception(adu, fc, 0x0a));
    } else {
        return match cfg.unknown_unit {
            UnknownUnit::Ignore => Answer::none(),
            UnknownUnit::Exception => Answer::one(exception(adu, fc, 0x0b)),
        };
    };
    let pdu = &adu[7..];
    match fc {
        0x2b if pdu.get(1) == Some(&0x0e) => {
            if !cfg.device_identification {
                return Answer::one(exception(adu, fc, 0x01));
            }
            Answer::one(read_device_id(adu, identity))
        }
        0x11 => {
            let data = identity.server_id.clone().unwrap_or_else(|| {
                // pymodbus convention: vendor-product-revision.
                format!(
                    "{}-{}-{}",
                    identity.vendor_name, identity.product_code, identity.revision
                )
            });
            let mut data = data.into_bytes();
            data.truncate(MAX_PDU - 3);
            let mut p = vec![0x11, (data.len() + 1) as u8];
            p.extend_from_slice(&data);
            p.push(0xff); // run indicator: ON
            Answer::one(reply(adu, &p))
        }
        0x03 | 0x04 if cfg.plain_reads => {
            if pdu.len() != 5 {
                return Answer::one(exception(adu, fc, 0x03));
            }
            let start = u16::from_be_bytes([pdu[1], pdu[2]]);
            let count = u16::from_be_bytes([pdu[3], pdu[4]]);
            // Application protocol 6.3: 1..=125 registers.
            if !(1..=125).contains(&count) {
                return Answer::one(exception(adu, fc, 0x03));
            }
            if u32::from(start) + u32::from(count) > 0x1_0000 {
                return Answer::one(exception(adu, fc, 0x02));
            }
            let mut p = vec![fc, (count * 2) as u8];
            for r in 0..count {
                p.extend_from_slice(&start.wrapping_add(r).to_be_bytes());
            }
            Answer::one(reply(adu, &p))
        }
        _ => Answer::one(exception(adu, fc, 0x01)),
    }
}

/// FC 43 / MEI 14 (Application protocol 6.21).
fn read_device_id(adu: &[u8], id: &ModbusIdentity) -> Vec<u8> {
    let pdu = &adu[7..];
    if pdu.len() != 4 {
        return exception(adu, 0x2b, 0x03);
    }
    let code = pdu[2];
    let requested = pdu[3];
    let objects = id.objects();
    let has_regular = objects.iter().any(|o| (3..0x80).contains(&o.0));
    let has_extended = objects.iter().any(|o| o.0 >= 0x80);
    let level = if has_extended {
        3
    } else if has_regular {
        2
    } else {
        1
    };
    let conformity = id.conformity_level.unwrap_or(0x80 | level);
    let header = |more: u8, next: u8, n: u8| vec![0x2b, 0x0e, code, conformity, more, next, n];
    match code {
        4 => match objects.iter().find(|o| o.0 == requested) {
            Some((oid, v)) => {
                let mut p = header(0, 0, 1);
                p.push(*oid);
                p.push(v.len() as u8);
                p.extend_from_slice(v);
                reply(adu, &p)
            }
            None => exception(adu, 0x2b, 0x02),
        },
        1..=3 => {
            let max_id = match code {
                1 => 0x02,
                2 => 0x7f,
                _ => 0xff,
            };
            // A category the device lacks (code above its level) is answered with the
            // objects it has, as the stream-access rules allow.
            let in_range: Vec<&(u8, Vec<u8>)> = objects.iter().filter(|o| o.0 <= max_id).collect();
            let mut start = requested;
            if !in_range.iter().any(|o| o.0 == start) {
                if id.no_restart_quirk {
                    return reply(adu, &header(0, 0, 0));
                }
                // 6.21: an unknown object id restarts the stream at object 0.
                start = 0;
            }
            let mut body = Vec::new();
            let mut n = 0u8;
            let mut next = None;
            for (oid, v) in in_range.iter().filter(|o| o.0 >= start) {
                if 7 + body.len() + 2 + v.len() > MAX_PDU {
                    next = Some(*oid);
                    break;
                }
                body.push(*oid);
                body.push(v.len() as u8);
                body.extend_from_slice(v);
                n += 1;
            }
            let mut p = match next {
                Some(nx) => header(0xff, nx, n),
                None => header(0, 0, n),
            };
            p.extend_from_slice(&body);
            reply(adu, &p)
        }
        _ => exception(adu, 0x2b, 0x03),
    }
}
